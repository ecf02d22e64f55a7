use serde_json::{Value, json};

use super::{T0, T1, T2, T3, V, entry, fields_of, mgr, obj, ty};
use crate::apply::{
    ApplyError, Conflict, FieldSet, ManagedFieldsEntry, Manager, Operation, PathElement, apply, conflict_status, encode_managed_fields,
    ignore_managed_fields_timestamps, manager_from_user_agent, requested_managed_fields, update, validate_field_manager,
};

const RESET: &[&str] = &["status"];

fn create(name: &str, now: &str, o: &Value) -> Vec<ManagedFieldsEntry> {
    update(&ty(), None, o, vec![], &mgr(name, now), RESET).unwrap()
}

fn applied(live: Option<&Value>, cfg: &Value, managed: Vec<ManagedFieldsEntry>, name: &str, now: &str) -> (Value, Vec<ManagedFieldsEntry>) {
    apply(&ty(), live, cfg, managed, &mgr(name, now), false, RESET).unwrap()
}

fn conflicts_of(r: Result<(Value, Vec<ManagedFieldsEntry>), ApplyError>) -> Vec<Conflict> {
    match r {
        Err(ApplyError::Conflicts(c)) => c,
        other => panic!("expected conflicts, got {other:?}"),
    }
}

fn spec_of(v: &Value) -> &Value {
    &v["spec"]
}

#[test]
fn a_create_is_tracked_with_dots_on_added_nodes_and_meta_stripped() {
    let mut o = obj(json!({"replicas": 1}));
    o["metadata"]["labels"] = json!({"a": "1"});
    let entries = create("kubectl-create", T0, &o);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.operation, e.api_version.as_str(), e.time.as_deref()), (Operation::Update, V, Some(T0)));
    assert_eq!(e.fields.to_fields_v1(), json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:spec": {".": {}, "f:replicas": {}}}));
}

#[test]
fn an_unknown_manager_name_is_recorded_as_unknown() {
    let entries = create("", T0, &obj(json!({"replicas": 1})));
    assert_eq!(entries[0].manager, "unknown");
}

#[test]
fn updates_without_managed_fields_on_existing_objects_track_nothing() {
    let live = obj(json!({"replicas": 1}));
    let out = update(&ty(), Some(&live), &obj(json!({"replicas": 2})), vec![], &mgr("edit", T1), RESET).unwrap();
    assert!(out.is_empty());
}

#[test]
fn an_update_that_changes_nothing_keeps_entries_and_times() {
    let o = obj(json!({"replicas": 1}));
    let entries = create("c", T0, &o);
    let mut new = o.clone();
    new["metadata"]["resourceVersion"] = json!("7");
    let out = update(&ty(), Some(&o), &new, entries.clone(), &mgr("edit", T1), RESET).unwrap();
    assert_eq!(out, entries);
}

