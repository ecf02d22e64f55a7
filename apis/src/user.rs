//! The identity of a request's caller, as authentication establishes it.

use std::collections::BTreeMap;

/// Group every authenticated user gets.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// Name of unauthenticated callers.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// Group of unauthenticated callers.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// Group whose members may do everything.
pub const MASTERS_GROUP: &str = "system:masters";

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// UID, when the authenticator knows it.
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (scopes, credential ids...).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// True when the user belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The anonymous user.
    pub fn anonymous() -> Self {
        Self { name: ANONYMOUS_USER.into(), groups: vec![UNAUTHENTICATED_GROUP.into()], ..Default::default() }
    }

    /// The same user with `system:authenticated` added (never to the anonymous user), as k8s.io/apiserver does.
    pub fn with_authenticated_group(mut self) -> Self {
        if self.name != ANONYMOUS_USER && !self.in_group(AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.into());
        }
        self
    }
}
