//! Generators of hostile requests for the live fuzz driver: bodies (JSON and YAML, truncated, deeply nested,
//! huge, wrong types, duplicate keys, invalid UTF-8, numbers out of range), query parameters, paths and headers.
//! Pure: a seed in, requests out.

use serde_json::{Value, json};

use crate::rng::Rng;

/// One request to send.
#[derive(Debug, Clone)]
pub struct Input {
    /// What kind of input it is, for the report.
    pub family: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path and query, percent-encoded.
    pub uri: String,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// True when the request should be sent as an unprivileged user asking to impersonate.
    pub as_nobody: bool,
}

/// The largest body the server accepts (docs/compatibility.md "Request limits").
pub const MAX_BODY: usize = 3 * 1024 * 1024;

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+cbor",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
    "text/plain",
    "application/json; charset=utf-16",
    "application/json;;;",
    "",
    "*/*",
    "multipart/form-data; boundary=x",
    "application/yaml; charset=latin1",
    "\u{1}garbage",
];

const ACCEPTS: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;as=Table;v=v1;g=meta.k8s.io",
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    "application/json;as=Table;v=v9;g=nothing",
    "text/html",
    "*/*;q=0",
    "application/json;q=abc",
    "application/cbor",
    "application/json;stream=watch",
    ",,,",
    "",
];

const WORDS: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "18446744073709551616",
    "99999999999999999999999",
    "1e3",
    "abc",
    "a=b",
    "a!=b",
    "a in (b,c)",
    "!a",
    "a,b",
    "(",
    "=",
    "metadata.name=x",
    "metadata.namespace!=y",
    "spec.x=1",
    "\0",
    "%00",
    "é",
    "All",
    "Exact",
    "NotOlderThan",
    "Strict",
    "Warn",
    "Ignore",
    "Foreground",
    "Orphan",
    "Background",
    "true",
    "false",
    "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAsInN0YXJ0IjoiYSJ9",
    "Zm9v",
    "!!!",
    "\u{202e}",
    "\n",
    " ",
    "a/b",
    "../..",
    "😀",
];

const PARAMS: &[&str] = &[
    "labelSelector",
    "fieldSelector",
    "resourceVersion",
    "resourceVersionMatch",
    "limit",
    "continue",
    "timeoutSeconds",
    "fieldManager",
    "dryRun",
    "fieldValidation",
    "propagationPolicy",
    "gracePeriodSeconds",
    "pretty",
    "allowWatchBookmarks",
    "sendInitialEvents",
    "watch",
    "force",
    "orphanDependents",
    "includeObject",
];

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A valid Postgres object, the base the body mutations start from.
pub fn valid_object(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "apps.cozystack.io/v1alpha1", "kind": "Postgres", "metadata": {"name": name, "namespace": ns, "labels": {"a": "b"}},
        "spec": {"replicas": 2, "size": "10Gi", "users": {"u": {"password": "p"}}, "postgresql": {"parameters": {"max_connections": 100}}}})
}

/// The generator of inputs against namespace `ns`.
pub struct Generator {
    rng: Rng,
    ns: String,
}

impl Generator {
    /// A generator for `seed`.
    pub fn new(seed: u64, ns: &str) -> Self {
        Self { rng: Rng::new(seed), ns: ns.to_string() }
    }

    fn word(&mut self) -> String {
        if self.rng.chance(0.3) {
            let n = self.rng.below(12) as usize;
            (0..n).map(|_| char::from_u32(self.rng.range(1, 0x2FF) as u32).unwrap_or('x')).collect()
        } else {
            self.rng.pick(WORDS).to_string()
        }
    }

    fn name(&mut self) -> String {
        format!("fuzz-{}", self.rng.below(8))
    }

    fn collection(&self) -> String {
        format!("/apis/apps.cozystack.io/v1alpha1/namespaces/{}/postgreses", self.ns)
    }

    /// The next input.
    pub fn next_input(&mut self) -> Input {
        match self.rng.below(100) {
            0..45 => self.body_input(),
            45..70 => self.query_input(),
            70..82 => self.path_input(),
            _ => self.header_input(),
        }
    }

