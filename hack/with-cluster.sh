#!/usr/bin/env bash
# Runs a command against the local control plane: uses the running one, or
# starts it and stops it again afterwards (whatever the command's outcome).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export KUBECONFIG=${KUBECONFIG:-$root/.cluster/kubeconfig}
if "$root/hack/cluster.sh" status 2>/dev/null; then
  exec "$@"
fi
trap '"$root/hack/cluster.sh" down' EXIT
"$root/hack/cluster.sh" up
"$@"
