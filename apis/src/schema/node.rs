//! The parsed schema tree: one [`Schema`] per JSONSchemaProps node, read from JSON as apiextensions v1 does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::cel::CelNode;
use super::path::Path;

/// One node of a structural schema, or of a value validation nested under allOf/anyOf/oneOf/not.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    /// `type`, empty when absent.
    pub(crate) type_: String,
    /// `nullable`.
    pub(crate) nullable: bool,
    /// `default` (a JSON null default counts as absent, as in apiextensions).
    pub(crate) default: Option<Value>,
    /// Whether `title` or `description` is set (forbidden in nested value validations).
    pub(crate) has_title: bool,
    /// Whether `description` is set.
    pub(crate) has_description: bool,
    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub(crate) preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource: true`.
    pub(crate) embedded_resource: bool,
    /// `x-kubernetes-int-or-string: true`.
    pub(crate) int_or_string: bool,
    /// `x-kubernetes-list-type`.
    pub(crate) list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub(crate) list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type`.
    pub(crate) map_type: Option<String>,
    /// `properties`, sorted by name.
    pub(crate) properties: BTreeMap<String, Schema>,
    /// `additionalProperties`.
    pub(crate) additional: Option<Additional>,
    /// `items`.
    pub(crate) items: Option<Box<Schema>>,
    /// Everything that validates values without shaping them.
    pub(crate) vv: ValueValidation,
    /// `x-kubernetes-validations`, as written.
    pub(crate) rules: Vec<RawRule>,
    /// The compiled rules of this node, set once the schema is known to be structural.
    pub(crate) cel: Option<Box<CelNode>>,
    /// Whether this node or a node below it carries rules.
    pub(crate) cel_below: bool,
}

/// `additionalProperties`: a boolean or a schema.
#[derive(Debug)]
pub(crate) enum Additional {
    /// `true` or `false`.
    Bool(bool),
    /// A schema for every value of the map.
    Schema(Box<Schema>),
}

/// The value validation keywords of a node.
#[derive(Debug, Default)]
pub(crate) struct ValueValidation {
    /// `format` when kube-apiserver supports it for CRDs (others are stripped before validation).
    pub(crate) format: Option<String>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) max_length: Option<i64>,
    pub(crate) min_length: Option<i64>,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) max_items: Option<i64>,
    pub(crate) min_items: Option<i64>,
    pub(crate) unique_items: bool,
    pub(crate) multiple_of: Option<f64>,
    pub(crate) enum_: Option<Vec<Value>>,
    pub(crate) max_properties: Option<i64>,
    pub(crate) min_properties: Option<i64>,
    pub(crate) required: Vec<String>,
    pub(crate) all_of: Vec<Schema>,
    pub(crate) any_of: Vec<Schema>,
    pub(crate) one_of: Vec<Schema>,
    pub(crate) not: Option<Box<Schema>>,
}

/// A `pattern`: the source as written (messages quote it) and the compiled expression.
#[derive(Debug)]
pub(crate) struct Pattern {
    pub(crate) source: String,
    pub(crate) re: regex::Regex,
}

/// One `x-kubernetes-validations` entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawRule {
    pub(crate) rule: String,
    pub(crate) message: String,
    pub(crate) message_expression: String,
    pub(crate) reason: Option<String>,
    pub(crate) field_path: String,
    pub(crate) optional_old_self: bool,
}

/// Formats kube-apiserver validates in CRD schemas (after removing `-`); any other format is ignored.
const SUPPORTED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

/// Keys of JSONSchemaProps that structural schemas refuse outright (NewStructural).
const UNSUPPORTED: &[(&str, &str)] = &[
    ("id", "id"),
    ("$schema", "schema"),
    ("$ref", "$ref"),
    ("patternProperties", "patternProperties"),
    ("dependencies", "dependencies"),
    ("additionalItems", "additionalItems"),
    ("definitions", "definitions"),
];

