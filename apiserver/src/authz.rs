//! Delegated authorization: SubjectAccessReviews against the backend, with separate short caches for allowed
//! and denied answers. system:masters and the always-allowed paths never cost a review.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};

use crate::authn::UserInfo;
use crate::request_info::RequestInfo;

/// Group whose members are allowed everything without a review.
pub const MASTERS_GROUP: &str = "system:masters";
/// Entries kept per cache at most; a full cache is cleared.
const CACHE_MAX: usize = 8192;

/// The answer of authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied, with the backend's reason (may be empty).
    Deny(String),
}

/// Sends SubjectAccessReviews and caches their answers.
pub struct Authorizer {
    client: Option<kube::Client>,
    always_allow_paths: Vec<String>,
    allow_ttl: Duration,
    deny_ttl: Duration,
    allowed: Mutex<HashMap<String, Instant>>,
    denied: Mutex<HashMap<String, (Instant, String)>>,
}

impl Authorizer {
    /// An authorizer asking the backend through `client`; None allows everything (for local development only).
    pub fn new(client: Option<kube::Client>, always_allow_paths: Vec<String>, allow_ttl: Duration, deny_ttl: Duration) -> Self {
        Self { client, always_allow_paths, allow_ttl, deny_ttl, allowed: Default::default(), denied: Default::default() }
    }

    /// True for paths served to anyone (health checks), with `*` as a trailing wildcard as upstream.
    pub fn is_always_allowed(&self, path: &str) -> bool {
        self.always_allow_paths.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => p == path,
        })
    }

    /// Decides whether `user` may do what `info` describes.
    pub async fn authorize(&self, user: &UserInfo, info: &RequestInfo) -> Result<Decision, String> {
        if user.in_group(MASTERS_GROUP) || (!info.is_resource_request && self.is_always_allowed(&info.path)) {
            return Ok(Decision::Allow);
        }
        let Some(client) = &self.client else { return Ok(Decision::Allow) };
        let spec = review_spec(user, info);
        let key = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
        if let Some(at) = self.allowed.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < self.allow_ttl
        {
            return Ok(Decision::Allow);
        }
        if let Some((at, why)) = self.denied.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < self.deny_ttl
        {
            return Ok(Decision::Deny(why.clone()));
        }
        let api: kube::Api<SubjectAccessReview> = kube::Api::all(client.clone());
        let review = SubjectAccessReview { spec, ..Default::default() };
        let answer = api.create(&Default::default(), &review).await.map_err(|e| format!("subject access review failed: {e}"))?;
        let status = answer.status.unwrap_or_default();
        let now = Instant::now();
        if status.allowed {
            let mut cache = self.allowed.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, now);
            Ok(Decision::Allow)
        } else {
            let why = status.reason.unwrap_or_default();
            let mut cache = self.denied.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, (now, why.clone()));
            Ok(Decision::Deny(why))
        }
    }
}

/// The review for one request: resource attributes for resource requests, non-resource ones otherwise.
pub fn review_spec(user: &UserInfo, info: &RequestInfo) -> SubjectAccessReviewSpec {
    let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let mut spec = SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        uid: none_if_empty(&user.uid),
        groups: Some(user.groups.clone()),
        extra: (!user.extra.is_empty()).then(|| user.extra.clone().into_iter().collect()),
        ..Default::default()
    };
    if info.is_resource_request {
        spec.resource_attributes = Some(ResourceAttributes {
            namespace: none_if_empty(&info.namespace),
            verb: Some(info.verb.clone()),
            group: Some(info.api_group.clone()),
            version: Some(info.api_version.clone()),
            resource: Some(info.resource.clone()),
            subresource: none_if_empty(&info.subresource),
            name: none_if_empty(&info.name),
            ..Default::default()
        });
    } else {
        spec.non_resource_attributes = Some(NonResourceAttributes { path: Some(info.path.clone()), verb: Some(info.verb.clone()) });
    }
    spec
}

/// The Forbidden message kube-apiserver gives: `User "u" cannot list resource "r" in API group "g" in the namespace "n"`.
pub fn forbidden_message(user: &UserInfo, info: &RequestInfo, reason: &str) -> String {
    let mut msg = if info.is_resource_request {
        let resource = if info.subresource.is_empty() { info.resource.clone() } else { format!("{}/{}", info.resource, info.subresource) };
        let mut m = format!("User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\"", user.name, info.verb, info.api_group);
        if info.namespace.is_empty() {
            m.push_str(" at the cluster scope");
        } else {
            m.push_str(&format!(" in the namespace \"{}\"", info.namespace));
        }
        m
    } else {
        format!("User \"{}\" cannot {} path \"{}\"", user.name, info.verb, info.path)
    };
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    msg
}
