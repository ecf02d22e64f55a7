//! OpenAPI: `/openapi/v2`, `/openapi/v3` and `/openapi/v3/apis/<group>/<version>`, built from the catalog's
//! current snapshot by [`apis::openapi`] and cached until the snapshot changes. JSON only: the aggregator asks
//! for JSON and serves protobuf to clients itself (v2); a v3 request that does not accept JSON gets 406.
//!
//! The v3 group-version documents follow kube-openapi's handler3: `ETag` is the quoted hex SHA-512 of the
//! JSON, `?hash=` of the current document is cached forever (`Cache-Control: public, immutable`, `Expires` a
//! year ahead), an unknown one answers 301 to the current URL. Unlike handler3, replaced documents stay served
//! by their hash for a few minutes: the aggregator lists the hash it read last (it re-reads our root within a
//! minute), its proxy refuses redirects (clients would get a 500 meanwhile), and a hashed URL names its content.
//!
//! Building the documents of a generation takes a while (every kind's schema, twice): it runs once, on the
//! blocking pool, while other requests for them wait without holding a runtime thread.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Mutex as AsyncMutex;

use apis::openapi::{self, Resource};
use apis::status::Status;
use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use http::{HeaderValue, Response, StatusCode, header};
use storage::catalog::Snapshot;

use crate::body::{Body, respond, status};
use crate::filters::compress::{GZIP_THRESHOLD_BYTES, accepts_gzip};
use crate::negotiate::parse_accept;

/// One document and its hex SHA-512.
struct Document {
    body: Stored,
    hash: String,
}

/// How a document is kept. Every kind's schema makes the documents megabytes of JSON, kept for as long as the
/// catalog does not change (and replaced ones for minutes more): a large one is kept gzipped, which is also what
/// the aggregator and other clients that accept gzip are sent, and unpacked only for a client that does not.
enum Stored {
    Plain(Bytes),
    Gzipped(Bytes),
}

impl Document {
    fn new(value: &serde_json::Value) -> Self {
        let json = serde_json::to_vec(value).unwrap_or_default();
        let hash = openapi::etag(&json);
        // Small documents are sent as they are, as the gzip filter would send them.
        if json.len() <= GZIP_THRESHOLD_BYTES {
            return Self { body: Stored::Plain(json.into()), hash };
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        let body = match gz.write_all(&json).and_then(|()| gz.finish()) {
            Ok(mut packed) => {
                packed.shrink_to_fit();
                Stored::Gzipped(packed.into())
            }
            Err(_) => Stored::Plain(json.into()),
        };
        Self { body, hash }
    }

    fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }

    /// The JSON, unpacked if it is kept gzipped.
    fn json(&self) -> Bytes {
        match &self.body {
            Stored::Plain(json) => json.clone(),
            Stored::Gzipped(packed) => {
                let mut json = Vec::new();
                match GzDecoder::new(&packed[..]).read_to_end(&mut json) {
                    Ok(_) => json.into(),
                    // Cannot happen: the bytes are our own encoder's.
                    Err(_) => Bytes::new(),
                }
            }
        }
    }
}

/// The documents of one catalog generation.
struct Documents {
    generation: u64,
    v2: Document,
    /// By `apis/<group>/<version>`.
    v3: Arc<BTreeMap<String, Document>>,
    discovery: Bytes,
}

/// How long replaced v3 documents stay served by hash: longer than the aggregator's periodic re-read (1 min).
const KEEP_REPLACED: Duration = Duration::from_secs(180);
/// How many replaced generations are kept at most, whatever their age (bounds memory under churn).
const KEEP_AT_MOST: usize = 16;

/// A replaced set of v3 documents (by group version) and when it was replaced.
type Replaced = (Instant, Arc<BTreeMap<String, Document>>);

/// Caches the documents per catalog generation, and keeps the v3 documents it replaced for a while.
#[derive(Default)]
pub struct OpenApiCache {
    current: AsyncMutex<Option<Arc<Documents>>>,
    /// Replaced v3 documents with when they were replaced, newest first.
    replaced: Mutex<VecDeque<Replaced>>,
}

