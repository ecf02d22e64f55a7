//! What a request is about (verb, group, version, namespace, resource, name), read once from its path.
//!
//! The rules are those of k8s.io/apiserver v0.37 `pkg/endpoints/request/requestinfo.go`, so authorization,
//! audit and metrics see the same attributes kube-apiserver would. The paths it understands:
//!
//! ```text
//! resource requests                                   non-resource requests
//! /apis/{group}/{version}/namespaces                  /apis/{group}/{version}
//! /api/{version}/namespaces/{namespace}               /apis/{group}
//! /api/{version}/namespaces/{namespace}/{resource}    /apis
//! /api/{version}/namespaces/{namespace}/{resource}/{name}[/{subresource}]
//! /api/{version}/{resource}[/{name}[/{subresource}]]  /api/{version}, /api
//! /api/{version}/watch/{resource}                     /healthz, /openapi/v2, /
//! /api/{version}/watch/namespaces/{namespace}/{resource}
//! /api/{version}/proxy/namespaces/{namespace}/{resource}/{name}/{anything}
//! ```
//!
//! A GET without a name is a `list`, or a `watch` with `?watch=true`; a DELETE without a name is a
//! `deletecollection`; `?fieldSelector=metadata.name=x` on a list or watch names the object, as upstream.

use std::fmt;

use apis::selector::{FieldSelector, LabelSelector};

/// The API prefixes under which resources live.
const API_PREFIXES: [&str; 2] = ["api", "apis"];
/// The prefixes without a group segment (the core group).
const GROUPLESS_API_PREFIXES: [&str; 1] = ["api"];
/// Verbs written as a path segment before the resource (deprecated upstream, still understood).
const SPECIAL_VERBS: [&str; 2] = ["proxy", "watch"];
/// Special verbs whose extra path segments are not a subresource.
const SPECIAL_VERBS_NO_SUBRESOURCES: [&str; 1] = ["proxy"];
/// Subresources of a namespace, told apart from resources inside a namespace.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];
/// Verbs whose selectors are recorded for authorization.
const VERBS_WITH_SELECTORS: [&str; 3] = ["list", "watch", "deletecollection"];
/// Go's net/url gives up on a query with more parameters than this and yields none.
const MAX_QUERY_PARAMS: usize = 10_000;

/// The attributes of one request, as k8s.io/apiserver's `RequestInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// True for a request on a resource or subresource, false for `/healthz`, discovery and the like.
    pub is_resource_request: bool,
    /// The URL path, percent-decoded.
    pub path: String,
    /// The Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection, proxy) of a
    /// resource request; the lower-case HTTP method of a non-resource request.
    pub verb: String,
    /// `api` or `apis`.
    pub api_prefix: String,
    /// The API group; empty for the core group.
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The namespace; empty for cluster-scoped requests and for requests across all namespaces.
    pub namespace: String,
    /// The resource (plural, lower case), such as `postgreses`.
    pub resource: String,
    /// The subresource, such as `status`.
    pub subresource: String,
    /// The object name; empty for collections.
    pub name: String,
    /// The path segments from the resource on: `{resource}/{name}/{subresource}/...`.
    pub parts: Vec<String>,
    /// The raw `fieldSelector` of a list, watch or deletecollection (not of a `/watch/` path).
    pub field_selector: String,
    /// The raw `labelSelector` of a list, watch or deletecollection (not of a `/watch/` path).
    pub label_selector: String,
}

/// A request whose attributes cannot be known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestInfoError {
    /// The path has a `%` not followed by two hex digits. Go's HTTP server answers 400 before any handler.
    InvalidEscape {
        /// The bad escape, at most three characters from the `%`.
        escape: String,
    },
    /// A `/watch/` or `/proxy/` segment with nothing after it. Upstream answers 500 for this.
    NoResource {
        /// The request URL, path and query, as sent.
        url: String,
    },
}

impl fmt::Display for RequestInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidEscape { escape } => write!(f, "invalid URL escape {escape:?}"),
            Self::NoResource { url } => {
                write!(f, "unable to determine kind and namespace from url, {url}")
            }
        }
    }
}

impl std::error::Error for RequestInfoError {}

