//! Typed operations on objects: validation, owned field sets, comparison, merge and removal.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, Path, PathElement, go_json, go_quote, values_equal};
use super::schema::{Atom, ListType, MapType, Scalar, TypeRef};

#[derive(Clone, Copy, PartialEq, Eq)]
struct Flags {
    scalar: bool,
    list: bool,
    map: bool,
}

fn deduce(a: &Atom, v: Option<&Value>) -> Flags {
    let full = Flags { scalar: a.scalar.is_some(), list: a.list.is_some(), map: a.map.is_some() };
    let none = Flags { scalar: false, list: false, map: false };
    match v {
        Some(Value::Number(_) | Value::String(_) | Value::Bool(_)) if full.scalar => Flags { scalar: true, ..none },
        Some(Value::Array(_)) if full.list => Flags { list: true, ..none },
        Some(Value::Object(_)) if full.map => Flags { map: true, ..none },
        _ => full,
    }
}

enum Kind<'a> {
    Map(&'a MapType),
    Scalar(Scalar),
    List(&'a ListType),
    Invalid,
}

fn pick(a: &Atom, f: Flags) -> Kind<'_> {
    if f.map {
        Kind::Map(a.map.as_ref().expect("map flag"))
    } else if f.scalar {
        Kind::Scalar(a.scalar.expect("scalar flag"))
    } else if f.list {
        Kind::List(a.list.as_ref().expect("list flag"))
    } else {
        Kind::Invalid
    }
}

fn kind_of<'a>(ty: &'a TypeRef, v: Option<&Value>) -> Kind<'a> {
    let a = ty.atom();
    pick(a, deduce(a, v))
}

fn as_list(v: Option<&Value>) -> Option<&Vec<Value>> {
    match v {
        Some(Value::Array(a)) => Some(a),
        _ => None,
    }
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn go_strings(keys: &[String]) -> String {
    let q: Vec<String> = keys.iter().map(|k| go_quote(k)).collect();
    format!("[{}]", q.join(" "))
}

/// The path element identifying one item of an associative list.
pub(crate) fn list_item_pe(t: &ListType, item: &Value) -> Result<PathElement, String> {
    if !t.associative {
        return Err("invalid indexing of non-associative list".into());
    }
    if t.keys.is_empty() {
        return match item {
            Value::Object(_) => Err("associative list without keys has an element that's a map type".into()),
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => Err("associative list without keys has an element that's an explicit null".into()),
            v => Ok(PathElement::Value(v.clone())),
        };
    }
    let m = match item {
        Value::Null => return Err("associative list with keys may not have a null element".into()),
        Value::Object(m) => m,
        _ => return Err("associative list with keys may not have non-map elements".into()),
    };
    let elem_map = t.elem.atom().map.as_ref();
    let mut fields = Vec::new();
    for k in &t.keys {
        if let Some(v) = m.get(k) {
            fields.push((k.clone(), v.clone()));
        } else if let Some(d) = elem_map.and_then(|em| em.fields.get(k)).and_then(|f| f.default.clone()) {
            fields.push((k.clone(), d));
        }
    }
    if fields.is_empty() {
        return Err(format!(
            "associative list with keys has an element that omits all key fields {} (and doesn't have default values for any key fields)",
            go_strings(&t.keys)
        ));
    }
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PathElement::Key(fields))
}

fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

struct VErr {
    path: String,
    msg: String,
}

/// Checks that a value fits the type, with kube-apiserver's messages (`.spec.x: field not declared
/// in schema`). Duplicate list keys are errors unless `allow_duplicates` (live objects).
pub(crate) fn validate(ty: &TypeRef, v: &Value, allow_duplicates: bool) -> Result<(), String> {
    let mut errs = Vec::new();
    validate_at(ty, v, allow_duplicates, "", &mut errs);
    match errs.len() {
        0 => Ok(()),
        1 => Err(format!("{}: {}", errs[0].path, errs[0].msg)),
        _ => {
            let mut lines = vec!["errors:".to_string()];
            lines.extend(errs.iter().map(|e| format!("  {}: {}", e.path, e.msg)));
            Err(lines.join("\n"))
        }
    }
}

