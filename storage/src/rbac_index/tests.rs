//! Tests of the authorization index: grants and revocations, role changes, many groups, ServiceAccounts,
//! cluster-wide bindings, relists and the replay history.

use std::sync::Arc;

use apis::user::UserInfo;
use k8s_openapi::api::core::v1::Namespace;
use serde_json::json;

use super::RbacIndex;
use super::rules::{Binding, BindingKey, RoleKey, Scope, Subject, TenantNamespace};
use super::state::{Change, HISTORY_MAX_CHANGES, IndexState, NamespaceEvent};

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() }
}

fn tenant(name: &str, rv: u64) -> TenantNamespace {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": rv.to_string()}})).unwrap();
    TenantNamespace::from_namespace(&ns).unwrap()
}

fn cluster_role(name: &str) -> RoleKey {
    RoleKey::ClusterRole(name.into())
}

fn rb(ns: &str, name: &str, role: RoleKey, subjects: Vec<Subject>) -> (BindingKey, Binding) {
    (BindingKey::RoleBinding { namespace: ns.into(), name: name.into() }, Binding { scope: Scope::Namespace(ns.into()), role, subjects })
}

fn crb(name: &str, role: RoleKey, subjects: Vec<Subject>) -> (BindingKey, Binding) {
    (BindingKey::ClusterRoleBinding(name.into()), Binding { scope: Scope::Cluster, role, subjects })
}

fn u(name: &str) -> Subject {
    Subject::User(name.into())
}

fn g(name: &str) -> Subject {
    Subject::Group(name.into())
}

fn names(s: &IndexState, who: &UserInfo) -> Vec<String> {
    s.visible(who).iter().map(|n| n.name.clone()).collect()
}

/// An index with tenant-a, tenant-b, tenant-c and a ClusterRole `view` that grants visibility.
fn base() -> IndexState {
    let mut s = IndexState::default();
    for (i, n) in ["tenant-a", "tenant-b", "tenant-c"].iter().enumerate() {
        s.upsert_namespace(tenant(n, 10 + i as u64));
    }
    s.upsert_role(cluster_role("view"), true);
    s.upsert_role(cluster_role("configmaps"), false);
    s
}

fn access(subject: Subject, scope: Scope, granted: bool) -> Change {
    Change::Access { subject, scope, granted }
}

fn ns_scope(n: &str) -> Scope {
    Scope::Namespace(n.into())
}

#[test]
fn a_binding_grants_and_its_removal_revokes() {
    let mut s = base();
    let alice = user("alice", &["system:authenticated"]);
    assert!(names(&s, &alice).is_empty());
    let (key, b) = rb("tenant-a", "x", cluster_role("view"), vec![u("alice")]);
    assert_eq!(s.upsert_binding(key.clone(), b.clone()), vec![access(u("alice"), ns_scope("tenant-a"), true)]);
    assert_eq!(names(&s, &alice), ["tenant-a"]);
    assert!(s.visible_namespace(&alice, "tenant-a").is_some());
    assert!(s.visible_namespace(&alice, "tenant-b").is_none());
    // The same binding again changes nothing.
    assert!(s.upsert_binding(key.clone(), b).is_empty());
    assert_eq!(s.remove_binding(&key), vec![access(u("alice"), ns_scope("tenant-a"), false)]);
    assert!(names(&s, &alice).is_empty());
    assert!(s.remove_binding(&key).is_empty(), "removing twice is a no-op");
}

#[test]
fn the_role_must_grant_reading_applications() {
    let mut s = base();
    let alice = user("alice", &[]);
    let (key, b) = rb("tenant-a", "cm", cluster_role("configmaps"), vec![u("alice")]);
    assert!(s.upsert_binding(key, b).is_empty());
    assert!(names(&s, &alice).is_empty(), "a binding of an unrelated role reveals nothing");
    // A binding to a role that does not exist (yet) grants nothing either.
    let (key, b) = rb("tenant-b", "later", RoleKey::Role { namespace: "tenant-b".into(), name: "reader".into() }, vec![u("alice")]);
    assert!(s.upsert_binding(key, b).is_empty());
    assert!(names(&s, &alice).is_empty());
    let reader = RoleKey::Role { namespace: "tenant-b".into(), name: "reader".into() };
    assert_eq!(s.upsert_role(reader.clone(), true), vec![access(u("alice"), ns_scope("tenant-b"), true)]);
    assert_eq!(names(&s, &alice), ["tenant-b"]);
    assert_eq!(s.remove_role(&reader), vec![access(u("alice"), ns_scope("tenant-b"), false)]);
    assert!(names(&s, &alice).is_empty());
}

