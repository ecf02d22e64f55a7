//! Server-side apply and managedFields, computed exactly as kube-apiserver computes them for a
//! CustomResourceDefinition with the same schema.
//!
//! - [`fieldpath`]: field paths, owned-field sets and their `FieldsV1` form.
//! - [`managed`]: managedFields entries and their wire form.
//! - [`schema`]: the structure type of an object, from its OpenAPI schema.
//! - [`update`] and [`apply`]: the ownership bookkeeping of a write and the merge of an apply.

pub mod fieldpath;
pub mod managed;
pub mod schema;
mod typed;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::status::{FieldError, FieldErrorKind, Status, StatusCause, StatusDetails};

pub use fieldpath::{FieldSet, Path, PathElement, path_string};
pub use managed::{ManagedFieldsEntry, Operation, decode_managed_fields, encode_managed_fields, requested_managed_fields};
pub use schema::ObjectType;

use fieldpath::{go_json, go_quote, values_equal};
use typed::Comparison;

const CURRENT_OPERATION: &str = "current-operation";
const BEFORE_FIRST_APPLY: &str = "before-first-apply";
const ANCIENT_CHANGES: &str = "ancient-changes";
const MAX_UPDATE_MANAGERS: usize = 10;
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const KUBECTL: &str = "kubectl";
const FIELD_MANAGER_MAX_LENGTH: usize = 128;
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Who acts, and when.
#[derive(Debug, Clone, Copy)]
pub struct Manager<'a> {
    /// The field manager's name (empty becomes `unknown`).
    pub name: &'a str,
    /// The API version of the request (`group/version`).
    pub api_version: &'a str,
    /// The subresource written through (`status`), if any.
    pub subresource: Option<&'a str>,
    /// The current time, RFC 3339, whole seconds.
    pub now: &'a str,
}

/// Why an apply (or the bookkeeping of an update) failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    /// 409: the conflicts (one per path, with the owner's identity), see [`conflict_status`].
    Conflicts(Vec<Conflict>),
    /// The config cannot be typed: the message after "failed to create typed patch object (ns/name; gvk): ".
    /// Undeclared fields, wrong types, duplicate list-map keys and items without key fields are all this.
    Untypable(String),
    /// Other bad input: a config carrying `metadata.managedFields`, or objects that cannot be typed
    /// on an update (with kube-apiserver's whole message).
    Invalid(String),
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Conflicts(c) => write!(f, "{}", conflict_message(c)),
            ApplyError::Untypable(s) | ApplyError::Invalid(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for ApplyError {}

/// One field an applier would take from another manager without `force`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The contested field.
    pub path: Vec<PathElement>,
    /// Its current owner.
    pub manager: String,
    /// How the owner wrote it.
    pub operation: Operation,
    /// The owner's API version.
    pub api_version: String,
    /// The owner's subresource, if any.
    pub subresource: Option<String>,
}

impl Conflict {
    fn identifier(&self) -> String {
        ManagedFieldsEntry {
            manager: self.manager.clone(),
            operation: self.operation,
            api_version: self.api_version.clone(),
            time: None,
            fields: FieldSet::new(),
            subresource: self.subresource.clone(),
        }
        .identifier()
    }

    fn owner(&self) -> String {
        let mut s = go_quote(&self.manager);
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            s.push_str(&format!(" with subresource {}", go_quote(sub)));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

fn conflict_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.owner(), path_string(&c.path));
    }
    let mut by_owner: BTreeMap<String, Vec<&Conflict>> = BTreeMap::new();
    for c in conflicts {
        by_owner.entry(c.identifier()).or_default().push(c);
    }
    let mut lines = Vec::new();
    for cs in by_owner.values() {
        lines.push(format!("conflicts with {}:", cs[0].owner()));
        lines.extend(cs.iter().map(|c| format!("- {}", path_string(&c.path))));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// The 409 Status kube-apiserver answers for apply conflicts: the message and one
/// `FieldManagerConflict` cause per path. kube-apiserver leaves `details` without name, group and
/// kind for these, so the object's identity is accepted but not written.
pub fn conflict_status(conflicts: &[Conflict], group: &str, kind: &str, name: &str) -> Status {
    let _ = (group, kind, name);
    let mut sorted: Vec<&Conflict> = conflicts.iter().collect();
    sorted.sort_by_key(|c| c.identifier());
    let causes = sorted
        .iter()
        .map(|c| StatusCause { reason: "FieldManagerConflict".into(), message: format!("conflict with {}", c.owner()), field: path_string(&c.path) })
        .collect();
    Status {
        kind: "Status".into(),
        api_version: "v1".into(),
        metadata: Map::new(),
        status: "Failure".into(),
        message: conflict_message(conflicts),
        reason: "Conflict".into(),
        details: Some(StatusDetails { causes, ..StatusDetails::default() }),
        code: 409,
    }
}

/// Whether Go's `unicode.IsPrint` holds for the character.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    let u = c as u32;
    !(c.is_control()
        || c.is_whitespace()
        || matches!(u, 0x00ad | 0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x180e | 0x200b..=0x200f)
        || matches!(u, 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff)
        || matches!(u, 0xd800..=0xdfff | 0xf0000..=0x10ffff))
}

