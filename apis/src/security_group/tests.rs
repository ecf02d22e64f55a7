use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::status::Status;

fn group(spec: Value) -> Value {
    json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup",
           "metadata": {"name": "web", "namespace": "tenant-a", "labels": {"tier": "front"}, "annotations": {"note": "x"}},
           "spec": spec})
}

fn every_rule_kind() -> Value {
    json!({
        "attachments": [{"kind": "Postgres", "name": "db"}, {"apiGroup": "apps.example.io", "kind": "Redis", "name": "cache"}],
        "ingress": [
            {"fromApp": [{"kind": "Nginx", "name": "edge"}], "fromSG": ["admins"], "fromCIDR": ["10.0.0.0/8"],
             "toPorts": [{"ports": [{"port": "5432", "protocol": "tcp"}, {"port": "http"}]}]},
            {}
        ],
        "egress": [
            {"toApp": [{"apiGroup": "apps.cozystack.io", "kind": "Kafka", "name": "bus"}], "toSG": ["backends"], "toCIDR": ["192.168.1.1"],
             "toFQDNs": [{"matchName": "api.example.com"}, {"matchPattern": "*.example.org"}], "toPorts": [{"ports": [{"port": "443", "protocol": "Udp"}]}]}
        ]
    })
}

#[test]
fn a_group_becomes_a_marked_policy_selecting_its_members() {
    let policy = to_policy(&group(every_rule_kind()), None).unwrap();
    let lineage = |g: &str, k: &str, n: &str| json!({"matchLabels": {APP_GROUP_LABEL: g, APP_KIND_LABEL: k, APP_NAME_LABEL: n}});
    assert_eq!(
        policy,
        json!({
            "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
            "metadata": {
                "name": "web", "namespace": "tenant-a",
                "labels": {"tier": "front", MARKER_LABEL: "true"},
                "annotations": {"note": "x", ATTACHMENTS_ANNOTATION: r#"[{"apiGroup":"apps.cozystack.io","kind":"Postgres","name":"db"},{"apiGroup":"apps.example.io","kind":"Redis","name":"cache"}]"#},
            },
            "spec": {
                "endpointSelector": {"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}},
                "ingress": [
                    {"fromEndpoints": [lineage("apps.cozystack.io", "Nginx", "edge"), {"matchLabels": {"securitygroup.sdn.cozystack.io/admins": ""}}],
                     "fromCIDR": ["10.0.0.0/8"],
                     "toPorts": [{"ports": [{"port": "5432", "protocol": "TCP"}, {"port": "http"}]}]},
                    {}
                ],
                "egress": [
                    {"toEndpoints": [lineage("apps.cozystack.io", "Kafka", "bus"), {"matchLabels": {"securitygroup.sdn.cozystack.io/backends": ""}}],
                     "toCIDR": ["192.168.1.1"],
                     "toFQDNs": [{"matchName": "api.example.com"}, {"matchPattern": "*.example.org"}],
                     "toPorts": [{"ports": [{"port": "443", "protocol": "UDP"}]}]}
                ]
            }
        })
    );
}

#[test]
fn no_rules_still_write_an_ingress_list_and_no_egress() {
    let policy = to_policy(&group(json!({})), None).unwrap();
    assert_eq!(policy["spec"], json!({"endpointSelector": {"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}}, "ingress": []}));
    assert!(policy["metadata"]["annotations"].get(ATTACHMENTS_ANNOTATION).is_none());
    let bare = json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup", "metadata": {"name": "web"}});
    let policy = to_policy(&bare, None).unwrap();
    assert!(policy["metadata"].get("annotations").is_none(), "an empty map is omitted: {policy}");
    assert_eq!(policy["metadata"]["labels"], json!({MARKER_LABEL: "true"}));
}

#[test]
fn the_marker_and_the_attachments_annotation_are_the_servers() {
    let mut sg = group(json!({}));
    sg["metadata"]["labels"][MARKER_LABEL] = "false".into();
    sg["metadata"]["annotations"][ATTACHMENTS_ANNOTATION] = r#"[{"kind":"Evil","name":"x"}]"#.into();
    let policy = to_policy(&sg, None).unwrap();
    assert_eq!(policy["metadata"]["labels"][MARKER_LABEL], "true");
    assert_eq!(policy["metadata"]["annotations"], json!({"note": "x"}), "no attachments, no annotation");
}

#[test]
fn the_policy_reads_back_as_the_group_with_canonical_groups_and_protocols() {
    let policy = to_policy(&group(every_rule_kind()), None).unwrap();
    let back = from_policy(&policy).unwrap();
    let mut want = every_rule_kind();
    want["attachments"][0]["apiGroup"] = "apps.cozystack.io".into();
    want["ingress"][0]["fromApp"][0]["apiGroup"] = "apps.cozystack.io".into();
    want["ingress"][0]["toPorts"][0]["ports"][0]["protocol"] = "TCP".into();
    want["egress"][0]["toPorts"][0]["ports"][0]["protocol"] = "UDP".into();
    assert_eq!(
        back,
        json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup",
               "metadata": {"name": "web", "namespace": "tenant-a", "labels": {"tier": "front"}, "annotations": {"note": "x"}},
               "spec": want})
    );
}

#[test]
fn reads_show_only_what_a_group_shows() {
    let policy = json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "web", "namespace": "tenant-a", "uid": "u", "resourceVersion": "7", "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                     "deletionTimestamp": "2026-01-02T00:00:00Z", "managedFields": [{"manager": "x"}],
                     "labels": {MARKER_LABEL: "true"}, "annotations": {ATTACHMENTS_ANNOTATION: "not json"},
                     "finalizers": [MEMBERSHIP_FINALIZER], "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "x"}]},
        "spec": {
            "endpointSelector": {"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}},
            "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "x", "b": "y"}}, {"matchLabels": {"role": "db"}}, {"matchExpressions": []},
                                           {"matchLabels": {"securitygroup.sdn.cozystack.io/peer": ""}}],
                         "fromEntities": ["world"], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}], "rules": {"http": [{}]}}]}],
            "egress": [],
            "enableDefaultDeny": {"ingress": true}
        }
    });
    assert_eq!(
        from_policy(&policy).unwrap(),
        json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup",
               "metadata": {"name": "web", "namespace": "tenant-a", "uid": "u", "resourceVersion": "7", "generation": 3,
                            "creationTimestamp": "2026-01-01T00:00:00Z", "deletionTimestamp": "2026-01-02T00:00:00Z", "finalizers": [MEMBERSHIP_FINALIZER],
                            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "x"}]},
               "spec": {"ingress": [{"fromSG": ["peer"], "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]}})
    );
    let mut without_spec = policy.clone();
    without_spec.as_object_mut().unwrap().remove("spec");
    without_spec["metadata"]["annotations"][ATTACHMENTS_ANNOTATION] = r#"[{"kind":"Postgres","name":"db"}]"#.into();
    assert_eq!(from_policy(&without_spec).unwrap()["spec"], json!({}), "attachments show only with a spec");
    let mut unmarked = policy;
    unmarked["metadata"]["labels"] = json!({MARKER_LABEL: "yes"});
    assert!(from_policy(&unmarked).is_none());
}

#[test]
fn an_update_keeps_the_live_policys_own_metadata_and_membership_finalizer() {
    let live = json!({
        "apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
        "metadata": {"name": "web", "namespace": "tenant-a", "uid": "u", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "managedFields": [{"manager": "x"}], "labels": {MARKER_LABEL: "true", "old": "1"},
                     "annotations": {"old": "1", ATTACHMENTS_ANNOTATION: "[]"}, "finalizers": ["other", MEMBERSHIP_FINALIZER]},
        "spec": {"endpointSelector": {}, "ingress": [{"fromEntities": ["world"]}], "description": "hand-written"}
    });
    let mut sg = from_policy(&live).unwrap();
    sg["metadata"]["finalizers"] = json!(["mine"]);
    sg["metadata"]["labels"] = json!({"new": "2"});
    sg["metadata"].as_object_mut().unwrap().remove("annotations");
    let out = to_policy(&sg, Some(&live)).unwrap();
    let meta = &out["metadata"];
    assert_eq!(
        (meta["uid"].as_str(), meta["creationTimestamp"].as_str(), meta["resourceVersion"].as_str()),
        (Some("u"), Some("2026-01-01T00:00:00Z"), Some("7"))
    );
    assert!(meta.get("managedFields").is_none());
    assert_eq!(meta["finalizers"], json!(["mine", MEMBERSHIP_FINALIZER]));
    assert_eq!(meta["labels"], json!({"new": "2", MARKER_LABEL: "true"}));
    assert!(meta.get("annotations").is_none(), "{out}");
    assert_eq!(
        out["spec"],
        json!({"endpointSelector": {"matchLabels": {"securitygroup.sdn.cozystack.io/web": ""}}, "ingress": [{}]}),
        "the spec is written whole"
    );

    // Without the finalizer on the live policy, none is added.
    let mut plain = live.clone();
    plain["metadata"]["finalizers"] = json!([]);
    sg["metadata"].as_object_mut().unwrap().remove("finalizers");
    assert!(to_policy(&sg, Some(&plain)).unwrap()["metadata"].get("finalizers").is_none());
}

#[test]
fn a_spec_that_does_not_decode_is_an_error_and_null_is_empty() {
    assert!(to_policy(&group(json!({"ingress": [{"toPorts": [{"ports": [{"port": 80}]}]}]})), None).is_err());
    assert!(SecurityGroupSpec::of(&group(json!({"ingress": "x"}))).is_err());
    let spec = SecurityGroupSpec::of(&group(json!({"attachments": null, "ingress": [{"fromSG": null, "toPorts": [{"ports": [{"port": null}]}]}]}))).unwrap();
    assert_eq!(spec.to_value(), json!({"ingress": [{"toPorts": [{"ports": [{}]}]}]}));
}

fn messages(name: &str, spec: Value) -> Vec<String> {
    let spec: SecurityGroupSpec = serde_json::from_value(spec).unwrap();
    validate(name, &spec).iter().map(|e| e.to_string()).collect()
}

#[test]
fn a_valid_group_has_no_errors() {
    assert_eq!(messages("web", every_rule_kind()), Vec::<String>::new());
    let bare_addresses = json!({"ingress": [{"fromCIDR": ["10.1.2.3/8", "::1", "fe80::1%eth0", "2001:db8::/32", "::ffff:1.2.3.4/128", "0.0.0.0/0", "fe80::1%eth0/64"],
                                             "toPorts": [{"ports": [{"port": "1"}, {"port": "65535"}, {"port": "+80"}, {"protocol": "any"}, {"protocol": "sctp"}]}]}]});
    assert_eq!(messages("web", bare_addresses), Vec::<String>::new());
}

#[test]
fn application_references_must_be_complete_label_values_and_not_entities() {
    let long = "a".repeat(64);
    let got = messages(
        "web",
        json!({"attachments": [{"kind": "", "name": ""}, {"apiGroup": "bad group", "kind": "K", "name": "World"}, {"kind": long, "name": "x"}]}),
    );
    assert_eq!(
        got,
        [
            "spec.attachments[0].kind: Required value: must reference an application kind".to_string(),
            "spec.attachments[0].name: Required value: must reference an application name".to_string(),
            format!("spec.attachments[1].apiGroup: Invalid value: \"bad group\": {}", crate::names::is_valid_label_value("bad group")[0]),
            "spec.attachments[1].name: Invalid value: \"World\": must not name a reserved Cilium entity".to_string(),
            format!("spec.attachments[2].kind: Invalid value: \"{long}\": must be no more than 63 bytes"),
        ]
    );
    let got =
        messages("web", json!({"egress": [{"toApp": [{"kind": "K", "name": "kube-apiserver"}]}], "ingress": [{"fromApp": [{"kind": "K", "name": "host"}]}]}));
    assert_eq!(
        got,
        [
            "spec.ingress[0].fromApp[0].name: Invalid value: \"host\": must not name a reserved Cilium entity",
            "spec.egress[0].toApp[0].name: Invalid value: \"kube-apiserver\": must not name a reserved Cilium entity",
        ]
    );
}

#[test]
fn peer_groups_must_be_named_label_key_names_and_not_entities() {
    let got = messages("web", json!({"ingress": [{"fromSG": ["", "ALL", "-bad", "ok.name_1"]}], "egress": [{"toSG": ["a".repeat(64)]}]}));
    assert_eq!(got[0], "spec.ingress[0].fromSG[0]: Required value: must name a SecurityGroup");
    assert_eq!(got[1], "spec.ingress[0].fromSG[1]: Invalid value: \"ALL\": must not name a reserved Cilium entity");
    assert!(got[2].starts_with("spec.ingress[0].fromSG[2]: Invalid value: \"-bad\": name part must consist of alphanumeric characters"), "{got:?}");
    assert!(got[3].starts_with("spec.egress[0].toSG[0]: Invalid value: \"aaaa"), "{got:?}");
    assert!(got[3].ends_with(": name part must be no more than 63 bytes"), "{got:?}");
    assert_eq!(got.len(), 4, "{got:?}");
}

#[test]
fn the_groups_own_name_must_make_a_label_key() {
    let long = "a".repeat(64);
    assert_eq!(messages(&long, json!({})), [format!("metadata.name: Invalid value: \"{long}\": name part must be no more than 63 bytes")]);
    assert_eq!(
        messages("", json!({})),
        [
            "metadata.name: Invalid value: \"\": name part must be non-empty".to_string(),
            format!("metadata.name: Invalid value: \"\": {}", crate::names::is_qualified_name("x/")[1])
        ]
    );
    assert!(messages("world", json!({})).is_empty(), "the own name is not checked against entities");
}

#[test]
fn cidrs_are_prefixes_or_addresses_as_go_parses_them() {
    for bad in ["10.0.0.0/33", "10.0.0.0/08", "10.0.0.0/", "010.0.0.1", "1.2.3", "::1%", "2001:db8::/129", "10.0.0.0/+8", "host", ""] {
        assert_eq!(
            messages("web", json!({"egress": [{"toCIDR": [bad]}]})),
            [format!("spec.egress[0].toCIDR[0]: Invalid value: {bad:?}: must be a valid CIDR or IP address")],
            "{bad}"
        );
    }
}

#[test]
fn ports_are_numbers_in_range_or_iana_names_and_protocols_are_known() {
    let port = |p: &str| messages("web", json!({"ingress": [{"toPorts": [{"ports": [{"port": p}]}]}]}));
    let at = "spec.ingress[0].toPorts[0].ports[0].port";
    assert_eq!(port("0"), [format!("{at}: Invalid value: \"0\": port number must be between 1 and 65535")]);
    assert_eq!(port("65536"), [format!("{at}: Invalid value: \"65536\": port number must be between 1 and 65535")]);
    assert_eq!(port("-1"), [format!("{at}: Invalid value: \"-1\": port number must be between 1 and 65535")]);
    assert_eq!(port("http"), Vec::<String>::new());
    let name = "-Very--long-port-name";
    let want: Vec<String> = [
        "must be no more than 15 characters",
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        "must not contain consecutive hyphens",
        "must not begin or end with a hyphen",
    ]
    .iter()
    .map(|m| format!("{at}: Invalid value: \"{name}\": {m}"))
    .collect();
    assert_eq!(port(name), want);
    assert_eq!(port("1-2"), [format!("{at}: Invalid value: \"1-2\": must contain at least one letter (a-z)")]);
    assert_eq!(
        messages("web", json!({"egress": [{"toPorts": [{}, {"ports": [{"protocol": "icmp"}]}]}]})),
        ["spec.egress[0].toPorts[1].ports[0].protocol: Unsupported value: \"icmp\": supported values: \"TCP\", \"UDP\", \"SCTP\", \"ANY\""]
    );
    assert_eq!(
        messages("web", json!({"egress": [{"toFQDNs": [{"matchName": "a"}, {}]}]})),
        ["spec.egress[0].toFQDNs[1]: Required value: must set matchName or matchPattern"]
    );
}

#[test]
fn errors_make_one_invalid_status_for_the_group() {
    let spec: SecurityGroupSpec = serde_json::from_value(json!({"ingress": [{"fromSG": [""], "fromCIDR": ["x"]}]})).unwrap();
    let s = Status::invalid(crate::SDN_GROUP, KIND, "web", &validate("web", &spec));
    assert_eq!(s.code, 422);
    assert_eq!(
        s.message,
        "SecurityGroup.sdn.cozystack.io \"web\" is invalid: [spec.ingress[0].fromSG[0]: Required value: must name a SecurityGroup, spec.ingress[0].fromCIDR[0]: Invalid value: \"x\": must be a valid CIDR or IP address]"
    );
    let fields: Vec<&str> = s.details.as_ref().unwrap().causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["spec.ingress[0].fromSG[0]", "spec.ingress[0].fromCIDR[0]"]);
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._/-]{0,12}"
}

