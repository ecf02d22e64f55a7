//! Table tests of the built-in plugins: one row per rule and case, each with the expected outcome.
use serde_json::{Value, json};
use storage::admission::{AdmissionRequest, Operation};
use storage::registry::{ALL_VERBS, ResourceInfo};

use super::*;

fn config() -> AdmissionConfig {
    AdmissionConfig {
        cluster_admin_groups: vec!["system:masters".into()],
        app_namespace_exceptions: vec!["cozy-public".into()],
        reserved_prefixes: vec!["internal.cozystack.io/".into(), "platform.cozystack.io/".into()],
    }
}

fn resource(kind: &str, plural: &str) -> ResourceInfo {
    ResourceInfo {
        group: apis::APPS_GROUP.into(),
        version: "v1alpha1".into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced: true,
        verbs: ALL_VERBS.to_vec(),
        short_names: vec![],
        categories: vec![],
    }
}

struct Case {
    what: &'static str,
    op: Operation,
    kind: &'static str,
    namespace: &'static str,
    admin: bool,
    object: Option<Value>,
    old: Option<Value>,
    denied_by: Option<&'static str>,
}

#[tokio::test]
async fn built_in_rules() {
    let labelled = |k: &str, v: &str| json!({"metadata": {"labels": {k: v}}, "spec": {}});
    let host = |h: &str| json!({"metadata": {}, "spec": {"host": h}});
    let plain = json!({"metadata": {}, "spec": {}});
    let cases = vec![
        Case {
            what: "app in a tenant namespace",
            op: Operation::Create,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: false,
            object: Some(plain.clone()),
            old: None,
            denied_by: None,
        },
        Case {
            what: "app outside tenant namespaces",
            op: Operation::Create,
            kind: "Postgres",
            namespace: "default",
            admin: false,
            object: Some(plain.clone()),
            old: None,
            denied_by: Some("TenantPlacement"),
        },
        Case {
            what: "app outside, even for admins",
            op: Operation::Create,
            kind: "Postgres",
            namespace: "kube-system",
            admin: true,
            object: Some(plain.clone()),
            old: None,
            denied_by: Some("TenantPlacement"),
        },
        Case {
            what: "app in an exception namespace",
            op: Operation::Create,
            kind: "Redis",
            namespace: "cozy-public",
            admin: false,
            object: Some(plain.clone()),
            old: None,
            denied_by: None,
        },
        Case {
            what: "tenant outside tenant namespaces",
            op: Operation::Create,
            kind: "Tenant",
            namespace: "default",
            admin: false,
            object: Some(plain.clone()),
            old: None,
            denied_by: Some("TenantPlacement"),
        },
        Case {
            what: "user sets a reserved label",
            op: Operation::Create,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: false,
            object: Some(labelled("internal.cozystack.io/tenantresource", "true")),
            old: None,
            denied_by: Some("ReservedMetadata"),
        },
        Case {
            what: "admin sets a reserved label",
            op: Operation::Create,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: true,
            object: Some(labelled("platform.cozystack.io/no-delete", "true")),
            old: None,
            denied_by: None,
        },
        Case {
            what: "user removes a reserved label",
            op: Operation::Update,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: false,
            object: Some(plain.clone()),
            old: Some(labelled("platform.cozystack.io/no-delete", "true")),
            denied_by: Some("ReservedMetadata"),
        },
        Case {
            what: "user keeps a reserved label",
            op: Operation::Update,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: false,
            object: Some(labelled("platform.cozystack.io/no-delete", "true")),
            old: Some(labelled("platform.cozystack.io/no-delete", "true")),
            denied_by: None,
        },
        Case {
            what: "user sets an ordinary label",
            op: Operation::Update,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: false,
            object: Some(labelled("team", "a")),
            old: Some(plain.clone()),
            denied_by: None,
        },
        Case {
            what: "user keeps tenant host",
            op: Operation::Update,
            kind: "Tenant",
            namespace: "tenant-root",
            admin: false,
            object: Some(host("a.example.org")),
            old: Some(host("a.example.org")),
            denied_by: None,
        },
        Case {
            what: "admin sets tenant host",
            op: Operation::Create,
            kind: "Tenant",
            namespace: "tenant-root",
            admin: true,
            object: Some(host("a.example.org")),
            old: None,
            denied_by: None,
        },
        Case {
            what: "host on another kind is no concern",
            op: Operation::Create,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: false,
            object: Some(host("x")),
            old: None,
            denied_by: None,
        },
        Case {
            what: "delete with the label false",
            op: Operation::Delete,
            kind: "Postgres",
            namespace: "tenant-a",
            admin: false,
            object: None,
            old: Some(labelled("platform.cozystack.io/no-delete", "false")),
            denied_by: None,
        },
    ];
    let chain = built_in_chain(config());
    assert_eq!(chain.names(), ["TenantPlacement", "ReservedMetadata"]);
    for c in cases {
        let plural = format!("{}s", c.kind.to_lowercase());
        let res = resource(c.kind, &plural);
        let user = apis::user::UserInfo { name: "u".into(), groups: if c.admin { vec!["system:masters".into()] } else { vec![] }, ..Default::default() };
        let req = AdmissionRequest {
            operation: c.op,
            resource: &res,
            user: &user,
            namespace: c.namespace,
            name: "x",
            object: c.object.as_ref(),
            old_object: c.old.as_ref(),
            dry_run: false,
            options: None,
            warnings: &Default::default(),
            object_type: None,
        };
        let result = chain.validate(&req).await;
        match (c.denied_by, result) {
            (None, Ok(())) => {}
            (Some(rule), Err(e)) => {
                let s = e.to_status();
                assert_eq!(s.code, 403, "{}", c.what);
                assert!(s.message.contains(&format!("is forbidden: {rule}: ")), "{}: {}", c.what, s.message);
            }
            (want, got) => panic!("{}: wanted denial by {want:?}, got {got:?}", c.what),
        }
    }
}
