#!/usr/bin/env bash
# Fails when generated files (TypeScript from proto/, CRD YAML from its
# TypeScript source) differ from what the generators produce now.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
[ -f buf.gen.yaml ] && targets+=(gen)
[ -f hack/gen-crds.ts ] && targets+=(crds)
[ ${#targets[@]} -gt 0 ] || exit 0
make --no-print-directory "${targets[@]/#/}" >/dev/null
paths=()
[ -f buf.gen.yaml ] && paths+=(gen)
[ -f hack/gen-crds.ts ] && paths+=(crds)
if ! git diff --quiet -- "${paths[@]}" || [ -n "$(git ls-files --others --exclude-standard -- "${paths[@]}")" ]; then
  echo "generated files are stale: run \`make ${targets[*]}\` and commit the result" >&2
  git status --short -- "${paths[@]}" >&2
  exit 1
fi
