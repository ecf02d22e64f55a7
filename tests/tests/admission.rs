//! Admission through our API: Cozystack's own policies (applied by hack/up.sh) enforced, and the same
//! ValidatingAdmissionPolicies and validating webhooks applied to our Postgres and to a CRD with the same
//! schema giving the same decisions, status codes, messages and warnings. Policies and webhooks added, changed
//! and removed take effect within seconds, without a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use e2e::twins::{create_crds, fixture, spec_schema};
use e2e::{APPS, ControlPlane, namespace, raw, req, unique, wait_until};
use serde_json::{Value, json};

const VAPS: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
const VAPBS: &str = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings";
const VWCS: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
/// Long enough for kube-apiserver's and our policy caches to see a change; they usually take well under a second.
const TAKES_EFFECT: Duration = Duration::from_secs(20);

/// Sends a request; answers the code, the body and the warnings.
async fn send(client: &kube::Client, method: &str, path: &str, body: Option<&Value>) -> (u16, Value, Vec<String>) {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let r = http::Request::builder().method(method).uri(path).header("Content-Type", "application/json").body(bytes).unwrap();
    let resp = client.send(r.map(kube::client::Body::from)).await.unwrap();
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|w| w.trim_start_matches("299 - ").trim_matches('"').replace("\\\"", "'").replace('"', "'"))
        .collect();
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (code, value, warnings)
}

/// One side of the comparison: our Postgres, or its CRD twin.
struct Side {
    group: String,
    ns: String,
}

impl Side {
    fn path(&self) -> String {
        if self.group == "apps.cozystack.io" {
            format!("{APPS}/namespaces/{}/postgreses", self.ns)
        } else {
            format!("/apis/{}/v1alpha1/namespaces/{}/postgreses", self.group, self.ns)
        }
    }

    fn object(&self, name: &str, spec: Value) -> Value {
        json!({"apiVersion": format!("{}/v1alpha1", self.group), "kind": "Postgres", "metadata": {"name": name}, "spec": spec})
    }

    /// A dry-run create: admission runs in full and nothing is written.
    async fn try_create(&self, client: &kube::Client, name: &str, spec: Value) -> (u16, Value, Vec<String>) {
        send(client, "POST", &format!("{}?dryRun=All", self.path()), Some(&self.object(name, spec))).await
    }

    /// What must agree between the sides: code, reason, message, causes and warnings, the twin's group named as ours.
    fn verdict(&self, (code, body, warnings): &(u16, Value, Vec<String>)) -> Value {
        let ours = |s: &str| s.replace(&self.group, "apps.cozystack.io");
        if body["kind"] == "Status" {
            let causes = ours(&body["details"]["causes"].to_string());
            return json!({"code": code, "reason": body["reason"], "message": ours(body["message"].as_str().unwrap_or_default()), "causes": causes, "warnings": warnings.iter().map(|w| ours(w)).collect::<Vec<_>>()});
        }
        json!({"code": code, "warnings": warnings.iter().map(|w| ours(w)).collect::<Vec<_>>()})
    }
}

/// Our Postgres and a CRD twin in one labelled tenant namespace, so that the test's policies touch nothing else.
struct Twins {
    sides: [Side; 2],
    ns: String,
    label: String,
}

async fn twins(cp: &ControlPlane, admin: &kube::Client, prefix: &str) -> Twins {
    let ns = namespace(cp, prefix);
    let label = unique("adm");
    cp.kubectl_ok(&["label", "namespace", &ns, &format!("admission-test={label}")]).unwrap();
    // A group after apps.cozystack.io in kubectl's order, so that `kubectl get postgres` in other tests stays ours.
    let group = format!("twin-{prefix}-{}.cozystack.io", std::process::id());
    let kinds = vec![("Postgres".to_string(), "postgreses".to_string(), spec_schema(&fixture("postgres.yaml")))];
    assert!(create_crds(admin, &group, &kinds).await.contains("Postgres"));
    Twins { sides: [Side { group: "apps.cozystack.io".into(), ns: ns.clone() }, Side { group, ns: ns.clone() }], ns, label }
}

impl Twins {
    /// Deletes the namespace and the twin CRD.
    fn remove(&self, cp: &ControlPlane) {
        cp.kubectl_ok(&["delete", "namespace", &self.ns, "--wait=false"]).unwrap();
        cp.kubectl_ok(&["delete", "crd", &format!("postgreses.{}", self.sides[1].group), "--wait=false"]).unwrap();
    }