fn validate_at(ty: &TypeRef, v: &Value, dup_ok: bool, prefix: &str, errs: &mut Vec<VErr>) {
    let err = |errs: &mut Vec<VErr>, msg: String| errs.push(VErr { path: prefix.to_string(), msg });
    match kind_of(ty, Some(v)) {
        Kind::Scalar(s) => {
            let ok = matches!(
                (s, v),
                (_, Value::Null)
                    | (Scalar::Untyped, Value::Number(_) | Value::String(_) | Value::Bool(_))
                    | (Scalar::Numeric, Value::Number(_))
                    | (Scalar::String, Value::String(_))
                    | (Scalar::Boolean, Value::Bool(_))
            );
            if !ok {
                let msg = match s {
                    Scalar::Numeric => format!("expected numeric (int or float), got {}", go_type_name(v)),
                    Scalar::String => format!("expected string, got {}", go_json(v)),
                    Scalar::Boolean => format!("expected boolean, got {}", go_json(v)),
                    Scalar::Untyped => format!("expected any scalar, got {}", go_json(v)),
                };
                err(errs, msg);
            }
        }
        Kind::Map(t) => match v {
            Value::Null => {}
            Value::Object(m) => {
                for (k, cv) in m {
                    let cpath = format!("{prefix}.{k}");
                    let Some(cty) = t.field_type(k) else {
                        errs.push(VErr { path: cpath, msg: "field not declared in schema".into() });
                        break;
                    };
                    validate_at(cty, cv, dup_ok, &cpath, errs);
                }
            }
            _ => err(errs, format!("expected map, got {}", go_json(v))),
        },
        Kind::List(t) => match v {
            Value::Null => {}
            Value::Array(items) => {
                let mut seen = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    let pe = if t.associative {
                        match list_item_pe(t, item) {
                            Ok(pe) => pe,
                            Err(e) => {
                                err(errs, format!("element {i}: {e}"));
                                return;
                            }
                        }
                    } else {
                        PathElement::Index(i)
                    };
                    if t.associative && !seen.insert(pe.clone()) && !dup_ok {
                        err(errs, format!("duplicate entries for key {}", pe.to_path_string()));
                    }
                    validate_at(&t.elem, item, dup_ok, &format!("{prefix}{}", pe.to_path_string()), errs);
                }
            }
            _ => err(errs, format!("expected list, got {}", go_json(v))),
        },
        Kind::Invalid => err(errs, "schema error: invalid atom: inlined".into()),
    }
}

/// The paths an applier of `v` owns: leaves, atomic nodes, list items, empty or null values and
/// undeclared map entries (not the declared fields holding non-empty objects).
pub(crate) fn to_field_set(ty: &TypeRef, v: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    tfs(ty, v, &mut Vec::new(), &mut set);
    set
}

