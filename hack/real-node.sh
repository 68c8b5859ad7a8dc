#!/usr/bin/env bash
# The local control plane's real node: containerd + runc (Debian), the CNI
# bridge plugins (Debian), kubelet and kube-proxy (built from the same
# Kubernetes module as the control plane) and CoreDNS, so that pods really run.
# hack/cluster.sh calls it after the apiserver is up; it needs root, cgroups and
# network namespaces, and says in one line why not when the machine lacks them.
# Usage: hack/real-node.sh check|up|down|load-image|status|gateway
#   check       exit 0 when this machine can run the node, else print why (one line) and exit 1
#   up          start the node and wait until it is Ready (busybox and pause images imported)
#   down        stop what `up` started, by pid: pods and their sandboxes, shims, containerd,
#               kubelet, kube-proxy, CoreDNS; unmount and remove the bridge and routes it made
#   load-image  build the project's image and the bundled Postgres's from their Dockerfiles
#               (cached by content) and import them
#   status      exit 0 when the node's processes run
#   gateway     print the bridge address (pods reach CoreDNS and the apiserver there)
# State lives in $CLUSTER_DIR/node (containerd root and state, kubelet dir, CNI config).
# The node is named real-node-0, labelled and tainted chronoverse.dev/real-node=true
# (NoSchedule), so only pods that ask for it land there; the kwok node keeps the rest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.env"
cache=${CHRONOVERSE_CACHE:-$HOME/.cache/chronoverse}
bin="$cache/bin"
dir=${CLUSTER_DIR:-$root/.cluster}
state="$dir/node"
kubeconfig="$dir/kubeconfig"
sock="$state/containerd/containerd.sock"
node=real-node-0
kubelet_port=${CLUSTER_KUBELET_PORT:-10250}
api_port=${CLUSTER_APISERVER_PORT:-6443}
subnet=${CLUSTER_POD_SUBNET:-10.88.0.0/24}
prefix=${subnet%.*}
gateway="$prefix.1"
service_cidr=10.96.0.0/16
bridge=cvbr0
# One real node per machine: kube-proxy's iptables chains and the bridge are host-wide.
owner_file=/run/chronoverse-real-node.owner
export CONTAINER_RUNTIME_ENDPOINT="unix://$sock"

log() { printf '[real-node] %s\n' "$*" >&2; }

wait_logs="containerd kubelet kube-proxy coredns"
# shellcheck source=processes.sh
source "$root/hack/processes.sh"

# Why this machine cannot run the node, or nothing when it can.
why_not() {
  [ "${CLUSTER_REAL_NODE:-auto}" = 0 ] && { echo "CLUSTER_REAL_NODE=0"; return; }
  [ "$(id -u)" = 0 ] || { echo "not root (kubelet and containerd need root)"; return; }
  [ "$(uname -s)" = Linux ] || { echo "not Linux"; return; }
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || { echo "no memory cgroup"; return; }
  ip netns list >/dev/null 2>&1 || { echo "no network namespaces (ip netns)"; return; }
  command -v apt-get >/dev/null || command -v containerd >/dev/null ||
    { echo "containerd is not installed and apt-get is not available"; return; }
  if [ -f "$owner_file" ]; then
    local other
    other=$(cat "$owner_file")
    if [ "$other" != "$dir" ]; then
      local p
      for p in containerd kubelet; do
        if [ -f "$other/pids/$p.pid" ] && kill -0 "$(cat "$other/pids/$p.pid")" 2>/dev/null; then
          echo "another checkout's real node runs on this machine ($other)"; return
        fi
      done
    fi
  fi
}

check() {
  local why
  why=$(why_not)
  [ -z "$why" ] && return 0
  echo "$why"
  return 1
}

ensure_packages() {
  local missing=() p
  for p in containerd runc containernetworking-plugins iptables conntrack socat busybox-static buildah; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
}