/// The manager name of a request without fieldManager: its User-Agent up to the first `/`, without
/// non-printable characters, cut to 128 bytes (empty stays empty and is recorded as `unknown`).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars().filter(|c| is_go_printable(*c)) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// The PatchOptions/UpdateOptions checks on fieldManager and force, as field errors under
/// `PatchOptions.meta.k8s.io "" is invalid`.
pub fn validate_field_manager(field_manager: Option<&str>, is_apply: bool, force: Option<bool>) -> Vec<FieldError> {
    let fm = field_manager.unwrap_or("");
    let mut errs = Vec::new();
    if is_apply {
        if fm.is_empty() {
            errs.push(FieldError::required("fieldManager", "is required for apply patch"));
        }
    } else if force.is_some() {
        errs.push(FieldError::forbidden("force", "may not be specified for non-apply patch"));
    }
    if fm.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(FieldError::new(FieldErrorKind::TooLong, "fieldManager", format!("may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes")));
    }
    for (i, c) in fm.char_indices() {
        if !is_go_printable(c) {
            errs.push(FieldError::invalid("fieldManager", Value::String(fm.to_string()), format!("invalid character U+{:04X} (at position {i})", c as u32)));
        }
    }
    errs
}

type Managers = BTreeMap<String, ManagedFieldsEntry>;

fn to_managers(entries: Vec<ManagedFieldsEntry>) -> Managers {
    entries.into_iter().map(|e| (e.identifier(), e)).collect()
}

fn from_managers(m: Managers) -> Vec<ManagedFieldsEntry> {
    let mut v: Vec<ManagedFieldsEntry> = m.into_values().filter(|e| !e.fields.is_empty()).collect();
    v.sort_by(managed::entry_order);
    v
}

fn field(name: &str) -> PathElement {
    PathElement::Field(name.to_string())
}

/// The paths no manager ever keeps for itself.
fn strip_set() -> FieldSet {
    let mut s = FieldSet::from_paths([vec![field("apiVersion")], vec![field("kind")], vec![field("metadata")]]);
    for f in ["name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation", "managedFields", "resourceVersion"] {
        s.insert(&[field("metadata"), field(f)]);
    }
    s
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::Object(meta)) = v.get_mut("metadata") {
        meta.remove("managedFields");
    }
    v
}

fn with_managed_fields(mut v: Value, entries: &[ManagedFieldsEntry]) -> Value {
    let encoded = encode_managed_fields(entries);
    if let Value::Object(obj) = &mut v {
        match encoded {
            Some(mf) => {
                let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(meta) = meta {
                    meta.insert("managedFields".into(), mf);
                }
            }
            None => {
                if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                    meta.remove("managedFields");
                }
            }
        }
    }
    v
}

/// An object of the same kind with nothing set, as a fresh object before a create.
fn empty_like(v: &Value) -> Value {
    let mut m = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(x) = v.get(k) {
            m.insert(k.into(), x.clone());
        }
    }
    Value::Object(m)
}

struct Ctx<'a> {
    ty: &'a ObjectType,
    ignored: FieldSet,
    m: &'a Manager<'a>,
    now: String,
}