fn tfs(ty: &TypeRef, v: &Value, path: &mut Path, set: &mut FieldSet) {
    match kind_of(ty, Some(v)) {
        Kind::Scalar(_) => set.insert(path),
        Kind::List(t) => {
            if !t.associative {
                set.insert(path);
                return;
            }
            let Value::Array(items) = v else { return };
            let pes: Vec<Option<PathElement>> = items.iter().map(|i| list_item_pe(t, i).ok()).collect();
            let mut seen = BTreeSet::new();
            let mut dups = BTreeSet::new();
            for pe in pes.iter().flatten() {
                if !seen.insert(pe.clone()) && dups.insert(pe.clone()) {
                    path.push(pe.clone());
                    set.insert(path);
                    path.pop();
                }
            }
            for (item, pe) in items.iter().zip(pes) {
                let Some(pe) = pe else { continue };
                if dups.contains(&pe) {
                    continue;
                }
                path.push(pe);
                tfs(&t.elem, item, path, set);
                set.insert(path);
                path.pop();
            }
        }
        Kind::Map(t) => {
            if t.atomic {
                set.insert(path);
                return;
            }
            let Value::Object(m) = v else { return };
            for (k, cv) in m {
                let Some(cty) = t.field_type(k) else { break };
                path.push(PathElement::Field(k.clone()));
                tfs(cty, cv, path, set);
                let empty = match cv {
                    Value::Null => true,
                    Value::Object(o) => o.is_empty(),
                    _ => false,
                };
                if empty || !t.fields.contains_key(k) {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Kind::Invalid => {}
    }
}

/// What changed between two versions of an object.
#[derive(Debug, Default, Clone)]
pub(crate) struct Comparison {
    pub removed: FieldSet,
    pub modified: FieldSet,
    pub added: FieldSet,
}

impl Comparison {
    /// Drops the given paths and everything below them (the reset fields).
    pub fn exclude(&mut self, fields: &FieldSet) {
        if fields.is_empty() {
            return;
        }
        self.removed = self.removed.recursive_difference(fields);
        self.modified = self.modified.recursive_difference(fields);
        self.added = self.added.recursive_difference(fields);
    }
}

/// Compares two objects: leaves added, removed or modified, and every granular node added or removed.
pub(crate) fn compare(ty: &TypeRef, lhs: &Value, rhs: &Value) -> Comparison {
    let mut out = Comparison::default();
    cmp(ty, Some(lhs), Some(rhs), &mut Vec::new(), &mut out);
    out
}

fn cmp(ty: &TypeRef, lhs: Option<&Value>, rhs: Option<&Value>, path: &mut Path, out: &mut Comparison) {
    if lhs.is_none() && rhs.is_none() {
        return;
    }
    let a = ty.atom();
    let fl = deduce(a, lhs);
    let fr = deduce(a, rhs);
    let mut in_leaf = false;
    if fl != fr {
        let mut copy = false;
        cmp_kind(pick(a, fl), lhs, rhs, path, out, &mut copy);
    }
    cmp_kind(pick(a, fr), lhs, rhs, path, out, &mut in_leaf);
    if !in_leaf {
        if lhs.is_none() {
            out.added.insert(path);
        } else if rhs.is_none() {
            out.removed.insert(path);
        }
    }
}

fn cmp_leaf(lhs: Option<&Value>, rhs: Option<&Value>, path: &Path, out: &mut Comparison, in_leaf: &mut bool) {
    if *in_leaf {
        return;
    }
    *in_leaf = true;
    match (lhs, rhs) {
        (None, _) => out.added.insert(path),
        (_, None) => out.removed.insert(path),
        (Some(l), Some(r)) => {
            if !values_equal(l, r) {
                out.modified.insert(path)
            }
        }
    }
}

fn cmp_kind(kind: Kind<'_>, lhs: Option<&Value>, rhs: Option<&Value>, path: &mut Path, out: &mut Comparison, in_leaf: &mut bool) {
    match kind {
        Kind::Scalar(_) => cmp_leaf(lhs, rhs, path, out, in_leaf),
        Kind::List(t) => {
            let (l, r) = (as_list(lhs), as_list(rhs));
            let empty = l.is_none_or(|x| x.is_empty()) && r.is_none_or(|x| x.is_empty());
            if !t.associative || empty {
                cmp_leaf(lhs, rhs, path, out, in_leaf);
                return;
            }
            cmp_list_items(t, l.map(Vec::as_slice).unwrap_or(&[]), r.map(Vec::as_slice).unwrap_or(&[]), path, out);
        }
        Kind::Map(t) => {
            let (l, r) = (as_map(lhs), as_map(rhs));
            let empty = l.is_none_or(|x| x.is_empty()) && r.is_none_or(|x| x.is_empty());
            if t.atomic || empty {
                cmp_leaf(lhs, rhs, path, out, in_leaf);
                return;
            }
            let empty_map = Map::new();
            let (l, r) = (l.unwrap_or(&empty_map), r.unwrap_or(&empty_map));
            let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
            for k in keys {
                let Some(cty) = t.field_type(k) else { continue };
                path.push(PathElement::Field(k.clone()));
                cmp(cty, l.get(k), r.get(k), path, out);
                path.pop();
            }
        }
        Kind::Invalid => {}
    }
}

fn index_items<'v>(t: &ListType, items: &'v [Value]) -> (Vec<PathElement>, BTreeMap<PathElement, Vec<&'v Value>>) {
    let mut order = Vec::new();
    let mut by_pe: BTreeMap<PathElement, Vec<&Value>> = BTreeMap::new();
    for item in items {
        let Ok(pe) = list_item_pe(t, item) else { continue };
        let e = by_pe.entry(pe.clone()).or_default();
        if e.is_empty() {
            order.push(pe);
        }
        e.push(item);
    }
    (order, by_pe)
}

fn cmp_list_items(t: &ListType, l: &[Value], r: &[Value], path: &mut Path, out: &mut Comparison) {
    let (lorder, lmap) = index_items(t, l);
    let (rorder, rmap) = index_items(t, r);
    let mut all = lorder;
    for pe in rorder {
        if !lmap.contains_key(&pe) {
            all.push(pe);
        }
    }
    for pe in all {
        let ll = lmap.get(&pe).map(Vec::as_slice).unwrap_or(&[]);
        let rl = rmap.get(&pe).map(Vec::as_slice).unwrap_or(&[]);
        path.push(pe);
        if ll.len() >= 2 && rl.len() >= 2 {
            let same = ll.len() == rl.len() && ll.iter().zip(rl).all(|(a, b)| values_equal(a, b));
            if !same {
                out.modified.insert(path);
            }
        } else if ll.len() >= 2 {
            if let Some(r) = rl.first() {
                cmp(&t.elem, None, Some(r), path, out);
            }
            out.removed.insert(path);
        } else if rl.len() >= 2 {
            if let Some(l) = ll.first() {
                cmp(&t.elem, Some(l), None, path, out);
            }
            out.added.insert(path);
        } else {
            cmp(&t.elem, ll.first().copied(), rl.first().copied(), path, out);
        }
        path.pop();
    }
}

/// Merges `rhs` (the config) into `lhs` (the live object): the config wins where it has a value,
/// atomic nodes are replaced, granular maps and associative lists merge per entry.
pub(crate) fn merge(ty: &TypeRef, lhs: &Value, rhs: &Value) -> Result<Value, String> {
    let mut errs = Vec::new();
    let out = mrg(ty, Some(lhs), Some(rhs), "", &mut errs);
    if let Some(e) = errs.first() {
        return Err(format!("{}: {}", e.path, e.msg));
    }
    Ok(out.unwrap_or(Value::Null))
}

fn mrg(ty: &TypeRef, lhs: Option<&Value>, rhs: Option<&Value>, prefix: &str, errs: &mut Vec<VErr>) -> Option<Value> {
    let a = ty.atom();
    let kind = if rhs.is_none() { pick(a, deduce(a, lhs)) } else { pick(a, deduce(a, rhs)) };
    let keep_rhs = || rhs.or(lhs).cloned();
    match kind {
        Kind::Scalar(_) => keep_rhs(),
        Kind::List(t) => {
            let (l, r) = (as_list(lhs), as_list(rhs));
            let empty = l.is_none_or(|x| x.is_empty()) && r.is_none_or(|x| x.is_empty());
            if !t.associative || empty {
                return keep_rhs();
            }
            mrg_list(t, l.map(Vec::as_slice).unwrap_or(&[]), r.map(Vec::as_slice).unwrap_or(&[]), prefix, errs)
        }
        Kind::Map(t) => {
            let (l, r) = (as_map(lhs), as_map(rhs));
            let empty = l.is_none_or(|x| x.is_empty()) && r.is_none_or(|x| x.is_empty());
            if t.atomic || empty {
                return keep_rhs();
            }
            let empty_map = Map::new();
            let (l, r) = (l.unwrap_or(&empty_map), r.unwrap_or(&empty_map));
            let keys: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
            let mut out = Map::new();
            for k in keys {
                let cpath = format!("{prefix}.{k}");
                let Some(cty) = t.field_type(k) else {
                    // A field the schema does not know, only on the live side (an object not pruned yet, as
                    // mutating admission sees it): kept as it is.
                    if let (Some(v), None) = (l.get(k), r.get(k)) {
                        out.insert(k.clone(), v.clone());
                        continue;
                    }
                    errs.push(VErr { path: cpath, msg: "field not declared in schema".into() });
                    break;
                };
                if let Some(v) = mrg(cty, l.get(k), r.get(k), &cpath, errs) {
                    out.insert(k.clone(), v);
                }
            }
            if out.is_empty() { None } else { Some(Value::Object(out)) }
        }
        Kind::Invalid => {
            errs.push(VErr { path: prefix.to_string(), msg: "schema error: invalid atom: inlined".into() });
            None
        }
    }
}

static NULL: Value = Value::Null;

fn observed_child<'v>(obs: &BTreeMap<PathElement, Option<&'v Value>>, pe: &PathElement) -> Option<&'v Value> {
    match obs.get(pe) {
        Some(Some(v)) => Some(*v),
        Some(None) => Some(&NULL),
        None => None,
    }
}

