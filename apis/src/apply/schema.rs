//! The structure types that decide how objects merge and which paths are owned, built from a CRD's
//! OpenAPI v3 schema the way kube-apiserver converts it.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

/// What a scalar node accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Numeric,
    String,
    Boolean,
    Untyped,
}

/// A list node: atomic, or associative (a set without keys, a list-map with them).
#[derive(Debug, Clone)]
pub(crate) struct ListType {
    pub elem: TypeRef,
    pub associative: bool,
    pub keys: Vec<String>,
}

/// A declared field of a struct, with its schema `default` (used for absent list-map keys).
#[derive(Debug, Clone)]
pub(crate) struct StructField {
    pub ty: TypeRef,
    pub default: Option<Value>,
}

/// A map or struct node. `elem` is the type of undeclared keys; `None` rejects them.
#[derive(Debug, Clone, Default)]
pub(crate) struct MapType {
    pub fields: BTreeMap<String, StructField>,
    pub elem: Option<TypeRef>,
    pub atomic: bool,
}

impl MapType {
    pub fn field_type(&self, name: &str) -> Option<&TypeRef> {
        self.fields.get(name).map(|f| &f.ty).or(self.elem.as_ref())
    }

    pub fn is_deduced(&self) -> bool {
        self.fields.is_empty() && matches!(self.elem, Some(TypeRef::Deduced))
    }
}

/// The shapes a node may take; a value picks the one matching its own kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Atom {
    pub scalar: Option<Scalar>,
    pub list: Option<ListType>,
    pub map: Option<MapType>,
}

/// A node's type: an inline atom, or one of the two recursive untyped types.
#[derive(Debug, Clone)]
pub(crate) enum TypeRef {
    Inline(Arc<Atom>),
    /// Any value; maps are granular all the way down, lists atomic.
    Deduced,
    /// Any value, atomic as a whole.
    UntypedAtomic,
}

static DEDUCED: LazyLock<Atom> = LazyLock::new(|| Atom {
    scalar: Some(Scalar::Untyped),
    list: Some(ListType { elem: TypeRef::UntypedAtomic, associative: false, keys: vec![] }),
    map: Some(MapType { fields: BTreeMap::new(), elem: Some(TypeRef::Deduced), atomic: false }),
});

static UNTYPED_ATOMIC: LazyLock<Atom> = LazyLock::new(|| Atom {
    scalar: Some(Scalar::Untyped),
    list: Some(ListType { elem: TypeRef::UntypedAtomic, associative: false, keys: vec![] }),
    map: Some(MapType { fields: BTreeMap::new(), elem: Some(TypeRef::UntypedAtomic), atomic: true }),
});

impl TypeRef {
    pub fn atom(&self) -> &Atom {
        match self {
            TypeRef::Inline(a) => a,
            TypeRef::Deduced => &DEDUCED,
            TypeRef::UntypedAtomic => &UNTYPED_ATOMIC,
        }
    }

    fn inline(a: Atom) -> TypeRef {
        TypeRef::Inline(Arc::new(a))
    }
}

/// The structure type of a whole object: it decides what merges granularly, what is atomic and
/// which list items are identified by which keys.
#[derive(Debug, Clone)]
pub struct ObjectType {
    pub(crate) root: TypeRef,
}

fn string_t() -> TypeRef {
    TypeRef::inline(Atom { scalar: Some(Scalar::String), ..Atom::default() })
}

fn scalar_t(s: Scalar) -> TypeRef {
    TypeRef::inline(Atom { scalar: Some(s), ..Atom::default() })
}

fn field(ty: TypeRef) -> StructField {
    StructField { ty, default: None }
}

fn struct_t(fields: Vec<(&str, TypeRef)>, atomic: bool) -> TypeRef {
    TypeRef::inline(Atom {
        map: Some(MapType { fields: fields.into_iter().map(|(n, t)| (n.to_string(), field(t))).collect(), elem: None, atomic }),
        ..Atom::default()
    })
}

/// The built-in ObjectMeta type, whatever a CRD's schema says about `metadata`.
pub(crate) fn object_meta() -> TypeRef {
    let string_map = TypeRef::inline(Atom { map: Some(MapType { fields: BTreeMap::new(), elem: Some(string_t()), atomic: false }), ..Atom::default() });
    let owner_ref = struct_t(
        vec![
            ("apiVersion", string_t()),
            ("kind", string_t()),
            ("name", string_t()),
            ("uid", string_t()),
            ("controller", scalar_t(Scalar::Boolean)),
            ("blockOwnerDeletion", scalar_t(Scalar::Boolean)),
        ],
        true,
    );
    let owner_refs = TypeRef::inline(Atom { list: Some(ListType { elem: owner_ref, associative: true, keys: vec!["uid".into()] }), ..Atom::default() });
    let finalizers = TypeRef::inline(Atom { list: Some(ListType { elem: string_t(), associative: true, keys: vec![] }), ..Atom::default() });
    let managed_fields = TypeRef::inline(Atom { list: Some(ListType { elem: TypeRef::UntypedAtomic, associative: false, keys: vec![] }), ..Atom::default() });
    struct_t(
        vec![
            ("name", string_t()),
            ("generateName", string_t()),
            ("namespace", string_t()),
            ("selfLink", string_t()),
            ("uid", string_t()),
            ("resourceVersion", string_t()),
            ("generation", scalar_t(Scalar::Numeric)),
            ("creationTimestamp", scalar_t(Scalar::Untyped)),
            ("deletionTimestamp", scalar_t(Scalar::Untyped)),
            ("deletionGracePeriodSeconds", scalar_t(Scalar::Numeric)),
            ("labels", string_map.clone()),
            ("annotations", string_map),
            ("ownerReferences", owner_refs),
            ("finalizers", finalizers),
            ("managedFields", managed_fields),
        ],
        false,
    )
}