    fn input(&self, family: &'static str, method: &'static str, uri: String) -> Input {
        Input { family, method, uri, headers: Vec::new(), body: Vec::new(), as_nobody: false }
    }

    /// A write whose body is mutated.
    fn body_input(&mut self) -> Input {
        let name = self.name();
        let (method, uri, content_type): (&'static str, String, String) = match self.rng.below(6) {
            0 | 1 => ("POST", self.collection(), self.rng.pick(&["application/json", "application/yaml"]).to_string()),
            2 => ("PUT", format!("{}/{name}", self.collection()), "application/json".into()),
            3 => ("PATCH", format!("{}/{name}", self.collection()), "application/merge-patch+json".into()),
            4 => ("PATCH", format!("{}/{name}?fieldManager=fuzz&force=true", self.collection()), "application/apply-patch+yaml".into()),
            _ => ("PATCH", format!("{}/{name}", self.collection()), "application/json-patch+json".into()),
        };
        let content_type = if self.rng.chance(0.1) { self.rng.pick(CONTENT_TYPES).to_string() } else { content_type };
        let base = if content_type.contains("json-patch") { self.json_patch() } else { valid_object(&self.ns, &name) };
        let (family, body) = self.mutate(base, content_type.contains("yaml"));
        let mut i = self.input(family, method, uri);
        i.headers.push(("content-type".into(), content_type.into_bytes()));
        i.body = body;
        i
    }

    fn json_patch(&mut self) -> Value {
        let ops = ["add", "remove", "replace", "move", "copy", "test", "nope"];
        let paths = ["/spec/replicas", "/spec/users/u", "/metadata/name", "/metadata/labels/a~1b", "/spec/-", "/spec/x/0/y", "", "/", "~2", "/spec/users/~0"];
        let n = self.rng.below(4) as usize;
        Value::Array(
            (0..n)
                .map(|_| json!({"op": self.rng.pick(&ops), "path": self.rng.pick(&paths), "from": self.rng.pick(&paths), "value": self.random_value(2)}))
                .collect(),
        )
    }