    fn groups(&self) -> Vec<String> {
        self.sides.iter().map(|s| s.group.clone()).collect()
    }

    fn rules(&self, operations: &[&str]) -> Value {
        json!([{"apiGroups": self.groups(), "apiVersions": ["v1alpha1"], "operations": operations, "resources": ["postgreses"]}])
    }

    fn selector(&self) -> Value {
        json!({"matchLabels": {"admission-test": self.label}})
    }

    /// Runs `spec` on both sides and asserts they agree; returns ours.
    async fn same(&self, client: &kube::Client, what: &str, name: &str, spec: Value) -> (u16, Value, Vec<String>) {
        let ours = self.sides[0].try_create(client, name, spec.clone()).await;
        let theirs = self.sides[1].try_create(client, name, spec).await;
        assert_eq!(self.sides[0].verdict(&ours), self.sides[1].verdict(&theirs), "{what}: ours (left) and the CRD's (right) differ");
        ours
    }

    /// Waits until both sides see a configuration: creating `probe` is refused or warned about.
    async fn wait_for_effect(&self, client: &kube::Client, what: &str) {
        for side in &self.sides {
            wait_until(&format!("{what} to take effect on {}", side.group), TAKES_EFFECT, || async {
                let (code, _, warnings) = side.try_create(client, "probe", json!({})).await;
                code != 201 || !warnings.is_empty()
            })
            .await
            .unwrap();
        }
    }

    /// Waits until both sides let `probe` through silently.
    async fn wait_for_no_effect(&self, client: &kube::Client, what: &str) {
        for side in &self.sides {
            wait_until(&format!("{what} to stop on {}", side.group), TAKES_EFFECT, || async {
                let (code, _, warnings) = side.try_create(client, "probe", json!({})).await;
                code == 201 && warnings.is_empty()
            })
            .await
            .unwrap();
        }
    }
}

/// A policy over both sides' Postgres creates with a first validation refusing the object named `probe`
/// (how a test knows the policy is in effect), and a binding limited to the test's namespace.
async fn create_policy(admin: &kube::Client, t: &Twins, name: &str, mut spec: Value, mut binding: Value) {
    spec["matchConstraints"] = json!({"resourceRules": t.rules(&["CREATE", "UPDATE"])});
    let mut validations = vec![json!({"expression": "object.metadata.name != 'probe'", "message": "probe"})];
    validations.extend(spec["validations"].as_array().cloned().unwrap_or_default());
    spec["validations"] = validations.into();
    if let Some(conds) = spec["matchConditions"].as_array_mut() {
        for c in conds {
            c["expression"] = format!("object.metadata.name == 'probe' || ({})", c["expression"].as_str().unwrap()).into();
        }
    }
    let policy = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": name}, "spec": spec});
    let (code, body) = raw(admin, req("POST", VAPS, Some(policy))).await.unwrap();
    assert_eq!(code, 201, "{body}");
    binding["policyName"] = name.into();
    binding["matchResources"] = json!({"namespaceSelector": t.selector()});
    let b = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name}, "spec": binding});
    let (code, body) = raw(admin, req("POST", VAPBS, Some(b))).await.unwrap();
    assert_eq!(code, 201, "{body}");
}

async fn delete_policy(admin: &kube::Client, name: &str) {
    raw(admin, req("DELETE", &format!("{VAPBS}/{name}"), None)).await.unwrap();
    raw(admin, req("DELETE", &format!("{VAPS}/{name}"), None)).await.unwrap();
}

