use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn field(s: &str) -> FieldSelector {
    FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

#[test]
fn field_selectors_parse_to_their_canonical_form() {
    #[rustfmt::skip]
    let rows = [
        ("", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("x!=a,y=b", "x!=a,y=b"),
        (r"x=a||y\=b", r"x=a||y\=b"),
        (r"x=a\=\=b", r"x=a\=\=b"),
        ("x==a", "x=a"),
        ("x=a,a=x", "a=x,x=a"),
        ("a=a,", "a=a"),
        (",a=a", "a=a"),
        ("=", ""),
        ("!=", ""),
        ("==,=", ""),
        ("=x", "=x"),
        ("a=", "a="),
        (r"k=\,,k2=v2", r"k2=v2,k=\,"),
        (r"k=\\,k2=v2", r"k2=v2,k=\\"),
        (r"k=\\\,,k2=v2", r"k2=v2,k=\\\,"),
        (r"a\,b=c", r"a\,b=c"),
        ("함=수,목=록", "목=록,함=수"),
        ("a=b!c", "a=b!c"),
        ("a!b=c", "a!b=c"),
        ("metadata.name=db,status.phase!=Running", "metadata.name=db,status.phase!=Running"),
    ];
    for (input, want) in rows {
        assert_eq!(field(input).to_string(), want, "parse {input:?}");
    }
}

#[test]
fn field_selector_errors_match_apimachinery() {
    #[rustfmt::skip]
    let rows = [
        ("x=a||y=b", "invalid field selector: unescaped character in value: 61"),
        ("x==a==b", "invalid field selector: unescaped character in value: 61"),
        ("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'"),
        ("x in (a)", "invalid selector: 'x in (a)'; can't understand 'x in (a)'"),
        ("x in (a,b,c)", "invalid selector: 'x in (a,b,c)'; can't understand 'b'"),
        ("x", "invalid selector: 'x'; can't understand 'x'"),
        (r"k=\a", r"invalid field selector: invalid escape sequence: \a"),
        (r"k=\!", r"invalid field selector: invalid escape sequence: \!"),
        (r"k=\", r"invalid field selector: invalid escape sequence: \"),
        (r"k=\\\", r"invalid field selector: invalid escape sequence: \"),
        (r"k=\수", r"invalid field selector: invalid escape sequence: \수"),
    ];
    for (input, want) in rows {
        assert_eq!(FieldSelector::parse(input), Err(SelectorError::Field(want.into())), "parse {input:?}");
    }
}

#[test]
fn field_terms_split_as_upstream() {
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<&str>)> = vec![
        ("a", vec!["a"]),
        ("a=avalue", vec!["a=avalue"]),
        ("a=avalue,b=bvalue", vec!["a=avalue", "b=bvalue"]),
        ("a=avalue,b==bvalue,c!=cvalue", vec!["a=avalue", "b==bvalue", "c!=cvalue"]),
        ("", vec![]),
        ("a=a,", vec!["a=a", ""]),
        (",a=a", vec!["", "a=a"]),
        (r"k=\,,k2=v2", vec![r"k=\,", "k2=v2"]),
        (r"k=\\,k2=v2", vec![r"k=\\", "k2=v2"]),
        (r"k=\\\,,k2=v2", vec![r"k=\\\,", "k2=v2"]),
        (r"k=\a\b\", vec![r"k=\a\b\"]),
        (r"k=\", vec![r"k=\"]),
        ("함=수,목=록", vec!["함=수", "목=록"]),
    ];
    for (input, want) in rows {
        assert_eq!(split_terms(input), want, "split {input:?}");
    }
    #[rustfmt::skip]
    let terms = [
        ("a=value", Some(("a", FieldOperator::Eq, "value"))),
        ("b==value", Some(("b", FieldOperator::Eq, "value"))),
        ("c!=value", Some(("c", FieldOperator::NotEq, "value"))),
        ("", None),
        ("a", None),
        (r"k=\,", Some(("k", FieldOperator::Eq, r"\,"))),
        (r"k=\=", Some(("k", FieldOperator::Eq, r"\="))),
        (r"k=\\\a\b\=\,\", Some(("k", FieldOperator::Eq, r"\\\a\b\=\,\"))),
        ("함=수", Some(("함", FieldOperator::Eq, "수"))),
    ];
    for (term, want) in terms {
        assert_eq!(split_term(term), want, "split term {term:?}");
    }
}

#[test]
fn field_values_escape_and_unescape() {
    let rows = [("", ""), ("a", "a"), ("=", r"\="), (",", r"\,"), (r"\", r"\\"), (r"\=\,\", r"\\\=\\\,\\")];
    for (plain, escaped) in rows {
        let req = FieldRequirement { field: "f".into(), op: FieldOperator::Eq, value: plain.into() };
        assert_eq!(req.to_string(), format!("f={escaped}"), "escape {plain:?}");
        assert_eq!(unescape_value(escaped), Ok(plain.to_string()), "unescape {escaped:?}");
    }
}

#[test]
fn field_selectors_match_as_upstream() {
    let fields = BTreeMap::from([("foo", "bar"), ("baz", "blah"), ("complex", r"=value\,\")]);
    let lookup = |f: &str| fields.get(f).copied();
    #[rustfmt::skip]
    let rows = [
        ("", true),
        ("foo=bar", true),
        ("baz=blah", true),
        ("foo=bar,baz=blah", true),
        (r"foo=bar,baz=blah,complex=\=value\\\,\\", true),
        ("foo=blah", false),
        ("baz=bar", false),
        ("foo=bar,foobar=bar,baz=blah", false),
        ("foobar=", true),
        ("foobar!=", false),
        ("foobar!=x", true),
        ("foo!=bar", false),
    ];
    for (selector, want) in rows {
        assert_eq!(field(selector).matches(lookup), want, "{selector:?}");
    }
    let owned = |f: &str| (f == "x").then(|| "y".to_string());
    assert!(field("x=y,z!=w").matches(owned));
}

#[test]
fn field_values_map_onto_backing_names() {
    let backing = |f: &str, v: &str| {
        if f == "metadata.name" { format!("postgres-{v}") } else { v.to_string() }
    };
    #[rustfmt::skip]
    let rows = [
        ("", ""),
        ("metadata.name=db", "metadata.name=postgres-db"),
        ("metadata.name!=db,metadata.namespace=t", "metadata.name!=postgres-db,metadata.namespace=t"),
        ("metadata.name=z,a=b", "a=b,metadata.name=postgres-z"),
    ];
    for (selector, want) in rows {
        assert_eq!(field(selector).map_values(backing).to_string(), want, "{selector:?}");
    }
    let escaped = field("metadata.name=db").map_values(|_, v| format!("{v},x=y"));
    assert_eq!(escaped.to_string(), r"metadata.name=db\,x\=y");
    assert_eq!(FieldSelector::parse(&escaped.to_string()), Ok(escaped));
}

#[test]
fn field_exact_value_is_requires_exact_match() {
    #[rustfmt::skip]
    let rows = [
        ("", "test", None),
        ("a=b", "test", None),
        ("test=b", "test", Some("b")),
        ("test=", "test", Some("")),
        ("test!=b", "test", None),
        ("test!=", "test", None),
        ("a=c,test=b", "test", Some("b")),
        ("test!=a,test==b", "test", Some("b")),
        ("metadata.name=db", "metadata.name", Some("db")),
    ];
    for (selector, name, want) in rows {
        assert_eq!(field(selector).exact_value(name), want, "{selector:?} on {name}");
    }
}

#[test]
fn unsupported_fields_are_named_as_kube_apiserver_does() {
    let served = ["metadata.name", "metadata.namespace"];
    #[rustfmt::skip]
    let rows = [
        ("", Ok(())),
        ("metadata.name=a,metadata.namespace!=b", Ok(())),
        ("metadata.name=a,spec.x=b", Err(SelectorError::UnsupportedField("spec.x".into()))),
        ("status.y=1,spec.x=b", Err(SelectorError::UnsupportedField("spec.x".into()))),
    ];
    for (selector, want) in rows {
        assert_eq!(field(selector).check_supported(&served), want, "{selector:?}");
    }
    assert_eq!(SelectorError::UnsupportedField("spec.x".into()).to_string(), "field label not supported: spec.x");
}

proptest! {
    #[test]
    fn field_parser_never_panics_and_round_trips(s in "[ab=!,\\\\\u{d55c}]{0,24}|\\PC{0,40}") {
        if let Ok(parsed) = FieldSelector::parse(&s) {
            prop_assert_eq!(FieldSelector::parse(&parsed.to_string()), Ok(parsed.clone()));
            let _ = parsed.matches(|f: &str| (f == "a").then_some("b"));
        }
    }

    #[test]
    fn any_field_value_round_trips(f in "[a-z.]{1,8}", v in "\\PC{0,12}", not in any::<bool>()) {
        let op = if not { FieldOperator::NotEq } else { FieldOperator::Eq };
        let req = FieldRequirement { field: f, op, value: v };
        let parsed = FieldSelector::parse(&req.to_string());
        prop_assert_eq!(parsed.map(|s| s.requirements().to_vec()), Ok(vec![req]));
    }
}