host_network() {
  sysctl -qw net.ipv4.ip_forward=1
  modprobe br_netfilter 2>/dev/null || true
  # Replies between pods on one bridge must pass kube-proxy's NAT rules.
  [ -f /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$gateway/${subnet#*/}" dev "$bridge"
  fi
  ip link set "$bridge" up
  # A Service address that kube-proxy has not (yet) translated must never leave the machine.
  ip route replace blackhole "$service_cidr"
}

write_configs() {
  mkdir -p "$state/containerd" "$state/cni/net.d" "$state/kubelet" "$state/coredns"
  cat >"$state/containerd/config.toml" <<TOML
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # Root in this kind of VM may not lower oom_score_adj; without this every sandbox fails.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$state/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
TOML
  cat >"$state/cni/net.d/10-chronoverse.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "chronoverse",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet", "gateway": "$gateway"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$state/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  cat >"$state/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $gateway
port: $kubelet_port
readOnlyPort: 0
healthzPort: 0
# Only the apiserver (its client certificate) and callers the apiserver allows reach the kubelet's API.
authentication:
  anonymous: {enabled: false}
  x509: {clientCAFile: $dir/pki/ca.crt}
  webhook: {enabled: true}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
enforceNodeAllocatable: []
clusterDNS: [$gateway]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
registerWithTaints:
- {key: chronoverse.dev/real-node, value: "true", effect: NoSchedule}
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# The jobs service asks for stdout and stderr apart (as the apiserver's gate allows).
featureGates: {PodLogsQuerySplitStreams: true}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
  cat >"$state/coredns/Corefile" <<COREFILE
.:53 {
    bind $gateway
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $kubeconfig chronoverse-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
    loadbalance
}
COREFILE
}

kubernetes_endpoints() {
  kubectl --kubeconfig "$kubeconfig" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Endpoints
metadata: {name: kubernetes, namespace: default}
subsets:
- addresses: [{ip: $gateway}]
  ports: [{name: https, port: $api_port, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints:
- addresses: [$gateway]
  conditions: {ready: true}
ports: [{name: https, port: $api_port, protocol: TCP}]
YAML
}

processes=(containerd coredns apiserver-forward kubelet kube-proxy)
all_alive() {
  local n
  for n in "${processes[@]}"; do alive "$n" || return 1; done
}

node_ready() {
  kubectl --kubeconfig "$kubeconfig" wait --for=condition=Ready "node/$node" --timeout=2s
}

up() {
  local why
  why=$(why_not)
  [ -z "$why" ] || { log "no real node: $why"; return 1; }
  if all_alive && node_ready >/dev/null 2>&1; then log "already running"; return; fi
  down_quiet
  ensure_packages
  "$root/hack/build-tools.sh" kubernetes coredns crictl
  "$root/hack/images.sh" build busybox pause
  mkdir -p "$dir/logs" "$dir/pids"
  echo "$dir" >"$owner_file"
  local t0=$SECONDS
  host_network
  write_configs
  start containerd containerd --config "$state/containerd/config.toml"
  wait_for containerd 30 ctr --address "$sock" version
  local n
  for n in busybox pause; do
    ctr --address "$sock" -n k8s.io images check "name==$("$root/hack/images.sh" tag "$n")" 2>/dev/null | grep -q complete ||
      ctr --address "$sock" -n k8s.io images import "$("$root/hack/images.sh" path "$n")" >/dev/null
  done
  start coredns "$bin/coredns" -conf "$state/coredns/Corefile"
  # The apiserver listens on 127.0.0.1 only; pods reach it as the `kubernetes`
  # Service, whose endpoint is this forwarder on the bridge address.
  start apiserver-forward socat "TCP-LISTEN:$api_port,bind=$gateway,fork,reuseaddr" "TCP:127.0.0.1:$api_port"
  kubernetes_endpoints
  start kubelet "$bin/kubelet" --config "$state/kubelet/config.yaml" --kubeconfig "$kubeconfig" \
    --root-dir "$state/kubelet" --cert-dir "$state/kubelet/pki" --hostname-override "$node" --node-ip "$gateway" \
    --node-labels "chronoverse.dev/real-node=true,type=real" --v 1
  start kube-proxy "$bin/kube-proxy" --kubeconfig "$kubeconfig" --hostname-override "$node" \
    --cluster-cidr "$subnet" --proxy-mode iptables --conntrack-max-per-core 0 \
    --healthz-bind-address "127.0.0.1:${CLUSTER_KUBE_PROXY_HEALTHZ_PORT:-10256}" \
    --metrics-bind-address "127.0.0.1:${CLUSTER_KUBE_PROXY_METRICS_PORT:-10249}"
  wait_for "node $node Ready" 90 node_ready
  for n in "${processes[@]}"; do
    alive "$n" || { log "$n exited:"; tail -n 30 "$dir/logs/$n.log" >&2; return 1; }
  done
  log "node $node Ready in $((SECONDS - t0))s"
}

# The images built from Dockerfiles for pods on this node: the project's own
# (HEARTBEAT runs, the chart) and the chart's bundled Postgres. Each is built
# when its inputs changed and imported when containerd lacks that build.
load_image() {
  local name archive
  for name in chronoverse postgres; do
    "$root/hack/images.sh" build "$name"
    archive=$("$root/hack/images.sh" path "$name")
    if [ "$(cat "$state/$name-image" 2>/dev/null)" != "$archive" ]; then
      ctr --address "$sock" -n k8s.io images import "$archive" >/dev/null
      echo "$archive" >"$state/$name-image"
    fi
  done
}

down_quiet() {
  [ -d "$state" ] || return 0
  # kubelet first, so it restarts nothing; then the sandboxes, which releases
  # their addresses and network namespaces through CNI.
  stop_named kubelet
  if alive containerd && [ -x "$bin/crictl" ]; then
    timeout 60 "$bin/crictl" --timeout 20s stopp $("$bin/crictl" pods -q 2>/dev/null) >/dev/null 2>&1 || true
    timeout 60 "$bin/crictl" --timeout 20s rmp -f $("$bin/crictl" pods -q 2>/dev/null) >/dev/null 2>&1 || true
  fi
  stop_named kube-proxy
  stop_named coredns
  stop_named apiserver-forward
  # The Node object goes too: the next start registers it afresh, so "Ready" means this kubelet.
  kubectl --kubeconfig "$kubeconfig" delete node "$node" --ignore-not-found --wait=false --request-timeout 5s \
    >/dev/null 2>&1 || true
  stop_named containerd
  # Shims outlive containerd by design; their pids are in containerd's state.
  local f pids=()
  for f in "$state"/containerd/state/io.containerd.runtime.v2.task/*/*/shim.pid; do
    [ -f "$f" ] && pids+=("$(cat "$f")")
  done
  [ ${#pids[@]} -eq 0 ] || stop_pids "${pids[@]}"
  # Mounts under the node's folders (pod volumes, sandbox /dev/shm, container rootfs).
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$state/" | sort -r); do umount -l "$m" 2>/dev/null || true; done
  [ -x "$bin/kube-proxy" ] && "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  ip link del "$bridge" 2>/dev/null || true
  ip route del blackhole "$service_cidr" 2>/dev/null || true
  [ "$(cat "$owner_file" 2>/dev/null)" = "$dir" ] && rm -f "$owner_file"
  # containerd's content store stays, as a node keeps its image cache; the rest goes.
  rm -rf "$state/containerd/state" "$state/kubelet" "$state/runc" "$state/cni/ipam" "$state"/*-image "$state/volumes"
}

case ${1:-} in
  check) check ;;
  up) up ;;
  down) down_quiet ;;
  load-image) load_image ;;
  status) all_alive ;;
  gateway) echo "$gateway" ;;
  *) echo "usage: $0 check|up|down|load-image|status" >&2; exit 2 ;;
esac