#[tokio::test]
async fn cozystack_policies_guard_tenant_hosts_and_no_delete_labels_until_removed() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ns = namespace(cp, "adm-fix");
    let user = unique("tenant-admin");
    cp.kubectl_ok(&["create", "rolebinding", "admin", "-n", &ns, "--clusterrole=cluster-admin", &format!("--user={user}")]).unwrap();
    let tenant_admin = cp.user(&user, &[]).await.unwrap();
    let tenants = format!("{APPS}/namespaces/{ns}/tenants");
    let tenant =
        |name: &str, host: &str| json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": {"host": host}});
    let name = unique("h").replace('-', "");

    // The tenant admin setting spec.host is refused with the policy's messageExpression (once RBAC lets them in).
    wait_until("the tenant admin's RoleBinding to reach the authorizer", TAKES_EFFECT, || async {
        let (code, body, _) = send(&tenant_admin, "POST", &format!("{tenants}?dryRun=All"), Some(&tenant(&name, "evil.example.org"))).await;
        code != 403 || body["message"].as_str().unwrap_or_default().contains("ValidatingAdmissionPolicy")
    })
    .await
    .unwrap();
    let denied = send(&tenant_admin, "POST", &format!("{tenants}?dryRun=All"), Some(&tenant(&name, "evil.example.org"))).await;
    assert_eq!(denied.0, 403, "{}", denied.1);
    assert_eq!(denied.1["reason"], "Forbidden");
    assert_eq!(
        denied.1["message"],
        format!(
            "tenants.apps.cozystack.io \"{name}\" is forbidden: ValidatingAdmissionPolicy 'cozystack-tenant-host-policy' with binding 'cozystack-tenant-host-policy' denied request: tenant.spec.host can only be set or changed by cluster-admins (system:masters) or by cozystack/Flux service accounts; request user is {user}. A tenant with empty spec.host inherits the apex from its parent tenant."
        )
    );
    // A cluster admin may.
    let (code, body, _) = send(&admin, "POST", &format!("{tenants}?dryRun=All"), Some(&tenant(&name, "ok.example.org"))).await;
    assert_eq!(code, 201, "{body}");

    // An application labelled no-delete cannot be deleted, by anyone.
    let pg = json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": "kept", "labels": {"platform.cozystack.io/no-delete": "true"}}, "spec": {}});
    let pgs = format!("{APPS}/namespaces/{ns}/postgreses");
    let (code, body, _) = send(&admin, "POST", &pgs, Some(&pg)).await;
    assert_eq!(code, 201, "{body}");
    let (code, body, _) = send(&admin, "DELETE", &format!("{pgs}/kept"), None).await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["reason"], "Invalid");
    assert!(
        body["message"].as_str().unwrap().starts_with("postgreses.apps.cozystack.io \"kept\" is forbidden: ValidatingAdmissionPolicy 'cozystack-no-delete-guardrail' with binding 'cozystack-no-delete-guardrail' denied request: Deletion blocked: object carries platform.cozystack.io/no-delete=true."),
        "{body}"
    );
    // Nor by deletecollection.
    let (code, body, _) = send(&admin, "DELETE", &pgs, None).await;
    assert_eq!(code, 422, "{body}");

    // With the policies gone, both are allowed; then they are put back as hack/up.sh left them.
    let dir = apis::fixtures::dir().join("admission");
    let files: Vec<PathBuf> = ["cozystack-tenant-host-policy.yaml", "cozystack-no-delete-guardrail.yaml"].iter().map(|f| dir.join(f)).collect();
    for f in &files {
        cp.kubectl_ok(&["delete", "-f", f.to_str().unwrap()]).unwrap();
    }
    wait_until("the tenant-host policy to be gone", TAKES_EFFECT, || async {
        send(&tenant_admin, "POST", &format!("{tenants}?dryRun=All"), Some(&tenant(&name, "evil.example.org"))).await.0 == 201
    })
    .await
    .unwrap();
    wait_until("the no-delete policy to be gone", TAKES_EFFECT, || async { send(&admin, "DELETE", &format!("{pgs}/kept"), None).await.0 == 200 })
        .await
        .unwrap();
    for f in &files {
        cp.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]).unwrap();
    }
    wait_until("the tenant-host policy to be back", TAKES_EFFECT, || async {
        send(&tenant_admin, "POST", &format!("{tenants}?dryRun=All"), Some(&tenant(&name, "evil.example.org"))).await.0 == 403
    })
    .await
    .unwrap();
    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
}

