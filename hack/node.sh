#!/usr/bin/env bash
# Prints a directory holding a Node.js >= 24 `node` binary. A machine whose own
# node is 24 or newer uses it; otherwise Node 24 is installed once from the npm
# registry's `node` package (which ships the binary) into the ignored .tools/.
set -euo pipefail
want_major=24
pinned=24.21.0
root=$(cd "$(dirname "$0")/.." && pwd)
if command -v node >/dev/null 2>&1; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -ge "$want_major" ]; then dirname "$(command -v node)"; exit 0; fi
fi
dir="$root/.tools/node-$pinned"
if [ ! -x "$dir/node_modules/node/bin/node" ]; then
  echo "[node] provisioning Node $pinned into $dir" >&2
  mkdir -p "$dir"
  npm install --silent --no-save --no-audit --no-fund --prefix "$dir" "node@$pinned" >&2
fi
echo "$dir/node_modules/node/bin"