#[test]
fn an_update_takes_fields_from_others_and_bumps_only_its_time() {
    let o = obj(json!({"replicas": 1, "name": "n"}));
    let entries = create("c", T0, &o);
    let new = obj(json!({"replicas": 2, "name": "n"}));
    let out = update(&ty(), Some(&o), &new, entries, &mgr("edit", T1), RESET).unwrap();
    assert_eq!(fields_of(&out, "c"), json!({"f:spec": {".": {}, "f:name": {}}}));
    assert_eq!(fields_of(&out, "edit"), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(entry(&out, "c").time.as_deref(), Some(T0));
    assert_eq!(entry(&out, "edit").time.as_deref(), Some(T1));
}

#[test]
fn removed_fields_leave_every_owner() {
    let o = obj(json!({"replicas": 1, "name": "n"}));
    let entries = create("c", T0, &o);
    let out = update(&ty(), Some(&o), &obj(json!({"replicas": 1})), entries, &mgr("edit", T1), RESET).unwrap();
    assert_eq!(fields_of(&out, "c"), json!({"f:spec": {".": {}, "f:replicas": {}}}));
    assert!(out.iter().all(|e| e.manager != "edit"));
}

#[test]
fn reset_fields_are_never_attributed() {
    let mut o = obj(json!({"replicas": 1}));
    o["status"] = json!({"phase": "A"});
    let entries = create("c", T0, &o);
    assert!(entries[0].fields.to_fields_v1().get("f:status").is_none());
    let mut new = o.clone();
    new["status"]["phase"] = json!("B");
    let out = update(&ty(), Some(&o), &new, entries.clone(), &mgr("ctrl", T1), RESET).unwrap();
    assert_eq!(out, entries);
}

#[test]
fn status_subresource_entries_are_marked() {
    let o = obj(json!({"replicas": 1}));
    let entries = create("c", T0, &o);
    let mut new = o.clone();
    new["status"] = json!({"phase": "B"});
    let m = Manager { name: "ctrl", api_version: V, subresource: Some("status"), now: T1 };
    let out = update(&ty(), Some(&o), &new, entries, &m, &["spec"]).unwrap();
    let e = entry(&out, "ctrl");
    assert_eq!(e.subresource.as_deref(), Some("status"));
    assert_eq!(e.fields.to_fields_v1(), json!({"f:status": {".": {}, "f:phase": {}}}));
    assert!(e.identifier().ends_with(r#""subresource":"status"}"#));
}

#[test]
fn a_reset_starts_from_nothing_and_stays_untracked() {
    let o = obj(json!({"replicas": 1}));
    let mut req = o.clone();
    req["metadata"]["managedFields"] = json!([{}]);
    let reset = requested_managed_fields(&req).unwrap();
    assert!(reset.is_empty());
    let out = update(&ty(), Some(&o), &obj(json!({"replicas": 2})), reset, &mgr("edit", T1), RESET).unwrap();
    assert!(out.is_empty());
    assert_eq!(encode_managed_fields(&out), None);
}

#[test]
fn managed_fields_sent_in_a_put_become_the_start() {
    let o = obj(json!({"replicas": 1}));
    let entries = create("c", T0, &o);
    let mut edited = entries.clone();
    edited[0].manager = "renamed".into();
    let out = update(&ty(), Some(&o), &o, edited.clone(), &mgr("edit", T1), RESET).unwrap();
    assert_eq!(out, edited);
}

#[test]
fn more_than_ten_update_managers_fold_into_ancient_changes() {
    let mut o = obj(json!({}));
    o["metadata"]["labels"] = json!({"l00": "v"});
    let mut entries = create("m00", "2026-01-01T00:00:00Z", &o);
    for i in 1..=10 {
        let mut new = o.clone();
        new["metadata"]["labels"][format!("l{i:02}")] = json!("v");
        let now = format!("2026-01-01T00:00:{i:02}Z");
        let name = format!("m{i:02}");
        entries = update(&ty(), Some(&o), &new, entries, &mgr(&name, &now), RESET).unwrap();
        o = new;
    }
    assert_eq!(entries.len(), 10);
    assert!(entries.iter().all(|e| e.manager != "m00" && e.manager != "m01"));
    let a = entry(&entries, "ancient-changes");
    assert_eq!((a.operation, a.api_version.as_str(), a.time.as_deref()), (Operation::Update, V, Some("2026-01-01T00:00:01Z")));
    assert_eq!(a.fields.to_fields_v1(), json!({"f:metadata": {"f:labels": {".": {}, "f:l00": {}, "f:l01": {}}}, "f:spec": {}}));
    // One more folds the next oldest into the same bucket.
    let mut new = o.clone();
    new["metadata"]["labels"]["l11"] = json!("v");
    let entries = update(&ty(), Some(&o), &new, entries, &mgr("m11", "2026-01-01T00:00:11Z"), RESET).unwrap();
    assert_eq!(entries.len(), 10);
    let a = entry(&entries, "ancient-changes");
    assert_eq!(a.time.as_deref(), Some("2026-01-01T00:00:02Z"));
    assert!(a.fields.has(&[PathElement::Field("metadata".into()), PathElement::Field("labels".into()), PathElement::Field("l02".into())]));
}

#[test]
fn an_apply_creates_the_object_with_an_apply_entry_without_dots() {
    let cfg = obj(json!({"replicas": 1, "nested": {"a": "x"}}));
    let (o, entries) = applied(None, &cfg, vec![], "a", T0);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.operation, e.time.as_deref()), (Operation::Apply, Some(T0)));
    assert_eq!(e.fields.to_fields_v1(), json!({"f:spec": {"f:nested": {"f:a": {}}, "f:replicas": {}}}));
    assert_eq!(o["spec"], cfg["spec"]);
    assert_eq!(o["metadata"]["managedFields"], encode_managed_fields(&entries).unwrap());
}

#[test]
fn applying_twice_is_a_no_op_with_the_same_time() {
    let cfg = obj(json!({"replicas": 1, "ports": [{"name": "a", "port": 1}]}));
    let (o1, e1) = applied(None, &cfg, vec![], "a", T0);
    let (o2, e2) = applied(Some(&o1), &cfg, e1.clone(), "a", T1);
    assert_eq!(e1, e2);
    assert_eq!(o1, o2);
}

#[test]
fn a_second_applier_of_the_same_config_shares_ownership_without_time() {
    let cfg = obj(json!({"replicas": 1}));
    let (o1, e1) = applied(None, &cfg, vec![], "a", T0);
    let (o2, e2) = applied(Some(&o1), &cfg, e1, "b", T1);
    assert_eq!(o1, {
        let mut x = o2.clone();
        x["metadata"]["managedFields"] = o1["metadata"]["managedFields"].clone();
        x
    });
    assert_eq!(fields_of(&e2, "a"), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(fields_of(&e2, "b"), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(entry(&e2, "a").time.as_deref(), Some(T0));
    assert_eq!(entry(&e2, "b").time, None);
    let enc = encode_managed_fields(&e2).unwrap();
    assert!(enc[1].get("time").is_none() || enc[0].get("time").is_none());
}

#[test]
fn before_first_apply_takes_the_fields_of_an_untracked_object() {
    let live = obj(json!({"replicas": 1, "name": "n"}));
    let (_, entries) = applied(Some(&live), &obj(json!({"replicas": 1})), vec![], "a", T1);
    let b = entry(&entries, "before-first-apply");
    assert_eq!((b.operation, b.time.as_deref()), (Operation::Update, Some(T1)));
    assert_eq!(b.fields.to_fields_v1(), json!({"f:spec": {".": {}, "f:name": {}, "f:replicas": {}}}));
    assert_eq!(fields_of(&entries, "a"), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(entry(&entries, "a").time, None);
    // Changing a field before-first-apply holds is a conflict.
    let c = conflicts_of(apply(&ty(), Some(&live), &obj(json!({"name": "m"})), vec![], &mgr("a", T1), false, RESET));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].manager, "before-first-apply");
}

#[test]
fn conflicts_with_an_update_owner_print_its_api_version() {
    let o = obj(json!({"replicas": 1}));
    let entries = create("kubectl-edit", T0, &o);
    let c = conflicts_of(apply(&ty(), Some(&o), &obj(json!({"replicas": 2})), entries, &mgr("a", T1), false, RESET));
    let st = conflict_status(&c, "example.io", "Thing", "x");
    assert_eq!(st.code, 409);
    assert_eq!(st.reason, "Conflict");
    assert_eq!(st.status, "Failure");
    assert_eq!(st.message, "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using example.io/v1: .spec.replicas");
    let causes = &st.details.as_ref().unwrap().causes;
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].reason, "FieldManagerConflict");
    assert_eq!(causes[0].message, "conflict with \"kubectl-edit\" using example.io/v1");
    assert_eq!(causes[0].field, ".spec.replicas");
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(
        json["details"],
        json!({"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-edit\" using example.io/v1", "field": ".spec.replicas"}]})
    );
}

