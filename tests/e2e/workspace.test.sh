# The embedded default in a GitLab-like pod: no config file, the GL_* environment, /projects and
# the variables mount, uid 1000770000 gid 0 with no passwd entry. sshd and the editor come up,
# /readyz answers 200, the editor starts exactly as GitLab starts it and sees the workspace
# variables as SSH sessions do, a killed editor comes back, and GitLab's reconciled state is
# followed through a Kubernetes-style secret update.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
export WSINIT_SOCKET="$TMP/ws/run/wsinit.sock"
tools="$TMP/projects/.gl-tools"  # GL_TOOLS_DIR's default, /projects/.gl-tools, in the pod
mkdir -p "$tools/vscode-reh-web/bin"
cp "$(dirname "$0")/../helpers/webide_stand_in.py" "$tools/vscode-reh-web/bin/gitlab-webide-server"
chmod -R g+w "$tools"  # the tools injector writes it as the workspace user (gid 0)
printf '{\n  "nameShort": "GitLab VS Code",\n  "commit": "0123abc",\n  "quality": "stable"\n}\n' >"$tools/vscode-reh-web/product.json"
chmod g+w "$tools/vscode-reh-web/product.json"

# The variables mount as the kubelet lays out a secret volume: names linked through ..data.
state_file=gl_workspace_reconciled_actual_state.txt
mkdir -p "$TMP/variables"
(cd "$TMP/variables" && mkdir ..v1 && echo Starting >"..v1/$state_file" && echo glpat-secret-value >..v1/gl_token &&
  ln -s ..v1 ..data && ln -s "..data/$state_file" "$state_file" && ln -s ..data/gl_token gl_token)
chmod -R a+rX "$TMP/variables"

WS_ENV="GL_VSCODE_PORT=60001 GL_VSCODE_LOG_LEVEL=info GL_SSH_PORT=60022 GL_VSCODE_IGNORE_VERSION_MISMATCH=true \
GL_WORKSPACE_LOGS_DIR=/projects/workspace-logs PROJECTS_ROOT=/projects PROJECT_SOURCE=/projects \
GL_TOKEN_FILE_PATH=/.workspace-data/variables/file/gl_token GIT_CONFIG_COUNT=2 \
GIT_CONFIG_KEY_0=credential.helper GIT_CONFIG_VALUE_0=/.workspace-data/variables/file/gl_git_credential_store.sh \
GIT_CONFIG_KEY_1=user.name GIT_CONFIG_VALUE_1=ada MY_VARIABLE=from-the-user XDG_RUNTIME_DIR=$TMP/ws/xdg"
start_in_pod
wait_status '.state == "ready"' 30
expect_eq "$(status_json | jq -r '[.services[].name] | join(",")')" "sshd-config,sshd,editor" "services of the embedded default"
expect_eq "$(status_json | jq -r '.user.name + " " + .user.entry')" "gitlab-workspaces appended" "user"
expect_eq "$(in_pod curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:60080/readyz)" 200 "/readyz"
expect_eq "$(in_pod curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:60001/)" 200 "the editor's port"
ok "no config file: sshd and the editor come up, /readyz is 200"

record="$tools/editor-started.json"
expect_eq "$(jq -r '.argv | join(" ")' "$record")" \
  "--host 0.0.0.0 --port 60001 --log info --without-connection-token --disable-workspace-trust" "editor command line"
expect_eq "$(jq -r .uid "$record")" "$WS_UID" "editor uid"
expect_eq "$(jq -r '.env.GIT_CONFIG_COUNT + " " + .env.GIT_CONFIG_VALUE_1 + " " + .env.MY_VARIABLE + " " + .env.USER' "$record")" \
  "2 ada from-the-user gitlab-workspaces" "the editor's environment"
expect_eq "$(jq -r '.env.PWD // "unset"' "$record")" unset "PWD is not passed on"
[ -s "$TMP/projects/workspace-logs/start-vscode.log" ] || fail "no start-vscode.log in the logs dir"
expect_eq "$(jq -r .commit "$tools/vscode-reh-web/product.json")" null "product.json commit (version mismatch ignored)"
expect_eq "$(jq -r .quality "$tools/vscode-reh-web/product.json")" stable "product.json otherwise"
expect_eq "$(jq -r .commit "$tools/vscode-reh-web/product.json.orig")" 0123abc "the original is kept"
ok "the editor runs GitLab's command line as the workspace user, with the workspace variables; product.json edited"

ssh_pod() {
  in_pod ssh -F /dev/null -p 60022 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o LogLevel=ERROR -o PubkeyAuthentication=no gitlab-workspaces@127.0.0.1 "$@"
}
out=$(ssh_pod 'echo "$GIT_CONFIG_COUNT $GIT_CONFIG_VALUE_1 $MY_VARIABLE $(whoami)"')
expect_eq "$out" "2 ada from-the-user gitlab-workspaces" "SSH session environment"
ok "an SSH session (the proxy's empty-password login) sees GIT_CONFIG_* and the user variable"

editor_pid=$(host_pid_of "$(service_field editor .pid)")
kill -KILL "$editor_pid"
wait_status '.services[] | select(.name == "editor") | .restarts == 1 and .state == "ready"' 15
expect_eq "$(service_field editor .last_exit)" "signal 9 (KILL)" "editor last exit"
expect_eq "$(in_pod curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:60080/readyz)" 200 "/readyz after the restart"
ok "a killed editor is restarted and ready again"

expect_eq "$(status_json | jq -r .workspace.reconciled_state)" Starting "reconciled state"
expect_eq "$(status_json | jq -r .workspace.file_variables)" 2 "file variables"
(cd "$TMP/variables" && mkdir ..v2 && echo Running >"..v2/$state_file" && echo glpat-new-value >..v2/gl_token &&
  chmod -R a+rX ..v2 && ln -s ..v2 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..v1)
wait_status '.workspace.reconciled_state == "Running"' 1
wait_until "grep -q 'variables: gl_token changed' '$TMP/err'" 2
if grep -q glpat "$TMP/err" "$TMP/out" "$TMP/projects/workspace-logs"/*.log; then fail "a variable's value reached a log"; fi
ok "a secret update is seen within a second: the state in /status, changed names logged, values never"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
[ -e "$TMP/ws/xdg/sshd_config" ] || fail "the runtime dir is not \$XDG_RUNTIME_DIR"
ok "SIGTERM: clean exit 0"
