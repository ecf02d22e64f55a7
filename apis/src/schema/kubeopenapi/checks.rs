//! The leaf validators of kube-openapi's SchemaValidator: type, string, format, number, enum, and the size
//! bounds of lists and objects, each with the message kube-openapi's errors package writes.

use serde_json::Value;

use super::result::{Code, OErr, Res};
use crate::schema::gofmt::{Num, go_deep_equal, go_f64_to_i64, go_float_v, go_quote, is_json_integer};
use crate::schema::node::Schema;

const IN: &str = "body";

/// errors.InvalidType with a string value: `<name> in body must be of type <type>: "<value>"`.
fn invalid_type(name: &str, type_name: &str, value: &str) -> OErr {
    let message = format!("{name} in {IN} must be of type {type_name}: {}", go_quote(value));
    OErr::v(Code::InvalidType, name, Some(Value::String(value.to_string())), message)
}

/// The JSON type and the Go-derived format of a decoded value (schemaInfoForType).
fn type_info(v: &Value) -> (&'static str, &'static str) {
    match v {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
        Value::Number(_) => match Num::of(v) {
            Some(Num::Int(_)) => ("integer", "int64"),
            _ => ("number", "float64"),
        },
    }
}

/// Whether the type validator runs at all for a non-null value.
pub(crate) fn type_applies(s: &Schema) -> bool {
    !s.types().is_empty() || s.vv.format.is_some()
}

/// typeValidator.Validate.
pub(crate) fn type_check(s: &Schema, data: &Value, name: &str) -> Res {
    let types = s.types();
    let ok = || Res { errors: Vec::new(), match_count: 1 };
    if data.is_null() {
        if !types.is_empty() && !types.contains(&"null") && !s.nullable {
            return Res::err(invalid_type(name, &types.join(","), "null"));
        }
        return ok();
    }
    let format = s.vv.format.as_deref().unwrap_or("");
    let (sch_type, data_format) = type_info(data);
    let is_float_int = sch_type == "number" && Num::of(data).is_some_and(|n| is_json_integer(n.as_f64())) && types.contains(&"integer");
    let is_int_float = sch_type == "integer" && types.contains(&"number");
    let stringish = matches!(data, Value::String(_) | Value::Array(_));
    let numeric = types.contains(&"number") || types.contains(&"integer");
    // A formatted schema: a non-string value must match the type or the Go format of the value...
    if !(stringish || format.is_empty() || types.contains(&sch_type) || data_format == format || is_float_int || is_int_float) {
        return Res::err(invalid_type(name, format, data_format));
    }
    // ...and a string or list value passes a non-numeric formatted schema whatever its type.
    if !(numeric || format.is_empty()) && stringish {
        return ok();
    }
    if !(types.contains(&sch_type) || is_float_int || is_int_float) {
        return Res::err(invalid_type(name, &types.join(","), sch_type));
    }
    ok()
}

/// stringValidator.Validate: the first failing of maxLength, minLength and pattern (lengths in characters).
pub(crate) fn string_check(s: &Schema, data: &str, name: &str) -> Res {
    let len = data.chars().count() as i64;
    let value = Some(Value::String(data.to_string()));
    if let Some(max) = s.vv.max_length
        && len > max
    {
        let message = format!("{name} in {IN} should be at most {max} chars long");
        let mut e = OErr::v(Code::TooLong, name, value, message);
        if let OErr::Validation { valid, .. } = &mut e {
            *valid = Some(max);
        }
        return Res::err(e);
    }
    if let Some(min) = s.vv.min_length
        && len < min
    {
        return Res::err(OErr::v(Code::Other, name, value, format!("{name} in {IN} should be at least {min} chars long")));
    }
    if let Some(p) = &s.vv.pattern
        && !p.re.is_match(data)
    {
        return Res::err(OErr::v(Code::Other, name, value, format!("{name} in {IN} should match '{}'", p.source)));
    }
    Res::default()
}

/// formatValidator.Validate (only for formats kube-apiserver keeps).
pub(crate) fn format_check(format: &str, data: &str, name: &str) -> Res {
    if crate::schema::formats::is_valid(format, data) {
        return Res::default();
    }
    Res::err(invalid_type(name, format, data))
}

