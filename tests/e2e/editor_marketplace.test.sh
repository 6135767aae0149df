# The editor set up as GitLab 18.x's start script sets it up, in a GitLab-like pod with no
# config file: with GL_VSCODE_ENABLE_MARKETPLACE=true the editor starts with a product.json that
# is JSON and holds the extension gallery; GitLab's own edit of line 1, run after wsinit (its
# postStart hook), leaves JSON; the next start of wsinit on the same volume comes back to one
# gallery. GITLAB_WORKFLOW_TOKEN comes from GITLAB_WORKFLOW_TOKEN_FILE into the editor's
# environment and appears in no output, no log file, and not in `wsinit check`.
source "$(dirname "$0")/lib.sh"

setup_workspace_user
export WSINIT_SOCKET="$TMP/ws/run/wsinit.sock"
tools="$TMP/projects/.gl-tools"  # GL_TOOLS_DIR's default, /projects/.gl-tools, in the pod
product="$tools/vscode-reh-web/product.json"
mkdir -p "$tools/vscode-reh-web/bin"
cp "$(dirname "$0")/../helpers/webide_stand_in.py" "$tools/vscode-reh-web/bin/gitlab-webide-server"
printf '{\n\t"nameShort": "GitLab Web IDE",\n\t"commit": "0123abc",\n\t"quality": "stable",\n\t"builtInExtensions": []\n}\n' >"$product"
chmod -R g+w "$tools"  # the tools injector writes it as the workspace user (gid 0)
original=$(cat "$product")

token=glpat-e2e-workflow-4f1d9c
mkdir -p "$TMP/variables"
printf '%s\n' "$token" >"$TMP/variables/gitlab_workflow_token"
chmod -R a+rX "$TMP/variables"

# Only written into product.json: nothing contacts it (the editor is a stand-in).
service_url=https://marketplace.example/vscode/gallery
item_url=https://open-vsx.org/vscode/item  # GitLab's defaults for the other two
resource_url='https://open-vsx.org/api/{publisher}/{name}/{version}/file/{path}'

# GitLab's start script's marketplace edit, its own lines, run as the workspace user.
gitlab_marketplace_edit() {
  setpriv --reuid=$WS_UID --regid=0 --clear-groups env PRODUCT_JSON_FILE="$product" \
    GL_VSCODE_EXTENSION_MARKETPLACE_SERVICE_URL="$service_url" GL_VSCODE_EXTENSION_MARKETPLACE_ITEM_URL="$item_url" \
    GL_VSCODE_EXTENSION_MARKETPLACE_RESOURCE_URL_TEMPLATE="$resource_url" sh -c '
EXTENSIONS_GALLERY_KEY="{\\n\\t\"extensionsGallery\": {\\n\\t\\t\"serviceUrl\": \"${GL_VSCODE_EXTENSION_MARKETPLACE_SERVICE_URL}\",\\n\\t\\t\"itemUrl\": \"${GL_VSCODE_EXTENSION_MARKETPLACE_ITEM_URL}\",\\n\\t\\t\"resourceUrlTemplate\": \"${GL_VSCODE_EXTENSION_MARKETPLACE_RESOURCE_URL_TEMPLATE}\"\\n\\t},"
sed -i.bak "1s|.*|$EXTENSIONS_GALLERY_KEY|" "${PRODUCT_JSON_FILE}" && rm "${PRODUCT_JSON_FILE}.bak"'
}

# How many top-level "extensionsGallery" members a JSON text ($1) holds; fails unless it is JSON.
galleries_in() {
  python3 -c 'import json, sys; print(sum(k == "extensionsGallery" for k, _ in json.loads(sys.argv[1], object_pairs_hook=list)))' "$1"
}
# The gallery JSON.parse would see (the last one), as one line: serviceUrl itemUrl resourceUrlTemplate.
gallery_of() {
  jq -r '.extensionsGallery | "\(.serviceUrl) \(.itemUrl) \(.resourceUrlTemplate)"' <<<"$1"
}
expected_gallery="$service_url $item_url $resource_url"

# `wsinit check` reads the token file and product.json but writes nothing and shows no value.
check_env=(env -i PATH="$PATH" WSINIT_LOG_LEVEL=trace GL_TOOLS_DIR="$tools" GL_VSCODE_ENABLE_MARKETPLACE=true
  GL_WORKSPACE_LOGS_DIR="$TMP/check-logs" XDG_RUNTIME_DIR="$TMP/check-run")
