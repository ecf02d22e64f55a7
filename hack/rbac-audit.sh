#!/usr/bin/env bash
# Checks the server's ClusterRole against what the server did: every rule of ClusterRole cozystack-api
# (manifests/base/rbac.yaml) must have been used by the server's ServiceAccount in kube-apiserver's audit log of
# the run (no spare rule), and no request of the server may have been refused for lack of a right (no missing
# rule). Run it after the end-to-end tests, against the control plane they used.
# Usage: COZY_STATE_DIR=... hack/rbac-audit.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
eval "$(grep -E '^KUBECTL=' "$STATE/env")"
[[ -s $LOGS/audit.log ]] || die "no audit log at $LOGS/audit.log"
role=$("$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get clusterrole cozystack-api -o json)
python3 - "$LOGS/audit.log" "$role" <<'PY'
import json, sys

role = json.loads(sys.argv[2])
user = "system:serviceaccount:cozy-system:cozystack-api"
events = []
with open(sys.argv[1]) as log:
    for line in log:
        e = json.loads(line)
        if e.get("user", {}).get("username") != user:
            continue
        ref = e.get("objectRef", {})
        resource = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
        code = e.get("responseStatus", {}).get("code", 0)
        events.append((ref.get("apiGroup", ""), resource, e["verb"], ref.get("name", ""), code))

problems = []
for rule in role["rules"]:
    for group in rule.get("apiGroups", []):
        for resource in rule.get("resources", []):
            for verb in rule.get("verbs", []):
                if not any(g == group and r == resource and v == verb and (not rule.get("resourceNames") or n in rule["resourceNames"])
                           for g, r, v, n, _ in events):
                    problems.append(f"spare: {verb} {resource}.{group or 'core'} is granted but was never used")
for group, resource, verb, name, code in sorted(set(events)):
    if code == 403:
        problems.append(f"missing: {verb} {resource}.{group or 'core'} {name} was refused (403)")
used = sorted({(g, r, v) for g, r, v, _, _ in events})
print(f"[rbac-audit] {len(events)} requests of {user}; used: " + ", ".join(f"{v} {r}.{g or 'core'}" for g, r, v in used))
if problems:
    print("\n".join("[rbac-audit] " + p for p in problems), file=sys.stderr)
    sys.exit(1)
print("[rbac-audit] every rule of ClusterRole cozystack-api was used, and nothing was refused")
PY