/// numberValidator.Validate: multipleOf, minimum, maximum, compared natively for int64 values as Go does
/// (the bound is truncated to an integer first).
pub(crate) fn number_check(s: &Schema, data: &Value, name: &str) -> Res {
    let Some(n) = Num::of(data) else {
        return Res::default();
    };
    let mut res = Res::default();
    let value = Some(data.clone());
    // IsValueValidAgainstRange: a value for an integer schema must parse as the Go integer of its format
    // (1.5 does not); the error is a plain one, so kube-apiserver reports it at `<nil>`.
    let format = s.vv.format.as_deref().unwrap_or("");
    if s.types().first() == Some(&"integer") && !fits_integer_format(n, format) {
        res.add(OErr::Composite(if format.is_empty() {
            format!("Checked value must be of type integer (default format) in {name}")
        } else {
            format!("Checked value must be of type integer with format {format} in {name}")
        }));
    }
    if let Some(m) = s.vv.multiple_of {
        let int_factor = go_f64_to_i64(m);
        match n {
            Num::Int(i) if int_factor != 0 => {
                if int_factor < 0 {
                    let msg = format!("factor MultipleOf declared for {name} must be positive: {int_factor}");
                    res.add(OErr::v(Code::Other, name, Some(Value::from(int_factor)), msg));
                } else if i.wrapping_rem(int_factor) != 0 {
                    let msg = format!("{name} in {IN} should be a multiple of {int_factor}");
                    res.add(OErr::v(Code::Other, name, value.clone(), msg));
                }
            }
            _ => {
                let f = n.as_f64();
                if m < 0.0 {
                    let msg = format!("factor MultipleOf declared for {name} must be positive: {}", go_float_v(m));
                    res.add(OErr::v(Code::Other, name, serde_json::Number::from_f64(m).map(Value::Number), msg));
                } else {
                    let mult = if m < 1.0 { 1.0 / m * f } else { f / m };
                    if !is_json_integer(mult) {
                        let msg = format!("{name} in {IN} should be a multiple of {}", go_float_v(m));
                        res.add(OErr::v(Code::Other, name, value.clone(), msg));
                    }
                }
            }
        }
    }
    if let Some(min) = s.vv.minimum {
        let excl = s.vv.exclusive_minimum;
        let (fails, bound) = match n {
            Num::Int(i) => {
                let b = go_f64_to_i64(min);
                ((!excl && i < b) || (excl && i <= b), b.to_string())
            }
            Num::Float(f) => ((!excl && f < min) || (excl && f <= min), go_float_v(min)),
        };
        if fails {
            let op = if excl { "greater than" } else { "greater than or equal to" };
            res.add(OErr::v(Code::Other, name, value.clone(), format!("{name} in {IN} should be {op} {bound}")));
        }
    }
    if let Some(max) = s.vv.maximum {
        let excl = s.vv.exclusive_maximum;
        let (fails, bound) = match n {
            Num::Int(i) => {
                let b = go_f64_to_i64(max);
                ((!excl && i > b) || (excl && i >= b), b.to_string())
            }
            Num::Float(f) => ((!excl && f > max) || (excl && f >= max), go_float_v(max)),
        };
        if fails {
            let op = if excl { "less than" } else { "less than or equal to" };
            res.add(OErr::v(Code::Other, name, value, format!("{name} in {IN} should be {op} {bound}")));
        }
    }
    res.inc();
    res
}

/// Whether a number parses as the Go integer type of `format` (swag.ConvertInt32/Uint32/Uint64/Int64 of its
/// decimal spelling).
fn fits_integer_format(n: Num, format: &str) -> bool {
    let i = match n {
        Num::Int(i) => i128::from(i),
        Num::Float(f) if is_json_integer(f) && f.abs() < 1e30 => f as i128,
        Num::Float(_) => return false,
    };
    match format {
        "int32" => i32::try_from(i).is_ok(),
        "uint32" => u32::try_from(i).is_ok(),
        "uint64" => u64::try_from(i).is_ok(),
        _ => i64::try_from(i).is_ok(),
    }
}