impl OpenApiCache {
    /// The documents of `snap`'s generation (or a newer one), built once.
    async fn documents(&self, groups: &[String], snap: Arc<Snapshot>) -> Result<Arc<Documents>, Status> {
        let mut cur = self.current.lock().await;
        if let Some(d) = cur.as_ref().filter(|d| d.generation >= snap.generation) {
            return Ok(d.clone());
        }
        let groups = groups.to_vec();
        let docs =
            tokio::task::spawn_blocking(move || build(&groups, &snap)).await.map_err(|e| Status::internal(format!("building the OpenAPI documents: {e}")))?;
        let docs = Arc::new(docs);
        if let Some(old) = cur.replace(docs.clone()) {
            let mut replaced = self.replaced.lock().unwrap_or_else(|e| e.into_inner());
            replaced.push_front((Instant::now(), old.v3.clone()));
            replaced.retain(|(at, _)| at.elapsed() < KEEP_REPLACED);
            replaced.truncate(KEEP_AT_MOST);
        }
        Ok(docs)
    }

    /// A replaced v3 document still kept under `hash`.
    fn replaced(&self, key: &str, hash: &str) -> Option<Arc<BTreeMap<String, Document>>> {
        let replaced = self.replaced.lock().unwrap_or_else(|e| e.into_inner());
        replaced.iter().filter(|(at, _)| at.elapsed() < KEEP_REPLACED).map(|(_, v3)| v3).find(|v3| v3.get(key).is_some_and(|d| d.hash == hash)).cloned()
    }
}

/// The documents of one generation.
fn build(groups: &[String], snap: &Snapshot) -> Documents {
    let resources = resources(snap);
    let key = |g: &str| format!("apis/{g}/{}", apis::VERSION);
    let v3: BTreeMap<String, Document> = groups.iter().map(|g| (key(g), Document::new(&openapi::document_v3(g, apis::VERSION, &resources)))).collect();
    let listed = groups.iter().map(|g| (g.as_str(), apis::VERSION, v3[&key(g)].hash.as_str()));
    let discovery = serde_json::to_vec(&openapi::v3_discovery(listed)).unwrap_or_default().into();
    Documents { generation: snap.generation, v2: Document::new(&openapi::document_v2(&resources)), v3: Arc::new(v3), discovery }
}

/// What the documents need from the served registries; a registry without a schema publishes a generic object.
pub(crate) fn resources(snap: &Snapshot) -> Vec<Resource> {
    snap.resources
        .values()
        .map(|r| {
            let i = r.info();
            let schema = r.schema().unwrap_or_else(|| openapi::kinds::generic(&openapi::package(&i.group, &i.version), &i.kind));
            Resource { info: i.clone(), schema }
        })
        .collect()
}

fn accepts_json(req: &http::request::Parts) -> bool {
    parse_accept(req.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())).iter().any(|m| m.accepts_json())
}

