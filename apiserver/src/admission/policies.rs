//! What the ValidatingAdmissionPolicy plugin needs of the HTTP side: discovery of a paramKind's resource, and
//! the CEL `authorizer`, backed by SubjectAccessReviews.

use std::sync::Arc;

use apis::admission::cel::{AuthzCheck, AuthzDecision, CelAuthorizer};
use apis::user::UserInfo;
use futures::future::BoxFuture;
use storage::admission::policies::{AuthorizerFactory, KindResolver};
use storage::backend::BackingResource;

use crate::authz::{Authorizer, Decision};
use crate::request_info::RequestInfo;

/// Resolves kinds with kube-apiserver's discovery.
pub struct Discovery(pub kube::Client);

impl KindResolver for Discovery {
    fn resolve<'a>(&'a self, api_version: &'a str, kind: &'a str) -> BoxFuture<'a, Result<BackingResource, String>> {
        Box::pin(async move {
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
            let (ar, caps) = kube::discovery::pinned_kind(&self.0, &gvk).await.map_err(|e| e.to_string())?;
            // A paramKind's resource lives as long as the process: one leak per kind ever named.
            let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
            Ok(BackingResource {
                group: leak(ar.group),
                version: leak(ar.version),
                plural: leak(ar.plural),
                namespaced: caps.scope == kube::discovery::Scope::Namespaced,
            })
        })
    }
}

/// Authorizer checks of a request's user, made with SubjectAccessReviews.
pub struct SarAuthorizers(pub Arc<Authorizer>);

impl AuthorizerFactory for SarAuthorizers {
    fn for_user(&self, user: &UserInfo) -> Arc<dyn CelAuthorizer> {
        Arc::new(UserAuthorizer { authorizer: self.0.clone(), user: user.clone(), runtime: tokio::runtime::Handle::current() })
    }
}

struct UserAuthorizer {
    authorizer: Arc<Authorizer>,
    user: UserInfo,
    runtime: tokio::runtime::Handle,
}

impl CelAuthorizer for UserAuthorizer {
    fn check(&self, c: &AuthzCheck) -> AuthzDecision {
        let user = match &c.service_account {
            Some((ns, name)) => UserInfo {
                name: format!("system:serviceaccount:{ns}:{name}"),
                groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}"), apis::user::AUTHENTICATED_GROUP.into()],
                ..Default::default()
            },
            None => self.user.clone(),
        };
        let info = match &c.path {
            Some(path) => RequestInfo { is_resource_request: false, path: path.clone(), verb: c.verb.clone(), ..Default::default() },
            None => RequestInfo {
                is_resource_request: true,
                verb: c.verb.clone(),
                api_group: c.group.clone(),
                api_version: "*".into(),
                namespace: c.namespace.clone(),
                resource: c.resource.clone(),
                subresource: c.subresource.clone(),
                name: c.name.clone(),
                ..Default::default()
            },
        };
        // Called from the blocking thread policies are evaluated on.
        match self.runtime.block_on(self.authorizer.authorize(&user, &info)) {
            Ok(Decision::Allow) => AuthzDecision { allowed: true, ..Default::default() },
            Ok(Decision::Deny(reason)) => AuthzDecision { allowed: false, reason, ..Default::default() },
            Err(error) => AuthzDecision { allowed: false, error, ..Default::default() },
        }
    }
}