#[test]
fn a_role_change_flips_every_binding_of_it() {
    let mut s = base();
    for (i, n) in ["tenant-a", "tenant-b"].iter().enumerate() {
        let (key, b) = rb(n, &format!("b{i}"), cluster_role("view"), vec![g("devs")]);
        s.upsert_binding(key, b);
    }
    let dev = user("dev", &["devs"]);
    assert_eq!(names(&s, &dev), ["tenant-a", "tenant-b"]);
    let revoked = s.upsert_role(cluster_role("view"), false);
    assert_eq!(revoked, vec![access(g("devs"), ns_scope("tenant-a"), false), access(g("devs"), ns_scope("tenant-b"), false)]);
    assert!(names(&s, &dev).is_empty());
    assert!(s.upsert_role(cluster_role("view"), false).is_empty(), "no change, no changes");
    assert_eq!(s.upsert_role(cluster_role("view"), true).len(), 2);
    assert_eq!(names(&s, &dev), ["tenant-a", "tenant-b"]);
}

#[test]
fn access_lasts_while_any_binding_grants_it() {
    let mut s = base();
    let alice = user("alice", &["devs"]);
    let (k1, b1) = rb("tenant-a", "one", cluster_role("view"), vec![u("alice")]);
    let (k2, b2) = rb("tenant-a", "two", cluster_role("view"), vec![u("alice"), g("devs")]);
    assert_eq!(s.upsert_binding(k1.clone(), b1).len(), 1);
    assert_eq!(s.upsert_binding(k2.clone(), b2).len(), 1, "only the group is new");
    assert!(s.remove_binding(&k1).is_empty(), "alice keeps tenant-a through the second binding");
    assert_eq!(names(&s, &alice), ["tenant-a"]);
    // Editing a binding's subjects reports only the difference.
    let (_, edited) = rb("tenant-a", "two", cluster_role("view"), vec![u("alice"), u("bob")]);
    assert_eq!(s.upsert_binding(k2.clone(), edited), vec![access(u("bob"), ns_scope("tenant-a"), true), access(g("devs"), ns_scope("tenant-a"), false)]);
    // Pointing it at a role that does not grant revokes everyone it named.
    let (_, moved) = rb("tenant-a", "two", cluster_role("configmaps"), vec![u("alice"), u("bob")]);
    assert_eq!(s.upsert_binding(k2, moved).len(), 2);
    assert!(names(&s, &alice).is_empty());
    assert!(s.upsert_role(cluster_role("view"), false).is_empty(), "the binding no longer refers to view");
}

#[test]
fn a_user_in_300_groups_sees_the_union() {
    let mut s = IndexState::default();
    s.upsert_role(cluster_role("view"), true);
    for i in 0..5000 {
        s.upsert_namespace(tenant(&format!("tenant-n{i:04}"), i + 1));
    }
    // 50 namespaces, each bound to one of the user's groups; others bound to groups it is not in.
    let mut want = Vec::new();
    for i in 0..50u64 {
        let ns = format!("tenant-n{:04}", i * 97);
        let (key, b) = rb(&ns, "view", cluster_role("view"), vec![g(&format!("team-{}", (i * 7) % 300))]);
        s.upsert_binding(key, b);
        want.push(ns);
    }
    for i in 0..2000u64 {
        let ns = format!("tenant-n{:04}", i * 2 + 1);
        let (key, b) = rb(&ns, "other", cluster_role("view"), vec![g(&format!("outsiders-{i}"))]);
        s.upsert_binding(key, b);
    }
    want.sort();
    let groups: Vec<String> = (0..300).map(|i| format!("team-{i}")).collect();
    let member = UserInfo { name: "member".into(), groups, ..Default::default() };
    assert_eq!(names(&s, &member), want);
    assert!(!s.all_access(&member));
}