impl RequestInfo {
    /// The attributes of a request, as well as they can be known: when [`try_parse`](Self::try_parse) fails,
    /// this is what upstream knew at the point of failure.
    pub fn parse(method: impl AsRef<str>, path: &str, query: Option<&str>) -> Self {
        resolve(method.as_ref(), path, query).0
    }

    /// The attributes of a request, or why the path cannot be understood.
    pub fn try_parse(method: impl AsRef<str>, path: &str, query: Option<&str>) -> Result<Self, RequestInfoError> {
        match resolve(method.as_ref(), path, query) {
            (info, None) => Ok(info),
            (_, Some(err)) => Err(err),
        }
    }
}

/// `NewRequestInfo`: the info, and the error upstream would return with it.
fn resolve(method: &str, raw_path: &str, raw_query: Option<&str>) -> (RequestInfo, Option<RequestInfoError>) {
    let (path, bad_escape) = unescape(raw_path, false);
    let err = bad_escape.map(|escape| RequestInfoError::InvalidEscape { escape });
    // Start as a non-resource request until proven otherwise.
    let mut info = RequestInfo { path, verb: method.to_lowercase(), ..Default::default() };
    let segments = split_path(&info.path);
    let mut cur: &[String] = &segments;

    let [prefix, rest @ ..] = cur else {
        return (info, err);
    };
    if rest.len() < 2 || !API_PREFIXES.contains(&prefix.as_str()) {
        return (info, err);
    }
    info.api_prefix = prefix.clone();
    cur = rest;
    if !GROUPLESS_API_PREFIXES.contains(&prefix.as_str()) {
        // The group is one more segment: `/apis/{group}/{version}/{resource}`.
        let [group, rest @ ..] = cur else {
            return (info, err);
        };
        if rest.len() < 2 {
            return (info, err);
        }
        info.api_group = group.clone();
        cur = rest;
    }
    let [version, rest @ ..] = cur else {
        return (info, err);
    };
    info.is_resource_request = true;
    info.api_version = version.clone();
    cur = rest;

    let mut verb_via_path = false;
    match cur {
        [special, rest @ ..] if SPECIAL_VERBS.contains(&special.as_str()) => {
            if rest.is_empty() {
                // As Go prints the URL, but with the path as sent rather than re-escaped.
                let url = raw_query.map_or_else(|| raw_path.to_string(), |q| format!("{raw_path}?{q}"));
                return (info, err.or(Some(RequestInfoError::NoResource { url })));
            }
            info.verb = special.clone();
            verb_via_path = true;
            cur = rest;
        }
        _ => info.verb = verb_of_method(method).to_string(),
    }

    // `/namespaces/{namespace}/{resource}/...`: the parts start at the resource inside the namespace,
    // unless the segment after the namespace is one of its own subresources.
    if let [first, rest @ ..] = cur
        && first == "namespaces"
        && let [namespace, after @ ..] = rest
    {
        info.namespace = namespace.clone();
        if let Some(next) = after.first()
            && !NAMESPACE_SUBRESOURCES.contains(&next.as_str())
        {
            cur = after;
        }
    }
    info.parts = cur.to_vec();
    if info.parts.len() >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.contains(&info.verb.as_str()) {
        info.subresource = info.parts[2].clone();
    }
    if let Some(name) = info.parts.get(1) {
        info.name = name.clone();
    }
    if let Some(resource) = info.parts.first() {
        info.resource = resource.clone();
    }

    let query = Query::parse(raw_query.unwrap_or_default());
    if info.name.is_empty() && info.verb == "get" {
        let list_options = decodes_as_list_options(&query);
        info.verb = if is_watch(&query, list_options.is_some()) { "watch" } else { "list" }.to_string();
        if let Some(name) = list_options.as_ref().and_then(|fs| fs.exact_value("metadata.name"))
            && is_path_segment_name(name)
        {
            info.name = name.to_string();
        }
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_string();
    }
    // Selectors of the deprecated `/watch/` paths are not recorded: only the collection watch honours them.
    if !verb_via_path && VERBS_WITH_SELECTORS.contains(&info.verb.as_str()) {
        info.field_selector = query.first("fieldSelector").unwrap_or_default().to_string();
        info.label_selector = query.first("labelSelector").unwrap_or_default().to_string();
    }
    (info, err)
}

