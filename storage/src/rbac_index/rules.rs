//! What the index reads from RBAC and Namespace objects: which roles grant visibility, who a binding names,
//! and the TenantNamespace a Namespace is served as. Pure functions, tested beside them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, PolicyRule, RoleBinding, Subject as RbacSubject};
use serde_json::{Map, Value, json};

/// Namespaces served as TenantNamespaces start with this.
pub const TENANT_PREFIX: &str = apis::tenant::TENANT_PREFIX;
/// Groups whose members see every tenant namespace without any binding: `system:masters` (may do anything
/// anyway) and `cozystack-cluster-admin` (upstream's platform administrators).
pub const ALL_ACCESS_GROUPS: &[&str] = &[apis::user::MASTERS_GROUP, "cozystack-cluster-admin"];
/// Kind of the served object.
pub const KIND: &str = "TenantNamespace";

/// Who a binding names, as the authorizer matches callers: a ServiceAccount subject is the user
/// `system:serviceaccount:<namespace>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A user name.
    User(String),
    /// A group name.
    Group(String),
}

/// Where a binding grants: one namespace (RoleBinding) or all of them (ClusterRoleBinding).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The namespace of a RoleBinding.
    Namespace(String),
    /// Every tenant namespace.
    Cluster,
}

/// A role a binding refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleKey {
    /// A Role, which only RoleBindings of its own namespace can name.
    Role {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A ClusterRole.
    ClusterRole(String),
}

/// A binding's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BindingKey {
    /// A RoleBinding.
    RoleBinding {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A ClusterRoleBinding.
    ClusterRoleBinding(String),
}

/// What the index keeps of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Where it grants.
    pub scope: Scope,
    /// The role it grants.
    pub role: RoleKey,
    /// Whom it names.
    pub subjects: Vec<Subject>,
}

/// True when `rules` allow `get` (or `*`) on some resource of apps.cozystack.io (or of `*`): the rule that
/// makes a binding of the role reveal its namespace. `resourceNames` do not matter: reading one application
/// of a tenant is reason enough to list the tenant.
pub fn grants_visibility(rules: &[PolicyRule]) -> bool {
    let has = |v: &Option<Vec<String>>, want: &str| v.as_ref().is_some_and(|v| v.iter().any(|x| x == want || x == "*"));
    rules.iter().any(|r| {
        has(&r.api_groups, apis::APPS_GROUP) && r.verbs.iter().any(|v| v == "get" || v == "*") && r.resources.as_ref().is_some_and(|res| !res.is_empty())
    })
}

/// The subject a binding subject names, or None for kinds RBAC ignores. A ServiceAccount without a namespace
/// lives in `default_namespace` (the binding's, as upstream treats RoleBindings).
pub fn subject(s: &RbacSubject, default_namespace: &str) -> Option<Subject> {
    match s.kind.as_str() {
        "User" => Some(Subject::User(s.name.clone())),
        "Group" => Some(Subject::Group(s.name.clone())),
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(default_namespace);
            (!ns.is_empty()).then(|| Subject::User(format!("system:serviceaccount:{ns}:{}", s.name)))
        }
        _ => None,
    }
}

fn subjects(list: Option<&Vec<RbacSubject>>, default_namespace: &str) -> Vec<Subject> {
    list.map(|l| l.iter().filter_map(|s| subject(s, default_namespace)).collect()).unwrap_or_default()
}

/// The key and content of a RoleBinding, or None for one outside tenant namespaces (it cannot reveal one).
pub fn role_binding(rb: &RoleBinding) -> Option<(BindingKey, Binding)> {
    let namespace = rb.metadata.namespace.clone().filter(|n| n.starts_with(TENANT_PREFIX))?;
    let name = rb.metadata.name.clone()?;
    let role = match rb.role_ref.kind.as_str() {
        "Role" => RoleKey::Role { namespace: namespace.clone(), name: rb.role_ref.name.clone() },
        "ClusterRole" => RoleKey::ClusterRole(rb.role_ref.name.clone()),
        _ => return None,
    };
    let subjects = subjects(rb.subjects.as_ref(), &namespace);
    Some((BindingKey::RoleBinding { namespace: namespace.clone(), name }, Binding { scope: Scope::Namespace(namespace), role, subjects }))
}

/// The key and content of a ClusterRoleBinding.
pub fn cluster_role_binding(crb: &ClusterRoleBinding) -> Option<(BindingKey, Binding)> {
    let name = crb.metadata.name.clone()?;
    if crb.role_ref.kind != "ClusterRole" {
        return None;
    }
    let role = RoleKey::ClusterRole(crb.role_ref.name.clone());
    Some((BindingKey::ClusterRoleBinding(name), Binding { scope: Scope::Cluster, role, subjects: subjects(crb.subjects.as_ref(), "") }))
}

/// A tenant namespace as served: the object, and what filtering needs without parsing it again.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantNamespace {
    /// Name.
    pub name: String,
    /// resourceVersion as a number (0 when not numeric).
    pub rv: u64,
    /// Labels, for label selectors.
    pub labels: BTreeMap<String, String>,
    /// The served object: apiVersion, kind and metadata (name, uid, resourceVersion, creationTimestamp,
    /// deletionTimestamp when set, labels, annotations).
    pub object: Value,
}

