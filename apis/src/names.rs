//! Validation of names, label keys and label values, with the messages of k8s.io/apimachinery v0.37.
//!
//! Each check returns every problem it finds as a message, empty when the value is valid, exactly as
//! `k8s.io/apimachinery/pkg/util/validation` does, so a client sees the same words as from kube-apiserver.
//! Lengths are counted in bytes, as Go's `len` does. Upstream words the length limit differently by origin:
//! the DNS checks say "characters", while label keys and values (and a label key's DNS prefix), which moved
//! to `pkg/api/validate/content`, say "bytes"; both are kept.

/// Longest DNS-1123 label (RFC 1123).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Longest DNS-1123 subdomain (RFC 1123).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Longest DNS-1035 label (RFC 1035).
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// Longest name part of a qualified name (a label key without its prefix).
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// Longest label value.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR: &str =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR: &str =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR: &str =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// Checks a DNS-1123 label (`my-name`, `123-abc`): a namespace name, for instance.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH, "characters"));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            // A valid subdomain that is not a valid label can only be wrong by its dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(DNS1123_LABEL_ERR, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

/// Checks a DNS-1123 subdomain (`example.com`): the name of most objects.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    dns1123_subdomain_errors(value, "characters")
}

/// Checks a DNS-1035 label (`my-name`, `abc-123`): like a DNS-1123 label, but starting with a letter.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH, "characters"));
    }
    if !matches_dns1035_label(value) {
        errs.push(regex_error(DNS1035_LABEL_ERR, DNS1035_LABEL_FMT, &["my-name", "abc-123"]));
    }
    errs
}

/// Checks a qualified name: a label or annotation key, `name` or `dns-subdomain-prefix/name`.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(dns1123_subdomain_errors(prefix, "bytes").into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            let regex = regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"]);
            return vec![format!("a valid label key {regex} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!("name part {}", max_len_error(QUALIFIED_NAME_MAX_LENGTH, "bytes")));
    }
    if !matches_qualified_name(name) {
        let regex = regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"]);
        errs.push(format!("name part {regex}"));
    }
    errs
}

/// Checks a label value: empty, or a qualified name part of at most 63 bytes.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH, "bytes"));
    }
    if !value.is_empty() && !matches_qualified_name(value) {
        errs.push(regex_error(LABEL_VALUE_ERR, LABEL_VALUE_FMT, &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// The subdomain check, with the length unit of the package it stands for.
fn dns1123_subdomain_errors(value: &str, unit: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH, unit));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, &["example.com"]));
    }
    errs
}

/// As validation.MaxLenError (unit "characters") or content.MaxLenError (unit "bytes").
fn max_len_error(length: usize, unit: &str) -> String {
    format!("must be no more than {length} {unit}")
}

/// As validation.RegexError, including its doubled space before ` or`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let listed: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!("{msg} (e.g. {}regex used for validation is '{fmt}')", listed.join(" or "))
}