#[tokio::test]
async fn policies_decide_alike_for_postgres_and_its_crd_twin() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let t = twins(cp, &admin, "adm-vap").await;
    let (code, body) = raw(
        &admin,
        req(
            "POST",
            &format!("/api/v1/namespaces/{}/configmaps", t.ns),
            Some(json!({"metadata": {"name": "limits", "labels": {"limits": "yes"}}, "data": {"max": "3"}})),
        ),
    )
    .await
    .unwrap();
    assert_eq!(code, 201, "{body}");

    // A user bound to cluster-admin in the namespace only, for the authorizer's checks.
    let user = unique("adm-user");
    cp.kubectl_ok(&["create", "rolebinding", "admin", "-n", &t.ns, "--clusterrole=cluster-admin", &format!("--user={user}")]).unwrap();
    let tenant_admin = cp.user(&user, &[]).await.unwrap();
    for side in &t.sides {
        wait_until("the user's RoleBinding to reach the authorizers", TAKES_EFFECT, || async { side.try_create(&tenant_admin, "x", json!({})).await.0 == 201 })
            .await
            .unwrap();
    }

    struct Case {
        what: &'static str,
        policy: Value,
        binding: Value,
        requests: Vec<(&'static str, Value)>,
    }
    let deny = json!({"validationActions": ["Deny"]});
    let ns = t.ns.clone();
    let cases = vec![
        Case {
            what: "false validation, default reason",
            policy: json!({"validations": [{"expression": "!has(object.spec.replicas) || object.spec.replicas < 3", "message": "too many replicas"}]}),
            binding: deny.clone(),
            requests: vec![("big", json!({"replicas": 5})), ("small", json!({"replicas": 1}))],
        },
        Case {
            what: "reason Forbidden, messageExpression",
            policy: json!({"validations": [{"expression": "!has(object.spec.replicas) || object.spec.replicas < 3", "reason": "Forbidden",
                "messageExpression": "'replicas ' + string(object.spec.replicas) + ' is more than 2 for ' + request.userInfo.username"}]}),
            binding: deny.clone(),
            requests: vec![("big", json!({"replicas": 5}))],
        },
        Case {
            what: "messageExpression fallbacks",
            policy: json!({"validations": [
                {"expression": "!has(object.spec.replicas) || object.spec.replicas != 4", "messageExpression": "'a\\nb'", "message": "static"},
                {"expression": "!has(object.spec.replicas) || object.spec.replicas != 5", "messageExpression": "''"},
                {"expression": "!has(object.spec.replicas) || object.spec.replicas != 6", "messageExpression": "string(object.spec.nope)"}]}),
            binding: deny.clone(),
            requests: vec![("four", json!({"replicas": 4})), ("five", json!({"replicas": 5})), ("six", json!({"replicas": 6}))],
        },
        Case {
            what: "evaluation error under Fail",
            policy: json!({"validations": [{"expression": "object.spec.missing == 1"}]}),
            binding: deny.clone(),
            requests: vec![("any", json!({}))],
        },
        Case {
            what: "evaluation error under Ignore",
            policy: json!({"failurePolicy": "Ignore", "validations": [{"expression": "object.spec.missing == 1"}]}),
            binding: deny.clone(),
            requests: vec![("any", json!({}))],
        },
        Case {
            what: "Warn only",
            policy: json!({"validations": [{"expression": "!has(object.spec.replicas) || object.spec.replicas < 3", "messageExpression": "'replicas ' + string(object.spec.replicas)"}]}),
            binding: json!({"validationActions": ["Warn"]}),
            requests: vec![("big", json!({"replicas": 5})), ("small", json!({"replicas": 1}))],
        },
        Case {
            what: "variables, an unused one failing",
            policy: json!({"variables": [{"name": "bad", "expression": "object.spec.missing"}, {"name": "replicas", "expression": "has(object.spec.replicas) ? object.spec.replicas : 1"}],
                "validations": [{"expression": "variables.replicas < 3", "messageExpression": "'replicas ' + string(variables.replicas)"}]}),
            binding: deny.clone(),
            requests: vec![("big", json!({"replicas": 5})), ("small", json!({"replicas": 1}))],
        },
        Case {
            what: "params by name",
            policy: json!({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                "validations": [{"expression": "!has(object.spec.replicas) || object.spec.replicas <= int(params.data.max)", "messageExpression": "'at most ' + params.data.max"}]}),
            binding: json!({"validationActions": ["Deny"], "paramRef": {"name": "limits", "namespace": ns, "parameterNotFoundAction": "Deny"}}),
            requests: vec![("big", json!({"replicas": 5})), ("small", json!({"replicas": 2}))],
        },
        Case {
            what: "params by selector, none found, Deny",
            policy: json!({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}, "validations": [{"expression": "true"}]}),
            binding: json!({"validationActions": ["Deny"], "paramRef": {"selector": {"matchLabels": {"limits": "none"}}, "parameterNotFoundAction": "Deny"}}),
            requests: vec![("any", json!({}))],
        },
        Case {
            what: "matchConditions: one false skips even when another errs",
            policy: json!({"matchConditions": [{"name": "big", "expression": "has(object.spec.replicas) && object.spec.replicas > 3"}, {"name": "err", "expression": "object.spec.missing == 1"}],
                "validations": [{"expression": "false", "message": "never"}]}),
            binding: deny.clone(),
            requests: vec![("small", json!({"replicas": 1}))],
        },
        Case {
            what: "matchConditions: all true but one erring, under Fail",
            policy: json!({"matchConditions": [{"name": "big", "expression": "has(object.spec.replicas) && object.spec.replicas > 3"}, {"name": "err", "expression": "object.spec.missing == 1"}],
                "validations": [{"expression": "false", "message": "never"}]}),
            binding: deny.clone(),
            requests: vec![("big", json!({"replicas": 5}))],
        },
        Case {
            what: "authorizer checks of the request's user",
            policy: json!({"validations": [
                {"expression": "authorizer.requestResource.check('create').allowed()", "message": "may not create"},
                {"expression": "!has(object.spec.replicas) || authorizer.group('').resource('secrets').namespace('kube-system').check('list').allowed()", "message": "may not list kube-system's secrets"}]}),
            binding: deny.clone(),
            requests: vec![("mine", json!({})), ("other", json!({"replicas": 1}))],
        },
        Case {
            what: "namespaceObject and request",
            policy: json!({"validations": [{"expression": "namespaceObject.metadata.name != request.namespace || request.operation != 'CREATE' || !request.dryRun",
                "messageExpression": "'dry run in ' + namespaceObject.metadata.name + ' by ' + request.userInfo.username + ' of ' + request.resource.resource"}]}),
            binding: deny.clone(),
            requests: vec![("any", json!({}))],
        },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let name = unique(&format!("adm-vap-{i}"));
        create_policy(&admin, &t, &name, c.policy, c.binding).await;
        t.wait_for_effect(&admin, c.what).await;
        for (obj, spec) in c.requests {
            t.same(&admin, &format!("{}: {obj}", c.what), obj, spec.clone()).await;
            t.same(&tenant_admin, &format!("{} (as {user}): {obj}", c.what), obj, spec).await;
        }
        // Removed: no effect any more, on either side, within seconds.
        delete_policy(&admin, &name).await;
        t.wait_for_no_effect(&admin, c.what).await;
    }
    t.remove(cp);
}

