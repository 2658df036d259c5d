#!/usr/bin/env bash
# Prints the path of a cached Python venv holding exactly the pinned requirement files given,
# creating it on first use. The venv lives outside the clone (~/.cache/clarus/venv-<py>-<hash>)
# and is keyed by the requirement files' contents, so a version bump makes a fresh one.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: ensure-venv.sh REQUIREMENTS..." >&2; exit 2; }
py="${PYTHON:-python3}"
pyver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
hash="$(cat "$@" | sha256sum | cut -c1-12)"
venv="${CLARUS_CACHE:-$HOME/.cache/clarus}/venv-py$pyver-$hash"
if [ ! -f "$venv/.complete" ]; then
  echo "compat: creating Python venv $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv"
  args=()
  for f in "$@"; do args+=(-r "$f"); done
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "${args[@]}" >&2
  touch "$venv/.complete"
fi
echo "$venv"
