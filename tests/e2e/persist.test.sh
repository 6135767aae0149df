# user.persist: HOME is fresh at every workspace start (GitLab keeps only the projects volume),
# so its entries live under <paths.data>/home and HOME holds links to them. Two starts with a
# new, empty HOME between them: a shell history and a config dir survive; an image's file the
# persistent copy shadows is kept as .image and reported; HOME under paths.data links nothing.
# The gitlab profile with no config file, and the plain profile with the key set.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
ws="$TMP/ws"
export WSINIT_SOCKET="$ws/run/wsinit.sock"

# --- Plain profile, the key set. HOME is a tmpfs of its own in each start's mount namespace:
# new and empty each time (as in a restarted pod), and another file system than paths.data, so
# the first start's move is a copy. The image puts a .gitconfig and a .config/ there.
cat >"$TMP/plain.yaml" <<YAML
version: 1
profile: plain
user:
  home: $ws/home
  persist: [.bash_history, .gitconfig, .config/]
paths: {logs: $ws/logs, runtime: $ws/run, data: $ws/data}
services:
  - name: shell
    shell: >-
      echo "round \$ROUND" >>"\$HOME/.bash_history" && mkdir -p "\$HOME/.config/app" &&
      echo "set in round \$ROUND" >>"\$HOME/.config/app/conf" &&
      cat "\$HOME/.bash_history" >$ws/seen-history && cat "\$HOME/.config/app/conf" >$ws/seen-conf &&
      cat "\$HOME/.gitconfig" >$ws/seen-gitconfig
    oneshot: true
    restart: never
YAML
mkdir -p "$ws/home"
image_home() {  # the image's HOME, on a fresh tmpfs
  echo "mount -t tmpfs -o mode=0755,uid=$WS_UID,gid=0 tmpfs $ws/home &&
    echo '[user] name = image' >$ws/home/.gitconfig && mkdir $ws/home/.config &&
    echo from-the-image >$ws/home/.config/image-file && chown -R $WS_UID:0 $ws/home/.gitconfig $ws/home/.config &&"
}
state_of() { status_json | jq -r --arg p "$1" '.user.persist[] | select(.path == $p) | .state'; }
run_round() {
  rm -f "$ws/seen-history" "$ws/seen-conf" "$ws/seen-gitconfig"
  WS_ENV="ROUND=$1" WS_MOUNTS=$(image_home) start_as_workspace_user --config "$TMP/plain.yaml"
  wait_status '.services[0].state == "exited" or .services[0].state == "failed"' 15
  expect_eq "$(service_field shell .last_exit)" "exit 0" "round $1: the shell service"
}

run_round 1
expect_eq "$(state_of .bash_history) $(state_of .gitconfig) $(state_of .config/)" "created moved moved" "round 1: states"
[ -L "$ws/data/home/.gitconfig" ] && fail "round 1: the persistent .gitconfig is a link"
expect_eq "$(cat "$ws/data/home/.config/image-file")" from-the-image "round 1: the image's .config moved (copied across file systems)"
expect_eq "$(cat "$ws/seen-gitconfig")" "[user] name = image" "round 1: .gitconfig through its link"
grep -q "user.persist .gitconfig: moved" "$TMP/err" || fail "round 1: no log line for the move"
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "round 1: exit status"
ok "plain profile, first start: the image's .gitconfig and .config/ moved across file systems, a history created"

echo '[user] name = ada' >"$ws/data/home/.gitconfig"  # the user's own, since
run_round 2
expect_eq "$(cat "$ws/seen-history")" "$(printf 'round 1\nround 2')" "round 2: the history survived a new HOME"
expect_eq "$(cat "$ws/seen-conf")" "$(printf 'set in round 1\nset in round 2')" "round 2: the config dir survived"
expect_eq "$(cat "$ws/seen-gitconfig")" "[user] name = ada" "round 2: the persistent .gitconfig wins"
expect_eq "$(state_of .bash_history) $(state_of .gitconfig) $(state_of .config/)" "linked image-kept image-kept" "round 2: states"
expect_contains "$(status_json | jq -r '.user.warnings | join("|")')" "$ws/home/.gitconfig.image" "round 2: the kept image in the status warnings"
grep -q "user.persist .gitconfig: .*\.gitconfig\.image" "$TMP/err" || fail "round 2: the kept image is not in the log"
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "round 2: exit status"
ok "plain profile, second start on a new HOME: history and config dir survive; the image's .gitconfig kept as .image and reported"