impl Schema {
    /// Parses a JSONSchemaProps object; problems are appended to `errs` and parsing goes on.
    pub(crate) fn parse(v: &Value, at: &Path, errs: &mut Vec<String>) -> Schema {
        let Some(m) = v.as_object() else {
            errs.push(format!("{}: must be an object, not {}", at.or_root(), kind_name(v)));
            return Schema::default();
        };
        let mut p = Parser { m, at, errs };
        let mut s = Schema {
            type_: p.string("type").unwrap_or_default(),
            nullable: p.boolean("nullable"),
            default: m.get("default").filter(|d| !d.is_null()).cloned(),
            has_title: p.string("title").is_some_and(|t| !t.is_empty()),
            has_description: p.string("description").is_some_and(|t| !t.is_empty()),
            embedded_resource: p.boolean("x-kubernetes-embedded-resource"),
            int_or_string: p.boolean("x-kubernetes-int-or-string"),
            list_type: p.string("x-kubernetes-list-type"),
            list_map_keys: p.strings("x-kubernetes-list-map-keys"),
            map_type: p.string("x-kubernetes-map-type"),
            ..Default::default()
        };
        match m.get("x-kubernetes-preserve-unknown-fields") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(true)) => s.preserve_unknown = true,
            Some(Value::Bool(false)) => p.err("x-kubernetes-preserve-unknown-fields", "must be true or undefined"),
            Some(_) => p.err("x-kubernetes-preserve-unknown-fields", "must be a boolean"),
        }
        for (key, name) in UNSUPPORTED {
            if m.get(*key).is_some_and(|x| !is_empty(x)) {
                p.errs.push(format!("{}: OpenAPIV3Schema '{name}' is not supported", at.or_root()));
            }
        }
        s.vv = p.value_validation();
        s.rules = p.rules();
        if let Some(props) = m.get("properties") {
            match props.as_object() {
                Some(props) => {
                    for (k, x) in props {
                        let child = Schema::parse(x, &at.child("properties").key(k), p.errs);
                        s.properties.insert(k.clone(), child);
                    }
                }
                None if props.is_null() => {}
                None => p.err("properties", "must be an object"),
            }
        }
        match m.get("additionalProperties") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => s.additional = Some(Additional::Bool(*b)),
            Some(x @ Value::Object(_)) => {
                let child = Schema::parse(x, &at.child("additionalProperties"), p.errs);
                s.additional = Some(Additional::Schema(Box::new(child)));
            }
            Some(_) => p.err("additionalProperties", "must be a boolean or a schema"),
        }
        match m.get("items") {
            None | Some(Value::Null) => {}
            Some(Value::Array(_)) => p.err("items", "OpenAPIV3Schema 'items' must be a schema, but is an array"),
            Some(x) => s.items = Some(Box::new(Schema::parse(x, &at.child("items"), p.errs))),
        }
        s
    }

    /// The type list kube-openapi validates against: int-or-string is `integer,string`.
    pub(crate) fn types(&self) -> Vec<&str> {
        if self.int_or_string {
            vec!["integer", "string"]
        } else if self.type_.is_empty() {
            Vec::new()
        } else {
            vec![self.type_.as_str()]
        }
    }

    /// The schema for the value under key `k` of an object: its property, else the additionalProperties schema.
    pub(crate) fn field_schema(&self, k: &str) -> Option<&Schema> {
        self.properties.get(k).or(match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        })
    }

    /// The additionalProperties schema, if it is a schema.
    pub(crate) fn additional_schema(&self) -> Option<&Schema> {
        match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        }
    }
}

struct Parser<'a> {
    m: &'a Map<String, Value>,
    at: &'a Path,
    errs: &'a mut Vec<String>,
}

