//! Field paths and sets of them, and their `FieldsV1` wire form.
//!
//! A [`FieldSet`] is what one manager owns: a trie whose nodes are [`PathElement`]s. The ordering of
//! elements and values here is the one every managedFields writer must agree on, so sets print and
//! compare the same way kube-apiserver's do.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub(crate) use crate::schema::gofmt::{go_float_v, go_json, go_quote};

/// A path from the object's root: the steps in order.
pub type Path = Vec<PathElement>;

/// One step into an object: a field, a list-map item, a set element or a list index.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// A struct field or map key.
    Field(String),
    /// A list-map item, by its key fields, sorted by name.
    Key(Vec<(String, Value)>),
    /// A set element (a scalar).
    Value(Value),
    /// A position in a list; never produced for custom resources but accepted on input.
    Index(usize),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The element as written in conflict messages: `.f`, `[k="v",n=1]`, `[="elem"]`, `[3]`.
    pub fn to_path_string(&self) -> String {
        match self {
            PathElement::Field(f) => format!(".{f}"),
            PathElement::Key(keys) => {
                let parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={}", value_to_string(v))).collect();
                format!("[{}]", parts.join(","))
            }
            PathElement::Value(v) => format!("[={}]", value_to_string(v)),
            PathElement::Index(i) => format!("[{i}]"),
        }
    }

    /// The element as a key of a `FieldsV1` object (`f:`, `k:`, `v:`, `i:`).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(keys) => {
                let mut s = String::from("k:{");
                for (i, (k, v)) in keys.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&go_json(&Value::String(k.clone())));
                    s.push(':');
                    s.push_str(&go_json(v));
                }
                s.push('}');
                s
            }
            PathElement::Value(v) => format!("v:{}", go_json(v)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key. `Ok(None)` is an unknown element type, which readers skip.
    pub fn from_fields_v1_key(s: &str) -> Result<Option<PathElement>, String> {
        let b = s.as_bytes();
        if b.len() < 2 {
            return Err(format!("key must be 2 characters long: {s}"));
        }
        if b[1] != b':' {
            return Err(format!("missing colon: {s}"));
        }
        let rest = &s[2..];
        match b[0] {
            b'f' => Ok(Some(PathElement::Field(rest.to_string()))),
            b'v' => {
                let v: Value = serde_json::from_str(rest).map_err(|e| format!("parsing {s:?}: {e}"))?;
                Ok(Some(PathElement::Value(v)))
            }
            b'k' => {
                let v: Value = serde_json::from_str(rest).map_err(|e| format!("parsing {s:?}: {e}"))?;
                let Value::Object(m) = v else {
                    return Err(format!("parsing {s:?}: key is not an object"));
                };
                let mut fields: Vec<(String, Value)> = m.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Some(PathElement::Key(fields)))
            }
            b'i' => rest.parse::<usize>().map(|i| Some(PathElement::Index(i))).map_err(|e| format!("parsing {s:?}: {e}")),
            _ => Ok(None),
        }
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.as_bytes().cmp(b.as_bytes()),
            (PathElement::Key(a), PathElement::Key(b)) => compare_field_lists(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

fn compare_field_lists(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((an, av)), Some((bn, bv))) => {
                let c = an.as_bytes().cmp(bn.as_bytes()).then_with(|| compare_values(av, bv));
                if c != Ordering::Equal {
                    return c;
                }
            }
        }
        i += 1;
    }
}

fn num_is_float(n: &serde_json::Number) -> bool {
    n.is_f64()
}

