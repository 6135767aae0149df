# Injection into an image that knows nothing of wsinit: the injector image (FROM scratch) copies
# the binary into a shared /projects volume as an init container would, and a plain Debian image
# (with only openssh-server added) runs it as its entrypoint, as uid 1000770000 gid 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/containers.sh"

setup_podman
ensure_base_image
build_image "$INJECTOR_IMAGE" --target wsinit "$SOURCE_DIR"
expect_eq "$(podman image inspect "$INJECTOR_IMAGE" --format '{{len .RootFS.Layers}}')" 1 "layers of the injector image"
# A third-party image: Debian and its sshd, nothing else (no group-writable /etc/passwd).
printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends openssh-server && rm -rf /var/lib/apt/lists/*\n' \
  "$BASE_IMAGE" >"$TMP/Containerfile.plain"
build_image localhost/debian-sshd:12 -f "$TMP/Containerfile.plain" "$TMP"

mkdir -p "$TMP/projects"
chmod 0775 "$TMP/projects"
podman run --rm --user "$WS_UID:0" -v "$TMP/projects:/projects" "$INJECTOR_IMAGE" >"$TMP/inject.out" ||
  fail "the injector failed: $(cat "$TMP/inject.out")"
expect_contains "$(cat "$TMP/inject.out")" "/projects/.wsinit/bin/wsinit" "injector output"
expect_eq "$("$TMP/projects/.wsinit/bin/wsinit" version)" "$(podman run --rm --entrypoint /wsinit "$INJECTOR_IMAGE" version)" \
  "the injected binary's version"
expect_eq "$(stat -c %a "$TMP/projects/.wsinit/bin/wsinit")" 755 "injected binary mode"
ok "the injector image copied wsinit into the volume"

key_login_config "$TMP/projects/wsinit.yaml"
# podman, like CRI-O, writes a passwd entry for a --user it does not find; the name is the uid.
run_container --user "$WS_UID:0" -p "127.0.0.1:$ssh_port:60022" -p "127.0.0.1:$health_port:60080" \
  -v "$TMP/projects:/projects" -e WSINIT_CONFIG=/projects/wsinit.yaml \
  --entrypoint /projects/.wsinit/bin/wsinit localhost/debian-sshd:12
wait_ready "$health_port"
expect_eq "$(podman exec "$CONTAINER" cat /proc/1/cmdline | tr '\0' ' ')" "/projects/.wsinit/bin/wsinit " "PID 1"
status=$(curl -s "http://127.0.0.1:$health_port/status")
user=$(echo "$status" | jq -r .user.name)
expect_eq "$(echo "$status" | jq -r '.user.uid')" "$WS_UID" "status user uid"
[ -s "$TMP/projects/.wsinit/ssh/ssh_host_ed25519_key" ] || fail "no host key in /projects/.wsinit/ssh"
expect_eq "$(ssh -F /dev/null -p "$ssh_port" -i "$TMP/key" -o BatchMode=yes -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR "$user@127.0.0.1" 'id -u')" "$WS_UID" "key login"
ok "injected wsinit as PID 1 of a plain image: user $user, host keys in /projects, key login, /readyz 200"

took=$(stop_within_grace)
ok "podman stop: exit 0 after ${took} ms"