fn app_ref() -> impl Strategy<Value = ApplicationReference> {
    (text(), text(), text()).prop_map(|(api_group, kind, name)| ApplicationReference { api_group, kind, name })
}

fn port_rules() -> impl Strategy<Value = Vec<PortRule>> {
    let port = (text(), prop_oneof![Just(String::new()), Just("tcp".to_string()), Just("Udp".to_string()), Just("SCTP".to_string()), text()])
        .prop_map(|(port, protocol)| PortProtocol { port, protocol });
    prop::collection::vec(prop::collection::vec(port, 0..3).prop_map(|ports| PortRule { ports }), 0..3)
}

fn spec() -> impl Strategy<Value = SecurityGroupSpec> {
    let strings = || prop::collection::vec(text(), 0..3);
    let refs = || prop::collection::vec(app_ref(), 0..3);
    let ingress = (refs(), strings(), strings(), port_rules()).prop_map(|(from_app, from_sg, from_cidr, to_ports)| IngressRule {
        from_app,
        from_sg,
        from_cidr,
        to_ports,
    });
    let fqdn = (text(), text()).prop_map(|(match_name, match_pattern)| FqdnSelector { match_name, match_pattern });
    let egress = (refs(), strings(), strings(), prop::collection::vec(fqdn, 0..3), port_rules())
        .prop_map(|(to_app, to_sg, to_cidr, to_fqdns, to_ports)| EgressRule { to_app, to_sg, to_cidr, to_fqdns, to_ports });
    (refs(), prop::collection::vec(ingress, 0..3), prop::collection::vec(egress, 0..3)).prop_map(|(attachments, ingress, egress)| SecurityGroupSpec {
        attachments,
        ingress,
        egress,
    })
}

