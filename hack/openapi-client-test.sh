#!/usr/bin/env bash
# Proves the published OpenAPI v3 document of apps.cozystack.io is usable by a client generator: fetches it
# through kube-apiserver's aggregator, checks it is valid OpenAPI 3.0 (openapi-spec-validator), generates a
# Python client from it (openapi-python-client), and creates and reads a Postgres with that client.
# Exits non-zero on any failure. The e2e test `a_client_generated_from_the_v3_document_creates_and_reads_a_postgres`
# runs it; it can also be run by hand against hack/up.sh's control plane.
#
# Environment:
#   KUBECTL, KUBECONFIG   kubectl and an admin kubeconfig, to fetch the document
#   COZY_SERVER           kube-apiserver URL (https://127.0.0.1:<port>)
#   COZY_CA, COZY_CERT, COZY_KEY   CA bundle and an admin client certificate and key for the generated client
#   COZY_NAMESPACE        a tenant namespace to create the Postgres in
#   COZY_CACHE            where the tools' virtualenv is kept (default ~/.cache/cozystack-api)
set -euo pipefail
say() { printf '[openapi-client] %s\n' "$*" >&2; }

GENERATOR=openapi-python-client==0.29.1
VALIDATOR=openapi-spec-validator==0.9.0
VENV=${COZY_CACHE:-$HOME/.cache/cozystack-api}/openapi-client-venv-0.29.1
: "${KUBECTL:=kubectl}" "${COZY_SERVER:?}" "${COZY_CA:?}" "${COZY_CERT:?}" "${COZY_KEY:?}" "${COZY_NAMESPACE:?}"

if [[ ! -x $VENV/bin/openapi-python-client ]] || ! "$VENV/bin/python" -c 'import openapi_spec_validator' 2>/dev/null; then
  say "installing $GENERATOR and $VALIDATOR into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$GENERATOR" "$VALIDATOR" >&2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
url=$("$KUBECTL" get --raw /openapi/v3 | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["paths"]["apis/apps.cozystack.io/v1alpha1"]["serverRelativeURL"])')
"$KUBECTL" get --raw "$url" >"$WORK/openapi.json"

say "validating the document"
"$VENV/bin/python" - "$WORK/openapi.json" <<'PY'
import json, sys
from openapi_spec_validator import validate
doc = json.load(open(sys.argv[1]))
assert doc["openapi"].startswith("3.0"), doc["openapi"]
validate(doc)
PY

say "generating the client"
printf 'package_name_override: cozy_client\nproject_name_override: cozy-client\n' >"$WORK/config.yaml"
"$VENV/bin/openapi-python-client" generate --path "$WORK/openapi.json" --config "$WORK/config.yaml" --meta none \
  --output-path "$WORK/cozy_client" >"$WORK/generate.log" 2>&1 || { cat "$WORK/generate.log" >&2; exit 1; }

say "creating and reading a Postgres through the generated client"
PYTHONPATH=$WORK "$VENV/bin/python" - <<'PY'
import os, ssl
from cozy_client import Client
from cozy_client.api.apps_cozystack_io_v_1_alpha_1 import (
    create_apps_cozystack_io_v1_alpha_1_namespaced_postgres as create,
    read_apps_cozystack_io_v1_alpha_1_namespaced_postgres as read,
)
from cozy_client.models import ComGithubCozystackCozystackPkgApisAppsV1Alpha1Postgres as Postgres

tls = ssl.create_default_context(cafile=os.environ["COZY_CA"])
tls.load_cert_chain(os.environ["COZY_CERT"], os.environ["COZY_KEY"])
client = Client(base_url=os.environ["COZY_SERVER"], verify_ssl=tls, raise_on_unexpected_status=True)
ns = os.environ["COZY_NAMESPACE"]

body = Postgres.from_dict({
    "apiVersion": "apps.cozystack.io/v1alpha1",
    "kind": "Postgres",
    "metadata": {"name": "generated", "namespace": ns},
    "spec": {"replicas": 3, "size": "5Gi", "storageClass": "fast"},
})
created = create.sync_detailed(namespace=ns, client=client, body=body, field_validation="Strict")
assert created.status_code == 201, (created.status_code, created.content)
assert isinstance(created.parsed, Postgres), created.parsed

got = read.sync(name="generated", namespace=ns, client=client)
assert isinstance(got, Postgres), got
assert got.metadata.name == "generated", got.metadata
spec = got.spec.to_dict()
assert spec["replicas"] == 3 and spec["size"] == "5Gi" and spec["storageClass"] == "fast", spec
assert spec["version"] == "v18" and spec["backup"]["enabled"] is False, f"defaults on read: {spec}"
print("created and read", got.kind, got.metadata.namespace + "/" + got.metadata.name)
PY