impl Ctx<'_> {
    fn entry(&self, name: &str, operation: Operation) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: if name.is_empty() { "unknown".into() } else { name.to_string() },
            operation,
            api_version: self.m.api_version.to_string(),
            time: None,
            fields: FieldSet::new(),
            subresource: self.m.subresource.filter(|s| !s.is_empty()).map(str::to_string),
        }
    }

    fn reconcile(&self, managers: &mut Managers) {
        for e in managers.values_mut() {
            e.fields = typed::reconcile(&self.ty.root, &e.fields);
        }
    }

    /// Takes what changed from every manager but `workflow`: conflicts (Modified ∪ Added) unless
    /// forced, and ownership of removed paths.
    fn settle(&self, live: &Value, new: &Value, managers: &mut Managers, workflow: &str, force: bool) -> Result<Comparison, Vec<(String, FieldSet)>> {
        let mut cmp = typed::compare(&self.ty.root, live, new);
        cmp.exclude(&self.ignored);
        let changed = cmp.modified.union(&cmp.added);
        let mut conflicts = Vec::new();
        for (id, e) in managers.iter() {
            if id == workflow {
                continue;
            }
            let c = e.fields.intersection(&changed);
            if !c.is_empty() {
                conflicts.push((id.clone(), c));
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(conflicts);
        }
        for (id, c) in &conflicts {
            if let Some(e) = managers.get_mut(id) {
                e.fields = e.fields.difference(c);
            }
        }
        if !cmp.removed.is_empty() {
            for (id, e) in managers.iter_mut() {
                if id != workflow {
                    e.fields = e.fields.difference(&cmp.removed);
                }
            }
        }
        managers.retain(|_, e| !e.fields.is_empty());
        Ok(cmp)
    }

    fn strip(&self, managers: &mut Managers, id: &str) {
        if let Some(e) = managers.get_mut(id) {
            e.fields = e.fields.difference(&strip_set());
            if e.fields.is_empty() {
                managers.remove(id);
            }
        }
    }

    /// The ownership bookkeeping of a non-apply write by `name`, with the time rule and the cap.
    fn update_chain(&self, live: &Value, new: &Value, mut managers: Managers, name: &str) -> Managers {
        let real = self.entry(name, Operation::Update);
        let real_id = real.identifier();
        self.reconcile(&mut managers);
        let cmp = match self.settle(live, new, &mut managers, CURRENT_OPERATION, true) {
            Ok(c) => c,
            Err(_) => unreachable!("forced updates never conflict"),
        };
        let set = cmp.modified.union(&cmp.added).difference(&cmp.removed).recursive_difference(&self.ignored).difference(&strip_set());
        if !set.is_empty() {
            let fields = match managers.get(&real_id) {
                Some(prev) => set.union(&prev.fields),
                None => set,
            };
            managers.insert(real_id, ManagedFieldsEntry { fields, time: Some(self.now.clone()), ..real });
        }
        cap_update_managers(&mut managers);
        managers
    }

    /// Removes what the applier owned last time and has now dropped, unless someone still owns it.
    fn prune(&self, merged: Value, managers: &Managers, last: Option<&FieldSet>) -> Value {
        let Some(last) = last.filter(|l| !l.is_empty()) else {
            return merged;
        };
        let root = &self.ty.root;
        let named = |s: &FieldSet| typed::ensure_named_fields_are_members(Some(root), s);
        let pruned = typed::remove_items(root, &merged, &named(last));
        let mut owned = FieldSet::new();
        for e in managers.values() {
            owned.union_in(&e.fields);
        }
        let merged_set = named(&typed::to_field_set(root, &merged));
        let pruned_set = named(&typed::to_field_set(root, &pruned));
        let pruned = typed::remove_items(root, &merged, &merged_set.difference(&pruned_set.union(&named(&owned))));
        let pruned_set = named(&typed::to_field_set(root, &pruned));
        typed::remove_items(root, &merged, &merged_set.difference(&pruned_set).intersection(&named(last)))
    }

    fn conflicts(&self, managers: &Managers, sets: Vec<(String, FieldSet)>) -> Vec<Conflict> {
        let mut out = Vec::new();
        for (id, set) in sets {
            let Some(e) = managers.get(&id) else { continue };
            for path in set.paths() {
                out.push(Conflict {
                    path,
                    manager: e.manager.clone(),
                    operation: e.operation,
                    api_version: e.api_version.clone(),
                    subresource: e.subresource.clone(),
                });
            }
        }
        out
    }

    /// One apply attempt: before-first-apply, merge, prune, conflicts. `None` object: nothing changed.
    fn apply_once(&self, live: &Value, config: &Value, mut managers: Managers, force: bool) -> Result<(Option<Value>, Managers), ApplyError> {
        if managers.is_empty() {
            managers = self.update_chain(&empty_like(config), live, managers, BEFORE_FIRST_APPLY);
        }
        let applier = self.entry(self.m.name, Operation::Apply);
        let id = applier.identifier();
        let root = &self.ty.root;
        self.reconcile(&mut managers);
        let merged = typed::merge(root, live, config).map_err(|e| ApplyError::Invalid(format!("failed to merge config: {e}")))?;
        let last = managers.get(&id).map(|e| e.fields.clone());
        let old_time = managers.get(&id).and_then(|e| e.time.clone());
        let set = typed::to_field_set(root, config).recursive_difference(&self.ignored);
        managers.insert(id.clone(), ManagedFieldsEntry { fields: set, time: old_time, ..applier });
        let merged = self.prune(merged, &managers, last.as_ref());
        let before = managers.clone();
        if let Err(sets) = self.settle(live, &merged, &mut managers, &id, force) {
            return Err(ApplyError::Conflicts(self.conflicts(&before, sets)));
        }
        self.strip(&mut managers, &id);
        let changed = !values_equal(live, &merged);
        if changed && let Some(e) = managers.get_mut(&id) {
            e.time = Some(self.now.clone());
        }
        Ok((changed.then_some(merged), managers))
    }

    /// The paths kubectl may take over because they still hold the client-side applied values.
    fn allowed_from_last_applied(&self, live: &Value) -> Option<FieldSet> {
        let text = live.get("metadata")?.get("annotations")?.get(LAST_APPLIED)?.as_str()?;
        if text.is_empty() {
            return None;
        }
        let last: Value = serde_json::from_str(text).ok()?;
        if !last.is_object() || last.get("apiVersion").and_then(Value::as_str) != Some(self.m.api_version) {
            return None;
        }
        let root = &self.ty.root;
        typed::validate(root, live, false).ok()?;
        typed::validate(root, &last, false).ok()?;
        let set = typed::to_field_set(root, &last);
        let cmp = typed::compare(root, &last, live);
        Some(set.difference(&cmp.modified).difference(&cmp.added).difference(&cmp.removed))
    }
}

