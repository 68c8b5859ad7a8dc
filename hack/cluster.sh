#!/usr/bin/env bash
# The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok (one simulated node, kwok-node-0) and, where the machine
# can run containers, a real node (real-node-0, hack/real-node.sh), all on
# 127.0.0.1, built by hack/build-tools.sh. Usage: hack/cluster.sh up|down|status|env
#   up      build binaries if needed, start everything, wait for /readyz and Ready nodes
#           (CLUSTER_REAL_NODE=0: the kwok node only)
#   down    stop every process `up` started (and nothing else)
#   status  exit 0 when the apiserver answers /readyz
#   env     print `export KUBECONFIG=...`
# State (certs, etcd data, logs, pids, kubeconfig) lives in $CLUSTER_DIR
# (default: <repo>/.cluster); the admin kubeconfig is $CLUSTER_DIR/kubeconfig.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.env"
cache=${CHRONOVERSE_CACHE:-$HOME/.cache/chronoverse}
bin="$cache/bin"
dir=${CLUSTER_DIR:-$root/.cluster}
api_port=${CLUSTER_APISERVER_PORT:-6443}
etcd_port=${CLUSTER_ETCD_PORT:-2379}
etcd_peer_port=${CLUSTER_ETCD_PEER_PORT:-2380}
kwok_port=${CLUSTER_KWOK_PORT:-10247}
kubeconfig="$dir/kubeconfig"
node=kwok-node-0
token_file="$dir/admin-token"

log() { printf '[cluster] %s\n' "$*" >&2; }

# shellcheck source=processes.sh
source "$root/hack/processes.sh"

readyz() {
  curl -fsS --max-time 2 --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $(cat "$token_file")" \
    "https://127.0.0.1:$api_port/readyz" >/dev/null
}

status() { [ -f "$token_file" ] && readyz; }

# A client certificate (group system:masters) the apiserver shows kubelets: the
# real node's kubelet serves its API (logs, exec, port-forward) only to it.
write_kubelet_client_cert() {
  [ -f "$dir/pki/kubelet-client.crt" ] && return
  (
    cd "$dir/pki"
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
      -keyout kubelet-client.key -out kubelet-client.csr 2>/dev/null
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -out kubelet-client.crt 2>/dev/null
    rm -f kubelet-client.csr
    chmod 600 kubelet-client.key
  )
}

write_pki() {
  [ -f "$dir/pki/apiserver.crt" ] && { write_kubelet_client_cert; return; }
  mkdir -p "$dir/pki"
  (
    cd "$dir/pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=chronoverse-local-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    # Pods on the real node reach the apiserver as the `kubernetes` Service (10.96.0.1)
    # through the node's bridge address.
    printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' \
      "$("$root/hack/real-node.sh" gateway)" >san.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    rm -f apiserver.csr san.ext
  )
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$token_file"
  printf '%s,admin,admin,"system:masters"\n' "$(cat "$token_file")" >"$dir/pki/tokens.csv"
  chmod 600 "$token_file" "$dir/pki/tokens.csv" "$dir/pki/"*.key
  write_kubelet_client_cert
}

write_kubeconfig() {
  cat >"$kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: chronoverse-local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: admin
  user:
    token: $(cat "$token_file")
contexts:
- name: chronoverse-local
  context: {cluster: chronoverse-local, user: admin, namespace: default}
current-context: chronoverse-local
YAML
  chmod 600 "$kubeconfig"
}

write_kwok_config() {
  mkdir -p "$dir/pod-logs"
  {
    printf 'kind: KwokConfiguration\napiVersion: config.kwok.x-k8s.io/v1alpha1\noptions: {}\n---\n'
    cat "$root/hack/kwok/stages.yaml"
  } >"$dir/kwok.yaml"
}

# kwok's Logs and ClusterLogs CRDs (kept beside the kwok binary by
# hack/build-tools.sh), so tests can point a pod's log at a file.
install_kwok_crds() {
  local crds="$cache/kwok-$KWOK_VERSION-crds"
  kubectl --kubeconfig "$kubeconfig" apply -f "$crds/kwok.x-k8s.io_logs.yaml" \
    -f "$crds/kwok.x-k8s.io_clusterlogs.yaml" >/dev/null
}