#[test]
fn several_conflicts_are_grouped_by_owner_in_identifier_order() {
    let (o, e) = applied(None, &obj(json!({"name": "n"})), vec![], "a", T0);
    let new = obj(json!({"name": "n", "replicas": 1, "nested": {"a": "x"}, "ports": [{"name": "p", "port": 80}]}));
    let e = update(&ty(), Some(&o), &new, e, &mgr("b", T1), RESET).unwrap();
    let mut sub = new.clone();
    sub["status"] = json!({"phase": "x"});
    let cfg = obj(json!({"name": "m", "replicas": 2, "nested": {"a": "y"}, "ports": [{"name": "p", "port": 80, "note": "z"}]}));
    let c = conflicts_of(apply(&ty(), Some(&sub), &cfg, e, &mgr("c", T2), false, RESET));
    let st = conflict_status(&c, "example.io", "Thing", "x");
    assert_eq!(
        st.message,
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.name\nconflicts with \"b\" using example.io/v1:\n- .spec.replicas\n- .spec.nested.a"
    );
    assert_eq!(st.details.unwrap().causes.len(), 3);
}

#[test]
fn conflict_paths_print_keys_and_set_values() {
    let c = Conflict {
        path: vec![
            PathElement::Field("spec".into()),
            PathElement::Field("ports".into()),
            PathElement::Key(vec![("name".into(), json!("a")), ("port".into(), json!(80))]),
            PathElement::Field("note".into()),
        ],
        manager: "m".into(),
        operation: Operation::Apply,
        api_version: V.into(),
        subresource: Some("status".into()),
    };
    let st = conflict_status(&[c], "", "", "");
    assert_eq!(st.message, "Apply failed with 1 conflict: conflict with \"m\" with subresource \"status\": .spec.ports[name=\"a\",port=80].note");
}