    fn random_value(&mut self, depth: u32) -> Value {
        match self.rng.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.rng.chance(0.5)),
            2 => json!(self.rng.next_u64() as i64),
            3 => json!(f64::from_bits(self.rng.next_u64()).clamp(-1e300, 1e300)),
            4 => json!(self.word()),
            5 => Value::Array((0..self.rng.below(4)).map(|_| self.random_value(depth - 1)).collect()),
            _ => Value::Object((0..self.rng.below(4)).map(|_| (self.word(), self.random_value(depth - 1))).collect()),
        }
    }

    /// Replaces a random node of `v` with a value of a random type.
    fn retype(&mut self, v: &mut Value, depth: u32) {
        let children: Vec<String> = match v {
            Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        if children.is_empty() || depth > 4 || self.rng.chance(0.3) {
            *v = self.random_value(2);
            return;
        }
        let k = self.rng.pick(&children).clone();
        if let Some(child) = v.get_mut(&k) {
            self.retype(child, depth + 1);
        }
    }

    /// A mutation of `base`, encoded as JSON (or as YAML-flavoured text when `yaml`).
    fn mutate(&mut self, mut base: Value, yaml: bool) -> (&'static str, Vec<u8>) {
        let text = serde_json::to_string(&base).expect("JSON");
        match self.rng.below(13) {
            0 => {
                let cut = self.rng.below(text.len() as u64) as usize;
                ("truncated body", text.as_bytes()[..cut].to_vec())
            }
            1 => {
                let depth = *self.rng.pick(&[100, 127, 128, 129, 200, 1000, 100_000, 1_000_000]);
                let (open, close) = if yaml && self.rng.chance(0.5) { ("[", "]") } else { (r#"{"a":"#, "}") };
                let body = format!(
                    r#"{{"apiVersion":"apps.cozystack.io/v1alpha1","kind":"Postgres","metadata":{{"name":"fuzz-0"}},"spec":{{"x":{}1{}}}}}"#,
                    open.repeat(depth),
                    close.repeat(depth)
                );
                ("deeply nested body", body.into_bytes())
            }
            // Huge bodies are few: each costs the server a 3 MiB decode.
            2 if self.rng.chance(0.1) => {
                // Huge: over the limit, or just under it in one string.
                if self.rng.chance(0.5) {
                    ("huge body (over the limit)", vec![b' '; MAX_BODY + 1 + self.rng.below(1 << 20) as usize])
                } else {
                    let mut obj = valid_object(&self.ns, "fuzz-6");
                    obj["spec"]["users"]["u"]["password"] = json!("x".repeat(MAX_BODY - 1024));
                    ("huge body (under the limit)", serde_json::to_vec(&obj).expect("JSON"))
                }
            }
            3..=5 => {
                self.retype(&mut base, 0);
                ("wrong types", serde_json::to_vec(&base).expect("JSON"))
            }
            6 => {
                let dup = text.replacen(r#""name":"#, r#""name":"fuzz-dup","name":"#, 1).replacen(r#""spec":{"#, r#""spec":{"replicas":"x","#, 1);
                ("duplicate keys", dup.into_bytes())
            }
            7 => {
                let mut b = text.into_bytes();
                let at = self.rng.below(b.len() as u64) as usize;
                const BAD: [&[u8]; 5] = [&[0xff], &[0xc3], &[0xed, 0xa0, 0x80], &[0xf4, 0x90, 0x80, 0x80], &[0]];
                let bad = *self.rng.pick(&BAD);
                b.splice(at..at, bad.iter().copied());
                ("invalid UTF-8", b)
            }
            8 => {
                let n =
                    *self.rng.pick(&["1e400", "-1e400", "18446744073709551616", "-9223372036854775809", "1.5", "0x10", "NaN", "Infinity", "1e-400", "00012"]);
                ("numbers out of range", text.replacen(r#""replicas":2"#, &format!(r#""replicas":{n}"#), 1).into_bytes())
            }
            9 => {
                let n = self.rng.below(300) as usize;
                ("random bytes", (0..n).map(|_| self.rng.below(256) as u8).collect())
            }
            10 => {
                let yamls = [
                    "apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata: {name: fuzz-1}\nspec: &s {replicas: *s}\n",
                    "a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c]\n",
                    "--- a\n--- b\n",
                    "kind: !!binary aGVsbG8=\n",
                    "metadata:\n\tname: x\n",
                    "spec: {replicas: !!float 2}\n",
                    "? [a, b]\n: c\n",
                    "<<: {a: 1}\n",
                    "apiVersion: apps.cozystack.io/v1alpha1\nkind: Postgres\nmetadata:\n  name: fuzz-2\n  name: fuzz-3\n",
                    "spec: {replicas: 99999999999999999999999}\n",
                    "%YAML 9.9\n---\na: 1\n",
                    "'unterminated\n",
                ];
                ("YAML specials", self.rng.pick(&yamls).as_bytes().to_vec())
            }
            _ => ("valid body", text.into_bytes()),
        }
    }

    fn query(&mut self, n: u64) -> String {
        let mut parts = Vec::new();
        for _ in 0..n {
            let p = self.rng.pick(PARAMS).to_string();
            let v = self.word();
            parts.push(format!("{}={}", p, encode(&v)));
        }
        parts.join("&")
    }

    /// A read, watch or delete with random query parameters.
    fn query_input(&mut self) -> Input {
        let name = self.name();
        let n = self.rng.range(1, 5);
        let q = self.query(n);
        let (method, base) = match self.rng.below(5) {
            0 | 1 => ("GET", self.collection()),
            2 => ("GET", format!("{}/{name}", self.collection())),
            3 => ("GET", "/apis/apps.cozystack.io/v1alpha1/postgreses".to_string()),
            _ => ("DELETE", format!("{}/{name}", self.collection())),
        };
        // Watches end after a second at most: the driver waits for the answer's head only.
        let watch = if method == "GET" && self.rng.chance(0.3) { "&watch=1&timeoutSeconds=1" } else { "" };
        self.input("query parameters", method, format!("{base}?{q}{watch}"))
    }

    /// A request to a mangled path.
    fn path_input(&mut self) -> Input {
        let ns = self.ns.clone();
        let segments = [
            "apis",
            "apps.cozystack.io",
            "v1alpha1",
            "v1",
            "namespaces",
            ns.as_str(),
            "postgreses",
            "fuzz-0",
            "status",
            "scale",
            "..",
            ".",
            "%00",
            "%2F",
            "%252F",
            "",
            "core.cozystack.io",
            "tenantnamespaces",
            "sdn.cozystack.io",
            "securitygroups",
            "tenants",
            "watch",
            "openapi",
            "v2",
            "v3",
            "healthz",
            "metrics",
            "version",
            "api",
        ];
        let n = self.rng.range(1, 9);
        let mut path = String::new();
        for _ in 0..n {
            path.push('/');
            if self.rng.chance(0.15) {
                let w = self.word();
                path.push_str(&encode(&w));
            } else {
                let segment = *self.rng.pick(&segments);
                path.push_str(segment);
            }
        }
        let method = *self.rng.pick(&["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);
        let mut i = self.input("paths", method, path);
        if method != "GET" && method != "HEAD" {
            i.headers.push(("content-type".into(), b"application/json".to_vec()));
            i.body = serde_json::to_vec(&valid_object(&self.ns, "fuzz-7")).expect("JSON");
        }
        i
    }

    /// A request with hostile headers: content types, Accept, impersonation without the right to it.
    fn header_input(&mut self) -> Input {
        let name = self.name();
        let mut i = match self.rng.below(3) {
            0 => self.input("Accept headers", "GET", format!("{}/{name}", self.collection())),
            1 => self.input("Accept headers", "GET", self.collection()),
            _ => {
                let mut i = self.input("content types", "POST", self.collection());
                i.body = serde_json::to_vec(&valid_object(&self.ns, &name)).expect("JSON");
                let ct = self.rng.pick(CONTENT_TYPES).to_string();
                i.headers.push(("content-type".into(), ct.into_bytes()));
                i
            }
        };
        let accept = self.rng.pick(ACCEPTS).to_string();
        i.headers.push(("accept".into(), accept.into_bytes()));
        if self.rng.chance(0.4) {
            i.family = "impersonation without rights";
            i.as_nobody = true;
            i.headers.push(("impersonate-user".into(), self.rng.pick(&["admin", "system:admin", "", "\u{7f}"]).as_bytes().to_vec()));
            if self.rng.chance(0.5) {
                i.headers.push(("impersonate-group".into(), b"system:masters".to_vec()));
            }
            if self.rng.chance(0.3) {
                i.headers.push(("impersonate-extra-scopes".into(), b"x".to_vec()));
            }
            if self.rng.chance(0.3) {
                i.headers.push(("x-remote-user".into(), b"admin".to_vec()));
                i.headers.push(("x-remote-group".into(), b"system:masters".to_vec()));
            }
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs_of_every_family() {
        let a: Vec<String> = {
            let mut g = Generator::new(3, "tenant-x");
            (0..500).map(|_| g.next_input()).map(|i| format!("{} {} {}", i.method, i.uri, i.body.len())).collect()
        };
        let mut g = Generator::new(3, "tenant-x");
        let inputs: Vec<Input> = (0..500).map(|_| g.next_input()).collect();
        let b: Vec<String> = inputs.iter().map(|i| format!("{} {} {}", i.method, i.uri, i.body.len())).collect();
        assert_eq!(a, b);
        let families: std::collections::BTreeSet<&str> = inputs.iter().map(|i| i.family).collect();
        for f in ["truncated body", "deeply nested body", "wrong types", "invalid UTF-8", "query parameters", "paths", "impersonation without rights"] {
            assert!(families.contains(f), "{f} missing from {families:?}");
        }
        assert!(inputs.iter().all(|i| i.uri.parse::<http::Uri>().is_ok()), "every URI is valid");
    }
}
