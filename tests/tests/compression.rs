//! Response compression, next to kube-apiserver serving the same objects as a CRD: a list larger than 128 KiB
//! asked for with `Accept-Encoding: gzip` comes gzipped from both, a single object does not.

use std::io::Read;

use e2e::twins::{create_crds, fixture, spec_schema};
use e2e::{ControlPlane, namespace, postgres, raw, req};
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// Sends `GET path` with `Accept-Encoding: gzip` and returns the code, the headers and the decoded JSON.
async fn get_gzip(client: &kube::Client, path: &str) -> (u16, http::HeaderMap, Value) {
    let r = http::Request::get(path).header("accept-encoding", "gzip").body(kube::client::Body::from(Vec::new())).unwrap();
    let resp = client.send(r).await.unwrap();
    let (code, headers) = (resp.status().as_u16(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut out).expect("a gzip stream");
        serde_json::from_slice(&out).expect("gzipped JSON")
    } else {
        serde_json::from_slice(&bytes).expect("plain JSON")
    };
    (code, headers, json)
}

fn gzipped(h: &http::HeaderMap) -> bool {
    h.get("content-encoding").is_some_and(|v| v == "gzip")
}

#[tokio::test]
async fn large_lists_are_gzipped_as_kube_apiserver_gzips_them_and_single_objects_are_not() {
    let cp = ControlPlane::shared();
    let admin = cp.admin().await.unwrap();
    let ours_direct = cp.direct(Some((&cp.cert("admin.crt"), &cp.cert("admin.key")))).await.unwrap();
    let ns = namespace(cp, "gzip");
    let group = format!("twin-gzip-{}.cozystack.io", std::process::id());
    let kinds = vec![("Postgres".to_string(), "postgreses".to_string(), spec_schema(&fixture("postgres.yaml")))];
    assert!(create_crds(&admin, &group, &kinds).await.contains("Postgres"));

    // 80 objects with a 2 KB annotation: about 200 KB of list on either side.
    let pad = "x".repeat(2000);
    for g in ["apps.cozystack.io", group.as_str()] {
        let path = format!("/apis/{g}/v1alpha1/namespaces/{ns}/postgreses");
        for i in 0..80 {
            let mut o = postgres(&ns, &format!("db-{i}"), json!({}));
            o["apiVersion"] = format!("{g}/v1alpha1").into();
            o["metadata"]["annotations"] = json!({"example.com/pad": pad});
            let (code, body) = raw(&admin, req("POST", &path, Some(o))).await.unwrap();
            assert_eq!(code, 201, "{g}: {body}");
        }
    }

    let ours = format!("/apis/apps.cozystack.io/v1alpha1/namespaces/{ns}/postgreses");
    let theirs = format!("/apis/{group}/v1alpha1/namespaces/{ns}/postgreses");
    for (side, client, path) in [("ours via the aggregator", &admin, &ours), ("ours directly", &ours_direct, &ours), ("kube-apiserver", &admin, &theirs)] {
        let (code, h, list) = get_gzip(client, path).await;
        assert_eq!(code, 200, "{side}: {list}");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(80), "{side}");
        assert!(gzipped(&h), "{side}: a list over 128 KiB is gzipped: {h:?}");
        assert_eq!(h.get("vary").map(|v| v.to_str().unwrap()), Some("Accept-Encoding"), "{side}");

        let (code, h, one) = get_gzip(client, &format!("{path}/db-0")).await;
        assert_eq!(code, 200, "{side}: {one}");
        assert_eq!(one["metadata"]["name"], "db-0");
        assert!(!gzipped(&h), "{side}: a single object is under the threshold: {h:?}");
    }

    cp.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"]).unwrap();
    cp.kubectl_ok(&["delete", "crd", &format!("postgreses.{group}"), "--wait=false"]).unwrap();
}
