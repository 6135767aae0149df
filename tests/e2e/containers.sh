# Helpers for the container tests (sourced after lib.sh): rootful podman with this project's own
# settings, a Debian base image made with debootstrap (no registry is reachable), and the images
# the Dockerfile builds. Images and the base tarball are kept between runs in CACHE_DIR.
CACHE_DIR=${WSINIT_CONTAINER_CACHE:-/var/cache/wsinit-tests}
SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BASE_IMAGE=localhost/debian-base:12
WORKSPACE_IMAGE=localhost/wsinit-workspace-base:test
INJECTOR_IMAGE=localhost/wsinit-injector:test
CONTAINERS=()

# Exit status ctest reports as "skipped" (SKIP_RETURN_CODE): only where podman truly cannot run.
skip_loudly() {
  echo "SKIPPED, NOT PASSED: $*" >&2
  exit 77
}

# Settings this kernel needs, in files of our own rather than /etc: runc (crun refuses the hybrid
# cgroup layout here) and ulimits within the hard limits we may not raise.
setup_podman() {
  command -v podman >/dev/null || fail "podman is not installed (scripts/install-deps installs it)"
  mkdir -p "$CACHE_DIR"
  local nofile
  nofile=$(ulimit -Hn)
  cat >"$TMP/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
  cat >"$TMP/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$CACHE_DIR/storage"
runroot = "/run/wsinit-tests-containers"
EOF
  export CONTAINERS_CONF="$TMP/containers.conf" CONTAINERS_STORAGE_CONF="$TMP/storage.conf"
  podman info >"$TMP/podman-info" 2>&1 || skip_loudly "podman cannot run on this machine: $(tail -n 3 "$TMP/podman-info")"
  trap 'remove_containers; cleanup' EXIT
}

remove_containers() {
  local c
  for c in "${CONTAINERS[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
}

# The Debian mirror this machine's apt uses.
debian_mirror() {
  local uri
  # (one line: install-libssh's deb-src file names the same mirror again)
  uri=$(grep -h -m1 -E '^URIs: .*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'NR == 1 {print $2}')
  [ -n "$uri" ] || uri=$(grep -h -m1 -E '^deb .*/debian/? bookworm' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
  echo "${uri:-http://deb.debian.org/debian}"
}

# localhost/debian-base:12, from a cached debootstrap tarball or a new one (about a minute).
ensure_base_image() {
  exec 8>"$CACHE_DIR/base.lock"
  flock 8
  if ! podman image exists "$BASE_IMAGE"; then
    local tarball="$CACHE_DIR/debian-base-12.tar"
    if [ ! -s "$tarball" ]; then
      echo "containers: debootstrap --variant=minbase bookworm from $(debian_mirror)"
      debootstrap --variant=minbase bookworm "$TMP/debootstrap" "$(debian_mirror)" >"$TMP/debootstrap.log" 2>&1 ||
        fail "debootstrap failed: $(tail -n 5 "$TMP/debootstrap.log")"
      tar -C "$TMP/debootstrap" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
      rm -rf "$TMP/debootstrap"
    fi
    podman import "$tarball" "$BASE_IMAGE" >/dev/null
  fi
  flock -u 8
}

# Builds one image (its layers are cached, so the second test to ask is quick). The build
# shares the host's network: apt inside reaches the mirror as the host's apt does.
build_image() {  # tag podman-build-args...
  local tag=$1
  shift
  exec 9>"$CACHE_DIR/build.lock"
  flock 9
  podman build --network host --build-arg "BASE=$BASE_IMAGE" -t "$tag" "$@" >"$TMP/build-$(basename "$tag").log" 2>&1 ||
    fail "podman build $tag failed: $(tail -n 15 "$TMP/build-$(basename "$tag").log")"
  flock -u 9
}

# Starts a container in the background (podman run -d ARGS...); sets CONTAINER to its id.
run_container() {
  CONTAINER=$(podman run -d "$@") || fail "podman run $* failed"
  CONTAINERS+=("$CONTAINER")
}

# Polls the container's published /readyz until it answers 200.
wait_ready() {  # port seconds
  wait_until "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$1/readyz)\" = 200 ]" "${2:-60}"
}

# podman stop (SIGTERM, SIGKILL after 30 s as Kubernetes would): it must end within wsinit's 25 s
# grace, exit 0, and leave no process behind. Prints the seconds it took.
stop_within_grace() {
  local start end
  start=$(date +%s%N)
  podman stop -t 30 "$CONTAINER" >/dev/null
  end=$(date +%s%N)
  local took_ms=$(((end - start) / 1000000))
  [ "$took_ms" -lt 25000 ] || fail "podman stop took ${took_ms} ms (grace 25 s)"
  expect_eq "$(podman inspect "$CONTAINER" --format '{{.State.Status}} {{.State.ExitCode}}')" "exited 0" "container state after stop"
  echo "$took_ms"
}

# A client key ($TMP/key) and a wsinit config at $1 that authorizes it (gitlab profile), readable
# by the container's user; picks the host ports ssh_port and health_port the tests publish.
key_login_config() {
  ssh-keygen -q -t ed25519 -N '' -f "$TMP/key"
  printf 'version: 1\nprofile: gitlab\nsshd: {authorized_keys: ["%s"]}\n' "$(cat "$TMP/key.pub")" >"$1"
  chmod 0644 "$1"
  ssh_port=$(free_port)
  health_port=$(free_port)
}