# HOME under paths.data: the whole of it persists; nothing is linked.
cat >"$TMP/under.yaml" <<YAML
version: 1
profile: plain
user: {home: $ws/data/home, persist: [.bash_history, .config/]}
paths: {logs: $ws/logs, runtime: $ws/run, data: $ws/data}
services:
  - {name: idle, command: [sleep, "600"]}
YAML
start_as_workspace_user --config "$TMP/under.yaml"
wait_status '.services[0].state == "running" or .services[0].state == "ready"' 15
expect_eq "$(status_json | jq -r '[.user.persist[].state] | join(",")')" "skipped,skipped" "HOME under paths.data"
expect_contains "$(status_json | jq -r '.user.persist[0].detail')" "lies under paths.data" "why skipped"
[ -L "$ws/data/home/.bash_history" ] && fail "a link was made in a HOME under paths.data"
kill -TERM "$WS_PID"
wait_wsinit
ok "HOME under paths.data: nothing linked, said in the status"

# `wsinit check` shows the plan and touches nothing (HOME here: the host's empty $ws/home).
chown $WS_UID:0 "$ws/home"
plan=$(setpriv --reuid=$WS_UID --regid=0 --clear-groups env HOME=/nonexistent "$WSINIT" check --config "$TMP/plain.yaml" || true)
expect_contains "$plan" "persist .bash_history: linked (would be linked: the persistent copy linked)" "check: the plan"
expect_contains "$plan" "persist .gitconfig: linked (would be linked" "check: the plan"
[ -e "$ws/home/.bash_history" ] || [ -L "$ws/home/.bash_history" ] && fail "check linked something"
ok "wsinit check shows the plan and links nothing"

# --- The gitlab profile, no config file, in a GitLab-like pod. /home is the pod's own (a
# directory of this test), so HOME is /home/gitlab-workspaces and not the data fallback.
cp /etc/passwd "$TMP/etc/passwd"  # no entry for the uid again: the gitlab profile's own is appended
mkdir -p "$TMP/podhome"
chmod 0777 "$TMP/podhome"
export WSINIT_SOCKET="$TMP/ws/run/wsinit.sock"
WS_POD_MOUNTS="$TMP/podhome:/home"
WS_ENV="PROJECTS_ROOT=/projects XDG_RUNTIME_DIR=$TMP/ws/run GL_WORKSPACE_LOGS_DIR=/projects/workspace-logs"
as_user_in_pod() {  # a shell of the workspace user's, in the pod
  local host_pid
  host_pid=$(host_pid_of 1)  # wsinit, PID 1 of the pod
  nsenter --target "$host_pid" --mount --root --wd=/ setpriv --reuid=$WS_UID --regid=0 --clear-groups \
    env HOME=/home/gitlab-workspaces sh -c "$1"
}
start_in_pod
wait_status '.user.persist | length == 8' 30
expect_eq "$(status_json | jq -r '.user.home')" /home/gitlab-workspaces "gitlab: HOME"
expect_eq "$(status_json | jq -r '[.user.persist[] | select(.state == "created")] | length')" 8 "gitlab: all created"
as_user_in_pod 'echo "git status" >>~/.bash_history && mkdir -p ~/.config/glab-cli && echo "host: gitlab.example" >~/.config/glab-cli/config.yml'
kill -TERM "$WS_PID"
wait_wsinit
rm -rf "$TMP/podhome/gitlab-workspaces"  # the next start's HOME is new and empty
start_in_pod
wait_status '.user.persist | length == 8' 30
expect_eq "$(state_of .bash_history) $(state_of .config/) $(state_of .local/share/fish/)" "linked linked linked" \
  "gitlab, second start: what the first start made is linked"
# Files no one wrote (.python_history ...) have no persistent copy yet: their links are made again.
expect_eq "$(status_json | jq -r '[.user.persist[].state] | unique | join(",")')" created,linked "gitlab, second start: states"
expect_eq "$(as_user_in_pod 'cat ~/.bash_history ~/.config/glab-cli/config.yml')" "$(printf 'git status\nhost: gitlab.example')" \
  "gitlab, second start: history and config survive"
expect_eq "$(readlink "$TMP/podhome/gitlab-workspaces/.config")" /projects/.wsinit/home/.config "gitlab: the link"
kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "gitlab: exit status"
ok "gitlab profile, no config: the default set linked into /projects/.wsinit/home; history and ~/.config survive a new HOME"