/// The minItems, maxItems and uniqueItems checks of the slice validator (after its items).
pub(crate) fn list_bounds(s: &Schema, a: &[Value], name: &str, res: &mut Res) {
    let size = a.len() as i64;
    if let Some(min) = s.vv.min_items
        && size < min
    {
        let msg = format!("{name} in {IN} should have at least {min} items");
        res.add(OErr::v(Code::Other, name, Some(Value::from(size)), msg));
    }
    if let Some(max) = s.vv.max_items
        && size > max
    {
        let msg = format!("{name} in {IN} should have at most {max} items");
        let mut e = OErr::v(Code::MaxItems, name, Some(Value::from(size)), msg);
        if let OErr::Validation { valid, .. } = &mut e {
            *valid = Some(max);
        }
        res.add(e);
    }
    if s.vv.unique_items && a.iter().enumerate().any(|(i, x)| a[..i].iter().any(|y| go_deep_equal(x, y))) {
        res.add(OErr::v(Code::Other, name, None, format!("{name} in {IN} shouldn't contain duplicates")));
    }
}

/// The minProperties and maxProperties checks of the object validator.
pub(crate) fn object_bounds(s: &Schema, n: usize, name: &str, res: &mut Res) {
    let n = n as i64;
    if let Some(min) = s.vv.min_properties
        && n < min
    {
        let msg = format!("{name} in {IN} should have at least {min} properties");
        res.add(OErr::v(Code::Other, name, Some(Value::from(n)), msg));
    }
    if let Some(max) = s.vv.max_properties
        && n > max
    {
        let msg = format!("{name} in {IN} should have at most {max} properties");
        let mut e = OErr::v(Code::TooManyProperties, name, Some(Value::from(n)), msg);
        if let OErr::Validation { valid, .. } = &mut e {
            *valid = Some(max);
        }
        res.add(e);
    }
}

/// basicCommonValidator.Validate: the value must equal an enum entry after Go's type conversion.
pub(crate) fn enum_check(s: &Schema, data: &Value, name: &str) -> Res {
    let Some(values) = &s.vv.enum_ else {
        return Res::default();
    };
    if values.is_empty() || values.iter().any(|e| go_enum_match(data, e)) {
        return Res::default();
    }
    let message = format!("{name} in {IN} should be one of {}", go_print_list(values));
    Res::err(OErr::Validation { code: Code::Enum, name: name.to_string(), value: Some(data.clone()), valid: None, values: values.clone(), message })
}

/// reflect conversion then DeepEqual, as the enum check does: an int converts to a float or to the string of
/// its rune, a float to a truncated int; anything else must be equal as is.
fn go_enum_match(data: &Value, e: &Value) -> bool {
    match (Num::of(data), Num::of(e), data, e) {
        (Some(Num::Int(i)), Some(Num::Int(j)), ..) => i == j,
        (Some(Num::Int(i)), Some(Num::Float(f)), ..) => i as f64 == f,
        (Some(Num::Float(f)), Some(Num::Int(j)), ..) => go_f64_to_i64(f) == j,
        (Some(Num::Float(f)), Some(Num::Float(g)), ..) => f == g,
        (Some(Num::Int(i)), None, _, Value::String(s)) => {
            let c = u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}');
            *s == c.to_string()
        }
        (_, _, Value::Null, _) | (_, _, _, Value::Null) => false,
        _ => go_deep_equal(data, e),
    }
}

/// `%v` of a []interface{} of decoded JSON: `[a 1 map[k:v] [x y]]`.
fn go_print_list(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(go_print).collect();
    format!("[{}]", items.join(" "))
}

fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => Num::of(v).map(Num::go_v).unwrap_or_default(),
        Value::String(s) => s.clone(),
        Value::Array(a) => go_print_list(a),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys.into_iter().map(|k| format!("{k}:{}", go_print(&m[k]))).collect();
            format!("map[{}]", items.join(" "))
        }
    }
}
