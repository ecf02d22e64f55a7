//! Bearer tokens checked through a TokenReview against the backend, with answers cached briefly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use sha2::{Digest, Sha256};

use super::UserInfo;

/// How long a review answer is reused (k8s.io/apiserver's default).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Cache entries kept at most; the cache is cleared when it is full.
const CACHE_MAX: usize = 4096;

/// When a review was answered, and its user.
type CachedReview = (Instant, Option<UserInfo>);

/// Reviews bearer tokens.
pub struct TokenReviewer {
    client: kube::Client,
    cache: Mutex<HashMap<[u8; 32], CachedReview>>,
}

impl TokenReviewer {
    /// A reviewer sending TokenReviews with `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()) }
    }

    /// The token's user, None when the backend says it is not authenticated.
    pub async fn review(&self, token: &str) -> Result<Option<UserInfo>, String> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((at, user)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(user.clone());
        }
        let api: kube::Api<TokenReview> = kube::Api::all(self.client.clone());
        let review = TokenReview { spec: TokenReviewSpec { token: token.to_string(), ..Default::default() }, ..Default::default() };
        let answer = api.create(&Default::default(), &review).await.map_err(|e| format!("token review failed: {e}"))?;
        let status = answer.status.unwrap_or_default();
        let user = if status.authenticated == Some(true) {
            let u = status.user.unwrap_or_default();
            Some(UserInfo {
                name: u.username.unwrap_or_default(),
                uid: u.uid.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
                extra: u.extra.unwrap_or_default().into_iter().collect(),
            })
        } else {
            None
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), user.clone()));
        Ok(user)
    }
}
