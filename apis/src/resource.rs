//! What describes a served resource (names, kind, scope, verbs), read alike by discovery, routing and the
//! OpenAPI documents, and the descriptions of the resources served whatever the definitions say (those of
//! core.cozystack.io, and SecurityGroup), written once here.

use crate::application::AppKind;

/// The description of a served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Resource (plural) name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// True for namespaced resources.
    pub namespaced: bool,
    /// Verbs served, in discovery order.
    pub verbs: Vec<&'static str>,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories (e.g. `all`).
    pub categories: Vec<String>,
}

impl ResourceInfo {
    /// `apiVersion` of the objects.
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// True when `verb` is served.
    pub fn serves(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    fn core(plural: &str, singular: &str, kind: &str, namespaced: bool, verbs: Vec<&'static str>) -> Self {
        Self {
            group: crate::CORE_GROUP.into(),
            version: crate::VERSION.into(),
            plural: plural.into(),
            singular: singular.into(),
            kind: kind.into(),
            namespaced,
            verbs,
            short_names: vec![],
            categories: vec![],
        }
    }

    /// An application kind of apps.cozystack.io: namespaced, every verb.
    pub fn application(kind: &AppKind) -> Self {
        Self {
            group: crate::APPS_GROUP.into(),
            version: crate::VERSION.into(),
            plural: kind.plural.clone(),
            singular: kind.singular.clone(),
            kind: kind.kind.clone(),
            namespaced: true,
            verbs: ALL_VERBS.to_vec(),
            short_names: vec![],
            categories: vec![],
        }
    }

    /// TenantNamespace: cluster-scoped, read-only.
    pub fn tenant_namespace() -> Self {
        Self::core("tenantnamespaces", "tenantnamespace", "TenantNamespace", false, READ_VERBS.to_vec())
    }

    /// TenantModule: namespaced, read-only.
    pub fn tenant_module() -> Self {
        Self::core("tenantmodules", "tenantmodule", "TenantModule", true, READ_VERBS.to_vec())
    }

    /// TenantSecret: namespaced, every verb but deletecollection (one request must not empty a tenant's
    /// Secrets).
    pub fn tenant_secret() -> Self {
        Self::core("tenantsecrets", "tenantsecret", "TenantSecret", true, ALL_VERBS.iter().copied().filter(|v| *v != "deletecollection").collect())
    }

    /// Option: namespaced, read-only; one object per provider of dropdown choices.
    pub fn option() -> Self {
        Self::core(crate::option::PLURAL, "option", crate::option::KIND, true, READ_VERBS.to_vec())
    }

    /// SecurityGroup of sdn.cozystack.io: namespaced, every verb but deletecollection, as upstream serves it.
    pub fn security_group() -> Self {
        use crate::security_group as sg;
        Self {
            group: crate::SDN_GROUP.into(),
            version: crate::VERSION.into(),
            plural: sg::PLURAL.into(),
            singular: sg::SINGULAR.into(),
            kind: sg::KIND.into(),
            namespaced: true,
            verbs: ALL_VERBS.iter().copied().filter(|v| *v != "deletecollection").collect(),
            short_names: vec![],
            categories: vec![],
        }
    }

    /// Every core.cozystack.io resource.
    pub fn core_resources() -> Vec<Self> {
        vec![Self::tenant_namespace(), Self::tenant_module(), Self::tenant_secret(), Self::option()]
    }

    /// Every resource served whatever the definitions say: the core.cozystack.io ones and SecurityGroup.
    pub fn fixed_resources() -> Vec<Self> {
        let mut all = Self::core_resources();
        all.push(Self::security_group());
        all
    }
}

/// Every verb of a writable resource, in the order discovery lists them.
pub const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
/// The verbs of a read-only resource.
pub const READ_VERBS: &[&str] = &["get", "list", "watch"];
