# The Dockerfile's workspace-base image in a real container (rootful podman) as an arbitrary
# UID, as Kubernetes runs it (no passwd entry made by the runtime): wsinit is PID 1, writes the
# user entry, sshd answers on a published port and a key login from the host works, /readyz is
# 200, and `podman stop` ends it cleanly within the grace period. Then the same image with
# `sshd.server: builtin`: wsinit's own SSH server in the container, OpenSSH's clients outside.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/containers.sh"

setup_podman
ensure_base_image
build_image "$WORKSPACE_IMAGE" --target workspace-base "$SOURCE_DIR"
image_user=$(podman image inspect "$WORKSPACE_IMAGE" --format '{{.Config.User}}')
expect_eq "$image_user" "5001:0" "the image's user (GitLab's)"
keys=$(podman run --rm --entrypoint sh "$WORKSPACE_IMAGE" -c 'ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l')
expect_eq "$keys" 0 "host keys baked into the image"
expect_eq "$(podman run --rm --entrypoint stat "$WORKSPACE_IMAGE" -c '%a %U:%G' /etc/shadow)" "640 root:shadow" "/etc/shadow in the image"
ok "workspace-base built: user 5001:0, no host keys, /etc/shadow as Debian ships it"

key_login_config "$TMP/wsinit.yaml"
run_container --passwd=false --user "$WS_UID:0" -p "127.0.0.1:$ssh_port:60022" -p "127.0.0.1:$health_port:60080" \
  -v "$TMP/wsinit.yaml:/etc/wsinit/wsinit.yaml:ro" "$WORKSPACE_IMAGE"
wait_ready "$health_port"
expect_eq "$(podman exec "$CONTAINER" cat /proc/1/comm)" wsinit "PID 1"
expect_contains "$(podman exec "$CONTAINER" grep ":$WS_UID:0:" /etc/passwd)" "gitlab-workspaces::$WS_UID:0:" "the user entry"
status=$(curl -s "http://127.0.0.1:$health_port/status")
expect_eq "$(echo "$status" | jq -r .user.entry)" appended "user.entry"
expect_eq "$(echo "$status" | jq -r '[.services[].name] | join(",")')" "sshd-config,sshd" "services"
ok "wsinit is PID 1, appended gitlab-workspaces for uid $WS_UID, /readyz 200"

ssh_ws() {
  ssh -F /dev/null -p "$ssh_port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o LogLevel=ERROR "$@"
}
expect_eq "$(ssh_ws -i "$TMP/key" gitlab-workspaces@127.0.0.1 'id -u; whoami')" "$WS_UID
gitlab-workspaces" "key login"
expect_eq "$(ssh_ws -o PubkeyAuthentication=no gitlab-workspaces@127.0.0.1 whoami)" gitlab-workspaces "empty-password login"
ok "sshd on the published port: key login and the GitLab proxy's empty-password login"

took=$(stop_within_grace)
if podman logs "$CONTAINER" 2>&1 | grep -q "killing what is left"; then fail "wsinit had to SIGKILL processes at stop"; fi
ok "podman stop: exit 0 after ${took} ms, every process ended before the grace ran out"

# --- the same image with the built-in SSH server instead of the image's OpenSSH ---
printf 'version: 1\nprofile: gitlab\nsshd: {server: builtin, authorized_keys: ["%s"]}\n' "$(cat "$TMP/key.pub")" >"$TMP/builtin.yaml"
chmod 0644 "$TMP/builtin.yaml"
run_container --passwd=false --user "$WS_UID:0" -p "127.0.0.1:$ssh_port:60022" -p "127.0.0.1:$health_port:60080" \
  -v "$TMP/builtin.yaml:/etc/wsinit/wsinit.yaml:ro" "$WORKSPACE_IMAGE"
wait_ready "$health_port"
expect_eq "$(curl -s "http://127.0.0.1:$health_port/status" | jq -r .sshd.server)" builtin "sshd.server"
expect_eq "$(ssh_ws -i "$TMP/key" gitlab-workspaces@127.0.0.1 'id -u; whoami')" "$WS_UID
gitlab-workspaces" "key login (built-in server)"
expect_eq "$(ssh_ws -o PubkeyAuthentication=no gitlab-workspaces@127.0.0.1 whoami)" gitlab-workspaces "empty-password login (built-in server)"
rc=0; ssh_ws -i "$TMP/key" gitlab-workspaces@127.0.0.1 'exit 7' || rc=$?
expect_eq "$rc" 7 "exit 7 (built-in server)"
head -c 3000000 /dev/urandom >"$TMP/blob"
printf 'put %s blob\nget blob %s\n' "$TMP/blob" "$TMP/blob.back" >"$TMP/batch"
sftp -F /dev/null -P "$ssh_port" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o LogLevel=ERROR -i "$TMP/key" -b "$TMP/batch" gitlab-workspaces@127.0.0.1 >"$TMP/sftp.out" 2>&1 ||
  fail "sftp (built-in server): $(tail -n 5 "$TMP/sftp.out")"
cmp "$TMP/blob" "$TMP/blob.back" || fail "the file sftp got back differs"
ok "built-in SSH server in the container: key and empty-password logins, exit 7, sftp put/get"
took=$(stop_within_grace)
ok "podman stop with the built-in server: exit 0 after ${took} ms"