/// The verb of a resource request made without a special verb in its path.
fn verb_of_method(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
}

/// The field selector when the query decodes into ListOptions as upstream's parameter codec would; any
/// bad selector or integer makes upstream drop every option, the name from the field selector included.
fn decodes_as_list_options(query: &Query) -> Option<FieldSelector> {
    let is_int = |key| query.first(key).is_none_or(|v| v.parse::<i64>().is_ok());
    if !is_int("limit") || !is_int("timeoutSeconds") {
        return None;
    }
    LabelSelector::parse(query.first("labelSelector").unwrap_or_default()).ok()?;
    FieldSelector::parse(query.first("fieldSelector").unwrap_or_default()).ok()
}

/// `?watch=`: any first value but `0` or `false` means yes. Upstream compares with Go's EqualFold when the
/// options decode and with ToLower when they do not; they differ only on the long s, which folds to `s`.
fn is_watch(query: &Query, options_decoded: bool) -> bool {
    let Some(value) = query.first("watch") else {
        return false;
    };
    let is_false = if options_decoded {
        value.chars().map(|c| if c == 'ſ' { 's' } else { c.to_ascii_lowercase() }).eq("false".chars())
    } else {
        value.to_lowercase() == "false"
    };
    !(value == "0" || is_false)
}

/// `content.IsPathSegmentName`: a name that can stand as one path segment.
fn is_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

/// `splitPath`: the segments between slashes, none for `/`.
fn split_path(path: &str) -> Vec<String> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').map(str::to_string).collect() }
}

/// A query string decoded as Go's `url.ParseQuery`: `&`-separated, `+` for space, pairs with a `;` or a bad
/// escape skipped.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Self {
        if raw.matches('&').count() + 1 > MAX_QUERY_PARAMS {
            return Self(Vec::new());
        }
        let pairs = raw
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.contains(';'))
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                match (unescape(key, true), unescape(value, true)) {
                    ((key, None), (value, None)) => Some((key, value)),
                    _ => None,
                }
            })
            .collect();
        Self(pairs)
    }

    /// The first value of `key`, as `url.Values.Get`.
    fn first(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Percent-decodes a path (or, with `plus_is_space`, a query component) as Go's `url.unescape`. A bad
/// escape is kept as written and returned, as Go's `EscapeError` text, beside the lenient result.
pub(crate) fn unescape(s: &str, plus_is_space: bool) -> (String, Option<String>) {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut bad = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => match (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex)) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => {
                    let end = bytes.len().min(i + 3);
                    bad.get_or_insert_with(|| String::from_utf8_lossy(&bytes[i..end]).into_owned());
                    out.push(b'%');
                }
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    (String::from_utf8_lossy(&out).into_owned(), bad)
}

