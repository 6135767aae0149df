# deploy/kubernetes/workspace.yaml and workspace-injected.yaml, played as they are by
# `podman kube play` (rootful podman 4.3). Rewritten, into copies, only what this machine needs:
# the images (the locally built test images; the injected one gets the injector image and a plain
# Debian with openssh-server), the names of the Deployment and the claim (a suffix per run, so runs
# and a real "workspace-data" volume never meet), and the ports: podman 4.3 publishes every
# containerPort on the host at the same port on all addresses, so each gets a free hostPort on
# 127.0.0.1. The claim becomes a named volume, removed at the end by name. One more for the injected
# manifest, a workaround for podman 4.3 alone (containers/podman#16343): it gives init containers
# the pod's restartPolicy, so under Always (a Deployment's only policy) the injector, which exits 0
# at once, is restarted in a loop until podman gives up waiting after 20 s and the play fails or
# not by chance; the copy says `restartPolicy: OnFailure` (which Kubernetes refuses in a
# Deployment, and which is what it does with init containers anyway).
#
# What podman 4.3 does with the probes: it ignores startupProbe and readinessProbe, and turns the
# livenessProbe into a healthcheck run inside the container, `curl -f http://localhost:<port>/healthz`,
# where a named port (ours: `health`) becomes port 0 and the images have no curl; its timer needs
# systemd, which this machine does not run, so it never runs (run by hand it fails, and after
# three failures podman would restart the container). So the test checks that the healthcheck was
# made from the livenessProbe and leaves it alone, and does the probes' work itself from the host:
# /readyz 200 (startup and readiness), /healthz 200 (liveness).
#
# Checked for each manifest: the pod comes up, the main container runs as uid 5001 with wsinit as
# PID 1 (the securityContext's dropped capabilities and no-new-privileges applied), sshd answers on
# the published port, the container was never restarted, and it exits 0 when the pod stops.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/containers.sh"