/// Merges the oldest Update entries into `ancient-changes` entries, one per apiVersion, until at
/// most ten Update entries remain.
fn cap_update_managers(managers: &mut Managers) {
    let mut updaters: Vec<(i64, String)> = managers.iter().filter(|(_, e)| e.operation == Operation::Update).map(|(id, e)| (e.seconds(), id.clone())).collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    updaters.sort();
    let mut first_of_version: BTreeMap<String, String> = BTreeMap::new();
    let mut length = updaters.len();
    for (_, id) in updaters {
        if length <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(e) = managers.get(&id).cloned() else { continue };
        let bucket = ManagedFieldsEntry {
            manager: ANCIENT_CHANGES.into(),
            operation: Operation::Update,
            api_version: e.api_version.clone(),
            time: None,
            fields: FieldSet::new(),
            subresource: None,
        };
        let bucket_id = bucket.identifier();
        match first_of_version.get(&e.api_version) {
            Some(first) => {
                if !managers.contains_key(&bucket_id)
                    && let Some(f) = managers.remove(first)
                {
                    managers.insert(bucket_id.clone(), ManagedFieldsEntry { fields: f.fields, time: f.time, ..bucket.clone() });
                }
                let b = managers.get_mut(&bucket_id).expect("bucket exists");
                b.fields = e.fields.union(&b.fields);
                b.time = e.time.clone();
                managers.remove(&id);
                length -= 1;
            }
            None => {
                first_of_version.insert(e.api_version.clone(), id.clone());
            }
        }
    }
}

fn reset_set(reset_fields: &[&str]) -> FieldSet {
    FieldSet::from_paths(reset_fields.iter().map(|f| vec![field(f)]))
}

fn ctx<'a>(ty: &'a ObjectType, m: &'a Manager<'a>, reset_fields: &[&str]) -> Ctx<'a> {
    Ctx { ty, ignored: reset_set(reset_fields), m, now: managed::normalize_time(m.now).unwrap_or_else(|| m.now.to_string()) }
}

