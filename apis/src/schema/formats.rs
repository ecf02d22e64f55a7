//! String formats as kube-openapi's strfmt registry checks them, and Go regexp syntax mapped to the regex crate.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;

fn re(s: &str) -> Regex {
    Regex::new(s).expect("static regex")
}

static UUID: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID3: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"));
static UUID4: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"));
static UUID5: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"));
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z0-9\p{S}\p{L}])(-?[a-zA-Z0-9\p{S}\p{L}]){1,62})$",
    )
});
static BASE64: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"));
static CREDIT_CARD: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})$",
    )
});
static SSN: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$"));
static HEX_COLOR: LazyLock<Regex> = LazyLock::new(|| re(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGB_COLOR: LazyLock<Regex> = LazyLock::new(|| {
    let n = r"(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])";
    re(&format!(r"^rgb\(\s*{n}\s*,\s*{n}\s*,\s*{n}\s*\)$"))
});
static DATE_TIME_TAIL: LazyLock<Regex> = LazyLock::new(|| re(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(([\.,][0-9]+)?)(z|([+-][0-9]{2}:[0-9]{2}))$"));
static DURATION_PART: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+)\s*([A-Za-zµ]+)"));
static ISBN10: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:[0-9]{9}X|[0-9]{10})$"));
static ISBN13: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:[0-9]{13})$"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| re(r#"^(?:[^<>]*<)?[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\[\]:-]+>?$"#));

/// Whether `s` is valid for a supported format (`format` as written in the schema, `-` allowed).
pub(crate) fn is_valid(format: &str, s: &str) -> bool {
    match format.replace('-', "").as_str() {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => EMAIL.is_match(s),
        "hostname" => HOSTNAME.is_match(s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63),
        "ipv4" => s.parse::<IpAddr>().is_ok() && s.contains('.'),
        "ipv6" => s.parse::<IpAddr>().is_ok() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => UUID.is_match(s),
        "uuid3" => UUID3.is_match(s),
        "uuid4" => UUID4.is_match(s),
        "uuid5" => UUID5.is_match(s),
        "isbn" => is_isbn(s, 10) || is_isbn(s, 13),
        "isbn10" => is_isbn(s, 10),
        "isbn13" => is_isbn(s, 13),
        "creditcard" => is_credit_card(s),
        "ssn" => s.len() == 11 && SSN.is_match(s),
        "hexcolor" => HEX_COLOR.is_match(s),
        "rgbcolor" => RGB_COLOR.is_match(s),
        "byte" => BASE64.is_match(s),
        "date" => is_date(s),
        "datetime" => is_date_time(s),
        "duration" => is_duration(s),
        _ => true,
    }
}

/// Go's time.Parse("2006-01-02", s): four-digit year, two-digit month and day, day within the month.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|x| x.bytes().all(|c| c.is_ascii_digit()))?.parse::<u32>().ok();
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// strfmt.IsDateTime: a date, a `t`, then `hh:mm:ss[.frac](z|±hh:mm)`, case-insensitive.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let parts: Vec<&str> = lower.split('t').collect();
    if parts.len() < 2 || !is_date(parts[0]) {
        return false;
    }
    let Some(c) = DATE_TIME_TAIL.captures(parts[1]) else {
        return false;
    };
    c[1] <= *"23" && c[2] <= *"59" && c[3] <= *"59"
}

/// strfmt.ParseDuration: Go's time.ParseDuration, else any `<n> <unit>` pair with a known unit word.
fn is_duration(s: &str) -> bool {
    if is_go_duration(s) {
        return true;
    }
    const UNITS: &[&[&str]] =
        &[&["ns", "nano"], &["us", "µs", "micro"], &["ms", "milli"], &["s", "sec"], &["m", "min"], &["h", "hr", "hour"], &["d", "day"], &["w", "wk", "week"]];
    let mut ok = false;
    for c in DURATION_PART.captures_iter(s) {
        if c[1].parse::<i64>().is_err() {
            return false;
        }
        let unit = c[2].trim().to_lowercase();
        for variants in UNITS {
            let last = variants.len() - 1;
            for (i, v) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v) {
                    ok = true;
                }
            }
        }
    }
    ok
}

