# The examples in deploy/ say what they claim: the devfiles and the wsinit config load in wsinit
# itself (`wsinit check`), and the Kubernetes manifests have the settings the docs promise (uid
# 5001, fsGroup 0, probes on /healthz and /readyz, a 30 s grace, ports 60001, 60022, 60080), with
# the injector's target directory matching the Dockerfile's.
source "$(dirname "$0")/lib.sh"
deploy="$(dirname "$0")/../../deploy"

for devfile in "$deploy"/gitlab/devfile*.yaml; do
  printf 'version: 1\nprofile: gitlab\nworkspace: {devfile: %s}\n' "$devfile" >"$TMP/check.yaml"
  "$WSINIT" check --config "$TMP/check.yaml" >"$TMP/check.out" 2>&1 || fail "wsinit check of $devfile: $(cat "$TMP/check.out")"
  grep -q "problem" "$TMP/check.out" && fail "$devfile: $(grep problem "$TMP/check.out")"
done
PROJECT_SOURCE=/projects "$WSINIT" check --config "$deploy/gitlab/wsinit.yaml" >"$TMP/check.out" 2>&1 ||
  fail "wsinit check of wsinit.yaml: $(cat "$TMP/check.out")"
expect_contains "$(cat "$TMP/check.out")" "dev-server: /bin/sh -c npm run dev" "the example's service"
ok "deploy/gitlab: the devfiles and wsinit.yaml load in wsinit"

injector_dir=$(sed -n 's|^ENTRYPOINT \["/wsinit", "install", "\(.*\)"\]$|\1|p' "$(dirname "$0")/../../Dockerfile")
[ -n "$injector_dir" ] || fail "no injector ENTRYPOINT in the Dockerfile"
/usr/bin/python3 - "$deploy/kubernetes" "$injector_dir" <<'PY'
import sys, yaml
folder, injector_dir = sys.argv[1], sys.argv[2]
for name in ("workspace.yaml", "workspace-injected.yaml"):
    docs = [d for d in yaml.safe_load_all(open(f"{folder}/{name}")) if d]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    ctx = pod["securityContext"]
    assert ctx["runAsUser"] == 5001 and ctx["fsGroup"] == 0 and ctx["runAsNonRoot"], (name, ctx)
    assert pod["terminationGracePeriodSeconds"] == 30, name
    main = pod["containers"][0]
    assert {p["containerPort"] for p in main["ports"]} == {60001, 60022, 60080}, (name, main["ports"])
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/readyz")):
        assert main[probe]["httpGet"]["path"] == path and main[probe]["httpGet"]["port"] == "health", (name, probe)
    if name == "workspace-injected.yaml":
        assert main["command"] == [injector_dir + "/wsinit"], (name, main["command"], injector_dir)
        assert pod["initContainers"][0]["volumeMounts"][0]["mountPath"] == "/projects", name
PY
ok "deploy/kubernetes: uid 5001, fsGroup 0, probes, 30 s grace, the three ports, injection path as in the Dockerfile"