/// `namespace/name; group/version, Kind=kind`, as kube-apiserver names an object in these errors.
pub fn object_gvknn(obj: &Value) -> String {
    let meta = |k: &str| obj.get("metadata").and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    format!("{}/{}; {group}/{version}, Kind={kind}", meta("namespace"), meta("name"))
}

fn equal_but_times(a: &[ManagedFieldsEntry], b: &[ManagedFieldsEntry]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| ManagedFieldsEntry { time: None, ..x.clone() } == ManagedFieldsEntry { time: None, ..y.clone() })
}

/// managedFields after a create (`live` None) or an update/patch from `live` to `new` by `m`,
/// starting from `managed` (the live entries, or the request's per [`requested_managed_fields`]; on a
/// subresource always the live ones). The changed paths, minus `reset_fields` and the never-tracked
/// metadata, go to `m`'s Update entry and leave every other entry; `m`'s time moves only when it
/// gained something; more than ten Update entries fold into `ancient-changes`. An update of an
/// existing object with no entries tracks nothing; a create always is. On `Err` (the objects do not
/// fit the schema), kube-apiserver stores the object without managedFields.
pub fn update(
    ty: &ObjectType,
    live: Option<&Value>,
    new: &Value,
    managed: Vec<ManagedFieldsEntry>,
    m: &Manager,
    reset_fields: &[&str],
) -> Result<Vec<ManagedFieldsEntry>, ApplyError> {
    if managed.is_empty() && live.is_some() {
        return Ok(vec![]);
    }
    let c = ctx(ty, m, reset_fields);
    let new_v = without_managed_fields(new);
    let live_v = live.map(without_managed_fields).unwrap_or_else(|| empty_like(new));
    typed::validate(&ty.root, &new_v, true)
        .map_err(|e| ApplyError::Invalid(format!("failed to convert new object ({}) to smd typed: {e}", object_gvknn(&new_v))))?;
    typed::validate(&ty.root, &live_v, true)
        .map_err(|e| ApplyError::Invalid(format!("failed to convert live object ({}) to smd typed: {e}", object_gvknn(&live_v))))?;
    let out = from_managers(c.update_chain(&live_v, &new_v, to_managers(managed), m.name));
    if let Some(live) = live
        && values_equal(&live_v, &new_v)
        && let Some(mf) = live.get("metadata").and_then(|x| x.get("managedFields"))
        && let Ok(old) = decode_managed_fields(mf)
    {
        let old = from_managers(to_managers(old));
        if equal_but_times(&old, &out) {
            return Ok(old);
        }
    }
    Ok(out)
}

fn entry_without_time(e: &Value) -> Value {
    let mut e = e.clone();
    if let Value::Object(m) = &mut e {
        m.remove("time");
    }
    e
}

/// The last step of every update and patch (apply included): when the stored object would differ
/// from the old one only in managedFields times (entries compared by position), the old entries
/// are kept, so that no resourceVersion bump happens for nothing. Returns the object to store.
pub fn ignore_managed_fields_timestamps(old: &Value, new: &Value) -> Value {
    let mf = |v: &Value| v.get("metadata").and_then(|m| m.get("managedFields")).cloned();
    let (old_mf, new_mf) = (mf(old), mf(new));
    let (Some(Value::Array(o)), Some(Value::Array(n))) = (&old_mf, &new_mf) else {
        return new.clone();
    };
    if o.len() != n.len() || o.iter().zip(n).any(|(a, b)| entry_without_time(a) != entry_without_time(b)) {
        return new.clone();
    }
    if without_managed_fields(old) != without_managed_fields(new) {
        return new.clone();
    }
    let mut out = new.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.insert("managedFields".into(), Value::Array(o.clone()));
    }
    out
}