out=$("${check_env[@]}" GITLAB_WORKFLOW_TOKEN_FILE="$TMP/variables/gitlab_workflow_token" "$WSINIT" check 2>&1 || true)
expect_contains "$out" "editor: http://127.0.0.1:60001/" "wsinit check"
case "$out" in *"$token"*) fail "wsinit check printed the token: $out" ;; esac
expect_eq "$(cat "$product")" "$original" "product.json after wsinit check"
out=$("${check_env[@]}" GITLAB_WORKFLOW_TOKEN_FILE="$TMP/variables/missing" "$WSINIT" check 2>&1 || true)
expect_contains "$out" "warning: GITLAB_WORKFLOW_TOKEN_FILE: cannot read $TMP/variables/missing: No such file or directory" \
  "wsinit check, token file missing"
ok "wsinit check reads the token file without showing its value, and writes nothing"

WS_ENV="GL_VSCODE_PORT=60001 GL_SSH_PORT=60022 GL_WORKSPACE_LOGS_DIR=/projects/workspace-logs PROJECTS_ROOT=/projects \
GL_VSCODE_ENABLE_MARKETPLACE=true GL_VSCODE_EXTENSION_MARKETPLACE_SERVICE_URL=$service_url \
GITLAB_WORKFLOW_TOKEN_FILE=/.workspace-data/variables/file/gitlab_workflow_token WSINIT_LOG_LEVEL=trace \
XDG_RUNTIME_DIR=$TMP/ws/xdg"
start_in_pod
wait_status '.state == "ready"' 30
record="$tools/editor-started.json"
seen=$(jq -r .product_json "$record")
expect_eq "$(galleries_in "$seen")" 1 "extensionsGallery members in the product.json the editor started with"
expect_eq "$(gallery_of "$seen")" "$expected_gallery" "the editor's extension gallery"
expect_eq "$(jq -r '.nameShort + " " + .commit + " " + .quality' <<<"$seen")" "GitLab Web IDE 0123abc stable" "the rest of product.json"
expect_eq "$(head -n 1 <<<"$seen")" "{" "line 1 of product.json"
expect_eq "$(jq -r .commit "$product.orig")" 0123abc "the original is kept"
ok "the editor starts with a product.json that is JSON and holds the extension gallery"

expect_eq "$(jq -r '.env.GITLAB_WORKFLOW_TOKEN' "$record")" "$token" "GITLAB_WORKFLOW_TOKEN in the editor's environment"
expect_eq "$(jq -r '.env.GITLAB_WORKFLOW_TOKEN_FILE' "$record")" /.workspace-data/variables/file/gitlab_workflow_token \
  "GITLAB_WORKFLOW_TOKEN_FILE is still passed on"
ok "GITLAB_WORKFLOW_TOKEN reaches the editor from its file"

# wsinit's stdout and stderr (at log level trace), the log files and the runtime files.
no_token_anywhere() {
  local where=("$TMP/err" "$TMP/out" "$TMP/projects/workspace-logs" "$TMP/ws/xdg")
  [ -n "$(ls "$TMP/projects/workspace-logs")" ] && [ -s "$TMP/err" ] || fail "no logs to look at"
  if grep -rqF -- "$token" "${where[@]}"; then
    fail "the token's value reached wsinit's output or a log: $(grep -rlF -- "$token" "${where[@]}")"
  fi
}
no_token_anywhere

# The postStart hook, later: GitLab's sed replaces line 1, `{`, with `{` and its own member.
wsinit_edit=$(cat "$product")
gitlab_marketplace_edit
python3 -m json.tool "$product" >/dev/null || fail "product.json is not JSON after GitLab's edit: $(cat "$product")"
expect_eq "$(galleries_in "$(cat "$product")")" 2 "extensionsGallery members after GitLab's edit (the same values twice)"
expect_eq "$(gallery_of "$(cat "$product")")" "$expected_gallery" "the gallery after GitLab's edit"
ok "GitLab's own edit, run after wsinit, leaves JSON"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
rm "$record"
start_in_pod  # the container restarted on the same volume
wait_status '.state == "ready"' 30
wait_until "[ -s '$record' ]" 10
expect_eq "$(jq -r .product_json "$record")" "$wsinit_edit" "product.json at the next start"
ok "the next start comes back to one gallery: the file wsinit made the first time"

no_token_anywhere
ok "the token's value appears in no output of wsinit's and no log file"

kill -TERM "$WS_PID"
wait_wsinit
expect_eq "$WS_STATUS" 0 "exit status"
ok "SIGTERM: clean exit 0"