/// The value of one hex digit.
fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request target split into its path and query.
    fn split_target(target: &str) -> (&str, Option<&str>) {
        target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)))
    }

    /// Parses a request line's target.
    fn info(method: &str, target: &str) -> RequestInfo {
        let (path, query) = split_target(target);
        RequestInfo::parse(method, path, query)
    }

    #[test]
    fn resource_requests_parse_as_upstream() {
        struct Row {
            method: &'static str,
            url: &'static str,
            verb: &'static str,
            prefix: &'static str,
            group: &'static str,
            version: &'static str,
            namespace: &'static str,
            resource: &'static str,
            subresource: &'static str,
            name: &'static str,
            parts: &'static [&'static str],
        }
        #[rustfmt::skip]
        let row = |method, url, verb, prefix, group, version, namespace, resource, subresource, name, parts| Row {
            method, url, verb, prefix, group, version, namespace, resource, subresource, name, parts,
        };
        #[rustfmt::skip]
        let rows = [
            // Rows of TestGetAPIRequestInfo; its expected prefix for /apis paths is unchecked there and fixed here.
            row("GET", "/api/v1/namespaces", "list", "api", "", "v1", "", "namespaces", "", "", &["namespaces"]),
            row("GET", "/api/v1/namespaces/other", "get", "api", "", "v1", "other", "namespaces", "", "other", &["namespaces", "other"]),
            row("GET", "/api/v1/namespaces/other/pods", "list", "api", "", "v1", "other", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
            row("HEAD", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
            row("GET", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
            row("HEAD", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
            row("GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo", "subpath", "not", "a", "subresource"]),
            row("GET", "/api/v1/watch/pods", "watch", "api", "", "v1", "", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/pods?watch=true", "watch", "api", "", "v1", "", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/pods?watch=false", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/watch/namespaces/other/pods", "watch", "api", "", "v1", "other", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "api", "", "v1", "other", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/namespaces/other/pods?watch=0", "list", "api", "", "v1", "other", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/namespaces/other/pods/foo/status", "get", "api", "", "v1", "other", "pods", "status", "foo", &["pods", "foo", "status"]),
            row("GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "api", "", "v1", "other", "pods", "proxy", "foo", &["pods", "foo", "proxy", "subpath"]),
            row("PUT", "/api/v1/namespaces/other/finalize", "update", "api", "", "v1", "other", "namespaces", "finalize", "other", &["namespaces", "other", "finalize"]),
            row("PUT", "/api/v1/namespaces/other/status", "update", "api", "", "v1", "other", "namespaces", "status", "other", &["namespaces", "other", "status"]),
            row("PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
            row("DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
            row("POST", "/api/v1/namespaces/other/pods", "create", "api", "", "v1", "other", "pods", "", "", &["pods"]),
            row("DELETE", "/api/v1/nodes", "deletecollection", "api", "", "v1", "", "nodes", "", "", &["nodes"]),
            row("DELETE", "/api/v1/namespaces", "deletecollection", "api", "", "v1", "", "namespaces", "", "", &["namespaces"]),
            row("DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "api", "", "v1", "other", "pods", "", "", &["pods"]),
            row("DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "apis", "extensions", "v1", "other", "pods", "", "", &["pods"]),
            row("POST", "/apis/extensions/v1/namespaces/other/pods", "create", "apis", "extensions", "v1", "other", "pods", "", "", &["pods"]),
            row("POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "apis", "extensions", "v1beta3", "other", "pods", "", "", &["pods"]),
            // The shapes of TestGetNonAPIRequestInfo that are resource requests.
            row("GET", "/api/version/resource", "list", "api", "", "version", "", "resource", "", "", &["resource"]),
            row("GET", "/apis/group/version/resource/name/subresource", "get", "apis", "group", "version", "", "resource", "subresource", "name", &["resource", "name", "subresource"]),
            row("GET", "/api/version/resource/name/subresource", "get", "api", "", "version", "", "resource", "subresource", "name", &["resource", "name", "subresource"]),
            row("GET", "/apis/batch/v1/job", "list", "apis", "batch", "v1", "", "job", "", "", &["job"]),
            row("GET", "/apis/batch/v1/job/foo", "get", "apis", "batch", "v1", "", "job", "", "foo", &["job", "foo"]),
            row("GET", "/apis/batch/v1/job/foo/scale", "get", "apis", "batch", "v1", "", "job", "scale", "foo", &["job", "foo", "scale"]),
            // The served groups.
            row("GET", "/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-root/postgreses", "list", "apis", "apps.cozystack.io", "v1alpha1", "tenant-root", "postgreses", "", "", &["postgreses"]),
            row("GET", "/apis/apps.cozystack.io/v1alpha1/postgreses?watch=1", "watch", "apis", "apps.cozystack.io", "v1alpha1", "", "postgreses", "", "", &["postgreses"]),
            row("PUT", "/apis/apps.cozystack.io/v1alpha1/namespaces/tenant-root/postgreses/db/status", "update", "apis", "apps.cozystack.io", "v1alpha1", "tenant-root", "postgreses", "status", "db", &["postgreses", "db", "status"]),
            row("DELETE", "/apis/core.cozystack.io/v1alpha1/tenantnamespaces/tenant-root", "delete", "apis", "core.cozystack.io", "v1alpha1", "", "tenantnamespaces", "", "tenant-root", &["tenantnamespaces", "tenant-root"]),
            row("GET", "/apis/apps.cozystack.io/v1alpha1/namespaces/t/postgreses/db/", "get", "apis", "apps.cozystack.io", "v1alpha1", "t", "postgreses", "", "db", &["postgreses", "db"]),
            // Odd shapes, read as upstream reads them.
            row("OPTIONS", "/api/v1/pods", "", "api", "", "v1", "", "pods", "", "", &["pods"]),
            row("get", "/api/v1/pods", "", "api", "", "v1", "", "pods", "", "", &["pods"]),
            row("GET", "/api/v1/namespaces/other/status", "get", "api", "", "v1", "other", "namespaces", "status", "other", &["namespaces", "other", "status"]),
            row("GET", "/api/v1/watch/namespaces", "watch", "api", "", "v1", "", "namespaces", "", "", &["namespaces"]),
            row("GET", "/api/v1/namespaces/other/pods/foo/a/b/c", "get", "api", "", "v1", "other", "pods", "a", "foo", &["pods", "foo", "a", "b", "c"]),
            row("GET", "/api//v1/pods", "get", "api", "", "", "", "v1", "", "pods", &["v1", "pods"]),
            row("GET", "/api/v1/namespaces/a%2Fb/pods", "get", "api", "", "v1", "a", "b", "", "pods", &["b", "pods"]),
            row("GET", "/api/v1/namespaces/other/pods/my%2Dpod", "get", "api", "", "v1", "other", "pods", "", "my-pod", &["pods", "my-pod"]),
            row("GET", "/api/v1/namespaces/other/pods/a+b", "get", "api", "", "v1", "other", "pods", "", "a+b", &["pods", "a+b"]),
        ];
        for r in rows {
            let got = info(r.method, r.url);
            let want = RequestInfo {
                is_resource_request: true,
                path: got.path.clone(),
                verb: r.verb.into(),
                api_prefix: r.prefix.into(),
                api_group: r.group.into(),
                api_version: r.version.into(),
                namespace: r.namespace.into(),
                resource: r.resource.into(),
                subresource: r.subresource.into(),
                name: r.name.into(),
                parts: r.parts.iter().map(|p| p.to_string()).collect(),
                field_selector: String::new(),
                label_selector: String::new(),
            };
            assert_eq!(got, want, "{} {}", r.method, r.url);
            let (path, query) = split_target(r.url);
            assert_eq!(RequestInfo::try_parse(r.method, path, query), Ok(got), "{} {}", r.method, r.url);
        }
    }

    #[test]
    fn non_resource_requests_keep_the_http_method() {
        #[rustfmt::skip]
        let rows = [
            // (method, url, verb, api prefix): rows of TestGetAPIRequestInfo's error cases and TestGetNonAPIRequestInfo.
            ("GET", "/", "get", ""),
            ("GET", "", "get", ""),
            ("GET", "/api/version/", "get", ""),
            ("GET", "/apis/group/version/", "get", "apis"),
            ("GET", "/badprefix/version/resource", "get", ""),
            ("GET", "/apis/version/resource", "get", "apis"),
            ("GET", "/not-api/version/resource", "get", ""),
            ("GET", "/apis/extensions/v1beta1", "get", "apis"),
            ("GET", "/apis/extensions/v1beta1/", "get", "apis"),
            ("GET", "/api/version", "get", ""),
            ("GET", "/api", "get", ""),
            ("GET", "/apis", "get", ""),
            ("GET", "/healthz", "get", ""),
            ("GET", "/openapi/v2", "get", ""),
            ("POST", "/apis/apps.cozystack.io/v1alpha1", "post", "apis"),
            ("HEAD", "/readyz/ping", "head", ""),
            ("PUT", "/api/v1", "put", ""),
        ];
        for (method, url, verb, prefix) in rows {
            let got = info(method, url);
            assert!(!got.is_resource_request, "{method} {url}");
            assert_eq!((got.verb.as_str(), got.api_prefix.as_str()), (verb, prefix), "{method} {url}");
            assert_eq!((got.resource.as_str(), got.name.as_str(), got.parts.len()), ("", "", 0), "{method} {url}");
        }
    }

    #[test]
    fn selectors_and_names_come_from_the_query_as_upstream() {
        #[rustfmt::skip]
        let rows = [
            // (method, url, name, verb, fieldSelector, labelSelector): rows of TestSelectorParsing, then more.
            ("GET", "/apis/group/version/resource", "", "list", "", ""),
            ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1", "name1", "list", "metadata.name=name1", ""),
            ("GET", "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", "name1", "watch", "metadata.name=name1", ""),
            ("GET", "/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux", "", "list", "foo=bar", "baz=qux"),
            ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", "", "list", "metadata.name=name1,foo", ""),
            ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true", "", "watch", "metadata.name=name1,foo", ""),
            ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false", "", "list", "metadata.name=name1,foo", ""),
            ("DELETE", "/apis/group/version/resource?fieldSelector=foo=bar&labelSelector=baz=qux", "", "deletecollection", "foo=bar", "baz=qux"),
            ("GET", "/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar&labelSelector=foo=bar&labelSelector=foo=baz", "foo", "list", "metadata.name=foo", "foo=bar"),
            ("GET", "/apis/group/version/resource/name?fieldSelector=foo=bar&labelSelector=foo=bar", "name", "get", "", ""),
            ("GET", "/apis/group/version/watch/resource?fieldSelector=metadata.name=foo&labelSelector=foo=bar", "", "watch", "", ""),
            ("GET", "/apis/group/version/watch/resource/name?fieldSelector=metadata.name=foo&labelSelector=foo=bar", "name", "watch", "", ""),
            // Percent-encoding and `+` as kubectl and client-go send them.
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name%3Ddb", "db", "list", "metadata.name=db", ""),
            ("GET", "/apis/g/v/r?labelSelector=a+in+%28x%2Cy%29", "", "list", "", "a in (x,y)"),
            // The name must be a path segment, and every list option must decode, or upstream drops it.
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name%3Da%2Fb", "", "list", "metadata.name=a/b", ""),
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name%3D..", "", "list", "metadata.name=..", ""),
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name%3D", "", "list", "metadata.name=", ""),
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name!%3Dx", "", "list", "metadata.name!=x", ""),
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name=db&limit=abc", "", "list", "metadata.name=db", ""),
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name=db&timeoutSeconds=1.5", "", "list", "metadata.name=db", ""),
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name=db&labelSelector=a%3D%3D%3D", "", "list", "metadata.name=db", "a==="),
            ("GET", "/apis/g/v/r?fieldSelector=metadata.name=db&limit=500&timeoutSeconds=-1", "db", "list", "metadata.name=db", ""),
            // Any first `watch` value but 0 or false is a watch; a pair with `;` or a bad escape is skipped.
            ("GET", "/apis/g/v/r?watch=FALSE", "", "list", "", ""),
            ("GET", "/apis/g/v/r?watch=", "", "watch", "", ""),
            ("GET", "/apis/g/v/r?watch=yes", "", "watch", "", ""),
            ("GET", "/apis/g/v/r?watch=0&watch=1", "", "list", "", ""),
            ("GET", "/apis/g/v/r?watch=1;x", "", "list", "", ""),
            ("GET", "/apis/g/v/r?watch=%zz&watch=0", "", "list", "", ""),
            ("GET", "/apis/g/v/r?watch=fal%C5%BFe", "", "list", "", ""),
            ("GET", "/apis/g/v/r?watch=fal%C5%BFe&limit=x", "", "watch", "", ""),
            ("GET", "/apis/g/v/r?&&watch=1&", "", "watch", "", ""),
            ("DELETE", "/apis/g/v/r/x?fieldSelector=a=b", "x", "delete", "", ""),
            ("POST", "/apis/g/v/r?fieldSelector=a=b", "", "create", "", ""),
        ];
        for (method, url, name, verb, field_selector, label_selector) in rows {
            let got = info(method, url);
            assert_eq!(
                (got.name.as_str(), got.verb.as_str(), got.field_selector.as_str(), got.label_selector.as_str()),
                (name, verb, field_selector, label_selector),
                "{method} {url}"
            );
        }
    }

    #[test]
    fn unusable_paths_are_errors_with_what_was_known() {
        #[rustfmt::skip]
        let rows = [
            ("/api/v1/watch", None, "unable to determine kind and namespace from url, /api/v1/watch"),
            ("/apis/g/v1/proxy/", Some("x=1"), "unable to determine kind and namespace from url, /apis/g/v1/proxy/?x=1"),
            (
                "/api/v1/watch",
                Some(""),
                "unable to determine kind and namespace from url, /api/v1/watch?",
            ),
            ("/api/v1/pods/a%zz", None, "invalid URL escape \"%zz\""),
            ("/api/v1/pods/a%4", None, "invalid URL escape \"%4\""),
            ("/healthz%", None, "invalid URL escape \"%\""),
        ];
        for (path, query, message) in rows {
            let err = RequestInfo::try_parse("GET", path, query).expect_err(path);
            assert_eq!(err.to_string(), message, "{path}");
        }
        let partial = RequestInfo::parse("GET", "/apis/g/v1/watch", None);
        assert!(partial.is_resource_request);
        assert_eq!((partial.verb.as_str(), partial.api_group.as_str(), partial.api_version.as_str(), partial.resource.as_str()), ("get", "g", "v1", ""));
        let lenient = RequestInfo::parse("GET", "/api/v1/pods/a%zz", None);
        assert_eq!((lenient.name.as_str(), lenient.path.as_str()), ("a%zz", "/api/v1/pods/a%zz"));
    }

    #[test]
    fn queries_decode_as_go_url_parse_query() {
        #[rustfmt::skip]
        let rows: [(&str, &[(&str, &str)]); 7] = [
            ("", &[]),
            ("a=1&b=2&a=3", &[("a", "1"), ("b", "2"), ("a", "3")]),
            ("a&b=&=c", &[("a", ""), ("b", ""), ("", "c")]),
            ("a=x+y%20z%2B", &[("a", "x y z+")]),
            ("a=%zz&b=1&c%=2", &[("b", "1")]),
            ("a=1;b=2&c=3", &[("c", "3")]),
            ("k=a=b", &[("k", "a=b")]),
        ];
        for (raw, want) in rows {
            let got = Query::parse(raw).0;
            let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(got, want, "{raw:?}");
        }
        assert!(Query::parse(&"a=1&".repeat(MAX_QUERY_PARAMS)).0.is_empty(), "too many parameters");
        assert_eq!(Query::parse(&"a=1&".repeat(MAX_QUERY_PARAMS - 1)).0.len(), MAX_QUERY_PARAMS - 1);
    }

    #[test]
    fn accepts_an_http_method() {
        let got = RequestInfo::parse(&http::Method::DELETE, "/apis/g/v/r", None);
        assert_eq!(got.verb, "deletecollection");
        let got = RequestInfo::parse(http::Method::GET, "/version", None);
        assert_eq!((got.is_resource_request, got.verb.as_str()), (false, "get"));
    }

    /// Checks the invariants that hold for any input: no panic, and `parse` agrees with `try_parse`.
    fn assert_total(method: &str, path: &str, query: Option<&str>) {
        let info = RequestInfo::parse(method, path, query);
        if let Ok(tried) = RequestInfo::try_parse(method, path, query) {
            assert_eq!(tried, info, "{method} {path} {query:?}");
        }
        if info.is_resource_request {
            assert!(API_PREFIXES.contains(&info.api_prefix.as_str()), "{method} {path} {query:?}");
        }
    }

    // proptest is not a dev-dependency of this crate, so the two tests below walk the inputs themselves.

    #[test]
    fn every_short_path_is_understood() {
        let segments = ["api", "apis", "g", "v1", "watch", "proxy", "namespaces", "status", "x", "", "%2F", "%z"];
        let queries = [None, Some(""), Some("watch=1&fieldSelector=metadata.name%3Dx"), Some("limit=a;&watch=%")];
        // Every path of up to four segments: 22,621 of them.
        let mut level = vec![String::new()];
        let mut paths = level.clone();
        for _ in 0..4 {
            level = level.iter().flat_map(|p| segments.iter().map(move |s| format!("{p}/{s}"))).collect();
            paths.extend(level.iter().cloned());
        }
        for path in &paths {
            for method in ["GET", "DELETE", "OPTIONS"] {
                for query in queries {
                    assert_total(method, path, query);
                }
            }
        }
    }

    #[test]
    fn random_input_never_panics() {
        let alphabet: Vec<char> = "/apiswtchrxyznm0123456789%+=&;?.,!()éſ\0 \t".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut text = |len: u64| -> String {
            let n = next() % len;
            (0..n).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
        };
        for _ in 0..20_000 {
            let (method, path, query) = (text(6), text(40), text(30));
            assert_total(&method, &path, Some(&query));
            assert_total(&method, &format!("/apis/g/v1/{path}"), None);
        }
    }
}