fn not_acceptable() -> Response<Body> {
    status(&Status::not_acceptable("only application/json is served for OpenAPI documents"))
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// 200 with the document and its ETag, or 304 when the client has it already.
fn with_etag(req: &http::request::Parts, doc: &Document) -> Response<Body> {
    let etag = doc.etag();
    let cached = req.headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = match &doc.body {
        _ if cached => respond(StatusCode::NOT_MODIFIED, "application/json", Bytes::new()),
        Stored::Gzipped(packed) if accepts_gzip(&req.headers) => {
            let mut resp = respond(StatusCode::OK, "application/json", packed.clone());
            resp.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            resp
        }
        _ => respond(StatusCode::OK, "application/json", doc.json()),
    };
    let headers = resp.headers_mut();
    headers.insert(header::ETAG, header_value(&etag));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    if matches!(doc.body, Stored::Gzipped(_)) {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    resp
}

/// GET /openapi/v2.
pub async fn v2(cache: &OpenApiCache, groups: &[String], snap: Arc<Snapshot>, req: &http::request::Parts) -> Response<Body> {
    if !accepts_json(req) {
        return not_acceptable();
    }
    match cache.documents(groups, snap).await {
        Ok(docs) => with_etag(req, &docs.v2),
        Err(s) => status(&s),
    }
}

/// GET /openapi/v3: where each group version's document is, with its hash.
pub async fn v3_discovery(cache: &OpenApiCache, groups: &[String], snap: Arc<Snapshot>) -> Response<Body> {
    match cache.documents(groups, snap).await {
        Ok(docs) => respond(StatusCode::OK, "application/json", docs.discovery.clone()),
        Err(s) => status(&s),
    }
}

/// GET /openapi/v3/apis/<group>/<version>[?hash=...].
pub async fn v3_group_version(
    cache: &OpenApiCache,
    groups: &[String],
    snap: Arc<Snapshot>,
    req: &http::request::Parts,
    group: &str,
    version: &str,
) -> Response<Body> {
    let docs = match cache.documents(groups, snap).await {
        Ok(d) => d,
        Err(s) => return status(&s),
    };
    let key = format!("apis/{group}/{version}");
    let Some(doc) = docs.v3.get(&key) else {
        return status(&Status::not_found_path());
    };
    if !accepts_json(req) {
        return not_acceptable();
    }
    let hash = req.uri.query().unwrap_or("").split('&').find_map(|p| p.strip_prefix("hash=")).unwrap_or("");
    let kept = (!hash.is_empty() && hash != doc.hash).then(|| cache.replaced(&key, hash)).flatten();
    let doc = kept.as_ref().and_then(|v3| v3.get(&key)).unwrap_or(doc);
    if !hash.is_empty() && hash != doc.hash {
        let mut resp = respond(StatusCode::MOVED_PERMANENTLY, "text/plain; charset=utf-8", Bytes::new());
        resp.headers_mut().insert(header::LOCATION, header_value(&format!("/openapi/v3/{key}?hash={}", doc.hash)));
        resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
        return resp;
    }
    let mut resp = with_etag(req, doc);
    if !hash.is_empty() {
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
        resp.headers_mut().insert(header::EXPIRES, header_value(&a_year_from_now()));
    }
    resp
}

/// An HTTP date a year from now (`Mon, 02 Jan 2006 15:04:05 GMT`).
fn a_year_from_now() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let later = now.checked_add(jiff::Span::new().years(1)).unwrap_or(now);
    later.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn get(uri: &str, accept: Option<&str>, if_none_match: Option<&str>) -> http::request::Parts {
        let mut b = Request::get(uri);
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        if let Some(e) = if_none_match {
            b = b.header(header::IF_NONE_MATCH, e);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn groups() -> Vec<String> {
        vec![apis::APPS_GROUP.into(), apis::CORE_GROUP.into(), apis::SDN_GROUP.into()]
    }

    const GV: &str = "/openapi/v3/apis/apps.cozystack.io/v1alpha1";

    #[tokio::test]
    async fn group_version_documents_follow_handler3() {
        let (cache, snap) = (OpenApiCache::default(), Arc::new(Snapshot::default()));
        let ask = |req: http::request::Parts| {
            let (cache, snap) = (&cache, snap.clone());
            async move { v3_group_version(cache, &groups(), snap, &req, apis::APPS_GROUP, "v1alpha1").await }
        };
        let plain = ask(get(GV, None, None)).await;
        assert_eq!(plain.status(), StatusCode::OK);
        let etag = plain.headers()[header::ETAG].to_str().unwrap().to_string();
        let hash = etag.trim_matches('"').to_string();
        assert_eq!(hash.len(), 128);
        assert!(plain.headers().get(header::CACHE_CONTROL).is_none(), "only a hashed URL is immutable");
        let rows: Vec<(http::request::Parts, StatusCode, &str)> = vec![
            (get(&format!("{GV}?hash={hash}"), Some("application/json"), None), StatusCode::OK, "current hash"),
            (get(&format!("{GV}?hash=0123"), None, None), StatusCode::MOVED_PERMANENTLY, "unknown hash"),
            (get(GV, Some("application/com.github.proto-openapi.spec.v3.v1.0+protobuf"), None), StatusCode::NOT_ACCEPTABLE, "protobuf only"),
            (get(GV, Some("application/com.github.proto-openapi.spec.v3.v1.0+protobuf, application/json"), None), StatusCode::OK, "protobuf or JSON"),
            (get(GV, None, Some(&etag)), StatusCode::NOT_MODIFIED, "If-None-Match"),
        ];
        for (req, want, why) in rows {
            let resp = ask(req).await;
            assert_eq!(resp.status(), want, "{why}");
            match want {
                StatusCode::MOVED_PERMANENTLY => assert_eq!(resp.headers()[header::LOCATION], format!("{GV}?hash={hash}").as_str(), "{why}"),
                StatusCode::OK if why == "current hash" => {
                    assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
                    assert!(resp.headers()[header::EXPIRES].to_str().unwrap().ends_with(" GMT"));
                }
                _ => {}
            }
        }
        let other = v3_group_version(&cache, &groups(), snap.clone(), &get("/openapi/v3/apis/apps/v1", None, None), "apps", "v1").await;
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }

    /// A registry serving `widget<i>s`, with no verbs: enough for the documents.
    struct Stub(storage::registry::ResourceInfo);

    impl storage::registry::TableConvertor for Stub {
        fn columns(&self) -> Vec<apis::table::TableColumnDefinition> {
            vec![]
        }
        fn cells(&self, _: &serde_json::Value) -> Vec<serde_json::Value> {
            vec![]
        }
    }

    impl storage::registry::Registry for Stub {
        fn info(&self) -> &storage::registry::ResourceInfo {
            &self.0
        }
        fn get<'a>(
            &'a self,
            _: &'a storage::registry::RequestContext,
            _: &'a str,
        ) -> futures::future::BoxFuture<'a, Result<serde_json::Value, storage::StorageError>> {
            Box::pin(async { Err(storage::registry::method_not_supported("get")) })
        }
        fn list<'a>(
            &'a self,
            _: &'a storage::registry::RequestContext,
            _: &'a storage::registry::ListOptions,
        ) -> futures::future::BoxFuture<'a, Result<storage::registry::ObjectList, storage::StorageError>> {
            Box::pin(async { Err(storage::registry::method_not_supported("list")) })
        }
        fn watch<'a>(
            &'a self,
            _: &'a storage::registry::RequestContext,
            _: &'a storage::registry::ListOptions,
        ) -> futures::future::BoxFuture<'a, Result<storage::registry::EventStream, storage::StorageError>> {
            Box::pin(async { Err(storage::registry::method_not_supported("watch")) })
        }
    }

    /// Generation `n` serves `n + 1` kinds in the apps group, so that every generation's document differs.
    fn snapshot(n: u64) -> Arc<Snapshot> {
        let resources = (0..=n)
            .map(|i| {
                let info = storage::registry::ResourceInfo {
                    group: apis::APPS_GROUP.into(),
                    version: apis::VERSION.into(),
                    plural: format!("widget{i}s"),
                    singular: format!("widget{i}"),
                    kind: format!("Widget{i}"),
                    namespaced: true,
                    verbs: vec!["get"],
                    short_names: vec![],
                    categories: vec![],
                };
                let r: Arc<dyn storage::registry::Registry> = Arc::new(Stub(info));
                ((apis::APPS_GROUP.to_string(), format!("widget{i}s")), r)
            })
            .collect();
        Arc::new(Snapshot { resources, generation: n })
    }

    #[tokio::test]
    async fn replaced_documents_stay_served_by_hash() {
        let cache = OpenApiCache::default();
        let key = "apis/apps.cozystack.io/v1alpha1";
        let last = KEEP_AT_MOST as u64 + 3;
        let mut hashes = Vec::new();
        for n in 0..=last {
            hashes.push(cache.documents(&groups(), snapshot(n)).await.unwrap().v3[key].hash.clone());
        }
        let distinct: std::collections::BTreeSet<&String> = hashes.iter().collect();
        assert_eq!(distinct.len(), hashes.len(), "every generation has its own document");
        for (n, hash) in hashes.iter().enumerate() {
            let req = get(&format!("{GV}?hash={hash}"), None, None);
            let resp = v3_group_version(&cache, &groups(), snapshot(last), &req, apis::APPS_GROUP, "v1alpha1").await;
            if n as u64 + KEEP_AT_MOST as u64 >= last {
                assert_eq!(resp.status(), StatusCode::OK, "generation {n} is kept");
                assert_eq!(resp.headers()[header::ETAG], format!("\"{hash}\"").as_str());
                assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
            } else {
                assert_eq!(resp.status(), StatusCode::MOVED_PERMANENTLY, "generation {n} is forgotten");
                assert_eq!(resp.headers()[header::LOCATION], format!("{GV}?hash={}", hashes[last as usize]).as_str());
            }
        }
    }

    #[tokio::test]
    async fn documents_are_built_once_per_generation() {
        let cache = OpenApiCache::default();
        let docs = cache.documents(&groups(), snapshot(1)).await.unwrap();
        let d: serde_json::Value = serde_json::from_slice(&docs.discovery).unwrap();
        for g in groups() {
            let key = format!("apis/{g}/v1alpha1");
            assert_eq!(d["paths"][&key]["serverRelativeURL"], format!("/openapi/v3/{key}?hash={}", docs.v3[&key].hash));
        }
        let again = cache.documents(&groups(), snapshot(1)).await.unwrap();
        assert!(Arc::ptr_eq(&docs, &again), "cached while the generation holds");
        let older = cache.documents(&groups(), snapshot(0)).await.unwrap();
        assert!(Arc::ptr_eq(&docs, &older), "a request that saw an older snapshot gets the newer documents");
        let newer = cache.documents(&groups(), snapshot(2)).await.unwrap();
        assert!(!Arc::ptr_eq(&docs, &newer), "rebuilt for a new generation");
        let gs = groups();
        let concurrent = futures::future::join_all((0..4).map(|_| cache.documents(&gs, snapshot(3)))).await;
        let first = concurrent[0].as_ref().unwrap();
        assert!(concurrent.iter().all(|d| Arc::ptr_eq(d.as_ref().unwrap(), first)), "concurrent requests share one build");
    }

    #[tokio::test]
    async fn v2_answers_json_with_an_etag() {
        let cache = OpenApiCache::default();
        let snap = Arc::new(Snapshot::default());
        let resp = v2(&cache, &groups(), snap.clone(), &get("/openapi/v2", Some("application/json"), None)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_string();
        let cached = v2(&cache, &groups(), snap.clone(), &get("/openapi/v2", None, Some(&etag))).await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        let proto = get("/openapi/v2", Some("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), None);
        assert_eq!(v2(&cache, &groups(), snap, &proto).await.status(), StatusCode::NOT_ACCEPTABLE);
    }

    async fn body_of(resp: Response<Body>) -> Bytes {
        use http_body_util::BodyExt;
        resp.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn large_documents_are_kept_gzipped_and_sent_as_the_client_accepts() {
        let cache = OpenApiCache::default();
        let snap = snapshot(200);
        let docs = cache.documents(&groups(), snap.clone()).await.unwrap();
        let Stored::Gzipped(packed) = &docs.v2.body else { panic!("a large document is kept gzipped") };
        let json = docs.v2.json();
        assert!(json.len() > GZIP_THRESHOLD_BYTES, "the document is large: {} bytes", json.len());
        assert!(packed.len() * 5 < json.len(), "kept in a fifth of its size or less: {} of {} bytes", packed.len(), json.len());
        assert_eq!(docs.v2.hash, openapi::etag(&json), "the ETag names the JSON, not its gzip");
        let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(parsed["paths"].as_object().unwrap().keys().any(|p| p.contains("widget200s")));

        let mut gzip = get("/openapi/v2", Some("application/json"), None);
        gzip.headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"));
        let resp = v2(&cache, &groups(), snap.clone(), &gzip).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        let vary: Vec<_> = resp.headers().get_all(header::VARY).iter().map(|v| v.to_str().unwrap().to_string()).collect();
        assert_eq!(vary, ["Accept", "Accept-Encoding"]);
        let sent = body_of(resp).await;
        assert_eq!(sent, *packed, "the kept bytes are sent as they are");
        let mut unpacked = Vec::new();
        GzDecoder::new(&sent[..]).read_to_end(&mut unpacked).unwrap();
        assert_eq!(unpacked, json);

        let resp = v2(&cache, &groups(), snap.clone(), &get("/openapi/v2", Some("application/json"), None)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none(), "a client that does not accept gzip gets JSON");
        assert_eq!(body_of(resp).await, json);

        let small = cache.documents(&groups(), snapshot(0)).await.unwrap();
        let core = &small.v3[&format!("apis/{}/v1alpha1", apis::CORE_GROUP)];
        assert!(matches!(core.body, Stored::Plain(_)), "a document under the gzip threshold is kept as it is");
        let resp = v3_group_version(&cache, &groups(), snapshot(0), &gzip, apis::CORE_GROUP, "v1alpha1").await;
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(resp.headers()[header::VARY], "Accept");
    }
}
