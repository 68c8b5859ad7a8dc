#!/usr/bin/env bash
# Container images for the local real node, made on this machine: nothing is
# pulled from a registry. Each image is a docker-archive under $cache/images,
# rebuilt only when its inputs change:
#   busybox      docker.io/library/busybox:1.36           Debian's busybox-static and its applet links
#   pause        registry.k8s.io/pause:3.10               hack/images/pause.c, static (the pod sandbox)
#   debian       docker.io/library/debian:bookworm-slim    debootstrap minbase of Debian bookworm
#   node-base    docker.io/library/node:24-bookworm-slim   debian + Node 24 + npm (the Dockerfile's FROM)
#   chronoverse  docker.io/library/chronoverse:dev         the project's Dockerfile, executed by buildah
#   postgres     docker.io/library/postgres:15-bookworm    hack/images/postgres/Dockerfile (the chart's bundled database)
# Usage: hack/images.sh build [name...]   build (default: all), print nothing
#        hack/images.sh import SOCKET      build all, import them into containerd (namespace k8s.io)
#        hack/images.sh tag NAME           print an image's reference
#        hack/images.sh path NAME          print the archive's path for the current inputs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/hack/versions.env"
cache=${CHRONOVERSE_CACHE:-$HOME/.cache/chronoverse}
images="$cache/images"
mkdir -p "$images"

log() { printf '[images] %s\n' "$*" >&2; }

declare -A ref=(
  [busybox]=docker.io/library/busybox:1.36
  [pause]=registry.k8s.io/pause:3.10
  [debian]=docker.io/library/debian:bookworm-slim
  [node-base]=docker.io/library/node:24-bookworm-slim
  [chronoverse]=docker.io/library/chronoverse:dev
  [postgres]=docker.io/library/postgres:15-bookworm
)

# docker_archive TAG ROOTFS CONFIG_JSON OUT -> one-layer docker-archive (what `docker save` writes)
docker_archive() {
  local tag=$1 rootfs=$2 config=$3 out=$4 tmp diff sha
  tmp=$(mktemp -d)
  tar --numeric-owner --sort=name --mtime=@0 -C "$rootfs" -cf "$tmp/layer.tar" .
  diff=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)
  # One history entry per layer: buildah refuses a base whose history and layers disagree.
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"hack/images.sh"}]}' \
    "$config" "$diff" >"$tmp/config.json"
  sha=$(sha256sum "$tmp/config.json" | cut -d' ' -f1)
  mv "$tmp/config.json" "$tmp/$sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$sha" "$tag" >"$tmp/manifest.json"
  tar -C "$tmp" -cf "$out.tmp" manifest.json "$sha.json" layer.tar
  mv "$out.tmp" "$out"
  rm -rf "$tmp"
}

ensure_packages() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
}