fn num_as_f64(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

fn num_as_i128(n: &serde_json::Number) -> i128 {
    if let Some(i) = n.as_i64() {
        i as i128
    } else if let Some(u) = n.as_u64() {
        u as i128
    } else {
        0
    }
}

fn float_cmp(a: f64, b: f64) -> Ordering {
    if a < b {
        Ordering::Less
    } else if a > b {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// The total order of values used in sets and keys: numbers < strings < bools < lists < maps < null;
/// integers and floats compare numerically.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if num_is_float(x) || num_is_float(y) {
                float_cmp(num_as_f64(x), num_as_f64(y))
            } else {
                num_as_i128(x).cmp(&num_as_i128(y))
            }
        }
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y.iter()) {
                let c = compare_values(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for (i, k) in keys.into_iter().enumerate() {
                let c = if i == x.len() {
                    Ordering::Less
                } else if i == y.len() {
                    Ordering::Greater
                } else {
                    match (x.get(k), y.get(k)) {
                        (None, _) => Ordering::Greater,
                        (_, None) => Ordering::Less,
                        (Some(l), Some(r)) => compare_values(l, r),
                    }
                };
                if c != Ordering::Equal {
                    return c;
                }
            }
            Ordering::Equal
        }
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

/// Deep equality where `1` equals `1.0`, as objects are compared when deciding what changed.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if num_is_float(x) || num_is_float(y) {
                num_as_f64(x) == num_as_f64(y)
            } else {
                num_as_i128(x) == num_as_i128(y)
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(l, r)| values_equal(l, r)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w))),
        _ => a == b,
    }
}

/// A value as Go's SMD `value.ToString` prints it in paths (`"a"`, `80`, `true`).
pub fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if n.is_f64() {
                go_float_v(num_as_f64(n))
            } else {
                n.to_string()
            }
        }
        Value::String(s) => go_quote(s),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => m.iter().map(|(k, v)| format!("{k}={}", value_to_string(v))).collect(),
    }
}

/// A path as written in conflict messages and causes: the elements' strings concatenated.
pub fn path_string(p: &[PathElement]) -> String {
    p.iter().map(PathElement::to_path_string).collect()
}