#[tokio::test]
async fn policy_changes_take_effect_within_seconds() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let t = twins(cp, &admin, "adm-live").await;
    let name = unique("adm-live");
    create_policy(&admin, &t, &name, json!({"validations": [{"expression": "false", "message": "first"}]}), json!({"validationActions": ["Deny"]})).await;
    let message = |side: usize, text: &'static str| {
        let t = &t;
        let admin = &admin;
        async move {
            let (_, body, _) = t.sides[side].try_create(admin, "x", json!({})).await;
            body["message"].as_str().unwrap_or_default().ends_with(text)
        }
    };
    wait_until("the policy to deny", TAKES_EFFECT, || message(0, "denied request: first")).await.unwrap();
    // Changed: the new message.
    let patch =
        json!({"spec": {"validations": [{"expression": "object.metadata.name != 'probe'", "message": "probe"}, {"expression": "false", "message": "second"}]}});
    let r = http::Request::patch(format!("{VAPS}/{name}"))
        .header("Content-Type", "application/merge-patch+json")
        .body(serde_json::to_vec(&patch).unwrap())
        .unwrap();
    assert_eq!(raw(&admin, r).await.unwrap().0, 200);
    wait_until("the changed policy to deny with its new message", TAKES_EFFECT, || message(0, "denied request: second")).await.unwrap();
    wait_until("kube-apiserver to agree", TAKES_EFFECT, || message(1, "denied request: second")).await.unwrap();
    // The binding switched to Warn: admitted with a warning.
    let patch = json!({"spec": {"validationActions": ["Warn"]}});
    let r = http::Request::patch(format!("{VAPBS}/{name}"))
        .header("Content-Type", "application/merge-patch+json")
        .body(serde_json::to_vec(&patch).unwrap())
        .unwrap();
    assert_eq!(raw(&admin, r).await.unwrap().0, 200);
    for side in &t.sides {
        wait_until("the binding's new action", TAKES_EFFECT, || async { side.try_create(&admin, "x", json!({})).await.0 == 201 }).await.unwrap();
    }
    t.same(&admin, "warn after the change", "x", json!({})).await;
    // Each evaluation is counted under kube-apiserver's metric names.
    let ours = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let metrics = raw(&ours, req("GET", "/metrics", None)).await.unwrap().1;
    let metrics = metrics.as_str().unwrap();
    for action in ["deny", "warn"] {
        let series = format!(
            "apiserver_validating_admission_policy_check_total{{policy=\"{name}\",policy_binding=\"{name}\",error_type=\"invalid_error\",enforcement_action=\"{action}\"}}"
        );
        assert!(metrics.contains(&series), "{series} missing");
    }
    assert!(metrics.contains(&format!("apiserver_validating_admission_policy_check_duration_seconds_count{{policy=\"{name}\"")));
    delete_policy(&admin, &name).await;
    t.wait_for_no_effect(&admin, "the deleted policy").await;
    t.remove(cp);
}