/// Go's time.ParseDuration syntax: `[-+]` then one or more `<decimal><unit>`, or a bare `0`.
fn is_go_duration(s: &str) -> bool {
    static GO: LazyLock<Regex> = LazyLock::new(|| re(r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$"));
    GO.is_match(s)
}

/// url.ParseRequestURI: an absolute URI (`scheme:...`) or an absolute path, no control bytes, valid escapes.
fn is_request_uri(s: &str) -> bool {
    static SCHEME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z][A-Za-z0-9+.-]*:"));
    if s.is_empty() || s.chars().any(|c| (c as u32) < 0x20 || c as u32 == 0x7f || c == ' ') {
        return false;
    }
    let rest = if let Some(m) = SCHEME.find(s) {
        &s[m.end()..]
    } else if s.starts_with('/') {
        s
    } else {
        return false;
    };
    if let Some(authority) = rest.strip_prefix("//") {
        let host = authority.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit('@').next().unwrap_or(host);
        if host.starts_with('[') && !host.contains(']') {
            return false;
        }
    }
    // Escapes must be complete: `%` and two hex digits.
    let b = rest.as_bytes();
    b.iter().enumerate().all(|(i, c)| *c != b'%' || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)))
}

/// net.ParseCIDR: an IP address, `/`, and a decimal prefix length within the address size.
fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let max = if ip.parse::<Ipv4Addr>().is_ok() {
        32
    } else if ip.parse::<Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) && bits.parse::<u32>().is_ok_and(|n| n <= max)
}

/// net.ParseMAC: 6, 8 or 20 octets as `xx:xx..`, `xx-xx..` or `xxxx.xxxx..`.
fn is_mac(s: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let octets_ok = |n: usize| n == 6 || n == 8 || n == 20;
    if s.contains(':') || s.contains('-') {
        let sep = if s.contains(':') { ':' } else { '-' };
        let parts: Vec<&str> = s.split(sep).collect();
        return octets_ok(parts.len()) && parts.iter().all(|p| hex(p, 2));
    }
    let parts: Vec<&str> = s.split('.').collect();
    octets_ok(parts.len() * 2) && parts.iter().all(|p| hex(p, 4))
}

/// govalidator.IsISBN: spaces and dashes removed, then the ISBN-10 or ISBN-13 checksum.
fn is_isbn(s: &str, version: u32) -> bool {
    let clean: String = s.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    let digit = |c: u8| (c - b'0') as u32;
    let b = clean.as_bytes();
    match version {
        10 if ISBN10.is_match(&clean) => {
            let mut sum = 0;
            for (i, c) in b[..9].iter().enumerate() {
                sum += (i as u32 + 1) * digit(*c);
            }
            sum += if b[9] == b'X' { 100 } else { 10 * digit(b[9]) };
            sum % 11 == 0
        }
        13 if ISBN13.is_match(&clean) => {
            let sum: u32 = b[..12].iter().enumerate().map(|(i, c)| if i % 2 == 0 { digit(*c) } else { 3 * digit(*c) }).sum();
            (10 - sum % 10) % 10 == digit(b[12])
        }
        _ => false,
    }
}

/// govalidator.IsCreditCard: non-digits removed, a known card pattern, and the Luhn checksum.
fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !CREDIT_CARD.is_match(&digits) {
        return false;
    }
    let mut sum = 0;
    let mut double = false;
    for c in digits.bytes().rev() {
        let mut d = (c - b'0') as u32;
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum % 10 == 0
}