type Indexed<'v> = (Vec<PathElement>, BTreeMap<PathElement, Option<&'v Value>>);

fn index_for_merge<'v>(t: &ListType, items: &'v [Value], allow_dups: bool, prefix: &str, errs: &mut Vec<VErr>) -> Indexed<'v> {
    let mut pes = Vec::new();
    let mut observed: BTreeMap<PathElement, Option<&Value>> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let pe = match list_item_pe(t, item) {
            Ok(pe) => pe,
            Err(e) => {
                errs.push(VErr { path: prefix.to_string(), msg: format!("element {i}: {e}") });
                continue;
            }
        };
        if observed.contains_key(&pe) {
            if !allow_dups {
                errs.push(VErr { path: prefix.to_string(), msg: format!("duplicate entries for key {}", pe.to_path_string()) });
                continue;
            }
            observed.insert(pe.clone(), None);
        } else {
            observed.insert(pe.clone(), Some(item));
        }
        pes.push(pe);
    }
    (pes, observed)
}

fn mrg_list(t: &ListType, lhs: &[Value], rhs: &[Value], prefix: &str, errs: &mut Vec<VErr>) -> Option<Value> {
    let before = errs.len();
    let (rpes, robs) = index_for_merge(t, rhs, false, prefix, errs);
    let (lpes, lobs) = index_for_merge(t, lhs, true, prefix, errs);
    if errs.len() != before {
        return None;
    }
    let mut shared: std::collections::VecDeque<&PathElement> = rpes.iter().filter(|pe| lobs.contains_key(*pe)).collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: BTreeSet<PathElement> = BTreeSet::new();
    let mut out = Vec::new();
    let (ll, rl) = (lpes.len(), rpes.len());
    let (mut li, mut ri) = (0, 0);
    while li < ll || ri < rl {
        let item_prefix = |pe: &PathElement| format!("{prefix}{}", pe.to_path_string());
        if li < ll && ri < rl {
            let pe = &lpes[li];
            if *pe == rpes[ri] {
                merged_rhs.insert(pe.clone());
                if let Some(v) = mrg(&t.elem, observed_child(&lobs, pe), observed_child(&robs, pe), &item_prefix(pe), errs) {
                    out.push(v);
                }
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if robs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < ll {
            let pe = &lpes[li];
            if !robs.contains_key(pe) {
                if let Some(v) = mrg(&t.elem, Some(&lhs_item(lhs, t, li)), None, &item_prefix(pe), errs) {
                    out.push(v);
                }
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rl {
            let pe = &rpes[ri];
            merged_rhs.insert(pe.clone());
            if let Some(v) = mrg(&t.elem, observed_child(&lobs, pe), observed_child(&robs, pe), &item_prefix(pe), errs) {
                out.push(v);
            }
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    if out.is_empty() { None } else { Some(Value::Array(out)) }
}

/// The live item at the given position among the items that have a path element.
fn lhs_item(lhs: &[Value], t: &ListType, idx: usize) -> Value {
    lhs.iter().filter(|i| list_item_pe(t, i).is_ok()).nth(idx).cloned().unwrap_or(Value::Null)
}

/// Removes the paths of `to_remove` from `v`. A node left with nothing becomes null, as upstream does.
pub(crate) fn remove_items(ty: &TypeRef, v: &Value, to_remove: &FieldSet) -> Value {
    rm(ty, v, to_remove).unwrap_or(Value::Null)
}

fn rm(ty: &TypeRef, v: &Value, to_remove: &FieldSet) -> Option<Value> {
    match kind_of(ty, Some(v)) {
        Kind::Scalar(_) => Some(v.clone()),
        Kind::List(t) => {
            let Value::Array(items) = v else { return None };
            if items.is_empty() || !t.associative {
                return None;
            }
            let mut out = Vec::new();
            for item in items {
                let Ok(pe) = list_item_pe(t, item) else {
                    out.push(item.clone());
                    continue;
                };
                if to_remove.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                match to_remove.child(&pe) {
                    Some(sub) => out.push(rm(&t.elem, item, sub).unwrap_or(Value::Null)),
                    None => out.push(item.clone()),
                }
            }
            if out.is_empty() { None } else { Some(Value::Array(out)) }
        }
        Kind::Map(t) => {
            let Value::Object(m) = v else { return None };
            if m.is_empty() || t.atomic {
                return None;
            }
            let mut out = Map::new();
            for (k, cv) in m {
                let pe = PathElement::Field(k.clone());
                if to_remove.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                let nv = match to_remove.child(&pe) {
                    Some(sub) => {
                        let cty = t.field_type(k).cloned().unwrap_or(TypeRef::Deduced);
                        rm(&cty, cv, sub).unwrap_or(Value::Null)
                    }
                    None => cv.clone(),
                };
                out.insert(k.clone(), nv);
            }
            if out.is_empty() { None } else { Some(Value::Object(out)) }
        }
        Kind::Invalid => None,
    }
}

/// The set plus, as members, every declared struct field that has owned paths below it.
pub(crate) fn ensure_named_fields_are_members(ty: Option<&TypeRef>, s: &FieldSet) -> FieldSet {
    let atom = ty.map(TypeRef::atom);
    let map = atom.and_then(|a| a.map.as_ref());
    let list = atom.and_then(|a| a.list.as_ref());
    let mut out = FieldSet::new();
    for pe in s.members() {
        out.add_member(pe.clone());
    }
    for (pe, c) in s.children() {
        let cty = match pe {
            PathElement::Field(name) => {
                if map.is_some_and(|m| m.fields.contains_key(name)) {
                    out.add_member(pe.clone());
                }
                map.and_then(|m| m.field_type(name))
            }
            PathElement::Key(_) => list.map(|l| &l.elem),
            _ => None,
        };
        out.set_child(pe.clone(), ensure_named_fields_are_members(cty, c));
    }
    out
}

/// Brings a stored set in line with the current schema: owned paths below a node that is now
/// atomic collapse into ownership of the node itself.
pub(crate) fn reconcile(ty: &TypeRef, s: &FieldSet) -> FieldSet {
    let a = ty.atom();
    let mut out = s.clone();
    let children: Vec<(PathElement, FieldSet)> = s.children().map(|(p, c)| (p.clone(), c.clone())).collect();
    for (pe, c) in children {
        let cty = match &pe {
            PathElement::Field(name) => a.map.as_ref().and_then(|m| m.field_type(name)),
            PathElement::Key(_) | PathElement::Value(_) => a.list.as_ref().map(|l| &l.elem),
            PathElement::Index(_) => None,
        };
        let Some(cty) = cty else { continue };
        let ca = cty.atom();
        let full = Flags { scalar: ca.scalar.is_some(), list: ca.list.is_some(), map: ca.map.is_some() };
        match pick(ca, full) {
            Kind::Map(m) if m.is_deduced() => {}
            Kind::Map(m) if m.atomic => {
                out.set_child(pe.clone(), FieldSet::new());
                out.add_member(pe);
            }
            Kind::List(l) if !l.associative => {
                out.set_child(pe.clone(), FieldSet::new());
                out.add_member(pe);
            }
            Kind::Map(_) | Kind::List(_) => {
                let r = reconcile(cty, &c);
                out.set_child(pe, r);
            }
            _ => {}
        }
    }
    out
}

/// The paths of `v` whose type is atomic (atomic maps and structs, non-associative lists), the way
/// structured-merge-diff's callers find them in a MutatingAdmissionPolicy's apply configuration: only declared
/// fields of maps are followed; every item of a list is.
pub(crate) fn find_atomics(ty: &TypeRef, v: &Value, path: &str, out: &mut Vec<String>) {
    let a = ty.atom();
    match v {
        Value::Object(m) => {
            let Some(t) = a.map.as_ref() else { return };
            if t.atomic {
                out.push(path.to_string());
            }
            for (k, child) in m {
                if let Some(f) = t.fields.get(k) {
                    find_atomics(&f.ty, child, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            let Some(t) = a.list.as_ref() else { return };
            if !t.associative {
                out.push(path.to_string());
            }
            for (i, item) in items.iter().enumerate() {
                find_atomics(&t.elem, item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