/// A small HTTPS admission webhook: `/allow`, `/deny`, `/deny-bare`, `/warn`, `/slow` (answers after 5 s),
/// `/invalid` (a response without uid), `/patch` (sets spec.replicas, a field the schema lacks and a label) and
/// `/patch-invalid` (the same with replicas a string).
struct WebhookServer {
    addr: SocketAddr,
    ca_pem: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA and a serving certificate for 127.0.0.1 it signs: the CA's PEM, the certificate's and the key's.
fn certificates(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[&["req", "-x509"][..], &ec, &["-days", "1", "-subj", "/CN=webhook-ca", "-keyout", "ca.key", "-out", "ca.crt"]].concat());
    run(&[&["req"][..], &ec, &["-subj", "/CN=127.0.0.1", "-keyout", "tls.key", "-out", "tls.csr"]].concat());
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&["x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "ext", "-out", "tls.crt"]);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    (read("ca.crt"), read("tls.crt"), read("tls.key"))
}

async fn answer(path: String, body: bytes::Bytes) -> Value {
    let review: Value = serde_json::from_slice(&body).unwrap_or_default();
    let uid = review["request"]["uid"].clone();
    let user = review["request"]["userInfo"]["username"].as_str().unwrap_or_default().to_string();
    let response = match path.as_str() {
        "/deny" => json!({"uid": uid, "allowed": false, "status": {"code": 403, "reason": "Forbidden", "message": format!("no, {user}")}}),
        "/deny-bare" => json!({"uid": uid, "allowed": false}),
        "/warn" => json!({"uid": uid, "allowed": true, "warnings": [format!("careful, {}", review["request"]["operation"].as_str().unwrap_or_default())]}),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json!({"uid": uid, "allowed": true})
        }
        "/invalid" => json!({"allowed": true}),
        "/patch" | "/patch-invalid" => {
            let value = if path == "/patch" { json!(3) } else { json!("three") };
            let ops = json!([
                {"op": "add", "path": "/spec/replicas", "value": value},
                {"op": "add", "path": "/spec/notInTheSchema", "value": "pruned"},
                {"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}},
            ]);
            let patch = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, serde_json::to_vec(&ops).unwrap());
            json!({"uid": uid, "allowed": true, "patchType": "JSONPatch", "patch": patch, "warnings": ["patched"]})
        }
        _ => json!({"uid": uid, "allowed": true}),
    };
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
}

async fn start_webhook_server() -> WebhookServer {
    use rustls::pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(unique("webhook"));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, crt, key) = certificates(&dir);
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&crt).collect::<Result<Vec<_>, _>>().unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap();
    let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(|r: http::Request<hyper::body::Incoming>| async move {
                    let path = r.uri().path().to_string();
                    let body = http_body_util::BodyExt::collect(r.into_body()).await.map(|c| c.to_bytes()).unwrap_or_default();
                    let out = serde_json::to_vec(&answer(path, body).await).unwrap();
                    Ok::<_, std::convert::Infallible>(
                        http::Response::builder().header("Content-Type", "application/json").body(http_body_util::Full::new(bytes::Bytes::from(out))).unwrap(),
                    )
                });
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    WebhookServer { addr, ca_pem: String::from_utf8(ca).unwrap(), task }
}