# archive_path NAME -> the cached archive for the current inputs of NAME
archive_path() {
  local key
  case $1 in
    busybox) key=$(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || echo none) ;;
    pause) key=$(sha256sum "$root/hack/images/pause.c" | cut -c1-12) ;;
    debian) key="$DEBIAN_SUITE" ;;
    node-base) key="$NODE_IMAGE_VERSION-npm$NPM_IMAGE_VERSION-$DEBIAN_SUITE" ;;
    postgres) key=$(cat "$root"/hack/images/postgres/* | sha256sum | cut -c1-12) ;;
    # Everything the Dockerfile copies, as content: an edit anywhere rebuilds.
    chronoverse)
      key=$(cd "$root" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - \
        Dockerfile package.json package-lock.json bin src gen proto services operator crds | sha256sum | cut -c1-16) ;;
  esac
  echo "$images/$1-${key//[^A-Za-z0-9._-]/_}.tar"
}

build_busybox() {
  local out=$1 rootfs
  ensure_packages busybox-static
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
  docker_archive "${ref[busybox]}" "$rootfs" '{"Env":["PATH=/bin"],"Cmd":["sh"]}' "$out"
  rm -rf "$rootfs"
}

build_pause() {
  local out=$1 rootfs
  rootfs=$(mktemp -d)
  gcc -static -Os -o "$rootfs/pause" "$root/hack/images/pause.c"
  strip "$rootfs/pause"
  docker_archive "${ref[pause]}" "$rootfs" '{"Entrypoint":["/pause"],"User":"65535:65535"}' "$out"
  rm -rf "$rootfs"
}

build_debian() {
  local out=$1 rootfs mirror
  ensure_packages debootstrap
  rootfs=$(mktemp -d)
  mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-$(sed -n 's/^deb \(http[^ ]*\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)}
  log "debootstrap $DEBIAN_SUITE from ${mirror:-the default mirror} (once per version)"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" ${mirror:+"$mirror"} >"$images/debootstrap.log" 2>&1 ||
    { log "debootstrap failed:"; tail -n 20 "$images/debootstrap.log" >&2; return 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  docker_archive "${ref[debian]}" "$rootfs" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["bash"]}' "$out"
  rm -rf "$rootfs"
}

# The image the Dockerfile names in FROM, made here: the Debian base, Node
# from the npm registry's `node` package, npm, and this machine's CA bundle
# (npm inside the build reaches the registry the way the host does).
build_node-base() {
  local out=$1 rootfs npmdir
  build_one debian
  rootfs=$(mktemp -d)
  tar -xOf "$(archive_path debian)" layer.tar | tar -C "$rootfs" -xf -
  npmdir=$(mktemp -d)
  npm install --silent --no-save --no-audit --no-fund --prefix "$npmdir" \
    "node@$NODE_IMAGE_VERSION" "npm@$NPM_IMAGE_VERSION" >&2
  install -m 0755 "$(readlink -f "$npmdir/node_modules/node/bin/node")" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/etc" "$rootfs/etc/ssl/certs"
  cp -a "$npmdir/node_modules/npm" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\n' >"$rootfs/usr/local/etc/npmrc"
  rm -rf "$npmdir"
  docker_archive "${ref[node-base]}" "$rootfs" \
    '{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NODE_VERSION='"$NODE_IMAGE_VERSION"'"],"Cmd":["node"]}' "$out"
  rm -rf "$rootfs"
}

# overlay, not vfs: vfs stores every layer as a whole copy of the file system
# (gigabytes per build of the project's image).
buildah_() {
  buildah --root "$cache/buildah-overlay/root" --runroot "$cache/buildah-overlay/run" --storage-driver overlay "$@"
}

# buildah_load NAME -> the image NAME in buildah's storage under its reference
buildah_load() {
  build_one "$1"
  mkdir -p "$cache/buildah-overlay"
  # The vfs storage of earlier versions of this script.
  rm -rf "$cache/buildah"
  buildah_ inspect --type image "${ref[$1]}" >/dev/null 2>&1 && return
  buildah_ pull -q "docker-archive:$(archive_path "$1")" >/dev/null
}

# buildah_build NAME CONTEXT DOCKERFILE OUT -> buildah executes the Dockerfile's
# steps (RUN included) and writes the image as a docker-archive.
buildah_build() {
  local name=$1 context=$2 dockerfile=$3 out=$4
  ensure_packages buildah runc
  log "building ${ref[$name]} from $dockerfile (buildah)"
  (cd "$context" && buildah_ bud --quiet --layers --pull-never --isolation chroot --network host \
    -t "${ref[$name]}" -f "$dockerfile" .) >"$images/$name-build.log" 2>&1 ||
    { log "buildah bud failed:"; tail -n 30 "$images/$name-build.log" >&2; return 1; }
  rm -f "$out.tmp"
  buildah_ push -q "${ref[$name]}" "docker-archive:$out.tmp:${ref[$name]}" >/dev/null
  mv "$out.tmp" "$out"
  # Older builds of this image are of no further use, in the cache or in
  # buildah's storage (untagged images; the next build redoes its layers).
  find "$images" -maxdepth 1 -name "$name-*.tar" ! -path "$out" -delete
  buildah_ rmi --prune >/dev/null 2>&1 || true
}

# The project's own image, from its Dockerfile, on the node-base image loaded
# under the name FROM gives.
build_chronoverse() {
  buildah_load node-base
  buildah_build chronoverse "$root" Dockerfile "$1"
}

build_postgres() {
  buildah_load debian
  buildah_build postgres "$root/hack/images/postgres" Dockerfile "$1"
}

build_one() {
  local out
  out=$(archive_path "$1")
  [ -f "$out" ] && return
  log "building $1 -> ${ref[$1]}"
  "build_$1" "$out"
}

all=(busybox pause debian node-base chronoverse postgres)
case ${1:-build} in
  build)
    shift || true
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${all[@]}")
    for n in "${names[@]}"; do build_one "$n"; done ;;
  import)
    sock=${2:?usage: $0 import SOCKET}
    for n in busybox pause chronoverse postgres; do
      build_one "$n"
      ctr --address "$sock" -n k8s.io images import "$(archive_path "$n")" >/dev/null
    done ;;
  tag) echo "${ref[${2:?usage: $0 tag NAME}]}" ;;
  path) archive_path "${2:?usage: $0 path NAME}" ;;
  *) echo "usage: $0 build [name...] | import SOCKET | tag NAME | path NAME" >&2; exit 2 ;;
esac