/// A set of field paths: the members at this level and the subsets below each child element.
/// Children are never empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// A set holding the given paths.
    pub fn from_paths<I: IntoIterator<Item = Vec<PathElement>>>(paths: I) -> FieldSet {
        let mut s = FieldSet::new();
        for p in paths {
            s.insert(&p);
        }
        s
    }

    /// Decodes a `FieldsV1` object.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(m) = v else {
            return Err(format!("expected an object, got {}", go_json(v)));
        };
        Ok(Self::read_v1(m)?.0.unwrap_or_default())
    }

    fn read_v1(m: &Map<String, Value>) -> Result<(Option<FieldSet>, bool), String> {
        let mut set: Option<FieldSet> = None;
        let mut is_member = false;
        for (k, v) in m {
            if k == "." {
                is_member = true;
                continue;
            }
            let Some(pe) = PathElement::from_fields_v1_key(k)? else {
                continue;
            };
            let Value::Object(cm) = v else {
                return Err(format!("expected an object for {k:?}, got {}", go_json(v)));
            };
            let (grand, child_member) = Self::read_v1(cm)?;
            if child_member {
                set.get_or_insert_with(FieldSet::new).members.insert(pe.clone());
            }
            if let Some(g) = grand {
                set.get_or_insert_with(FieldSet::new).children.insert(pe, g);
            }
        }
        if set.is_none() {
            is_member = true;
        }
        Ok((set, is_member))
    }

    /// Encodes the set as `FieldsV1`: a leaf is `{}`, a member that also has children carries `"."`.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.write_v1(false))
    }

    fn write_v1(&self, include_self: bool) -> Map<String, Value> {
        let mut m = Map::new();
        if include_self && !self.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for pe in &self.members {
            if !self.children.contains_key(pe) {
                m.insert(pe.to_fields_v1_key(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            m.insert(pe.to_fields_v1_key(), Value::Object(c.write_v1(self.members.contains(pe))));
        }
        m
    }

    /// The `FieldsV1` bytes as kube-apiserver's serializer writes them, before any re-encoding:
    /// `.` first, then elements in their total order (fields, keys, values, indexes).
    pub fn to_fields_v1_string(&self) -> String {
        let mut out = String::new();
        self.write_v1_string(false, &mut out);
        out
    }

    fn write_v1_string(&self, include_self: bool, out: &mut String) {
        out.push('{');
        let mut first = true;
        let mut sep = |out: &mut String| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
        };
        if include_self && !self.is_empty() {
            sep(out);
            out.push_str("\".\":{}");
        }
        let mut keys: Vec<&PathElement> = self.members.iter().chain(self.children.keys()).collect();
        keys.sort();
        keys.dedup();
        for pe in keys {
            sep(out);
            out.push_str(&go_json(&Value::String(pe.to_fields_v1_key())));
            out.push(':');
            match self.children.get(pe) {
                Some(c) => c.write_v1_string(self.members.contains(pe), out),
                None => out.push_str("{}"),
            }
        }
        out.push('}');
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds one path; the empty path (the whole object) is never tracked.
    pub fn insert(&mut self, p: &[PathElement]) {
        match p {
            [] => {}
            [pe] => {
                self.members.insert(pe.clone());
            }
            [pe, rest @ ..] => self.children.entry(pe.clone()).or_default().insert(rest),
        }
    }

    /// Whether the path is a member.
    pub fn has(&self, p: &[PathElement]) -> bool {
        match p {
            [] => false,
            [pe] => self.members.contains(pe),
            [pe, rest @ ..] => self.children.get(pe).is_some_and(|c| c.has(rest)),
        }
    }

    /// The members directly at this level.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The subsets below each element.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// The subset below one element (empty when there is none).
    pub fn with_prefix(&self, pe: &PathElement) -> FieldSet {
        self.children.get(pe).cloned().unwrap_or_default()
    }

    pub(crate) fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub(crate) fn add_member(&mut self, pe: PathElement) {
        self.members.insert(pe);
    }

    pub(crate) fn set_child(&mut self, pe: PathElement, s: FieldSet) {
        if s.is_empty() {
            self.children.remove(&pe);
        } else {
            self.children.insert(pe, s);
        }
    }

    /// Every path in either set.
    pub fn union(&self, o: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.union_in(o);
        out
    }

    pub(crate) fn union_in(&mut self, o: &FieldSet) {
        self.members.extend(o.members.iter().cloned());
        for (pe, c) in &o.children {
            self.children.entry(pe.clone()).or_default().union_in(c);
        }
    }

    /// The paths of this set that are not in `o` (paths below a removed member stay).
    pub fn difference(&self, o: &FieldSet) -> FieldSet {
        let members = self.members.difference(&o.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            let d = match o.children.get(pe) {
                Some(oc) => c.difference(oc),
                None => c.clone(),
            };
            if !d.is_empty() {
                children.insert(pe.clone(), d);
            }
        }
        FieldSet { members, children }
    }

    /// The paths in both sets.
    pub fn intersection(&self, o: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&o.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            if let Some(oc) = o.children.get(pe) {
                let i = c.intersection(oc);
                if !i.is_empty() {
                    children.insert(pe.clone(), i);
                }
            }
        }
        FieldSet { members, children }
    }

    /// The paths of this set that are neither in `o` nor below a member of `o`.
    pub fn recursive_difference(&self, o: &FieldSet) -> FieldSet {
        let members = self.members.difference(&o.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, c) in &self.children {
            if o.members.contains(pe) {
                continue;
            }
            let d = match o.children.get(pe) {
                Some(oc) => c.recursive_difference(oc),
                None => c.clone(),
            };
            if !d.is_empty() {
                children.insert(pe.clone(), d);
            }
        }
        FieldSet { members, children }
    }

    /// Every member path, members of a level before the levels below it.
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for pe in &self.members {
            let mut p = prefix.clone();
            p.push(pe.clone());
            out.push(p);
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// How many member paths the set holds.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }
}
