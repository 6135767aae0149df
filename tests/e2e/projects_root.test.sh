# GitLab plans to rename the /projects mount (its issue 557035) and sets PROJECTS_ROOT and
# PROJECT_SOURCE: no path under it may be a literal in the code, only the one documented default
# in config::projects_root(). And a workspace with PROJECTS_ROOT elsewhere puts everything there.
source "$(dirname "$0")/lib.sh"

src="$(cd "$(dirname "$0")/../.." && pwd)"
literals=$(cd "$src" && grep -rn '/projects' --include='*.cpp' --include='*.h' common config health init sshd_setup \
  supervisor user_ids workspace | grep -v '^config/config.cpp:.*: "/projects";$' |
  grep -v '^config/config.h:.*// Where GitLab mounts the projects volume' || true)
[ -z "$literals" ] || fail "a literal /projects in the code: $literals"
expect_eq "$(grep -c '"/projects"' "$src/config/config.cpp")" 1 "the one default"
ok "no literal /projects outside config::projects_root()"

out=$(env -i PATH="$PATH" PROJECTS_ROOT=/workspace "$WSINIT" check 2>&1 || true)
expect_contains "$out" "logs: /workspace/workspace-logs" "logs under PROJECTS_ROOT"
case "$out" in *"/projects"*) fail "wsinit check still shows /projects with PROJECTS_ROOT=/workspace: $out" ;; esac
ok "PROJECTS_ROOT=/workspace: nothing in the plan says /projects"