// The matchers below stand for the regular expressions above, anchored at both ends. Every allowed
// character is ASCII, so checking bytes is exact: any byte of a multi-byte character is rejected.

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1123_label(s: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bounded(s, alnum, alnum, |b| alnum(b) || *b == b'-')
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`
fn matches_dns1035_label(s: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bounded(s, u8::is_ascii_lowercase, alnum, |b| alnum(b) || *b == b'-')
}

/// One or more DNS-1123 labels joined by dots.
fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn matches_qualified_name(s: &str) -> bool {
    bounded(s, u8::is_ascii_alphanumeric, u8::is_ascii_alphanumeric, |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A non-empty string whose first and last bytes pass `first` and `last`, and every byte passes `inner`.
fn bounded(s: &str, first: impl Fn(&u8) -> bool, last: impl Fn(&u8) -> bool, inner: impl Fn(&u8) -> bool) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => first(f) && last(l) && b.iter().all(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    /// A check under test.
    type Check = fn(&str) -> Vec<String>;

    /// Runs `check` on every value and asserts it is accepted or rejected as the row says.
    fn assert_accepts(name: &str, check: Check, good: &[&str], bad: &[&str]) {
        for v in good {
            assert_eq!(check(v), Vec::<String>::new(), "{name} should accept {v:?}");
        }
        for v in bad {
            assert!(!check(v).is_empty(), "{name} should reject {v:?}");
        }
    }

    #[test]
    fn dns1123_label_accepts_as_upstream() {
        let long_ok = "a".repeat(63);
        let long_bad = "a".repeat(64);
        #[rustfmt::skip]
        let good = ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2", &long_ok];
        #[rustfmt::skip]
        let bad = [
            "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1",
            "_", "a_", "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2",
            " ", "a ", " a", "a b", "1 ", " 1", "1 2", "é", "a\n", &long_bad,
        ];
        assert_accepts("is_dns1123_label", is_dns1123_label, &good, &bad);
    }

    #[test]
    fn dns1123_subdomain_accepts_as_upstream() {
        let long_ok = "a".repeat(253);
        let long_bad = "a".repeat(254);
        #[rustfmt::skip]
        let good = [
            "a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2",
            "a.a", "ab.a", "abc.a", "a1.a", "a-1.a", "a--1--2--b.a", "a.1", "ab.1", "abc.1", "a1.1", "a-1.1",
            "0.a", "01.a", "012.a", "1a.a", "1-a.a", "0.1", "01.1", "012.1", "1a.1", "1-a.1", "1--a--b--2.1",
            "a.b.c.d.e", "aa.bb.cc.dd.ee", "1.2.3.4.5", "11.22.33.44.55", &long_ok,
        ];
        #[rustfmt::skip]
        let bad = [
            "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1",
            "_", "a_", "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a..b", "1.", ".1", "1..2",
            " ", "a ", " a", "a b", "1 ", " 1", "1 2", "A.a", "aB.a", "ab.A", "A1.a", "a1.A",
            "A.1", "aB.1", "A1.1", "1A.1", "0.A", "01.A", "012.A", "1A.a", "1a.A",
            "A.B.C.D.E", "AA.BB.CC.DD.EE", "a.B.c.d.e", "aa.bB.cc.dd.ee",
            "a@b", "a,b", "a;b", "a:b", "a%b", "a?b", "a$b", "a-.b", "a.-b", &long_bad,
        ];
        assert_accepts("is_dns1123_subdomain", is_dns1123_subdomain, &good, &bad);
    }

    #[test]
    fn dns1035_label_accepts_as_upstream() {
        let long_ok = "a".repeat(63);
        let long_bad = "a".repeat(64);
        let good = ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", &long_ok];
        #[rustfmt::skip]
        let bad = [
            "0", "01", "012", "1a", "1-a", "1--a--b--2", "", "A", "ABC", "aBc", "A1", "A-1", "1-A",
            "-", "a-", "-a", "1-", "-1", "_", "a_", "_a", "a_b", "1_", "_1", "1_2",
            ".", "a.", ".a", "a.b", "1.", ".1", "1.2", " ", "a ", " a", "a b", "1 ", " 1", "1 2", &long_bad,
        ];
        assert_accepts("is_dns1035_label", is_dns1035_label, &good, &bad);
    }

    #[test]
    fn qualified_name_accepts_as_upstream() {
        let long_ok = "a".repeat(63);
        let long_prefixed = format!("{}/{}", "a".repeat(253), "b".repeat(63));
        let long_bad = "a".repeat(64);
        let long_prefix_bad = format!("{}/abc", "a".repeat(254));
        #[rustfmt::skip]
        let good = [
            "simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple", "now-with-dashes/simple",
            "now-with-dashes/now-with-dashes", "now.with.dots/simple", "now-with.dashes-and.dots/simple",
            "1-num.2-num/3-num", "1234/5678", "1.2.3.4/5678", "Uppercase_Is_OK_123",
            "example.com/Uppercase_Is_OK_123", "requests.storage-foo", "apps.cozystack.io/application.name",
            &long_ok, &long_prefixed,
        ];
        #[rustfmt::skip]
        let bad = [
            "nospecialchars%^=@", "cantendwithadash-", "-cantstartwithadash-", "only/one/slash",
            "Example.com/abc", "example_com/abc", "example.com/", "/simple", "", "/", "a b", &long_bad, &long_prefix_bad,
        ];
        assert_accepts("is_qualified_name", is_qualified_name, &good, &bad);
    }

    #[test]
    fn label_value_accepts_as_upstream() {
        let long_ok = "a".repeat(63);
        let long_bad = "a".repeat(64);
        #[rustfmt::skip]
        let good = ["simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", "a_b.c", "", &long_ok];
        #[rustfmt::skip]
        let bad = [
            "nospecialchars%^=@", "Tama-nui-te-rā.is.Māori.sun", "\\backslashes\\are\\bad", "-starts-with-dash",
            "ends-with-dash-", ".starts.with.dot", "ends.with.dot.", "a/b", " ", &long_bad,
        ];
        assert_accepts("is_valid_label_value", is_valid_label_value, &good, &bad);
    }

    #[test]
    fn messages_match_apimachinery() {
        let long63 = "a".repeat(64);
        let long253 = "a".repeat(254);
        let long_name = format!("example.com/{}", "a".repeat(64));
        let cases: Vec<(&str, Check, &str, Vec<String>)> = vec![
            ("label: pattern", is_dns1123_label, "Foo", vec![DNS1123_LABEL_MSG.into()]),
            ("label: dots", is_dns1123_label, "a.b", vec!["must not contain dots".into()]),
            ("label: empty", is_dns1123_label, "", vec![DNS1123_LABEL_MSG.into()]),
            ("label: too long", is_dns1123_label, &long63, vec!["must be no more than 63 characters".into()]),
            (
                "label: too long and dotted",
                is_dns1123_label,
                "a.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                vec!["must be no more than 63 characters".into(), "must not contain dots".into()],
            ),
            ("subdomain: pattern", is_dns1123_subdomain, "a_b", vec![DNS1123_SUBDOMAIN_MSG.into()]),
            ("subdomain: too long", is_dns1123_subdomain, &long253, vec!["must be no more than 253 characters".into()]),
            ("dns1035: digit first", is_dns1035_label, "1a", vec![DNS1035_LABEL_MSG.into()]),
            ("dns1035: too long", is_dns1035_label, &long63, vec!["must be no more than 63 characters".into()]),
            ("key: bad name", is_qualified_name, "a b", vec![NAME_PART_MSG.into()]),
            ("key: empty", is_qualified_name, "", vec!["name part must be non-empty".into(), NAME_PART_MSG.into()]),
            (
                "key: empty prefix",
                is_qualified_name,
                "/a",
                vec!["prefix part must be non-empty".into()],
            ),
            (
                "key: bad prefix",
                is_qualified_name,
                "Example.com/a",
                vec![format!("prefix part {DNS1123_SUBDOMAIN_MSG}")],
            ),
            (
                "key: long name",
                is_qualified_name,
                &long_name,
                vec!["name part must be no more than 63 bytes".into()],
            ),
            (
                "key: two slashes",
                is_qualified_name,
                "a/b/c",
                vec!["a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".into()],
            ),
            ("value: pattern", is_valid_label_value, "-a", vec![LABEL_VALUE_MSG.into()]),
            ("value: too long", is_valid_label_value, &long63, vec!["must be no more than 63 bytes".into()]),
        ];
        for (why, check, input, want) in cases {
            assert_eq!(check(input), want, "{why}: {input:?}");
        }
    }

    #[test]
    fn long_prefix_says_bytes_like_content_package() {
        let key = format!("{}/a", "a".repeat(254));
        assert_eq!(is_qualified_name(&key), vec!["prefix part must be no more than 253 bytes".to_string()]);
    }

    proptest::proptest! {
        #[test]
        fn checks_never_panic(s in "\\PC{0,300}") {
            let _ = (is_dns1123_label(&s), is_dns1123_subdomain(&s), is_dns1035_label(&s));
            let _ = (is_qualified_name(&s), is_valid_label_value(&s));
        }

        #[test]
        fn valid_labels_are_valid_subdomains_and_values(s in "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?") {
            proptest::prop_assert!(is_dns1123_label(&s).is_empty());
            proptest::prop_assert!(is_dns1123_subdomain(&s).is_empty());
            proptest::prop_assert!(is_qualified_name(&s).is_empty());
            proptest::prop_assert!(is_valid_label_value(&s).is_empty());
        }
    }
}