up() {
  if status; then log "already running (KUBECONFIG=$kubeconfig)"; return; fi
  down_quiet
  local port
  for port in "$api_port" "$etcd_port" "$etcd_peer_port" "$kwok_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      log "port $port on 127.0.0.1 is in use (another control plane?); stop it or move this one with CLUSTER_*_PORT"
      return 1
    fi
  done
  "$root/hack/build-tools.sh" etcd kubernetes kwok
  mkdir -p "$dir/logs" "$dir/pids" "$dir/etcd"
  write_pki
  write_kubeconfig
  write_kwok_config
  local t0=$SECONDS
  start etcd "$bin/etcd" --name local --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "local=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_port/health"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$api_port" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/pki/tokens.csv" --authorization-mode Node,RBAC \
    --service-account-issuer "https://127.0.0.1:$api_port" --service-account-key-file "$dir/pki/sa.key" \
    --service-account-signing-key-file "$dir/pki/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
    --allow-privileged=true --disable-admission-plugins TaintNodesByCondition --enable-priority-and-fairness=false \
    --kubelet-preferred-address-types InternalIP,Hostname --endpoint-reconciler-type none \
    --kubelet-client-certificate "$dir/pki/kubelet-client.crt" --kubelet-client-key "$dir/pki/kubelet-client.key" \
    --feature-gates PodLogsQuerySplitStreams=true
  wait_for kube-apiserver 90 readyz
  # The workload, Service and volume controllers that Deployments, StatefulSets and
  # Services need on the real node; no node lifecycle, so nothing taints or evicts.
  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$kubeconfig" --leader-elect=false \
    --controllers cronjob,job,garbagecollector,namespace,serviceaccount,podgc,ttl-after-finished,deployment,replicaset,statefulset,daemonset,disruption,endpoint,endpointslice,endpointslicemirroring,root-ca-cert-publisher,persistentvolume-binder,pv-protection,pvc-protection \
    --root-ca-file "$dir/pki/ca.crt" --service-cluster-ip-range 10.96.0.0/16 --secure-port 0 --concurrent-gc-syncs 5
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$kubeconfig" --leader-elect=false --secure-port 0
  install_kwok_crds
  # kwok keeps to its own node: it would otherwise fake the status of the real node's pods.
  start kwok "$bin/kwok" --kubeconfig "$kubeconfig" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-name localhost --node-port "$kwok_port" --server-address "127.0.0.1:$kwok_port" \
    --cidr 10.244.0.0/16 --node-lease-duration-seconds 40 --config "$dir/kwok.yaml" --enable-crds Logs,ClusterLogs
  kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: $node
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: $node, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}
YAML
  wait_for "node $node Ready" 60 kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready "node/$node" --timeout=2s
  for c in kube-controller-manager kube-scheduler kwok; do
    alive "$c" || { log "$c exited:"; tail -n 30 "$dir/logs/$c.log" >&2; return 1; }
  done
  log "control plane and kwok node ready in $((SECONDS - t0))s"
  local why real="no real node"
  if why=$("$root/hack/real-node.sh" check); then
    "$root/hack/real-node.sh" up
    real="real node real-node-0 (runs containers; taint chronoverse.dev/real-node=true:NoSchedule)"
  else
    log "no real node ($why): pods run on the kwok node only"
  fi
  cat <<TXT
Local control plane is up (Kubernetes v$KUBERNETES_VERSION, etcd v$ETCD_VERSION, kwok v$KWOK_VERSION).
  nodes: kwok-node-0 (simulated), $real
  export KUBECONFIG=$kubeconfig
  kubectl get nodes
Logs: $dir/logs/   Stop it with: make cluster-down
TXT
}

# stop every process recorded in $dir/pids: TERM, then KILL after 10 s.
down_quiet() {
  [ -d "$dir/pids" ] || return 0
  "$root/hack/real-node.sh" down
  stop_named kwok kube-scheduler kube-controller-manager kube-apiserver etcd
  rm -f "$dir"/pids/*.pid
}

down() {
  down_quiet
  # etcd data is throwaway: a fresh start keeps tests independent of earlier runs.
  rm -rf "$dir/etcd"
  log "stopped"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$kubeconfig" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