#[tokio::test]
async fn validating_webhooks_decide_alike_for_postgres_and_its_crd_twin() {
    use base64::Engine;
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let t = twins(cp, &admin, "adm-hook").await;
    let server = start_webhook_server().await;
    let ca = base64::engine::general_purpose::STANDARD.encode(&server.ca_pem);

    struct Case {
        what: &'static str,
        path: &'static str,
        extra: Value,
        expect: u16,
    }
    let cases = vec![
        Case { what: "allow", path: "/allow", extra: json!({}), expect: 201 },
        Case { what: "deny with a status", path: "/deny", extra: json!({}), expect: 403 },
        Case { what: "deny without explanation", path: "/deny-bare", extra: json!({}), expect: 400 },
        Case { what: "warnings passed through", path: "/warn", extra: json!({}), expect: 201 },
        Case { what: "time out, Fail", path: "/slow", extra: json!({"timeoutSeconds": 1}), expect: 500 },
        Case { what: "time out, Ignore", path: "/slow", extra: json!({"timeoutSeconds": 1, "failurePolicy": "Ignore"}), expect: 201 },
        Case { what: "invalid response, Fail", path: "/invalid", extra: json!({}), expect: 500 },
        Case { what: "unreachable, Fail", path: "/unreachable", extra: json!({"unreachable": true}), expect: 500 },
        Case { what: "unreachable, Ignore", path: "/unreachable", extra: json!({"unreachable": true, "failurePolicy": "Ignore"}), expect: 201 },
        Case {
            what: "matchConditions false: not called",
            path: "/deny",
            extra: json!({"matchConditions": [{"name": "never", "expression": "object.metadata.name == 'nobody'"}]}),
            expect: 201,
        },
        Case { what: "objectSelector not matching: not called", path: "/deny", extra: json!({"objectSelector": {"matchLabels": {"x": "y"}}}), expect: 201 },
    ];
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for (i, c) in cases.into_iter().enumerate() {
        let name = unique(&format!("adm-hook-{i}"));
        let mut hook = json!({
            "name": "check.adm.cozystack.io",
            "clientConfig": {"url": format!("https://{}{}", server.addr, c.path), "caBundle": ca},
            "rules": t.rules(&["CREATE"]),
            "namespaceSelector": t.selector(),
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        });
        let mut extra = c.extra.clone();
        if extra.as_object_mut().unwrap().remove("unreachable").is_some() {
            hook["clientConfig"]["url"] = format!("https://{closed}/x").into();
        }
        for (k, v) in extra.as_object().unwrap() {
            hook[k] = v.clone();
        }
        let config =
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration", "metadata": {"name": name}, "webhooks": [hook]});
        let (code, body) = raw(&admin, req("POST", VWCS, Some(config))).await.unwrap();
        assert_eq!(code, 201, "{body}");
        // Both sides give the expected code (once the configuration reached them), and the same answer.
        for side in &t.sides {
            wait_until(&format!("{}: webhook in effect on {}", c.what, side.group), TAKES_EFFECT, || async {
                side.try_create(&admin, "obj", json!({})).await.0 == c.expect
            })
            .await
            .unwrap();
        }
        let started = std::time::Instant::now();
        let ours = t.sides[0].try_create(&admin, "obj", json!({})).await;
        assert!(started.elapsed() < Duration::from_secs(4), "{}: the request waited past the webhook's timeout", c.what);
        let theirs = t.sides[1].try_create(&admin, "obj", json!({})).await;
        if c.expect == 500 {
            // The transport's own words differ (Go's and ours); the contract is the prefix.
            let prefix = "Internal error occurred: failed calling webhook \"check.adm.cozystack.io\": ";
            assert!(ours.1["message"].as_str().unwrap().starts_with(prefix), "{}: {}", c.what, ours.1);
            assert!(theirs.1["message"].as_str().unwrap().starts_with(prefix), "{}: {}", c.what, theirs.1);
            assert_eq!((ours.0, &ours.1["reason"]), (theirs.0, &theirs.1["reason"]));
        } else {
            assert_eq!(t.sides[0].verdict(&ours), t.sides[1].verdict(&theirs), "{}: ours (left) and the CRD's (right) differ", c.what);
        }
        raw(&admin, req("DELETE", &format!("{VWCS}/{name}"), None)).await.unwrap();
        t.wait_for_no_effect(&admin, c.what).await;
    }
    // Calls, refusals and failures opened are counted under kube-apiserver's metric names.
    let ours = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let metrics = raw(&ours, req("GET", "/metrics", None)).await.unwrap().1;
    let metrics = metrics.as_str().unwrap();
    let hook = "name=\"check.adm.cozystack.io\",type=\"validating\"";
    for series in [
        format!("apiserver_admission_webhook_rejection_count{{{hook},operation=\"CREATE\",error_type=\"no_error\",rejection_code=\"403\"}}"),
        format!("apiserver_admission_webhook_rejection_count{{{hook},operation=\"CREATE\",error_type=\"calling_webhook_error\",rejection_code=\"0\"}}"),
        format!("apiserver_admission_webhook_fail_open_count{{{hook}}}"),
        format!("apiserver_admission_webhook_request_total{{{hook},operation=\"CREATE\",code=\"200\",rejected=\"false\"}}"),
        format!("apiserver_admission_webhook_admission_duration_seconds_count{{{hook},operation=\"CREATE\",rejected=\"true\"}}"),
    ] {
        assert!(metrics.contains(&series), "{series} missing");
    }
    drop(server);
    t.remove(cp);
}