impl TenantNamespace {
    /// The TenantNamespace of a Namespace, or None when its name lacks the `tenant-` prefix.
    pub fn from_namespace(ns: &Namespace) -> Option<Self> {
        let m = &ns.metadata;
        let name = m.name.clone().filter(|n| n.starts_with(TENANT_PREFIX))?;
        let rv_text = m.resource_version.clone().unwrap_or_default();
        let mut meta = Map::new();
        meta.insert("name".into(), name.clone().into());
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v.filter(|v| !v.is_null()) {
                meta.insert(k.into(), v);
            }
        };
        put("uid", m.uid.clone().map(Value::from));
        put("resourceVersion", Some(Value::from(rv_text.clone())));
        put("creationTimestamp", m.creation_timestamp.as_ref().and_then(|t| serde_json::to_value(t).ok()));
        put("deletionTimestamp", m.deletion_timestamp.as_ref().and_then(|t| serde_json::to_value(t).ok()));
        put("labels", m.labels.as_ref().filter(|l| !l.is_empty()).and_then(|l| serde_json::to_value(l).ok()));
        put("annotations", m.annotations.as_ref().filter(|a| !a.is_empty()).and_then(|a| serde_json::to_value(a).ok()));
        let object = json!({"apiVersion": format!("{}/{}", apis::CORE_GROUP, apis::VERSION), "kind": KIND, "metadata": meta});
        Some(Self { name, rv: rv_text.parse().unwrap_or(0), labels: m.labels.clone().unwrap_or_default(), object })
    }

    /// The resourceVersion text.
    pub fn resource_version(&self) -> &str {
        self.object.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::RoleRef;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        PolicyRule { api_groups: v(groups), resources: v(resources), verbs: verbs.iter().map(|x| x.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn which_rules_grant_visibility() {
        let cases: &[(&str, Vec<PolicyRule>, bool)] = &[
            ("get on an application kind", vec![rule(&["apps.cozystack.io"], &["postgreses"], &["get"])], true),
            ("the view role", vec![rule(&["apps.cozystack.io"], &["*"], &["get", "list", "watch"])], true),
            ("star verbs", vec![rule(&["apps.cozystack.io"], &["tenants"], &["*"])], true),
            ("cluster-admin", vec![rule(&["*"], &["*"], &["*"])], true),
            ("list without get", vec![rule(&["apps.cozystack.io"], &["*"], &["list", "watch"])], false),
            ("another group", vec![rule(&["core.cozystack.io"], &["tenantnamespaces"], &["get"])], false),
            ("core secrets", vec![rule(&[""], &["secrets"], &["get"])], false),
            ("no resources", vec![rule(&["apps.cozystack.io"], &[], &["get"])], false),
            ("no rules", vec![], false),
            ("second rule grants", vec![rule(&[""], &["pods"], &["get"]), rule(&["apps.cozystack.io"], &["redises"], &["get"])], true),
        ];
        for (what, rules, want) in cases {
            assert_eq!(grants_visibility(rules), *want, "{what}");
        }
    }

    fn s(kind: &str, name: &str, ns: Option<&str>) -> RbacSubject {
        RbacSubject { kind: kind.into(), name: name.into(), namespace: ns.map(str::to_string), api_group: None }
    }

    #[test]
    fn subjects_match_as_the_authorizer_does() {
        let cases = [
            (s("User", "alice", None), "tenant-a", Some(Subject::User("alice".into()))),
            (s("Group", "tenant-a-admin", None), "tenant-a", Some(Subject::Group("tenant-a-admin".into()))),
            (s("ServiceAccount", "bot", Some("tenant-b")), "tenant-a", Some(Subject::User("system:serviceaccount:tenant-b:bot".into()))),
            (s("ServiceAccount", "bot", None), "tenant-a", Some(Subject::User("system:serviceaccount:tenant-a:bot".into()))),
            (s("ServiceAccount", "bot", None), "", None),
            (s("Robot", "x", None), "tenant-a", None),
        ];
        for (subj, ns, want) in cases {
            assert_eq!(subject(&subj, ns), want, "{subj:?} in {ns:?}");
        }
    }

    #[test]
    fn bindings_outside_tenant_namespaces_are_ignored() {
        let rb = |ns: &str, kind: &str| RoleBinding {
            metadata: ObjectMeta { name: Some("b".into()), namespace: Some(ns.into()), ..Default::default() },
            role_ref: RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: kind.into(), name: "r".into() },
            subjects: Some(vec![s("User", "u", None)]),
        };
        assert!(role_binding(&rb("kube-system", "ClusterRole")).is_none());
        let (key, b) = role_binding(&rb("tenant-a", "Role")).unwrap();
        assert_eq!(key, BindingKey::RoleBinding { namespace: "tenant-a".into(), name: "b".into() });
        assert_eq!(b.role, RoleKey::Role { namespace: "tenant-a".into(), name: "r".into() });
        assert_eq!(b.scope, Scope::Namespace("tenant-a".into()));
        assert_eq!(role_binding(&rb("tenant-a", "ClusterRole")).unwrap().1.role, RoleKey::ClusterRole("r".into()));
    }

    #[test]
    fn tenant_namespace_object() {
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": "tenant-a", "uid": "u1", "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"x": "y"}, "managedFields": [{"manager": "kubectl"}], "finalizers": ["f"]},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}
        }))
        .unwrap();
        let t = TenantNamespace::from_namespace(&ns).unwrap();
        assert_eq!(t.rv, 42);
        assert_eq!(t.resource_version(), "42");
        assert_eq!(
            t.object,
            json!({"apiVersion": "core.cozystack.io/v1alpha1", "kind": "TenantNamespace", "metadata": {
                "name": "tenant-a", "uid": "u1", "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"x": "y"}
            }})
        );
        let other: Namespace = serde_json::from_value(json!({"metadata": {"name": "kube-system"}})).unwrap();
        assert!(TenantNamespace::from_namespace(&other).is_none());
    }
}