impl Parser<'_> {
    fn err(&mut self, key: &str, what: &str) {
        self.errs.push(format!("{}: {what}", self.at.child(key)));
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.m.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            _ => {
                self.err(key, "must be a string");
                None
            }
        }
    }

    fn boolean(&mut self, key: &str) -> bool {
        match self.m.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(key, "must be a boolean");
                false
            }
        }
    }

    fn number(&mut self, key: &str) -> Option<f64> {
        match self.m.get(key)? {
            Value::Null => None,
            Value::Number(n) => n.as_f64(),
            _ => {
                self.err(key, "must be a number");
                None
            }
        }
    }

    fn integer(&mut self, key: &str) -> Option<i64> {
        match self.m.get(key)? {
            Value::Null => None,
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            _ => {
                self.err(key, "must be an integer");
                None
            }
        }
    }

    fn strings(&mut self, key: &str) -> Vec<String> {
        match self.m.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            Some(_) => {
                self.err(key, "must be a list of strings");
                Vec::new()
            }
        }
    }

    fn schemas(&mut self, key: &str) -> Vec<Schema> {
        match self.m.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => {
                let base = self.at.child(key);
                a.iter().enumerate().map(|(i, x)| Schema::parse(x, &base.index(i), self.errs)).collect()
            }
            Some(_) => {
                self.err(key, "must be a list of schemas");
                Vec::new()
            }
        }
    }

    fn value_validation(&mut self) -> ValueValidation {
        let format = self.string("format").filter(|f| SUPPORTED_FORMATS.contains(&f.replace('-', "").as_str()));
        let pattern = self.string("pattern").filter(|p| !p.is_empty()).and_then(|source| match regex::Regex::new(&super::formats::go_regex_to_rust(&source)) {
            Ok(re) => Some(Pattern { source, re }),
            Err(e) => {
                let msg = format!(
                    "Invalid value: {}: must be a valid regular expression, but isn't: {}",
                    super::gofmt::go_quote(&source),
                    e.to_string().lines().last().unwrap_or("invalid")
                );
                self.err("pattern", &msg);
                None
            }
        });
        let enum_ = match self.m.get("enum") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(a.clone()),
            Some(_) => {
                self.err("enum", "must be a list");
                None
            }
        };
        let not = match self.m.get("not") {
            None | Some(Value::Null) => None,
            Some(x) => Some(Box::new(Schema::parse(x, &self.at.child("not"), self.errs))),
        };
        ValueValidation {
            format,
            maximum: self.number("maximum"),
            exclusive_maximum: self.boolean("exclusiveMaximum"),
            minimum: self.number("minimum"),
            exclusive_minimum: self.boolean("exclusiveMinimum"),
            max_length: self.integer("maxLength"),
            min_length: self.integer("minLength"),
            pattern,
            max_items: self.integer("maxItems"),
            min_items: self.integer("minItems"),
            unique_items: self.boolean("uniqueItems"),
            multiple_of: self.number("multipleOf"),
            enum_,
            max_properties: self.integer("maxProperties"),
            min_properties: self.integer("minProperties"),
            required: self.strings("required"),
            all_of: self.schemas("allOf"),
            any_of: self.schemas("anyOf"),
            one_of: self.schemas("oneOf"),
            not,
        }
    }

    fn rules(&mut self) -> Vec<RawRule> {
        let list = match self.m.get("x-kubernetes-validations") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => {
                self.err("x-kubernetes-validations", "must be a list");
                return Vec::new();
            }
        };
        let base = self.at.child("x-kubernetes-validations");
        let mut out = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let at = base.index(i);
            let Some(o) = r.as_object() else {
                self.errs.push(format!("{at}: must be an object"));
                continue;
            };
            let mut p = Parser { m: o, at: &at, errs: self.errs };
            let rule = RawRule {
                rule: p.string("rule").unwrap_or_default(),
                message: p.string("message").unwrap_or_default(),
                message_expression: p.string("messageExpression").unwrap_or_default(),
                reason: p.string("reason"),
                field_path: p.string("fieldPath").unwrap_or_default(),
                optional_old_self: p.boolean("optionalOldSelf"),
            };
            out.push(rule);
        }
        out
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The JSON kind of a value as kube-openapi names it.
pub(crate) fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.as_i64().is_some() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
