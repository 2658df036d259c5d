# The one Clarus image: `clarus operator` and `clarus proxy` (and the offline `policy`/`keys` tools).
# Node 24 runs the TypeScript sources directly (type stripping), so the image is the repository's
# runtime files plus production dependencies.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY crds/package.json crds/
COPY policy/package.json policy/
COPY log/package.json log/
COPY sidecar/package.json sidecar/
COPY operator/package.json operator/
COPY cli/package.json cli/
COPY testing/package.json testing/
COPY e2e/package.json e2e/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json ./
COPY crds crds
COPY policy policy
COPY log log
COPY sidecar sidecar
COPY operator operator
COPY cli cli
# The base image's unprivileged user (uid 1000), matching the chart's securityContext.
USER 1000:1000
EXPOSE 5432 8080 9443
ENTRYPOINT ["cli/bin/clarus"]