#[test]
fn service_account_subjects_are_their_user_names() {
    let mut s = base();
    let (key, b) = rb("tenant-a", "sa", cluster_role("view"), vec![u("system:serviceaccount:tenant-a:bot")]);
    s.upsert_binding(key, b);
    let (key, b) = rb("tenant-b", "sas", cluster_role("view"), vec![g("system:serviceaccounts:tenant-b")]);
    s.upsert_binding(key, b);
    let bot = user("system:serviceaccount:tenant-a:bot", &["system:serviceaccounts", "system:serviceaccounts:tenant-a"]);
    assert_eq!(names(&s, &bot), ["tenant-a"]);
    let other = user("system:serviceaccount:tenant-b:x", &["system:serviceaccounts", "system:serviceaccounts:tenant-b"]);
    assert_eq!(names(&s, &other), ["tenant-b"]);
}

#[test]
fn cluster_wide_bindings_and_masters_see_everything() {
    let mut s = base();
    let ops = user("ops", &["operators"]);
    let (key, b) = crb("ops-view", cluster_role("view"), vec![g("operators")]);
    assert_eq!(s.upsert_binding(key.clone(), b), vec![access(g("operators"), Scope::Cluster, true)]);
    assert!(s.all_access(&ops));
    assert_eq!(names(&s, &ops), ["tenant-a", "tenant-b", "tenant-c"]);
    assert!(s.visible_namespace(&ops, "tenant-missing").is_none(), "only existing namespaces");
    // A namespace created later is seen at once.
    s.upsert_namespace(tenant("tenant-d", 30));
    assert_eq!(names(&s, &ops).len(), 4);
    assert_eq!(s.remove_binding(&key), vec![access(g("operators"), Scope::Cluster, false)]);
    assert!(names(&s, &ops).is_empty());
    // A ClusterRoleBinding of a role that does not grant reveals nothing.
    let (key, b) = crb("cm", cluster_role("configmaps"), vec![g("operators")]);
    assert!(s.upsert_binding(key, b).is_empty());
    assert!(!s.all_access(&ops));
    for group in ["system:masters", "cozystack-cluster-admin"] {
        assert_eq!(names(&s, &user("root", &[group])).len(), 4, "{group}");
    }
}

#[test]
fn namespaces_must_exist_and_changes_are_reported() {
    let mut s = IndexState::default();
    s.upsert_role(cluster_role("view"), true);
    let alice = user("alice", &[]);
    let (key, b) = rb("tenant-new", "x", cluster_role("view"), vec![u("alice")]);
    s.upsert_binding(key, b);
    assert!(names(&s, &alice).is_empty(), "bound but not there yet");
    assert!(s.has_access(&alice, "tenant-new"));
    let added = s.upsert_namespace(tenant("tenant-new", 5));
    assert!(matches!(added.as_slice(), [Change::Namespace(NamespaceEvent::Added, n)] if n.name == "tenant-new"));
    assert_eq!(names(&s, &alice), ["tenant-new"]);
    assert!(s.upsert_namespace(tenant("tenant-new", 5)).is_empty(), "an identical object is no change");
    assert!(matches!(s.upsert_namespace(tenant("tenant-new", 6)).as_slice(), [Change::Namespace(NamespaceEvent::Modified, _)]));
    let gone = s.remove_namespace("tenant-new", Some(tenant("tenant-new", 9)));
    assert!(matches!(gone.as_slice(), [Change::Namespace(NamespaceEvent::Deleted, n)] if n.rv == 9));
    assert_eq!(s.latest_rv(), 9);
    assert!(names(&s, &alice).is_empty());
}

