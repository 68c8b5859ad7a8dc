#!/usr/bin/env bash
# Runs one benchmark script (bench/<name>.ts) with what it needs, as `make test`
# provisions it: Postgres from DATABASE_URL or a throwaway hack/postgres.sh
# server (removed again afterwards), and the CRDs applied to the local control
# plane (the Makefile wraps this in hack/with-cluster.sh).
# Usage: bench/run.sh bench/workflows.ts
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KUBECONFIG=${KUBECONFIG:-$root/.cluster/kubeconfig}
started_postgres=false
cleanup() { if $started_postgres; then hack/postgres.sh down || true; fi; }
trap cleanup EXIT
if [ -z "${DATABASE_URL:-}" ]; then
  hack/postgres.sh status 2>/dev/null || started_postgres=true
  DATABASE_URL=$(hack/postgres.sh up)
  export DATABASE_URL
fi
kubectl apply -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
node "$@"
