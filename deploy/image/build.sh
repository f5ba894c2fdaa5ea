#!/usr/bin/env bash
# Builds deploy/Dockerfile, unchanged, into the local image sidemeter:<version> with buildah
# (Debian's), without reaching any image registry: the Dockerfile's `FROM debian:12-slim`
# is a Debian 12 base made here with debootstrap from the Debian mirror apt already uses.
#
#   bash deploy/image/build.sh              # as root; prints the image, its size, timings
#   bash deploy/image/build.sh --force      # rebuild even when the inputs did not change
#   bash deploy/image/build.sh --rebuild-base   # debootstrap the base again (e.g. for updates)
#
# Reused when present (debootstrap takes about a minute, the build stage several):
#   - the base: the image debian:12-slim in buildah's store, else the tarball
#     $SIDEMETER_IMAGE_CACHE/debian-12-slim.tar.gz (default /var/cache/sidemeter-image);
#   - the image itself: skipped when sidemeter:<version> exists with the same inputs digest
#     (label io.sidemeter.inputs: the base image and every file the Dockerfile COPYs).
# Environment: STORAGE_DRIVER (default vfs: works anywhere, no overlay mount needed),
# BUILDAH_ISOLATION (default chroot: no runc, no user namespaces), DEBIAN_MIRROR (default:
# the one in /etc/apt/sources.list*), SIDEMETER_BUILD_JOBS (ninja -j in the build stage;
# default ninja's own, CPUs + 2).
# Last line on stdout: `image localhost/sidemeter:<version> <id> <size, e.g. 123 MB>`.
# All in one block: bash reads it whole before running it, so editing this file during a
# build (minutes) cannot derail the running one.
{
set -euo pipefail
shopt -s inherit_errexit

repo=$(cd "$(dirname "$0")/../.." && pwd)
force=0
rebuild_base=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --rebuild-base) rebuild_base=1; force=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "build.sh: run as root (buildah with chroot isolation and vfs storage; debootstrap)" >&2
  exit 2
fi
for tool in buildah debootstrap meson python3; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool missing (bash deploy/install-deps.sh --test)" >&2; exit 2; }
done

