#!/usr/bin/env bash
# `make up`: the whole product on this machine, in the foreground.
#  1. the local control plane (built on first use), unless one is running;
#  2. Postgres: DATABASE_URL if set, else a throwaway server;
#  3. the CRDs and the namespace (restricted Pod Security enforced);
#  4. on the real node, the project's image (HEARTBEAT runs use it), and the
#     operator's runs sent there; without one, runs go to the kwok node;
#  5. `chronoverse serve all` (ports 50051-50055) and `chronoverse operator`.
# Ctrl-C (or SIGTERM) stops the two processes and whatever this script started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KUBECONFIG=${KUBECONFIG:-$root/.cluster/kubeconfig}
export CHRONOVERSE_NAMESPACE=${CHRONOVERSE_NAMESPACE:-chronoverse}

started_cluster=false
started_postgres=false
children=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  $started_postgres && hack/postgres.sh down || true
  $started_cluster && hack/cluster.sh down || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! hack/cluster.sh status 2>/dev/null; then
  hack/cluster.sh up
  started_cluster=true
fi
if [ -z "${DATABASE_URL:-}" ]; then
  hack/postgres.sh status 2>/dev/null || started_postgres=true
  DATABASE_URL=$(hack/postgres.sh up)
  export DATABASE_URL
fi
kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl get namespace "$CHRONOVERSE_NAMESPACE" >/dev/null 2>&1 || kubectl create namespace "$CHRONOVERSE_NAMESPACE" >/dev/null
kubectl label --overwrite namespace "$CHRONOVERSE_NAMESPACE" pod-security.kubernetes.io/enforce=restricted >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null

if hack/real-node.sh status; then
  hack/real-node.sh load-image
  export CHRONOVERSE_IMAGE=${CHRONOVERSE_IMAGE:-docker.io/library/chronoverse:dev}
  export RUN_NODE_SELECTOR=${RUN_NODE_SELECTOR:-'{"chronoverse.dev/real-node":"true"}'}
  export RUN_TOLERATIONS=${RUN_TOLERATIONS:-'[{"key":"chronoverse.dev/real-node","operator":"Equal","value":"true","effect":"NoSchedule"}]'}
  node_says="runs: real containers on real-node-0"
else
  node_says="runs: simulated on kwok-node-0 (no real node: see the cluster's log above)"
fi

bin/chronoverse migrate
bin/chronoverse serve all &
children+=($!)
bin/chronoverse operator &
children+=($!)
cat <<TXT

Chronoverse is running (Ctrl-C stops it):
  gRPC: users :50051, workflows :50052, jobs :50053, notifications :50054, analytics :50055
  $node_says
  operator: metrics http://localhost:8080/metrics, probes http://localhost:8081/readyz
  export KUBECONFIG=$KUBECONFIG; kubectl get workflows -n $CHRONOVERSE_NAMESPACE
  grpcurl -plaintext localhost:50051 list

TXT
# Stop everything as soon as either process exits.
wait -n "${children[@]}"