#[test]
fn an_equal_value_is_shared_not_a_conflict() {
    let o = obj(json!({"replicas": 1}));
    let entries = create("edit", T0, &o);
    let (_, e) = applied(Some(&o), &obj(json!({"replicas": 1})), entries, "a", T1);
    assert_eq!(fields_of(&e, "edit"), json!({"f:spec": {".": {}, "f:replicas": {}}}));
    assert_eq!(fields_of(&e, "a"), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn force_moves_ownership() {
    let (o, e) = applied(None, &obj(json!({"replicas": 1})), vec![], "a", T0);
    let (o2, e2) = apply(&ty(), Some(&o), &obj(json!({"replicas": 2})), e, &mgr("b", T1), true, RESET).unwrap();
    assert_eq!(o2["spec"]["replicas"], json!(2));
    assert!(e2.iter().all(|x| x.manager != "a"));
    assert_eq!(fields_of(&e2, "b"), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(entry(&e2, "b").time.as_deref(), Some(T1));
    // An Update owner keeps the nodes it added.
    let o = obj(json!({"replicas": 1}));
    let e = create("edit", T0, &o);
    let (_, e2) = apply(&ty(), Some(&o), &obj(json!({"replicas": 2})), e, &mgr("b", T1), true, RESET).unwrap();
    assert_eq!(fields_of(&e2, "edit"), json!({"f:spec": {}}));
}

#[test]
fn an_update_after_an_apply_takes_the_field() {
    let (o, e) = applied(None, &obj(json!({"replicas": 1, "name": "n"})), vec![], "a", T0);
    let mut new = o.clone();
    new["spec"]["replicas"] = json!(5);
    let e = update(&ty(), Some(&o), &new, e, &mgr("kubectl-edit", T1), RESET).unwrap();
    assert_eq!(fields_of(&e, "a"), json!({"f:spec": {"f:name": {}}}));
    assert_eq!(fields_of(&e, "kubectl-edit"), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn a_dropped_field_owned_alone_is_removed() {
    let (o, e) = applied(None, &obj(json!({"replicas": 1, "name": "n", "nested": {"a": "x"}})), vec![], "a", T0);
    let (o2, e2) = applied(Some(&o), &obj(json!({"replicas": 1})), e, "a", T1);
    assert_eq!(spec_of(&o2), &json!({"replicas": 1}));
    assert_eq!(fields_of(&e2, "a"), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(entry(&e2, "a").time.as_deref(), Some(T1));
}

#[test]
fn a_dropped_field_co_owned_by_an_applier_or_updater_stays() {
    let cfg = obj(json!({"replicas": 1, "name": "n"}));
    let (o, e) = applied(None, &cfg, vec![], "a", T0);
    let (o, e) = applied(Some(&o), &cfg, e, "b", T1);
    let (o2, e2) = applied(Some(&o), &obj(json!({"replicas": 1})), e, "a", T2);
    assert_eq!(spec_of(&o2), &json!({"replicas": 1, "name": "n"}));
    assert_eq!(fields_of(&e2, "a"), json!({"f:spec": {"f:replicas": {}}}));
    assert_eq!(fields_of(&e2, "b"), json!({"f:spec": {"f:name": {}, "f:replicas": {}}}));
    // Co-owned by an Update manager.
    let o = obj(json!({"replicas": 1, "name": "n"}));
    let e = create("c", T0, &o);
    let (o, e) = applied(Some(&o), &o.clone(), e, "a", T1);
    let (o2, _) = applied(Some(&o), &obj(json!({"replicas": 1})), e, "a", T2);
    assert_eq!(spec_of(&o2)["name"], json!("n"));
}

#[test]
fn dropped_list_map_items_and_set_elements_owned_alone_are_removed() {
    let cfg = obj(json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}], "tags": ["x", "y"]}));
    let (o, e) = applied(None, &cfg, vec![], "a", T0);
    let (o2, e2) = applied(Some(&o), &obj(json!({"ports": [{"name": "a", "port": 1}], "tags": ["x"]})), e, "a", T1);
    assert_eq!(spec_of(&o2), &json!({"ports": [{"name": "a", "port": 1}], "tags": ["x"]}));
    assert_eq!(
        fields_of(&e2, "a"),
        json!({"f:spec": {"f:ports": {"k:{\"name\":\"a\",\"port\":1}": {".": {}, "f:name": {}, "f:port": {}}}, "f:tags": {"v:\"x\"": {}}}})
    );
}

#[test]
fn dropped_list_map_items_co_owned_stay() {
    let cfg = obj(json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}], "tags": ["x", "y"]}));
    let (o, e) = applied(None, &cfg, vec![], "a", T0);
    let (o, e) = applied(Some(&o), &obj(json!({"ports": [{"name": "b", "port": 2}], "tags": ["y"]})), e, "b", T1);
    let (o2, _) = applied(Some(&o), &obj(json!({"ports": [{"name": "a", "port": 1}], "tags": ["x"]})), e, "a", T2);
    assert_eq!(spec_of(&o2), &json!({"ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}], "tags": ["x", "y"]}));
}

#[test]
fn a_dropped_list_goes_whole_and_an_emptied_shared_map_becomes_null() {
    let (o, e) = applied(None, &obj(json!({"replicas": 1, "tags": ["x"]})), vec![], "a", T0);
    let (o2, _) = applied(Some(&o), &obj(json!({"replicas": 1})), e, "a", T1);
    assert_eq!(spec_of(&o2), &json!({"replicas": 1}));
    // b owns the map node itself; a's only entry goes and leaves null for defaulting to drop.
    let (o, e) = applied(None, &obj(json!({"values": {}})), vec![], "b", T0);
    let (o, e) = applied(Some(&o), &obj(json!({"values": {"x": 1}})), e, "a", T1);
    assert_eq!(spec_of(&o), &json!({"values": {"x": 1}}));
    let (o2, _) = applied(Some(&o), &obj(json!({"replicas": 1})), e, "a", T2);
    assert_eq!(spec_of(&o2), &json!({"replicas": 1, "values": null}));
}

#[test]
fn fields_never_applied_are_kept() {
    let o = obj(json!({"replicas": 1, "name": "n"}));
    let e = create("c", T0, &o);
    let (o2, e2) = applied(Some(&o), &obj(json!({"nested": {"a": "x"}})), e, "a", T1);
    assert_eq!(spec_of(&o2), &json!({"replicas": 1, "name": "n", "nested": {"a": "x"}}));
    assert_eq!(fields_of(&e2, "a"), json!({"f:spec": {"f:nested": {"f:a": {}}}}));
    assert_eq!(fields_of(&e2, "c"), json!({"f:spec": {".": {}, "f:name": {}, "f:replicas": {}}}));
}

#[test]
fn apply_ignores_reset_fields_in_the_set() {
    let mut cfg = obj(json!({"replicas": 1}));
    cfg["status"] = json!({"phase": "x"});
    let (_, e) = applied(None, &cfg, vec![], "a", T0);
    assert_eq!(fields_of(&e, "a"), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn untypable_and_invalid_configs() {
    let r = apply(&ty(), None, &obj(json!({"foo": 1})), vec![], &mgr("a", T0), false, RESET);
    assert_eq!(r.unwrap_err(), ApplyError::Untypable(".spec.foo: field not declared in schema".into()));
    let mut cfg = obj(json!({}));
    cfg["metadata"]["managedFields"] = json!([]);
    let r = apply(&ty(), None, &cfg, vec![], &mgr("a", T0), false, RESET);
    assert_eq!(r.unwrap_err(), ApplyError::Invalid("metadata.managedFields must be nil".into()));
}

#[test]
fn atomic_nodes_are_replaced_whole_and_owned_as_one() {
    let (o, e) = applied(None, &obj(json!({"atomicMap": {"a": "1", "b": "2"}, "atomicList": ["x", "y"]})), vec![], "a", T0);
    let (o2, e2) = applied(Some(&o), &obj(json!({"atomicMap": {"a": "3"}, "atomicList": ["z"]})), e, "a", T1);
    assert_eq!(spec_of(&o2), &json!({"atomicMap": {"a": "3"}, "atomicList": ["z"]}));
    assert_eq!(fields_of(&e2, "a"), json!({"f:spec": {"f:atomicList": {}, "f:atomicMap": {}}}));
    let c = conflicts_of(apply(&ty(), Some(&o2), &obj(json!({"atomicMap": {"a": "3", "b": "4"}})), e2, &mgr("b", T2), false, RESET));
    assert_eq!(crate::apply::path_string(&c[0].path), ".spec.atomicMap");
}

#[test]
fn preserve_unknown_fields_merge_granularly() {
    let (o, e) = applied(None, &obj(json!({"values": {"x": {"y": 1}}})), vec![], "a", T0);
    let (o2, e2) = applied(Some(&o), &obj(json!({"values": {"x": {"z": 2}}})), e, "b", T1);
    assert_eq!(spec_of(&o2), &json!({"values": {"x": {"y": 1, "z": 2}}}));
    assert_eq!(fields_of(&e2, "b"), json!({"f:spec": {"f:values": {"f:x": {".": {}, "f:z": {}}}}}));
}

#[test]
fn kubectl_rewrites_an_existing_last_applied_annotation() {
    let mut cfg = obj(json!({"replicas": 1}));
    cfg["metadata"]["annotations"] = json!({"keep": "<&>"});
    let mut live = obj(json!({"replicas": 1}));
    live["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "<&>"});
    let e = create("kubectl-client-side-apply", T0, &live);
    let (o, _) = applied(Some(&live), &cfg, e.clone(), "kubectl", T1);
    assert_eq!(
        o["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
        json!(
            "{\"apiVersion\":\"example.io/v1\",\"kind\":\"Thing\",\"metadata\":{\"annotations\":{\"keep\":\"\\u003c\\u0026\\u003e\"},\"name\":\"x\",\"namespace\":\"ns\"},\"spec\":{\"replicas\":1}}\n"
        )
    );
    // Other managers leave it alone, and kubectl never creates it.
    let (o, _) = applied(Some(&live), &cfg, e, "other", T1);
    assert_eq!(o["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"], json!("{}"));
    let (o, _) = applied(None, &cfg, vec![], "kubectl", T1);
    assert!(o["metadata"]["annotations"].get("kubectl.kubernetes.io/last-applied-configuration").is_none());
}

#[test]
fn kubectl_may_take_fields_still_holding_their_last_applied_values() {
    let last = obj(json!({"replicas": 1, "name": "n"}));
    let mut live = obj(json!({"replicas": 1, "name": "changed"}));
    live["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": serde_json::to_string(&last).unwrap()});
    let e = create("kubectl-client-side-apply", T0, &live);
    // replicas still equals its last-applied value: forced silently.
    let (o, e2) = applied(Some(&live), &obj(json!({"replicas": 2})), e.clone(), "kubectl", T1);
    assert_eq!(o["spec"]["replicas"], json!(2));
    assert_eq!(fields_of(&e2, "kubectl"), json!({"f:spec": {"f:replicas": {}}}));
    // name was changed since: that conflict is reported, the allowed one is not.
    let c = conflicts_of(apply(&ty(), Some(&live), &obj(json!({"replicas": 2, "name": "m"})), e.clone(), &mgr("kubectl", T1), false, RESET));
    assert_eq!(c.iter().map(|c| crate::apply::path_string(&c.path)).collect::<Vec<_>>(), vec![".spec.name"]);
    // Another manager gets every conflict.
    let c = conflicts_of(apply(&ty(), Some(&live), &obj(json!({"replicas": 2})), e, &mgr("other", T1), false, RESET));
    assert_eq!(c.len(), 1);
}

#[test]
fn user_agents_give_manager_names() {
    assert_eq!(manager_from_user_agent("kubectl/v1.31.0 (linux/amd64) kubernetes/abc"), "kubectl");
    assert_eq!(manager_from_user_agent("Go-http-client/1.1"), "Go-http-client");
    assert_eq!(manager_from_user_agent(""), "");
    assert_eq!(manager_from_user_agent("a\u{1}b\tc/x"), "abc");
    assert_eq!(manager_from_user_agent(&"é".repeat(100)).len(), 128);
    assert_eq!(manager_from_user_agent(&"x".repeat(300)), "x".repeat(128));
}

#[test]
fn field_manager_validation_matches_meta_v1() {
    let msgs = |errs: Vec<crate::status::FieldError>| errs.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(msgs(validate_field_manager(None, true, None)), vec!["fieldManager: Required value: is required for apply patch"]);
    assert_eq!(msgs(validate_field_manager(Some("m"), true, Some(true))), Vec::<String>::new());
    assert_eq!(msgs(validate_field_manager(Some("m"), false, Some(false))), vec!["force: Forbidden: may not be specified for non-apply patch"]);
    assert_eq!(msgs(validate_field_manager(None, false, None)), Vec::<String>::new());
    assert_eq!(msgs(validate_field_manager(Some(&"x".repeat(129)), false, None)), vec!["fieldManager: Too long: may not be more than 128 bytes"]);
    assert_eq!(
        msgs(validate_field_manager(Some("a\u{1}"), true, None)),
        vec!["fieldManager: Invalid value: \"a\\x01\": invalid character U+0001 (at position 1)"]
    );
}

#[test]
fn list_map_items_added_by_updates_have_dots() {
    let o = obj(json!({"ports": [{"name": "a", "port": 1}]}));
    let e = create("c", T0, &o);
    assert_eq!(fields_of(&e, "c"), json!({"f:spec": {".": {}, "f:ports": {".": {}, "k:{\"name\":\"a\",\"port\":1}": {".": {}, "f:name": {}, "f:port": {}}}}}));
    let _ = (T3, FieldSet::new());
}

#[test]
fn an_empty_associative_list_owns_nothing() {
    let (o, e) = applied(None, &obj(json!({"tags": ["a"]})), vec![], "a", T0);
    let (o, e) = applied(Some(&o), &obj(json!({})), e, "b", T1);
    let (o2, e2) = applied(Some(&o), &obj(json!({"tags": []})), e, "a", T2);
    assert_eq!(o2["spec"], json!(null));
    assert!(e2.iter().all(|x| x.manager != "a"));
}

#[test]
fn times_alone_never_make_a_change() {
    let o = obj(json!({"replicas": 1}));
    let e = create("c", T0, &o);
    let mut old = o.clone();
    old["metadata"]["managedFields"] = encode_managed_fields(&e).unwrap();
    let mut newer = old.clone();
    newer["metadata"]["managedFields"][0]["time"] = json!(T2);
    assert_eq!(ignore_managed_fields_timestamps(&old, &newer), old);
    let mut changed = newer.clone();
    changed["spec"]["replicas"] = json!(2);
    assert_eq!(ignore_managed_fields_timestamps(&old, &changed), changed);
    let mut renamed = newer.clone();
    renamed["metadata"]["managedFields"][0]["manager"] = json!("d");
    assert_eq!(ignore_managed_fields_timestamps(&old, &renamed), renamed);
}

#[test]
fn an_apply_through_status_is_marked_and_keyed_by_subresource() {
    let (o, e) = applied(None, &obj(json!({"replicas": 1})), vec![], "a", T0);
    let mut cfg = obj(json!({"replicas": 9}));
    cfg["status"] = json!({"phase": "Ready"});
    let m = Manager { name: "a", api_version: V, subresource: Some("status"), now: T1 };
    let (o2, e2) = apply(&ty(), Some(&o), &cfg, e, &m, false, &["spec"]).unwrap();
    assert_eq!(o2["status"], json!({"phase": "Ready"}));
    let status_entry = e2.iter().find(|x| x.subresource.as_deref() == Some("status")).unwrap();
    assert_eq!(status_entry.identifier(), r#"{"manager":"a","operation":"Apply","subresource":"status"}"#);
    assert_eq!(status_entry.fields.to_fields_v1(), json!({"f:status": {"f:phase": {}}}));
    assert_eq!(status_entry.time.as_deref(), Some(T1));
    // The main-resource entry of the same manager is another entry and keeps spec.replicas.
    let main = e2.iter().find(|x| x.subresource.is_none()).unwrap();
    assert_eq!(main.fields.to_fields_v1(), json!({"f:spec": {"f:replicas": {}}}));
}

#[test]
fn objects_are_named_as_in_kube_apiserver_errors() {
    assert_eq!(crate::apply::object_gvknn(&obj(json!({}))), "ns/x; example.io/v1, Kind=Thing");
    assert_eq!(crate::apply::object_gvknn(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})), "/p; /v1, Kind=Pod");
    let bad = update(&ty(), None, &obj(json!({"foo": 1})), vec![], &mgr("c", T0), RESET).unwrap_err();
    assert_eq!(
        bad,
        ApplyError::Invalid("failed to convert new object (ns/x; example.io/v1, Kind=Thing) to smd typed: .spec.foo: field not declared in schema".into())
    );
}

#[test]
fn a_last_applied_annotation_too_large_to_keep_is_dropped() {
    let big = "x".repeat(200 * 1024);
    let mut cfg = obj(json!({"name": big}));
    cfg["metadata"]["annotations"] = json!({"other": "y".repeat(100 * 1024)});
    let mut live = obj(json!({}));
    live["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration": "{}", "other": "y".repeat(100 * 1024)});
    let e = create("kubectl-client-side-apply", T0, &live);
    let (o, _) = applied(Some(&live), &cfg, e, "kubectl", T1);
    assert!(o["metadata"]["annotations"].get("kubectl.kubernetes.io/last-applied-configuration").is_none());
    assert!(o["metadata"]["annotations"].get("other").is_some());
}

#[test]
fn stored_sets_below_nodes_now_atomic_are_reconciled_before_applying() {
    let o = obj(json!({"atomicMap": {"a": "1"}}));
    let stale = ManagedFieldsEntry {
        manager: "old".into(),
        operation: Operation::Update,
        api_version: V.into(),
        time: Some(T0.into()),
        fields: FieldSet::from_fields_v1(&json!({"f:spec": {"f:atomicMap": {"f:a": {}}}})).unwrap(),
        subresource: None,
    };
    let c = conflicts_of(apply(&ty(), Some(&o), &obj(json!({"atomicMap": {"a": "2"}})), vec![stale.clone()], &mgr("a", T1), false, RESET));
    assert_eq!(crate::apply::path_string(&c[0].path), ".spec.atomicMap");
    let (_, e) = apply(&ty(), Some(&o), &obj(json!({"atomicMap": {"a": "1"}})), vec![stale], &mgr("a", T1), false, RESET).unwrap();
    assert_eq!(fields_of(&e, "old"), json!({"f:spec": {"f:atomicMap": {}}}));
}

#[test]
fn defaulted_keys_identify_items_across_applies() {
    let (o, e) = applied(None, &obj(json!({"rules": [{"port": 53, "note": "a"}]})), vec![], "a", T0);
    // The same item, now with its defaulted key spelled out, is shared, not a second item.
    let (o2, e2) = applied(Some(&o), &obj(json!({"rules": [{"port": 53, "protocol": "TCP", "note": "a"}]})), e, "b", T1);
    assert_eq!(o2["spec"]["rules"], json!([{"port": 53, "protocol": "TCP", "note": "a"}]));
    assert_eq!(fields_of(&e2, "a"), json!({"f:spec": {"f:rules": {"k:{\"port\":53,\"protocol\":\"TCP\"}": {".": {}, "f:note": {}, "f:port": {}}}}}));
    assert_eq!(
        fields_of(&e2, "b"),
        json!({"f:spec": {"f:rules": {"k:{\"port\":53,\"protocol\":\"TCP\"}": {".": {}, "f:note": {}, "f:port": {}, "f:protocol": {}}}}})
    );
}
