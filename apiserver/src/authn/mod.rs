//! Delegated authentication, in the order k8s.io/apiserver uses: front-proxy request headers (only behind a
//! verified front-proxy certificate), x509 client certificates, bearer tokens through TokenReview, anonymous.

mod config;
mod token;

pub use config::{AuthenticationConfig, watch_authentication_config};
pub use token::TokenReviewer;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::HeaderMap;

use crate::tls::{PeerCertificates, subject_names};

pub use apis::user::{ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP, UserInfo};

/// Why a request could not be authenticated (answered with 401).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct AuthenticationError(pub String);

/// The authenticator chain.
pub struct Authenticator {
    config: Arc<ArcSwap<AuthenticationConfig>>,
    tokens: Option<TokenReviewer>,
    anonymous: bool,
}

impl Authenticator {
    /// A chain reading its CAs and header names from `config`; `tokens` None turns bearer tokens off.
    pub fn new(config: Arc<ArcSwap<AuthenticationConfig>>, tokens: Option<TokenReviewer>, anonymous: bool) -> Self {
        Self { config, tokens, anonymous }
    }

    /// Authenticates a request from its headers and the connection's client certificates.
    /// Ok(None) means no credentials were presented and anonymous access is off.
    pub async fn authenticate(&self, headers: &HeaderMap, peer: Option<&PeerCertificates>) -> Result<Option<UserInfo>, AuthenticationError> {
        let cfg = self.config.load_full();
        let mut errors = Vec::new();
        if let Some(chain) = peer.filter(|p| !p.0.is_empty()) {
            match front_proxy_user(&cfg, headers, &chain.0) {
                Ok(Some(user)) => return Ok(Some(user.with_authenticated_group())),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
            match cfg.client_ca.verify_client(&chain.0) {
                Ok(leaf) => {
                    if let Some((name, groups)) = subject_names(leaf) {
                        return Ok(Some(UserInfo { name, groups, ..Default::default() }.with_authenticated_group()));
                    }
                    errors.push("client certificate has no common name".into());
                }
                Err(e) => errors.push(e),
            }
        }
        if let Some(token) = bearer_token(headers) {
            match &self.tokens {
                Some(reviewer) => match reviewer.review(token).await {
                    Ok(Some(user)) => return Ok(Some(user.with_authenticated_group())),
                    Ok(None) => errors.push("invalid bearer token".into()),
                    Err(e) => errors.push(e),
                },
                None => errors.push("bearer tokens are not accepted".into()),
            }
        }
        if !errors.is_empty() {
            // As k8s.io/apiserver: credentials that fail are never downgraded to anonymous.
            return Err(AuthenticationError(errors.join(", ")));
        }
        Ok(self.anonymous.then(UserInfo::anonymous))
    }
}

/// The front-proxy authenticator: trusts identity headers only when the client certificate chains to the
/// requestheader CA and its CN is allowed. Ok(None) when the certificate is valid but names no user.
fn front_proxy_user(cfg: &AuthenticationConfig, headers: &HeaderMap, chain: &[rustls::pki_types::CertificateDer<'static>]) -> Result<Option<UserInfo>, String> {
    let leaf = cfg.requestheader_ca.verify_client(chain)?;
    if !cfg.allowed_names.is_empty() {
        let cn = subject_names(leaf).map(|(cn, _)| cn).unwrap_or_default();
        if !cfg.allowed_names.contains(&cn) {
            return Err(format!("requestheader: client certificate CN {cn:?} is not allowed"));
        }
    }
    Ok(user_from_headers(cfg, headers))
}

/// Reads user, uid, groups and extras from the configured request headers.
pub fn user_from_headers(cfg: &AuthenticationConfig, headers: &HeaderMap) -> Option<UserInfo> {
    let first = |names: &[String]| {
        names.iter().find_map(|h| headers.get_all(h.as_str()).iter().filter_map(|v| v.to_str().ok()).find(|v| !v.is_empty()).map(str::to_string))
    };
    let name = first(&cfg.username_headers)?;
    let uid = first(&cfg.uid_headers).unwrap_or_default();
    let groups = cfg.group_headers.iter().flat_map(|h| headers.get_all(h.as_str()).iter().filter_map(|v| v.to_str().ok().map(str::to_string))).collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in headers {
        let key = key.as_str();
        for prefix in &cfg.extra_prefixes {
            let prefix = prefix.to_ascii_lowercase();
            if let Some(rest) = key.strip_prefix(prefix.as_str())
                && let Ok(v) = value.to_str()
            {
                extra.entry(crate::request_info::unescape(rest, false).0).or_default().push(v.to_string());
            }
        }
    }
    Some(UserInfo { name, uid, groups, extra })
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AuthenticationConfig {
        AuthenticationConfig {
            username_headers: vec!["X-Remote-User".into()],
            uid_headers: vec!["X-Remote-Uid".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_prefixes: vec!["X-Remote-Extra-".into()],
            ..Default::default()
        }
    }

    #[test]
    fn headers_give_user_groups_and_unescaped_extras() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", "alice".parse().unwrap());
        h.append("x-remote-group", "a".parse().unwrap());
        h.append("x-remote-group", "b".parse().unwrap());
        h.append("x-remote-extra-example.org%2fscope", "s1".parse().unwrap());
        let u = user_from_headers(&cfg(), &h).unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, vec!["a", "b"]);
        assert_eq!(u.extra.get("example.org/scope"), Some(&vec!["s1".to_string()]));
    }

    #[test]
    fn no_user_header_means_no_user() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-group", "system:masters".parse().unwrap());
        assert_eq!(user_from_headers(&cfg(), &h), None);
    }

    #[tokio::test]
    async fn forged_headers_without_certificate_are_anonymous() {
        let a = Authenticator::new(Arc::new(ArcSwap::from_pointee(cfg())), None, true);
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", "system:admin".parse().unwrap());
        h.insert("x-remote-group", "system:masters".parse().unwrap());
        assert_eq!(a.authenticate(&h, None).await.unwrap(), Some(UserInfo::anonymous()));
        let off = Authenticator::new(Arc::new(ArcSwap::from_pointee(cfg())), None, false);
        assert_eq!(off.authenticate(&h, None).await.unwrap(), None);
    }

    #[test]
    fn authenticated_group_is_added_once_and_never_to_anonymous() {
        let u = UserInfo { name: "bob".into(), groups: vec![AUTHENTICATED_GROUP.into()], ..Default::default() }.with_authenticated_group();
        assert_eq!(u.groups, vec![AUTHENTICATED_GROUP]);
        assert!(!UserInfo::anonymous().with_authenticated_group().in_group(AUTHENTICATED_GROUP));
    }
}