#[tokio::test]
async fn mutating_webhooks_patch_alike_for_postgres_and_its_crd_twin() {
    use base64::Engine;
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let t = twins(cp, &admin, "adm-mut").await;
    let server = start_webhook_server().await;
    let ca = base64::engine::general_purpose::STANDARD.encode(&server.ca_pem);
    const MWCS: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
    for (i, (what, path, expect)) in [
        ("patch applied, unknown field pruned", "/patch", 201u16),
        ("patch the schema refuses", "/patch-invalid", 422),
        ("deny", "/deny", 403),
        ("time out, Fail", "/slow", 500),
    ]
    .into_iter()
    .enumerate()
    {
        let name = unique(&format!("adm-mut-{i}"));
        let hook = json!({
            "name": "mutate.adm.cozystack.io",
            "clientConfig": {"url": format!("https://{}{path}", server.addr), "caBundle": ca},
            "rules": t.rules(&["CREATE"]),
            "namespaceSelector": t.selector(),
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 1,
        });
        let config =
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration", "metadata": {"name": name}, "webhooks": [hook]});
        let (code, body) = raw(&admin, req("POST", MWCS, Some(config))).await.unwrap();
        assert_eq!(code, 201, "{body}");
        for side in &t.sides {
            wait_until(&format!("{what}: webhook in effect on {}", side.group), TAKES_EFFECT, || async {
                let (code, body, _) = side.try_create(&admin, "obj", json!({"replicas": 1})).await;
                code == expect && (expect != 201 || body["metadata"]["labels"]["patched"] == "yes")
            })
            .await
            .unwrap();
        }
        let ours = t.sides[0].try_create(&admin, "obj", json!({"replicas": 1})).await;
        let theirs = t.sides[1].try_create(&admin, "obj", json!({"replicas": 1})).await;
        if expect == 201 {
            // The patched object: the schema's defaults applied, the unknown field pruned, the label set.
            let shape = |(code, body, warnings): &(u16, Value, Vec<String>)| json!({"code": code, "spec": body["spec"], "labels": body["metadata"]["labels"], "warnings": warnings});
            assert_eq!(shape(&ours), shape(&theirs), "{what}: ours (left) and the CRD's (right) differ");
            assert_eq!(ours.1["spec"]["replicas"], 3);
            assert!(ours.1["spec"].get("notInTheSchema").is_none());
        } else if expect == 500 {
            let prefix = "Internal error occurred: failed calling webhook \"mutate.adm.cozystack.io\": ";
            assert!(ours.1["message"].as_str().unwrap().starts_with(prefix), "{what}: {}", ours.1);
            assert!(theirs.1["message"].as_str().unwrap().starts_with(prefix), "{what}: {}", theirs.1);
        } else {
            assert_eq!(t.sides[0].verdict(&ours), t.sides[1].verdict(&theirs), "{what}: ours (left) and the CRD's (right) differ");
        }
        raw(&admin, req("DELETE", &format!("{MWCS}/{name}"), None)).await.unwrap();
        t.wait_for_no_effect(&admin, what).await;
    }
    drop(server);
    t.remove(cp);
}