fn is_true(m: &serde_json::Map<String, Value>, key: &str) -> bool {
    m.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn parse_schema(s: &Value, preserve_unknown: bool) -> Atom {
    let Value::Object(m) = s else {
        return DEDUCED.clone();
    };
    let pu = preserve_unknown || is_true(m, "x-kubernetes-preserve-unknown-fields");
    let typ = m.get("type").and_then(Value::as_str).unwrap_or("");
    let mut atom = match typ {
        "" => Atom { scalar: Some(Scalar::Untyped), list: Some(parse_list(m, pu)), map: Some(parse_object(m, pu)) },
        "object" => Atom { map: Some(parse_object(m, pu)), ..Atom::default() },
        "array" => Atom { list: Some(parse_list(m, pu)), ..Atom::default() },
        "integer" | "number" => Atom { scalar: Some(Scalar::Numeric), ..Atom::default() },
        "boolean" => Atom { scalar: Some(Scalar::Boolean), ..Atom::default() },
        "string" => {
            let format = m.get("format").and_then(Value::as_str).unwrap_or("");
            let s = if format.is_empty() || format == "byte" { Scalar::String } else { Scalar::Untyped };
            Atom { scalar: Some(s), ..Atom::default() }
        }
        _ => Atom { scalar: Some(Scalar::Untyped), ..Atom::default() },
    };
    if is_true(m, "x-kubernetes-embedded-resource")
        && let Some(map) = atom.map.as_mut()
    {
        map.fields.entry("apiVersion".into()).or_insert_with(|| field(string_t()));
        map.fields.entry("kind".into()).or_insert_with(|| field(string_t()));
        map.fields.insert("metadata".into(), field(object_meta()));
    }
    atom
}

fn parse_object(m: &serde_json::Map<String, Value>, pu: bool) -> MapType {
    let props = m.get("properties").and_then(Value::as_object);
    let mut fields = BTreeMap::new();
    if let Some(props) = props {
        for (name, sub) in props {
            let default = sub.get("default").cloned();
            fields.insert(name.clone(), StructField { ty: TypeRef::inline(parse_schema(sub, pu)), default });
        }
    }
    let elem = match m.get("additionalProperties") {
        None | Some(Value::Null) => {
            if pu || fields.is_empty() {
                Some(TypeRef::Deduced)
            } else {
                None
            }
        }
        Some(Value::Bool(true)) => Some(TypeRef::Deduced),
        Some(Value::Bool(false)) => None,
        Some(sub) => Some(TypeRef::inline(parse_schema(sub, pu))),
    };
    let atomic = m.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
    MapType { fields, elem, atomic }
}

fn parse_list(m: &serde_json::Map<String, Value>, pu: bool) -> ListType {
    let elem = match m.get("items") {
        Some(items @ Value::Object(_)) => TypeRef::inline(parse_schema(items, pu)),
        _ => TypeRef::UntypedAtomic,
    };
    match m.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListType { elem, associative: true, keys: vec![] },
        Some("map") => {
            let keys = m
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            ListType { elem, associative: true, keys }
        }
        _ => ListType { elem, associative: false, keys: vec![] },
    }
}

impl ObjectType {
    /// From the OpenAPI v3 (JSONSchemaProps) schema of the whole object. `metadata` is always the
    /// built-in ObjectMeta type, and `apiVersion`/`kind` are always declared strings.
    pub fn from_openapi(schema: &Value) -> ObjectType {
        let mut schema = schema.clone();
        if let Value::Object(m) = &mut schema {
            if !m.contains_key("type") {
                m.insert("type".into(), Value::String("object".into()));
            }
            let props = m.entry("properties").or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(p) = props {
                for k in ["apiVersion", "kind", "metadata"] {
                    p.entry(k).or_insert_with(|| serde_json::json!({"type": "string"}));
                }
            }
        }
        let mut atom = parse_schema(&schema, false);
        let map = atom.map.get_or_insert_with(MapType::default);
        map.fields.entry("apiVersion".into()).or_insert_with(|| field(string_t()));
        map.fields.entry("kind".into()).or_insert_with(|| field(string_t()));
        map.fields.insert("metadata".into(), field(object_meta()));
        ObjectType { root: TypeRef::inline(Atom { map: atom.map, ..Atom::default() }) }
    }

    /// No schema at all: every node's shape is deduced from its value.
    pub fn deduced() -> ObjectType {
        ObjectType { root: TypeRef::Deduced }
    }
}