fn has_last_applied(obj: &Value) -> bool {
    obj.get("metadata").and_then(|m| m.get("annotations")).and_then(|a| a.get(LAST_APPLIED)).and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

fn build_last_applied(config: &Value) -> String {
    let mut c = config.clone();
    if let Some(Value::Object(ann)) = c.get_mut("metadata").and_then(|m| m.get_mut("annotations")) {
        ann.remove(LAST_APPLIED);
    }
    format!("{}\n", go_json(&c))
}

fn set_annotation(obj: &mut Value, key: &str, value: String) {
    let Value::Object(o) = obj else { return };
    let meta = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else { return };
    let ann = meta.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(ann) = ann {
        ann.insert(key.into(), Value::String(value));
        let size: usize = ann.iter().map(|(k, v)| k.len() + v.as_str().map_or(0, str::len)).sum();
        if size > TOTAL_ANNOTATION_SIZE_LIMIT {
            ann.remove(key);
        }
    }
}

/// An apply of `config` by `m` onto `live` (None: the object is created from the config), starting
/// from the live entries. Returns the merged object with `metadata.managedFields` set to the new
/// entries, and the entries. Conflicts (other owners of fields whose value would change) fail the
/// apply unless `force`; for the manager `kubectl`, fields still holding their
/// last-applied-configuration values are taken without asking, and that annotation is rewritten when
/// present. When nothing changes, the live object comes back and no time moves.
///
/// The caller then does what kube-apiserver's strategy and defaulting do: restores the live values
/// of `reset_fields` (the config may have set them), defaults the object, and drops the nulls of
/// non-nullable fields (a map the prune emptied is left null, as upstream leaves it).
pub fn apply(
    ty: &ObjectType,
    live: Option<&Value>,
    config: &Value,
    managed: Vec<ManagedFieldsEntry>,
    m: &Manager,
    force: bool,
    reset_fields: &[&str],
) -> Result<(Value, Vec<ManagedFieldsEntry>), ApplyError> {
    if config.get("metadata").and_then(|x| x.get("managedFields")).is_some() {
        return Err(ApplyError::Invalid("metadata.managedFields must be nil".into()));
    }
    let c = ctx(ty, m, reset_fields);
    typed::validate(&ty.root, config, false).map_err(ApplyError::Untypable)?;
    let live_v = live.map(without_managed_fields).unwrap_or_else(|| empty_like(config));
    typed::validate(&ty.root, &live_v, true)
        .map_err(|e| ApplyError::Invalid(format!("failed to create typed live object ({}): {e}", object_gvknn(&live_v))))?;
    let managers = to_managers(managed);
    let result = match c.apply_once(&live_v, config, managers.clone(), force) {
        Err(ApplyError::Conflicts(cs)) if m.name == KUBECTL => match c.allowed_from_last_applied(&live_v) {
            None => Err(ApplyError::Conflicts(cs)),
            Some(allowed) => {
                let remaining: Vec<Conflict> = cs.into_iter().filter(|x| !allowed.has(&x.path)).collect();
                if remaining.is_empty() { c.apply_once(&live_v, config, managers, true) } else { Err(ApplyError::Conflicts(remaining)) }
            }
        },
        r => r,
    };
    let (obj, managers) = result?;
    let mut obj = obj.unwrap_or(live_v);
    if m.name == KUBECTL && has_last_applied(&obj) {
        set_annotation(&mut obj, LAST_APPLIED, build_last_applied(config));
    }
    let entries = from_managers(managers);
    Ok((with_managed_fields(obj, &entries), entries))
}

/// Merges a MutatingAdmissionPolicy's apply configuration into `live`, as kube-apiserver does with
/// structured-merge-diff and the kind's schema: the configuration must fit the schema and set no atomic list,
/// map or struct; maps then merge, associative lists merge per key or value, scalars are replaced. The
/// configuration takes `live`'s apiVersion and kind. Errors are worded as kube-apiserver words them, without the
/// `error applying patch: ` its caller adds.
pub fn merge_apply_configuration(ty: &ObjectType, live: &Value, configuration: &Value) -> Result<Value, String> {
    let mut patch = configuration.clone();
    if let Value::Object(m) = &mut patch {
        for k in ["apiVersion", "kind"] {
            if let Some(v) = live.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
    }
    typed::validate(&ty.root, &patch, false).map_err(|e| format!("failed to convert patch object to typed object: {e}"))?;
    let mut atomics = Vec::new();
    typed::find_atomics(&ty.root, &patch, "", &mut atomics);
    if !atomics.is_empty() {
        return Err(format!("invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: {}", atomics.join(", ")));
    }
    typed::merge(&ty.root, live, &patch).map_err(|e| format!("failed to merge patch: {e}"))
}