# buildah 1.28 reads no environment variable for the storage driver: every call names it.
driver=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
buildah() { command buildah --storage-driver "$driver" "$@"; }
cache=${SIDEMETER_IMAGE_CACHE:-/var/cache/sidemeter-image}
# The fully qualified name a `FROM debian:12-slim` resolves to, so the build never asks a
# registry (and `--pull=never` makes sure of it).
base=docker.io/library/debian:12-slim
version=$(meson introspect --projectinfo "$repo/meson.build" |
          python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
image=localhost/sidemeter:$version

log() { echo "build.sh: $*" >&2; }
TIMEFORMAT='%R %U %S'
timing() { log "$(printf 'timing %-12s wall %7.1f s  cpu %7.1f s' "$1" "$2" "$3")"; }
# step NAME CMD...: runs CMD (its output to stderr), then logs its wall and CPU time (user +
# system, its children included).
step() {
  local name=$1 t wall user sys
  shift
  exec 3>&2
  t=$( { time "$@" >&3 2>&3; } 2>&1 )
  exec 3>&-
  read -r wall user sys <<<"$t"
  timing "$name" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')"
}

# The image's id, empty when there is no such image.
image_id() { buildah images -q --no-trunc "$1" 2>/dev/null | head -1 || true; }

# Where apt here gets Debian 12 (suite bookworm) and its security updates: deb822 .sources
# paragraphs or one-line `deb` entries.
apt_uri() {  # apt_uri SUITE DEFAULT
  local found f files=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [ -f "$f" ]; then files+=("$f"); fi
  done
  found=$(awk -v want="$1" '
      function flush() {
        if (!found && uris != "" && (" " suites " ") ~ (" " want " ")) { split(uris, u, " "); print u[1]; found = 1 }
        uris = ""; suites = ""
      }
      FNR == 1 { flush() }
      /^[ \t]*#/ { next }
      /^deb[ \t]/ { sub(/\[[^]]*\][ \t]*/, ""); if (!found && $3 == want) { print $2; found = 1 } next }
      /^URIs:/ { $1 = ""; uris = $0 }
      /^Suites:/ { $1 = ""; suites = $0 }
      /^[ \t]*$/ { flush() }
      END { flush() }' "${files[@]}" /dev/null)
  echo "${found:-$2}"
}
mirror=${DEBIAN_MIRROR:-$(apt_uri bookworm http://deb.debian.org/debian)}
security_mirror=$(apt_uri bookworm-security http://deb.debian.org/debian-security)

# Debian 12 minbase, made slim the way the official debian:12-slim is (debuerreotype): no
# documentation, manual pages or translations (dpkg keeps excluding them on later installs),
# no apt lists or package cache; sources for bookworm, its updates and security.
debootstrap_base() {
  local dir=$1 tarball=$2
  debootstrap --variant=minbase bookworm "$dir/rootfs" "$mirror"
  local r=$dir/rootfs
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# as debian:12-slim: no documentation, manual pages or translations in the image
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "${r:?}/usr/share/groff" "$r/usr/share/info" "$r/usr/share/linda" \
         "$r/usr/share/lintian/overrides" "$r/usr/share/locale"/* "$r/usr/share/man"/*
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
  rm -f "$r/etc/apt/sources.list"
  cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # The engine provides these at run time.
  : >"$r/etc/resolv.conf"
  : >"$r/etc/hostname"
  rm -rf "${r:?}/dev"/* "${r:?}/proc"/* "${r:?}/sys"/* "${r:?}/var/lib/apt/lists"/* \
         "${r:?}/var/cache/apt"/*.bin "${r:?}/var/cache/apt/archives"/*.deb "${r:?}/var/log"/*.log \
         "${r:?}/var/log/apt"/* "${r:?}/var/cache/debconf"/*-old
  mkdir -p "$(dirname "$tarball")"
  tar --numeric-owner --xattrs -C "$r" -czf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
}

# The tarball as the image debian:12-slim: one layer, the same default command and PATH.
import_base() {
  local tarball=$1 ctr mnt
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  tar --numeric-owner --xattrs -C "$mnt" -xzf "$tarball"
  buildah umount "$ctr" >/dev/null
  buildah config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --os linux --arch "$(dpkg --print-architecture)" "$ctr"
  buildah commit --rm -q "$ctr" "$base" >/dev/null
}

tarball=$cache/debian-12-slim.tar.gz
if [ "$rebuild_base" = 1 ] || [ -z "$(image_id "$base")" ]; then
  if [ "$rebuild_base" = 1 ] || [ ! -s "$tarball" ]; then
    work=$(mktemp -d)
    # --one-file-system: never into a /proc, /sys or /dev a failed debootstrap left mounted.
    trap 'rm -rf --one-file-system "$work"' EXIT
    log "debootstrap bookworm minbase from $mirror (about a minute)"
    step debootstrap debootstrap_base "$work" "$tarball"
    rm -rf --one-file-system "$work"
    trap - EXIT
  fi
  old_base=$(image_id "$base")
  step base-import import_base "$tarball"
  [ -z "$old_base" ] || buildah rmi "$old_base" >/dev/null 2>&1 || true
else
  log "base $base present ($(image_id "$base" | sed "s/^sha256://" | cut -c1-12)): reused"
fi

# CPU seconds (user + system, waited-for children included) of process $1 so far.
cpu_of() {
  local st
  st=$(<"/proc/$1/stat") || return 0
  st=${st##*) }
  read -ra f <<<"$st"
  awk -v t="$(( f[11] + f[12] + f[13] + f[14] ))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }'
}

# Seconds (wall) since $1 (an ${EPOCHREALTIME/./}).
since() { awk -v a="$1" -v b="${EPOCHREALTIME/./}" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
# children_cpu=CPU seconds of this shell's waited-for children (bash `times`, second line).
# Sets a variable: `times` must run in this shell, not in a command substitution's subshell,
# which has no children of its own.
read_children_cpu() {
  local f
  f=$(mktemp)
  times >"$f"
  children_cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } printf "%.1f", t }' "$f")
  rm -f "$f"
}

# buildah bud's output; when the runtime stage starts, the build stage's wall time and the CPU
# buildah had used by then (the RUN steps it waited for included) are logged.
stamp_stages() {
  local pid=$1 line
  while IFS= read -r line; do
    case $line in
      "[2/2] STEP 1/"*)
        stage2_wall=${EPOCHREALTIME/./}
        stage2_cpu=$(cpu_of "$pid")
        timing build-stage "$(since "$build_start")" "$stage2_cpu" ;;
    esac
    printf '%s\n' "$line"
  done
}

build_image() {
  local inputs=$1 revision=$2 fifo pid
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  build_start=${EPOCHREALTIME/./}
  stage2_wall=
  # `command`: the background process must be buildah itself (its pid for cpu_of), not a
  # subshell running the wrapper function.
  command buildah --storage-driver "$driver" bud --pull=never --layers=false --force-rm \
    --build-arg "SIDEMETER_VERSION=$version" --build-arg "SIDEMETER_REVISION=$revision" \
    ${SIDEMETER_BUILD_JOBS:+--build-arg "NINJA_JOBS=$SIDEMETER_BUILD_JOBS"} \
    --label "io.sidemeter.inputs=$inputs" \
    -f deploy/Dockerfile -t "$image" . >"$fifo" 2>&1 &
  pid=$!
  stamp_stages "$pid" <"$fifo"
  rm -f "$fifo"
  wait "$pid"
  if [ -n "$stage2_wall" ]; then
    read_children_cpu
    timing runtime-stage "$(since "$stage2_wall")" \
      "$(awk -v a="$children_cpu" -v b="$stage2_cpu" 'BEGIN { printf "%.1f", a - b }')"
  fi
}

# The inputs: the base image and every file the Dockerfile COPYs from the context.
inputs=$(
  cd "$repo"
  {
    image_id "$base"
    sha256sum deploy/Dockerfile
    awk '/^COPY / && !/--from/ { for (i = 2; i < NF; i++) print $i }' deploy/Dockerfile |
      xargs sh -c 'find "$@" -type f -print0' find | sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-64)
existing=$(image_id "$image")
if [ "$force" = 0 ] && [ -n "$existing" ] &&
   [ "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "io.sidemeter.inputs"}}' "$image" 2>/dev/null)" = "$inputs" ]; then
  log "$image is up to date with its inputs: reused"
else
  revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
  log "building $image from deploy/Dockerfile (the build stage compiles the binary)"
  cd "$repo"
  step image build_image "$inputs" "$revision"
  # The previous build of this tag is now unnamed: vfs keeps a full copy of every layer.
  if [ -n "$existing" ] && [ "$existing" != "$(image_id "$image")" ]; then
    buildah rmi "$existing" >/dev/null 2>&1 || true
  fi
fi

id=$(image_id "$image")
# As `buildah images` / `podman images` show it: the uncompressed layers.
size=$(buildah images --format '{{.Size}}' "$image" | head -1)
log "$image: $size (uncompressed)"
echo "image $image $id $size"
exit 0
}
