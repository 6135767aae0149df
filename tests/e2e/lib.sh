# Shared helpers for the end-to-end tests. Each test is a bash script run by ctest with
# WSINIT (the binary under test) and HELPERS (the folder of tests/helpers programs) set.
set -euo pipefail
: "${WSINIT:?WSINIT must name the wsinit binary}" "${HELPERS:?HELPERS must name the helpers folder}"

TMP=$(mktemp -d /tmp/wsinit-e2e.XXXXXX)
chmod 755 "$TMP"
STARTED=()

# Every process tree a test started is killed by pid, children first seen, then the root.
tree_of() {
  local pid=$1 child
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do tree_of "$child"; done
  echo "$pid"
}
cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do
    kill -KILL $(tree_of "$pid") 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# The directory of cgroup path $2 in the hierarchy mounted with type $1 (cgroup2, or cgroup for
# v1 with controller $3 among its options), mapped through the mount's root field as wsinit does.
cgroup_dir() {
  local type=$1 path=$2 controller=${3:-}
  awk -v type="$type" -v path="$path" -v controller="$controller" '
    { for (i = 7; i <= NF && $i != "-"; i++); fstype = $(i + 1); opts = $(i + 3) }
    fstype != type { next }
    type == "cgroup" && ("," opts ",") !~ ("," controller ",") { next }
    { root = $4; point = $5; gsub(/\\040/, " ", point)
      if (root == "/") { print point (path == "/" ? "" : path); exit }
      if (path == root) { print point; exit }
      if (index(path, root "/") == 1) { print point substr(path, length(root) + 1); exit } }
  ' /proc/self/mountinfo
}

# A test's own cgroup, $CG: every process left in it stopped by pid, then it removed. Bounded:
# 5 s (a process killed a moment ago may still hold it: rmdir is retried).
CG=""
remove_cgroup() {
  [ -n "$CG" ] && [ -d "$CG" ] || return 0
  local pid i
  for ((i = 0; i < 50; i++)); do
    for pid in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    rmdir "$CG" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "warning: could not remove $CG" >&2
}

fail() {
  echo "FAIL: $*" >&2
  if [ -s "$TMP/err" ]; then
    echo "--- the last lines wsinit wrote to stderr:" >&2
    tail -n 20 "$TMP/err" >&2
  fi
  exit 1
}
ok() { echo "ok: $*"; }

expect_eq() {  # actual expected what
  [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}
expect_contains() {  # haystack needle what
  case "$1" in *"$2"*) ;; *) fail "$3: '$2' not found in: $1" ;; esac
}

# Polls a shell condition every 20 ms for up to $2 seconds (default 10).
wait_until() {
  local cond=$1 limit=${2:-10} i
  for ((i = 0; i < limit * 50; i++)); do
    eval "$cond" && return 0
    sleep 0.02
  done
  fail "timed out after ${limit}s waiting for: $cond"
}

# Starts wsinit as PID 1 of a new PID namespace in the background. Sets WS_PID to its pid as
# seen from here. Output goes to $TMP/out and $TMP/err.
start_pid1() {
  unshare --pid --fork --mount-proc --kill-child "$WSINIT" "$@" >"$TMP/out" 2>"$TMP/err" &
  adopt_namespace $!
}

# Takes the unshare process just started in the background ($1): it is waited for and killed
# at the end, and its one child, wsinit (PID 1 inside), becomes WS_PID. A wsinit that exited at
# once (a config error) may be gone before it is seen: then WS_PID is empty.
adopt_namespace() {
  local unshare_pid=$1
  STARTED+=("$unshare_pid")
  wait_until "[ -n \"\$(cat /proc/$unshare_pid/task/$unshare_pid/children 2>/dev/null)\" ] || ! kill -0 $unshare_pid 2>/dev/null" 5
  WS_PID=$(cat /proc/$unshare_pid/task/$unshare_pid/children 2>/dev/null | tr -d ' ' || true)
  WS_WAIT_PID=$unshare_pid
}

