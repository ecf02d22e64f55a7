//! Go formatting rules the messages depend on: `%v` of numbers, `%q` of strings, `encoding/json` output.
//!
//! kube-apiserver builds its validation messages with Go's fmt and encoding/json; byte-identical messages
//! need the same spelling of `1e+06`, of quoted strings and of JSON with HTML escaping.

use serde_json::Value;

/// A JSON number as kube-apiserver holds it after decoding: int64 when it parses as one, float64 otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    /// An integer that fits int64.
    Int(i64),
    /// Anything else.
    Float(f64),
}

impl Num {
    /// The number of a JSON value, None for other kinds.
    pub(crate) fn of(v: &Value) -> Option<Num> {
        let n = v.as_number()?;
        Some(match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        })
    }

    /// The value as float64.
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// As `%v` prints it.
    pub(crate) fn go_v(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_float_v(f),
        }
    }
}

/// Go's float64 to int64 conversion (truncation; out-of-range values become i64::MIN as on amd64).
pub(crate) fn go_f64_to_i64(f: f64) -> i64 {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-TWO_TO_63..TWO_TO_63).contains(&f) { i64::MIN } else { f.trunc() as i64 }
}

/// The shortest decimal digits and the decimal point position of `f` (digits `d1d2...` mean `0.d1d2... * 10^dp`).
fn shortest_digits(f: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest representation that round-trips, as Go's strconv does.
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0').to_string();
    let digits = if digits.is_empty() { "0".to_string() } else { digits };
    (digits, exp + 1)
}

fn exp_suffix(exp: i32, min_digits: usize) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("e{sign}{:0>width$}", exp.abs(), width = min_digits)
}

/// `fmt.Sprintf("%v", f)` for a float64: `%g` with the shortest digits, so the exponent form is used when
/// the decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-05`).
pub(crate) fn go_float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let neg = if f < 0.0 { "-" } else { "" };
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        return format!("{neg}{first}{frac}{}", exp_suffix(exp, 2));
    }
    format!("{neg}{}", place_point(&digits, dp))
}

fn place_point(digits: &str, dp: i32) -> String {
    if dp <= 0 {
        format!("0.{}{digits}", "0".repeat((-dp) as usize))
    } else if dp as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(dp as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(dp as usize);
        format!("{a}.{b}")
    }
}

/// How encoding/json writes a float64: like `%v` but with the exponent form only below 1e-6 or from 1e21.
fn go_json_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let abs = f.abs();
    let neg = if f < 0.0 { "-" } else { "" };
    let (digits, dp) = shortest_digits(f);
    if !(1e-6..1e21).contains(&abs) {
        let exp = dp - 1;
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        return format!("{neg}{first}{frac}{}", exp_suffix(exp, 2).replace("e-0", "e-").replace("e+0", "e+"));
    }
    format!("{neg}{}", place_point(&digits, dp))
}

/// `strconv.Quote`: double quotes, Go escapes, printable Unicode kept as is.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_go_unprintable(c) => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The characters Go's unicode.IsPrint refuses beyond ASCII controls: C1 controls, format characters,
/// separators other than the ASCII space, private use and unassigned surrogate-adjacent ranges.
fn is_go_unprintable(c: char) -> bool {
    let u = c as u32;
    c.is_control()
        || matches!(u, 0x00ad | 0x0600..=0x0605 | 0x061c | 0x06dd | 0x070f | 0x180e | 0x200b..=0x200f)
        || matches!(u, 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff)
        || (c.is_whitespace() && c != ' ')
}

/// `json.Marshal` of a decoded JSON value: sorted keys, HTML-escaped strings, Go float spelling.
pub(crate) fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(_) => match Num::of(v) {
            Some(Num::Int(i)) => out.push_str(&i.to_string()),
            Some(Num::Float(f)) => out.push_str(&go_json_float(f)),
            None => out.push_str("null"),
        },
        Value::String(s) => write_go_json_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(k, out);
                out.push(':');
                write_go_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn write_go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// reflect.DeepEqual on decoded JSON: like `==`, except that int64 and float64 never equal each other.
pub(crate) fn go_deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Num::of(a) == Num::of(b),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| go_deep_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| go_deep_equal(p, q))),
        _ => a == b,
    }
}

/// swag.IsFloat64AJSONInteger: finite, within ±2^53, and integral up to a relative error of 1e-9.
pub(crate) fn is_json_integer(f: f64) -> bool {
    const MAX: f64 = 9_007_199_254_740_991.0;
    if !f.is_finite() || !(-MAX..=MAX).contains(&f) {
        return false;
    }
    let g = f.trunc();
    if f == g {
        return true;
    }
    let diff = (f - g).abs();
    diff / (f.abs() + g.abs()).min(f64::MAX) < 1e-9
}

/// The kind of a JSON value as Go's encoding/json names it in unmarshal errors (`cannot unmarshal number into ...`).
pub(crate) fn go_json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_go_v() {
        let rows: &[(f64, &str, &str)] = &[
            (10.0, "10", "integral float prints bare"),
            (10.5, "10.5", "fraction kept"),
            (100000.0, "100000", "exponent 5 stays plain"),
            (1e6, "1e+06", "exponent 6 switches to the e form with two exponent digits"),
            (1234567.5, "1.2345675e+06", "all shortest digits kept in the e form"),
            (0.0001, "0.0001", "exponent -4 stays plain"),
            (0.00001, "1e-05", "exponent -5 uses e-05"),
            (-2.5, "-2.5", "negative"),
            (1e21, "1e+21", "large"),
        ];
        for (f, want, why) in rows {
            assert_eq!(go_float_v(*f), *want, "{why}");
        }
    }

    #[test]
    fn quote_and_json_follow_go() {
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(go_quote("ключ"), "\"ключ\"");
        assert_eq!(go_json(&json!({"b": 1, "a": [1.5, "<"]})), r#"{"a":[1.5,"\u003c"],"b":1}"#);
        assert_eq!(go_json(&json!(1e-7)), "1e-7");
        assert!(go_deep_equal(&json!({"a": 1}), &json!({"a": 1})));
        assert!(!go_deep_equal(&json!(1), &json!(1.0)));
        assert!(is_json_integer(3.0) && !is_json_integer(3.5));
    }
}
