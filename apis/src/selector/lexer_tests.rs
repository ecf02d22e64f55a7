use super::*;

#[test]
fn lexer_splits_tokens_as_upstream() {
    use Token::*;
    #[rustfmt::skip]
    let rows: Vec<(&str, Vec<Token>)> = vec![
        ("", vec![]),
        (",", vec![Comma]),
        ("notin", vec![NotIn]),
        ("in", vec![In]),
        ("=", vec![Equals]),
        ("==", vec![DoubleEquals]),
        (">", vec![GreaterThan]),
        ("<", vec![LessThan]),
        ("!", vec![DoesNotExist]),
        ("!=", vec![NotEquals]),
        ("(", vec![OpenPar]),
        (")", vec![ClosedPar]),
        ("~", vec![Identifier]),
        ("||", vec![Identifier]),
        ("key in ( value )", vec![Identifier, In, OpenPar, Identifier, ClosedPar]),
        ("key notin ( value )", vec![Identifier, NotIn, OpenPar, Identifier, ClosedPar]),
        ("key in ( value1, value2 )", vec![Identifier, In, OpenPar, Identifier, Comma, Identifier, ClosedPar]),
        ("key", vec![Identifier]),
        ("!key", vec![DoesNotExist, Identifier]),
        ("()", vec![OpenPar, ClosedPar]),
        ("x in (),y", vec![Identifier, In, OpenPar, ClosedPar, Comma, Identifier]),
        ("== != (), = notin", vec![DoubleEquals, NotEquals, OpenPar, ClosedPar, Comma, Equals, NotIn]),
        ("key>2", vec![Identifier, GreaterThan, Identifier]),
        ("key<1", vec![Identifier, LessThan, Identifier]),
        ("===!!=", vec![DoubleEquals, Equals, DoesNotExist, NotEquals]),
    ];
    for (input, want) in rows {
        let got: Vec<Token> = tokens(input).iter().map(|(t, _)| *t).filter(|t| *t != EndOfString).collect();
        assert_eq!(got, want, "lex {input:?}");
    }
}
