#!/usr/bin/env bash
# Refreshes apis/src/openapi/data/ from a running kube-apiserver: the apimachinery definitions our OpenAPI
# documents share with kube-apiserver (so that its aggregator de-duplicates them) and the query and path
# parameters of its built-in resources, both in the v2 and the v3 spelling. Run it after a Kubernetes upgrade:
#   KUBECONFIG=.local/kubeconfig hack/openapi-meta.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KUBECTL=${KUBECTL:-kubectl}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$KUBECTL" get --raw /openapi/v2 >"$TMP/v2.json"
url=$("$KUBECTL" get --raw /openapi/v3 | python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"]["apis/apps/v1"]["serverRelativeURL"])')
"$KUBECTL" get --raw "$url" >"$TMP/v3.json"
# metav1.Condition is used by no apps/v1 type; the core group's document has it.
url=$("$KUBECTL" get --raw /openapi/v3 | python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"]["api/v1"]["serverRelativeURL"])')
"$KUBECTL" get --raw "$url" >"$TMP/v3-core.json"
python3 - "$TMP" "$ROOT/apis/src/openapi/data" <<'PY'
import json, sys
tmp, out = sys.argv[1], sys.argv[2]
v2 = json.load(open(f"{tmp}/v2.json"))
v3 = json.load(open(f"{tmp}/v3.json"))
v3_schemas = dict(json.load(open(f"{tmp}/v3-core.json"))["components"]["schemas"])
v3_schemas.update(v3["components"]["schemas"])
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
ROOTS = [META + n for n in ["ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch", "WatchEvent", "Condition"]]

def refs(v, found):
    if isinstance(v, dict):
        r = v.get("$ref")
        if isinstance(r, str):
            found.add(r.rsplit("/", 1)[1])
        for x in v.values():
            refs(x, found)
    elif isinstance(v, list):
        for x in v:
            refs(x, found)

def closure(defs):
    names, todo = set(), list(ROOTS)
    while todo:
        n = todo.pop()
        if n in names:
            continue
        names.add(n)
        found = set()
        refs(defs[n], found)
        todo.extend(found)
    picked = {n: defs[n] for n in sorted(names)}
    # Group-version-kind lists name every group of kube-apiserver; the document builder sets ours.
    for d in picked.values():
        gvks = d.get("x-kubernetes-group-version-kind")
        if gvks:
            d["x-kubernetes-group-version-kind"] = [g for g in gvks if g["group"] == ""]
    return picked

json.dump(closure(v2["definitions"]), open(f"{out}/meta-v2.json", "w"), indent=1, sort_keys=True)
json.dump(closure(v3_schemas), open(f"{out}/meta-v3.json", "w"), indent=1, sort_keys=True)

# Parameters as the Deployment operations spell them (v3); `fieldManager` differs between create and patch.
ops = v3["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
coll = v3["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
params = {}
for p in coll["get"]["parameters"] + coll["delete"]["parameters"] + coll["post"]["parameters"] + ops["delete"]["parameters"] + coll["parameters"]:
    params.setdefault(p["name"], p)
for p in ops["patch"]["parameters"]:
    params.setdefault(p["name"] + "-patch" if p["name"] == "fieldManager" else p["name"], p)
drop = {"shardSelector", "ignoreStoreReadErrorWithClusterBreakingPotential", "orphanDependents"}
json.dump({k: v for k, v in sorted(params.items()) if k not in drop}, open(f"{out}/parameters.json", "w"), indent=1, sort_keys=True)
PY
echo "wrote $ROOT/apis/src/openapi/data"
