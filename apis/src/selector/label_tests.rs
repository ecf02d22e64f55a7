use super::*;
use proptest::prelude::*;

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Labels written as pairs.
type Pairs<'a> = &'a [(&'a str, &'a str)];

fn labels(pairs: Pairs) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn label(s: &str) -> LabelSelector {
    LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

#[test]
fn label_selectors_parse_to_their_canonical_form() {
    #[rustfmt::skip]
    let rows = [
        ("", ""),
        ("   ", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=", "x="),
        ("x= ", "x="),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        ("x==a", "x==a"),
        ("notin=in", "notin=in"),
        ("in in (in)", "in in (in)"),
        ("x=a,a=x", "a=x,x=a"),
        ("y=1,x=2,y!=3", "x=2,y=1,y!=3"),
        ("\rx", "x"),
        ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
        ("this-is-another-dns.domain.com/key-with-dash in (so,what)", "this-is-another-dns.domain.com/key-with-dash in (so,what)"),
        ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
        ("foo  in\t (abc)", "foo in (abc)"),
        ("x notin\n (abc)", "x notin (abc)"),
        ("x  notin\t\t(abc,def)", "x notin (abc,def)"),
        ("x in (def,abc)", "x in (abc,def)"),
        ("x in (abc,)", "x in (,abc)"),
        ("x in (abc,abc)", "x in (abc)"),
        ("x in ()", "x in ()"),
        ("x in (a,,)", "x in (,a)"),
        ("x in (a,,,,,,)", "x in (,a)"),
        ("x in (a,,a,,a,,a,,)", "x in (,a)"),
        ("x notin (abc,,def),bar,z in (),w", "bar,w,x notin (,abc,def),z in ()"),
        ("x,y in (a)", "x,y in (a)"),
        ("x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"),
        ("x notin ( )", "x notin ()"),
        ("x notin (, a)", "x notin (,a)"),
        ("a ", "a"),
        ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
        ("apps.cozystack.io/application.name=db", "apps.cozystack.io/application.name=db"),
    ];
    for (input, want) in rows {
        assert_eq!(label(input).to_string(), want, "parse {input:?}");
    }
}

#[test]
fn label_selector_errors_match_apimachinery() {
    let value_err = |v: &str, k: &str| format!("unable to parse requirement: values[0][{k}]: Invalid value: \"{v}\": {LABEL_VALUE_MSG}");
    #[rustfmt::skip]
    let rows: Vec<(&str, String)> = vec![
        ("x=a||y=b", value_err("a||y", "x")),
        ("x==a==b", "found '==', expected: ',' or 'end of string'".into()),
        // Quoted as Go's %q quotes: a no-break space is escaped.
        ("x=a\u{a0}", value_err("a\\u00a0", "x")),
        ("!x=a", "found '=', expected: ',' or 'end of string'".into()),
        ("x<a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer".into()),
        ("x>-1", format!("unable to parse requirement: values[0][x]: Invalid value: \"-1\": {LABEL_VALUE_MSG}")),
        ("x,,y", "found ',', expected: identifier after ','".into()),
        (",x,y", "found ',', expected: !, identifier, or 'end of string'".into()),
        ("x nott in (y)", "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("a in (xyz),", "found '', expected: identifier after ','".into()),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'".into()),
        ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'".into()),
        ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier".into()),
        ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt".into()),
        ("(", "found '(', expected: !, identifier, or 'end of string'".into()),
        ("a in x", "unable to parse requirement: found 'x' expected: '('".into()),
        ("!", "unable to parse requirement: found '', expected: identifier".into()),
        ("a=(", "unable to parse requirement: found '(', expected: identifier".into()),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier".into()),
        ("a=b c", "found 'c', expected: ',' or 'end of string'".into()),
        ("a<=1", "unable to parse requirement: found '=', expected: identifier".into()),
        ("a%b", format!("unable to parse requirement: <nil>: Invalid value: \"a%b\": {NAME_PART_MSG}")),
        ("a, \0b", "found a NUL byte at offset 3: a label selector may not contain one".into()),
        ("\0a=b", "found a NUL byte at offset 0: a label selector may not contain one".into()),
        ("a=b\0", "found a NUL byte at offset 3: a label selector may not contain one".into()),
        ("a=\0b", "found a NUL byte at offset 2: a label selector may not contain one".into()),
    ];
    for (input, want) in rows {
        assert_eq!(LabelSelector::parse(input), Err(SelectorError::Label(want)), "parse {input:?}");
    }
}

#[test]
fn label_requirements_are_validated_as_new_requirement() {
    let long = "a".repeat(254);
    #[rustfmt::skip]
    let rows: Vec<(&str, LabelOperator, Vec<&str>, Option<String>)> = vec![
        ("x1", LabelOperator::In, vec![], Some("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty".into())),
        ("x2", LabelOperator::NotIn, vec![], Some("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty".into())),
        ("x3", LabelOperator::In, vec!["foo"], None),
        ("x4", LabelOperator::NotIn, vec!["foo"], None),
        ("x5", LabelOperator::Equals, vec!["bar", "foo"], Some("values: Invalid value: [\"bar\",\"foo\"]: exact-match compatibility requires one single value".into())),
        ("x6", LabelOperator::Exists, vec![], None),
        ("x7", LabelOperator::DoesNotExist, vec![], None),
        ("x8", LabelOperator::Exists, vec!["foo"], Some("values: Invalid value: [\"foo\"]: values set must be empty for exists and does not exist".into())),
        ("x11", LabelOperator::GreaterThan, vec!["1"], None),
        ("x12", LabelOperator::LessThan, vec!["6"], None),
        ("x13", LabelOperator::GreaterThan, vec![], Some("values: Invalid value: []: for 'Gt', 'Lt' operators, exactly one value is required".into())),
        ("x14", LabelOperator::GreaterThan, vec!["bar"], Some("values[0]: Invalid value: \"bar\": for 'Gt', 'Lt' operators, the value must be an integer".into())),
        ("x15", LabelOperator::LessThan, vec!["bar"], Some("values[0]: Invalid value: \"bar\": for 'Gt', 'Lt' operators, the value must be an integer".into())),
        (&long, LabelOperator::Exists, vec![], Some(format!("key: Invalid value: \"{long}\": name part must be no more than 63 bytes"))),
        ("x16", LabelOperator::Equals, vec![&long], Some(format!("values[0][x16]: Invalid value: \"{long}\": must be no more than 63 bytes"))),
        ("x17", LabelOperator::Equals, vec!["a b"], Some(format!("values[0][x17]: Invalid value: \"a b\": {LABEL_VALUE_MSG}"))),
        ("a b", LabelOperator::GreaterThan, vec!["x"], Some(format!("[key: Invalid value: \"a b\": {NAME_PART_MSG}, values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer]"))),
        ("x", LabelOperator::Equals, vec!["\"\t"], Some(format!("values[0][x]: Invalid value: \"\\\"\\t\": {LABEL_VALUE_MSG}"))),
    ];
    for (key, op, values, want) in rows {
        let got = LabelRequirement::new(key, op, values.clone());
        match want {
            None => assert!(got.is_ok(), "{key} {op:?} {values:?}: {got:?}"),
            Some(msg) => assert_eq!(got, Err(SelectorError::Label(msg)), "{key} {op:?} {values:?}"),
        }
    }
}

#[test]
fn label_requirements_print_as_upstream() {
    let req = |k: &str, op, v: &[&str]| LabelRequirement::new(k, op, v.to_vec()).unwrap();
    use LabelOperator::*;
    #[rustfmt::skip]
    let rows = [
        (vec![req("x", In, &["def", "abc"]), req("y", NotIn, &["jkl"]), req("z", Exists, &[])], "x in (abc,def),y notin (jkl),z"),
        (vec![req("x", NotIn, &["abc", "def"]), req("y", NotEquals, &["jkl"]), req("z", DoesNotExist, &[])], "x notin (abc,def),y!=jkl,!z"),
        (vec![req("x", NotIn, &["abc"]), req("y", In, &["jkl", "mno"]), req("z", NotIn, &[""])], "x notin (abc),y in (jkl,mno),z notin ()"),
        (vec![req("x", Equals, &["abc"]), req("y", DoubleEquals, &["jkl"]), req("z", NotEquals, &["a"]), req("z", Exists, &[])], "x=abc,y==jkl,z!=a,z"),
        (vec![req("z", Exists, &[]), req("y", LessThan, &["8"]), req("x", GreaterThan, &["2"])], "x>2,y<8,z"),
    ];
    for (reqs, want) in rows {
        assert_eq!(LabelSelector::from_requirements(reqs).to_string(), want);
    }
}

#[test]
fn label_selectors_match_as_upstream() {
    let set = [("foo", "bar"), ("baz", "blah")];
    #[rustfmt::skip]
    let rows: Vec<(&str, Pairs, bool)> = vec![
        ("", &[("x", "y")], true),
        ("x=y", &[("x", "y")], true),
        ("x=y,z=w", &[("x", "y"), ("z", "w")], true),
        ("x!=y,z!=w", &[("x", "z"), ("z", "a")], true),
        ("notin=in", &[("notin", "in")], true),
        ("x", &[("x", "z")], true),
        ("!x", &[("y", "z")], true),
        ("x>1", &[("x", "2")], true),
        ("x<1", &[("x", "0")], true),
        ("x<1", &[("x", "-1")], true),
        ("x=z", &[], false),
        ("x=y", &[("x", "z")], false),
        ("x=y,z=w", &[("x", "w"), ("z", "w")], false),
        ("x!=y,z!=w", &[("x", "z"), ("z", "w")], false),
        ("x", &[("y", "z")], false),
        ("!x", &[("x", "z")], false),
        ("x>1", &[("x", "0")], false),
        ("x<1", &[("x", "2")], false),
        ("x>1", &[], false),
        ("z>1", &[("z", "v2")], false),
        ("foo=bar", &set, true),
        ("baz=blah", &set, true),
        ("foo=bar,baz=blah", &set, true),
        ("foo=blah", &set, false),
        ("baz=bar", &set, false),
        ("foo=bar,foobar=bar,baz=blah", &set, false),
        ("x in (foo),y notin (alpha)", &[("x", "foo"), ("y", "baz")], true),
        ("x in (foo),y in (alpha)", &[("x", "foo"), ("y", "baz")], false),
        ("x notin (),y", &[("y", "")], true),
        ("!x,y", &[("y", "")], true),
        ("x notin (),!y", &[("y", "")], false),
        ("x in ()", &[("y", "baz")], false),
        ("x in ()", &[("x", "")], true),
        ("x=", &[("x", "")], true),
        ("x!=", &[], true),
    ];
    for (selector, set, want) in rows {
        assert_eq!(label(selector).matches(&labels(set)), want, "{selector:?} on {set:?}");
    }
}

#[test]
fn label_exact_value_is_requires_exact_match() {
    #[rustfmt::skip]
    let rows = [
        ("", "a", None),
        ("a=b", "a", Some("b")),
        ("a==b", "a", Some("b")),
        ("a in (b)", "a", Some("b")),
        ("a in (b,c)", "a", None),
        ("a!=b", "a", None),
        ("a", "a", None),
        ("b=c,a=d", "a", Some("d")),
        ("a!=x,a=b", "a", None),
        ("a=b", "b", None),
    ];
    for (selector, key, want) in rows {
        assert_eq!(label(selector).exact_value(key), want, "{selector:?} on {key}");
    }
}

#[test]
fn label_keys_map_onto_backing_labels() {
    let prefixed = label("z=b,!c,d in (e,f),a>1").map_keys(|k| format!("apps.cozystack.io-{k}"));
    assert_eq!(prefixed.to_string(), "apps.cozystack.io-a>1,!apps.cozystack.io-c,apps.cozystack.io-d in (e,f),apps.cozystack.io-z=b");
    assert_eq!(LabelSelector::parse(&prefixed.to_string()), Ok(prefixed.clone()));
    // Renaming may reorder keys; the result is sorted again.
    let reversed = label("a=1,b=2").map_keys(|k| if k == "a" { "z".into() } else { k.into() });
    assert_eq!(reversed.to_string(), "b=2,z=1");
    assert_eq!(label("").map_keys(|k| format!("p-{k}")), LabelSelector::default());
}

#[test]
fn and_combines_requirements() {
    let both = label("b=1,x").and(label("a=2"));
    assert_eq!(both.to_string(), "a=2,b=1,x");
    assert!(both.matches(&labels(&[("a", "2"), ("b", "1"), ("x", "")])));
    assert!(!both.matches(&labels(&[("a", "2"), ("b", "1")])));
    assert_eq!(label("a=1").and(LabelSelector::default()), label("a=1"));
    assert!(LabelSelector::default().and(LabelSelector::default()).is_empty());
}

/// Requirements as a user may write them, spaced oddly, to feed the round-trip property.
fn requirement_text() -> impl Strategy<Value = String> {
    let key = "([a-z]{1,4}\\.(io|com)/)?[a-zA-Z0-9]([a-z0-9._-]{0,6}[a-z0-9])?|in|notin";
    let value = "[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?|in|notin|";
    let number = "[0-9]{1,5}";
    let ws = "[ \t]{0,2}";
    (key, value, proptest::collection::vec(value, 1..4), number, ws, 0..9usize).prop_map(|(k, v, vs, n, w, op)| match op {
        0 => k,
        1 => format!("!{w}{k}"),
        2 => format!("{k}{w}={w}{v}"),
        3 => format!("{k}{w}=={w}{v}"),
        4 => format!("{k}{w}!={w}{v}"),
        5 => format!("{k} in{w}({})", vs.join(&format!("{w},"))),
        6 => format!("{k} notin ({})", vs.join(",")),
        7 => format!("{k}{w}>{n}"),
        _ => format!("{k}<{w}{n}"),
    })
}

proptest! {
    #[test]
    fn label_selectors_print_back_to_themselves(reqs in proptest::collection::vec(requirement_text(), 0..5)) {
        let text = reqs.join(",");
        let parsed = LabelSelector::parse(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {parsed:?}");
        let parsed = parsed.unwrap();
        prop_assert_eq!(LabelSelector::parse(&parsed.to_string()), Ok(parsed.clone()));
    }

    #[test]
    fn label_parser_never_panics(s in "[a-z=!(),<>\\\\ \t\0\u{e9}0-9/.-]{0,40}|\\PC{0,40}") {
        if let Ok(parsed) = LabelSelector::parse(&s) {
            prop_assert_eq!(LabelSelector::parse(&parsed.to_string()), Ok(parsed.clone()));
            let _ = parsed.matches(&labels(&[("a", "1"), ("b", "x")]));
        }
    }
}