# Starts wsinit in the background as an ordinary process (a child subreaper).
start_subreaper() {
  "$WSINIT" "$@" >"$TMP/out" 2>"$TMP/err" &
  WS_PID=$!
  WS_WAIT_PID=$!
  STARTED+=("$WS_PID")
}

# Waits for the wsinit started above and sets WS_STATUS to its exit status.
wait_wsinit() {
  WS_STATUS=0
  wait "$WS_WAIT_PID" || WS_STATUS=$?
}

# Writes config file $1: the plain profile with this test's logs and runtime dirs, then
# whatever YAML comes on stdin (services, log settings, ...).
plain_config() {
  mkdir -p "$TMP/logs"
  { printf 'version: 1\nprofile: plain\npaths: {logs: %s, runtime: %s}\n' "$TMP/logs" "$TMP/run"; cat; } >"$1"
}

# A TCP port nobody uses right now, below the kernel's ephemeral range: a port from that range
# may become the local port of any client connection made meanwhile (tests run two at a time),
# and then nothing can bind it until that connection is gone.
free_port() {
  python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    port = random.randrange(10000, max(low, 10001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port below the ephemeral range")
'
}

# True when $WSINIT is an ASan build (bounds on RSS and timing are the release build's). Not a
# pipe into grep -q: under pipefail an ldd killed by SIGPIPE would read as "not ASan".
is_asan_build() { grep -q libasan <(ldd "$WSINIT" 2>/dev/null); }

# Each test talks to its own instance.
export WSINIT_SOCKET="$TMP/run/wsinit.sock"

status_json() { "$WSINIT" status --json; }

# A root with nothing in it but Debian's busybox-static and the static wsinit (at /wsinit), as
# an image GitLab's docs describe it: /etc/passwd and /home writable by group 0, the projects
# volume by the pod's group 0 (fsGroup), /www holding "served". Arguments after the root are
# busybox applets linked into /bin (sh always is).
busybox_root() {
  local root=$1 tool
  shift
  file -L /bin/busybox | grep -q "statically linked" || fail "/bin/busybox is not Debian's busybox-static"
  file -L "$WSINIT" | grep -q "statically linked" || fail "$WSINIT is not the static build"
  mkdir -p "$root"/{bin,etc/wsinit,www,tmp,proc,dev,home,projects}
  cp /bin/busybox "$root/bin/busybox"
  for tool in sh "$@"; do ln -s busybox "$root/bin/$tool"; done
  cp "$WSINIT" "$root/wsinit"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  chmod 664 "$root/etc/passwd"
  chmod 775 "$root/home" "$root/projects"
  chmod 1777 "$root/tmp"
  printf 'served\n' >"$root/www/index.html"
}

# Whether the jq expression is true of `wsinit status --json`. A status that could not be read
# is not: jq 1.6's -e exits 0 on empty input.
status_is() {
  local s
  s=$(status_json 2>/dev/null) && [ -n "$s" ] && jq -e "$1" >/dev/null <<<"$s"
}

# Waits until the jq expression is true of `wsinit status --json`.
wait_status() {
  local expr=$1 limit=${2:-10}
  wait_until "status_is $(printf %q "$expr")" "$limit"
}

# The value of a jq expression over the status of service $1.
service_field() {
  status_json | jq -r --arg n "$1" ".services[] | select(.name == \$n) | $2"
}

# Line number of the first line of $1 matching $2 (0 when none).
line_of() {
  local n
  n=$(grep -n -m1 -- "$2" "$1" | cut -d: -f1)
  echo "${n:-0}"
}

# --- The workspace user: uid 1000770000 gid 0, as OpenShift and GitLab run workspaces. ---
WS_UID=1000770000

# Scratch copies of /etc/passwd, /etc/group and /etc/shadow in $TMP/etc (passwd and group
# root:root 0664, writable by gid 0 as the arbitrary-UID convention has it; shadow root:shadow
# 0640), and a work directory $TMP/ws the user may write to.
setup_workspace_user() {
  mkdir -p "$TMP/etc" "$TMP/ws"
  chmod 0777 "$TMP/ws"
  cp /etc/passwd /etc/group /etc/shadow "$TMP/etc/"
  chown root:root "$TMP/etc/passwd" "$TMP/etc/group"
  chmod 0664 "$TMP/etc/passwd" "$TMP/etc/group"
  chown root:shadow "$TMP/etc/shadow"
  chmod 0640 "$TMP/etc/shadow"
}

# Writes config file $1 for the workspace user: the gitlab profile with home, data, logs and
# runtime under $TMP/ws (and $2 added to `paths:`), then whatever YAML comes on stdin.
workspace_config() {
  local ws="$TMP/ws"
  { printf 'version: 1\nprofile: gitlab\nuser: {home: %s/home}\n' "$ws"
    printf 'paths: {data: %s/data, logs: %s/logs, runtime: %s/run%s}\n' "$ws" "$ws" "$ws" "${2:+, $2}"
    cat; } >"$1"
}

# Runs `wsinit ARGS...` as PID 1 of new mount and PID namespaces, as the workspace user, with
# the scratch files bind-mounted over the real ones. $WS_MOUNTS may add mount commands, each
# ending in "&&"; $WS_ENV may set variables ("NAME=value ...") for wsinit.
start_as_workspace_user() {
  unshare --mount --pid --fork --mount-proc --kill-child sh -c "
    mount --bind $TMP/etc/passwd /etc/passwd && mount --bind $TMP/etc/group /etc/group &&
    mount --bind $TMP/etc/shadow /etc/shadow && ${WS_MOUNTS:-}
    exec env ${WS_ENV:-} setpriv --reuid=$WS_UID --regid=0 --clear-groups $WSINIT $*" >"$TMP/out" 2>"$TMP/err" &
  adopt_namespace $!
}

# --- A GitLab-like pod: wsinit with no config file, as the workspace user. ---
# Runs `wsinit ARGS...` as PID 1 of new mount, PID and network namespaces, as the workspace
# user, chrooted into a root made of the host's top-level directories (bind-mounted) plus what
# a GitLab pod has: /projects ($TMP/projects, writable by gid 0) and the variables mount
# /.workspace-data/variables/file ($TMP/variables). Ports are the pod's own, so the embedded
# default's fixed ones (60080) never meet the host's; reach them with `in_pod CMD...`.
# Call setup_workspace_user first; $WS_ENV sets variables for wsinit, $WS_POD_MOUNTS adds
# "SRC:DEST" mounts (e.g. GitLab's /workspace-scripts).
start_in_pod() {
  # Worked out first: a command substitution in the background command would be a child of it
  # for a moment, and be taken for the pod.
  local enter_pod
  enter_pod="$(dirname "${BASH_SOURCE[0]}")/../../scripts/enter-pod"
  mkdir -p "$TMP/root" "$TMP/projects" "$TMP/variables"
  chmod 0775 "$TMP/projects" "$TMP/variables"
  "$enter_pod" --own-network "$TMP/root" \
    "$TMP/projects:/projects" "$TMP/variables:/.workspace-data/variables/file" \
    "$TMP/etc/passwd:/etc/passwd" "$TMP/etc/group:/etc/group" "$TMP/etc/shadow:/etc/shadow" ${WS_POD_MOUNTS:-} -- \
    env ${WS_ENV:-} setpriv --reuid=$WS_UID --regid=0 --clear-groups "$WSINIT" "$@" >"$TMP/out" 2>"$TMP/err" &
  adopt_namespace $!
}

# The host pid of a process under wsinit, from its pid inside wsinit's PID namespace.
host_pid_of() {
  local pid
  for pid in $(tree_of "$WS_PID"); do
    [ "$(awk '/^NSpid:/ {print $NF}' "/proc/$pid/status" 2>/dev/null)" = "$1" ] && { echo "$pid"; return; }
  done
  fail "no process with pid $1 under wsinit"
}

# Runs a command in the pod's network namespace (curl, ssh), as the caller.
in_pod() { nsenter --net="/proc/$WS_PID/ns/net" "$@"; }