setup_podman
ensure_base_image
build_image "$WORKSPACE_IMAGE" --target workspace-base "$SOURCE_DIR"
build_image "$INJECTOR_IMAGE" --target wsinit "$SOURCE_DIR"
printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends openssh-server && rm -rf /var/lib/apt/lists/*\n' \
  "$BASE_IMAGE" >"$TMP/Containerfile.plain"
build_image localhost/debian-sshd:12 -f "$TMP/Containerfile.plain" "$TMP"

SUFFIX="t$$"
PODS=()
VOLUMES=()
# On any exit: the pods and volumes this test made, by name.
kube_cleanup() {
  local p v
  for p in "${PODS[@]}"; do podman pod rm -f -t 0 "$p" >/dev/null 2>&1 || true; done
  for v in "${VOLUMES[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
}
trap 'kube_cleanup; remove_containers; cleanup' EXIT

# Copies manifest $1 to $2 with the rewrites above; deployment $3, the claim's new name $4.
rewrite_manifest() {
  local from=$1 to=$2 deployment=$3 claim=$4
  editor_port=$(free_port)
  ssh_port=$(free_port)
  health_port=$(free_port)
  sed -e "s|registry.example.com/platform/workspace-base:latest|$WORKSPACE_IMAGE|" \
    -e "s|registry.example.com/platform/wsinit:latest|$INJECTOR_IMAGE|" \
    -e "s|registry.example.com/team/any-image:latest|localhost/debian-sshd:12|" \
    -e "s|^  name: $deployment\$|  name: $deployment-$SUFFIX|" \
    -e "s|^  name: workspace-data\$|  name: $claim|" \
    -e "s|claimName: workspace-data}|claimName: $claim}|" \
    -e "s|{name: editor, containerPort: 60001}|{name: editor, containerPort: 60001, hostIP: 127.0.0.1, hostPort: $editor_port}|" \
    -e "s|{name: ssh, containerPort: 60022}|{name: ssh, containerPort: 60022, hostIP: 127.0.0.1, hostPort: $ssh_port}|" \
    -e "s|{name: health, containerPort: 60080}|{name: health, containerPort: 60080, hostIP: 127.0.0.1, hostPort: $health_port}|" \
    "$from" >"$to"
  # A manifest changed so that a rewrite no longer applies must fail here, not publish 60080.
  if grep -q registry.example.com "$to"; then fail "$from: an image was not rewritten: $(grep registry.example.com "$to")"; fi
  expect_eq "$(grep -c 'hostIP: 127.0.0.1' "$to")" 3 "$from: ports given a 127.0.0.1 hostPort"
  expect_eq "$(grep -c "claimName: $claim}" "$to")" 1 "$from: claims renamed"
  grep -q "^  name: $deployment-$SUFFIX\$" "$to" || fail "$from: the Deployment $deployment was not renamed"
}

# Plays $1; deployment $2; sets POD and MAIN (the main container, `tooling`).
play() {
  local file=$1 deployment=$2
  POD="$deployment-$SUFFIX-pod-0"
  MAIN="$POD-tooling"
  PODS+=("$POD")
  podman kube play "$file" >"$TMP/play.out" 2>"$TMP/play.err" ||
    fail "podman kube play $(basename "$file") failed: $(cat "$TMP/play.err")"
  podman container exists "$MAIN" || fail "no container $MAIN after kube play: $(cat "$TMP/play.out")"
}

# What every workspace of these manifests must show once up.
check_pod() {  # what
  wait_ready "$health_port" 60
  expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$health_port/healthz")" 200 "$1: /healthz"
  expect_eq "$(podman exec "$MAIN" cat /proc/1/comm)" wsinit "$1: /proc/1/comm"
  local proc1
  proc1=$(podman exec "$MAIN" cat /proc/1/status)
  expect_eq "$(echo "$proc1" | awk '/^Uid:/ {print $2 ":" $3}')" "5001:5001" "$1: PID 1's real and effective uid"
  expect_eq "$(echo "$proc1" | awk '/^Gid:/ {print $2}')" 0 "$1: PID 1's gid"
  expect_eq "$(echo "$proc1" | awk '/^CapEff:/ {print $2}')" 0000000000000000 "$1: PID 1's effective capabilities"
  expect_eq "$(curl -s "http://127.0.0.1:$health_port/status" | jq -r .user.uid)" 5001 "$1: status user.uid"
  local banner
  banner=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ssh_port && head -c 8 <&3") || true
  expect_eq "$banner" "SSH-2.0-" "$1: sshd on the published port"
  local probe
  probe=$(podman inspect "$MAIN" --format '{{join .Config.Healthcheck.Test " "}}')
  expect_contains "$probe" "/healthz" "$1: the healthcheck podman made of the livenessProbe"
}

# Stops the pod (as a Deployment's pod is deleted): the main container exits 0, never restarted;
# then `podman kube down` and the volume removed by name.
take_down() {  # file what claim
  expect_eq "$(podman inspect "$MAIN" --format '{{.RestartCount}}')" 0 "$2: restarts of the main container"
  podman pod stop -t 30 "$POD" >/dev/null
  expect_eq "$(podman inspect "$MAIN" --format '{{.State.Status}} {{.State.ExitCode}}')" "exited 0" "$2: main container after stop"
  podman kube down "$1" >"$TMP/down.out" 2>"$TMP/down.err" || fail "podman kube down failed: $(cat "$TMP/down.err")"
  ! podman pod exists "$POD" || fail "$2: pod $POD still there after kube down"
  podman volume rm "$3" >/dev/null || fail "$2: cannot remove volume $3"
}

# --- workspace.yaml: the workspace-base image, the PVC made with it. ---
start=$(date +%s%N)
claim="workspace-data-$SUFFIX"
VOLUMES+=("$claim")
rewrite_manifest "$SOURCE_DIR/deploy/kubernetes/workspace.yaml" "$TMP/workspace.yaml" workspace "$claim"
play "$TMP/workspace.yaml" workspace
podman volume exists "$claim" || fail "workspace.yaml: kube play made no volume $claim of the PersistentVolumeClaim"
check_pod workspace.yaml
expect_eq "$(podman inspect "$MAIN" --format '{{.Config.User}}')" 5001 "workspace.yaml: the container's user (runAsUser)"
take_down "$TMP/workspace.yaml" workspace.yaml "$claim"
ok "workspace.yaml: uid 5001, wsinit PID 1, /readyz and /healthz 200, sshd up, no restart, exit 0 ($((($(date +%s%N) - start) / 1000000)) ms)"

# --- workspace-injected.yaml: the injector init container, then a plain image runs its copy. ---
start=$(date +%s%N)
claim="workspace-data-inj-$SUFFIX"
VOLUMES+=("$claim")
rewrite_manifest "$SOURCE_DIR/deploy/kubernetes/workspace-injected.yaml" "$TMP/injected.yaml" workspace-injected "$claim"
sed -i 's|^      terminationGracePeriodSeconds: 30$|&\n      restartPolicy: OnFailure|' "$TMP/injected.yaml"
expect_eq "$(grep -c '^      restartPolicy: OnFailure$' "$TMP/injected.yaml")" 1 "workspace-injected.yaml: podman 4.3's init container workaround"
play "$TMP/injected.yaml" workspace-injected
check_pod workspace-injected.yaml
expect_eq "$(podman exec "$MAIN" cat /proc/1/cmdline | tr '\0' ' ')" "/projects/.wsinit/bin/wsinit " "workspace-injected.yaml: PID 1"
expect_eq "$(podman exec "$MAIN" /projects/.wsinit/bin/wsinit version)" \
  "$(podman run --rm --entrypoint /wsinit "$INJECTOR_IMAGE" version)" "workspace-injected.yaml: the injected binary's version"
expect_eq "$(podman exec "$MAIN" stat -c '%a %u' /projects/.wsinit/bin/wsinit)" "755 5001" \
  "workspace-injected.yaml: the injected binary (written by the init container as uid 5001)"
take_down "$TMP/injected.yaml" workspace-injected.yaml "$claim"
ok "workspace-injected.yaml: init container injected wsinit, uid 5001, PID 1, /readyz and /healthz 200, sshd up, no restart, exit 0 ($((($(date +%s%N) - start) / 1000000)) ms)"