#[test]
fn a_relist_replaces_what_vanished() {
    let mut s = base();
    let alice = user("alice", &[]);
    for n in ["tenant-a", "tenant-b"] {
        let (key, b) = rb(n, "x", cluster_role("view"), vec![u("alice")]);
        s.upsert_binding(key, b);
    }
    let (key, b) = crb("everyone", cluster_role("configmaps"), vec![u("alice")]);
    s.upsert_binding(key, b);
    // The RoleBinding in tenant-b disappeared while the watch was down.
    let changes = s.replace_bindings(false, vec![rb("tenant-a", "x", cluster_role("view"), vec![u("alice")])]);
    assert_eq!(changes, vec![access(u("alice"), ns_scope("tenant-b"), false)]);
    assert_eq!(names(&s, &alice), ["tenant-a"]);
    // ClusterRoleBindings are replaced separately from RoleBindings.
    assert!(s.replace_bindings(true, vec![]).is_empty());
    assert_eq!(names(&s, &alice), ["tenant-a"]);
    // So are roles: a relist of ClusterRoles without `view` revokes its bindings, Roles untouched.
    assert_eq!(s.replace_roles(true, vec![(cluster_role("configmaps"), false)]).len(), 1);
    assert!(names(&s, &alice).is_empty());
    let changes = s.replace_namespaces(vec![tenant("tenant-a", 10), tenant("tenant-z", 50)]);
    let kinds: Vec<(NamespaceEvent, String)> = changes
        .iter()
        .map(|c| match c {
            Change::Namespace(e, n) => (*e, n.name.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, [(NamespaceEvent::Deleted, "tenant-b".into()), (NamespaceEvent::Deleted, "tenant-c".into()), (NamespaceEvent::Added, "tenant-z".into())]);
}

#[test]
fn history_replays_what_a_list_may_have_missed() {
    let mut s = base();
    assert!(s.record(5, vec![access(u("x"), ns_scope("tenant-a"), true)]).is_some(), "published, but not kept before the sync");
    s.mark_synced();
    let floor = s.latest_rv();
    assert_eq!(floor, 12);
    assert_eq!(s.replay_since(floor), Some(vec![]));
    assert_eq!(s.replay_since(floor - 1), None, "before the first sync");
    assert!(s.record(20, vec![]).is_none(), "nothing changed, nothing published");
    assert_eq!(s.latest_rv(), 20);
    let b1 = s.record(21, vec![access(u("x"), ns_scope("tenant-a"), false)]).unwrap();
    assert_eq!((b1.tag, b1.source_rv), (21, 21));
    // An event of an older object seen late (another watch) is tagged with the index's position.
    let b2 = s.record(15, vec![access(u("x"), ns_scope("tenant-b"), true)]).unwrap();
    assert_eq!((b2.tag, b2.source_rv), (21, 15));
    let tags = |rv: u64| s.replay_since(rv).unwrap().iter().map(|b| b.source_rv).collect::<Vec<_>>();
    assert_eq!(tags(20), [21, 15]);
    assert_eq!(tags(21), [15], "a list at 21 saw the event at 21, maybe not the late one");
    assert_eq!(tags(22), Vec::<u64>::new());
}

#[test]
fn history_is_bounded() {
    let mut s = base();
    s.mark_synced();
    let many: Vec<Change> = (0..HISTORY_MAX_CHANGES / 2).map(|i| access(u(&format!("u{i}")), ns_scope("tenant-a"), true)).collect();
    s.record(100, many.clone());
    s.record(101, many.clone());
    assert!(s.replay_since(100).is_some());
    s.record(102, vec![access(u("x"), ns_scope("tenant-a"), true)]);
    assert_eq!(s.replay_since(100), None, "the batch at 100 was dropped");
    assert_eq!(s.replay_since(101).map(|b| b.len()), Some(1), "101 itself is not replayed to a list at 101");
}

#[tokio::test]
async fn the_shared_index_publishes_and_syncs() {
    let index = RbacIndex::new();
    assert!(!index.is_synced());
    assert!(!index.wait_synced(std::time::Duration::from_millis(10)).await);
    let mut rx = {
        let state = index.read();
        index.subscribe(&state)
    };
    index.apply(7, |s| s.upsert_namespace(tenant("tenant-a", 7)));
    let batch = rx.recv().await.unwrap();
    assert_eq!(batch.tag, 7);
    assert_eq!(index.latest_rv(), 7);
    index.mark_synced();
    assert!(index.wait_synced(std::time::Duration::from_millis(10)).await);
    assert!(index.wait_for_rv(7, std::time::Duration::from_millis(10)).await);
    assert!(!index.wait_for_rv(8, std::time::Duration::from_millis(10)).await);
    let waiter = {
        let index = index.clone();
        tokio::spawn(async move { index.wait_for_rv(9, std::time::Duration::from_secs(5)).await })
    };
    index.apply(9, |_| vec![]);
    assert!(waiter.await.unwrap());
    assert_eq!(Arc::strong_count(&index), 1);
}