/// What a spec reads back as: every empty group apps.cozystack.io, every protocol upper-case.
fn canonical(mut spec: SecurityGroupSpec) -> SecurityGroupSpec {
    let fix = |r: &mut ApplicationReference| {
        if r.api_group.is_empty() {
            r.api_group = DEFAULT_APP_GROUP.into();
        }
    };
    spec.attachments.iter_mut().for_each(fix);
    let upper = |rules: &mut Vec<PortRule>| rules.iter_mut().flat_map(|r| r.ports.iter_mut()).for_each(|p| p.protocol = p.protocol.to_uppercase());
    for r in &mut spec.ingress {
        r.from_app.iter_mut().for_each(fix);
        upper(&mut r.to_ports);
    }
    for r in &mut spec.egress {
        r.to_app.iter_mut().for_each(fix);
        upper(&mut r.to_ports);
    }
    spec
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_group_survives_the_policy_round_trip(
        spec in spec(),
        labels in prop::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 0..3),
        annotations in prop::collection::btree_map("[a-z]{1,8}", ".{0,8}", 0..3),
        finalizers in prop::collection::vec("[a-z]{1,8}/[a-z]{1,8}", 0..2),
    ) {
        let mut meta = json!({"name": "web", "namespace": "tenant-a", "resourceVersion": "5"});
        if !labels.is_empty() { meta["labels"] = json!(labels); }
        if !annotations.is_empty() { meta["annotations"] = json!(annotations); }
        if !finalizers.is_empty() { meta["finalizers"] = json!(finalizers); }
        let sg = json!({"apiVersion": "sdn.cozystack.io/v1alpha1", "kind": "SecurityGroup", "metadata": meta, "spec": spec.to_value()});
        let policy = to_policy(&sg, None).unwrap();
        prop_assert!(is_marked(&policy));
        let back = from_policy(&policy).unwrap();
        let mut want = sg.clone();
        want["spec"] = canonical(spec).to_value();
        prop_assert_eq!(back.clone(), want);
        // Reading and writing again changes nothing: the canonical form is a fixed point.
        prop_assert_eq!(to_policy(&back, None).unwrap(), policy);
    }
}
