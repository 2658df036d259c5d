# The one Clarus image: `clarus operator` and `clarus proxy` (and the offline `policy`/`keys` tools).
# The image is the repository's runtime files plus production dependencies, and the sources
# compiled to JavaScript (build/js, scripts/build-js.ts), which cli/bin/clarus runs while no source
# is newer (Node would otherwise strip the TypeScript types at every start: 15 MiB more RSS).
# The workspaces' manifests, which both npm ci stages below install from.
FROM node:24-bookworm-slim AS manifests
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

FROM manifests AS deps
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# build/js needs the TypeScript compiler (a development dependency), so it is built in a stage of its own,
# with build/native (the AES-NI module and the pass-through relay: a C compiler and the node-api-headers
# development dependency).
FROM manifests AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY sidecar/native sidecar/native
COPY scripts/build-native.sh scripts/
RUN bash scripts/build-native.sh
COPY crds crds
COPY policy policy
COPY log log
COPY sidecar sidecar
COPY operator operator
COPY cli cli
COPY scripts/build-js.ts scripts/
RUN node scripts/build-js.ts
# The in-proxy engine's fresh data directories (build/engine): its first start loads one instead of initdb.
COPY scripts/build-engine.ts scripts/
RUN node scripts/build-engine.ts

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
# Built from the same context files as the sources above; its stamp is renewed so that however COPY
# sets modification times, cli/bin/clarus finds no source newer than the build.
COPY --from=build /app/build build
RUN touch build/js/.built
# The base image's unprivileged user (uid 1000), matching the chart's securityContext.
USER 1000:1000
EXPOSE 5432 8080 9443
ENTRYPOINT ["cli/bin/clarus"]