/// Rewrites a Go (RE2) pattern for the regex crate: Go's `\d`, `\w`, `\s` and `\b` are ASCII-only while the
/// regex crate's are Unicode-aware by default.
pub(crate) fn go_regex_to_rust(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut in_class = false;
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match n {
                    'd' => Some(("0-9", "[0-9]")),
                    'D' => Some(("", "[^0-9]")),
                    'w' => Some(("0-9A-Za-z_", "[0-9A-Za-z_]")),
                    'W' => Some(("", "[^0-9A-Za-z_]")),
                    's' => Some(("\\t\\n\\f\\r ", "[\\t\\n\\f\\r ]")),
                    'S' => Some(("", "[^\\t\\n\\f\\r ]")),
                    _ => None,
                };
                match (class, in_class) {
                    (Some((inside, _)), true) if !inside.is_empty() => out.push_str(inside),
                    (Some((_, outside)), false) => out.push_str(outside),
                    _ if (n == 'b' || n == 'B') && !in_class => out.push_str(if n == 'b' { "(?-u:\\b)" } else { "(?-u:\\B)" }),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class such as [:alpha:] inside a bracket expression.
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_accept_and_refuse() {
        let rows: &[(&str, &str, bool, &str)] = &[
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", true, "canonical uuid"),
            ("uuid", "not-a-uuid", false, "garbage"),
            ("uuid4", "123e4567-e89b-42d3-a456-426614174000", true, "version 4"),
            ("date", "2024-02-29", true, "leap day"),
            ("date", "2023-02-29", false, "no leap day in 2023"),
            ("date-time", "2024-01-02T03:04:05Z", true, "UTC date-time"),
            ("date-time", "2024-01-02T03:04:05.123+02:00", true, "offset and fraction"),
            ("date-time", "2024-01-02 03:04:05", false, "space instead of T"),
            ("byte", "aGVsbG8=", true, "padded base64"),
            ("byte", "aGVsbG8", false, "unpadded base64"),
            ("ipv4", "10.0.0.1", true, "ipv4"),
            ("ipv4", "10.0.0.256", false, "octet too large"),
            ("ipv6", "::1", true, "ipv6"),
            ("cidr", "10.0.0.0/8", true, "cidr"),
            ("cidr", "10.0.0.0/33", false, "prefix too long"),
            ("mac", "01:23:45:67:89:ab", true, "colon mac"),
            ("hostname", "example.com", true, "hostname"),
            ("hostname", "-bad-.com", false, "leading dash"),
            ("duration", "1h30m", true, "Go duration"),
            ("duration", "3 days", true, "Scala-style duration"),
            ("duration", "soon", false, "no number"),
            ("uri", "https://example.com/x", true, "absolute URI"),
            ("uri", "example.com", false, "relative reference"),
            ("uri", "/path?q=%zz", false, "broken escape"),
            ("email", "a@b.c", true, "email"),
            ("isbn10", "0321751043", true, "isbn10"),
            ("isbn13", "978-0321751041", true, "isbn13"),
            ("hexcolor", "#fff", true, "short hex color"),
            ("rgbcolor", "rgb(255, 0, 10)", true, "rgb color"),
            ("ssn", "123-45-6789", true, "ssn"),
            ("password", "anything", true, "password accepts everything"),
        ];
        for (format, value, want, why) in rows {
            assert_eq!(is_valid(format, value), *want, "{format} {value:?}: {why}");
        }
    }

    #[test]
    fn go_classes_stay_ascii() {
        let rows: &[(&str, &str, bool, &str)] = &[
            (r"^\d+$", "123", true, "ascii digits"),
            (r"^\d+$", "١٢٣", false, "Arabic-Indic digits are not \\d in Go"),
            (r"^[\w-]+$", "a_b-c", true, "\\w inside a class"),
            (r"^\s$", "\u{a0}", false, "no-break space is not \\s in Go"),
            (r"^[^\d]+$", "abc", true, "negated class with \\d"),
            (r"^[]a]+$", "]a", true, "leading ] is a literal"),
        ];
        for (pattern, value, want, why) in rows {
            let r = Regex::new(&go_regex_to_rust(pattern)).expect(why);
            assert_eq!(r.is_match(value), *want, "{pattern} {value:?}: {why}");
        }
    }
}
