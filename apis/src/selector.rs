//! Label and field selectors (`?labelSelector=`, `?fieldSelector=`): parsing, matching, rewriting.
//!
//! Both parsers follow k8s.io/apimachinery v0.37 (`pkg/labels/selector.go`, `pkg/fields/selector.go`) down to
//! their error messages and quirks, so a client gets the answers kube-apiserver would give.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::names::{is_qualified_name, is_valid_label_value};

/// Why a selector was rejected; the message is the one kube-apiserver gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector that `labels.Parse` rejects, or a requirement `labels.NewRequirement` rejects.
    #[error("{0}")]
    Label(String),
    /// A field selector that `fields.ParseSelector` rejects.
    #[error("{0}")]
    Field(String),
    /// A field selector names a field the resource does not serve (the wording of CRDs).
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// The operator of one label requirement, as k8s.io/apimachinery's `selection.Operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelOperator {
    /// `key=value`.
    Equals,
    /// `key==value`, the same as `=` but remembered so the selector prints back as written.
    DoubleEquals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>1`: the label is an integer greater than the value.
    GreaterThan,
    /// `key<1`: the label is an integer less than the value.
    LessThan,
}

impl LabelOperator {
    /// The operator's name in k8s.io/apimachinery (`=`, `in`, `exists`, `gt`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "=",
            Self::DoubleEquals => "==",
            Self::NotEquals => "!=",
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Exists => "exists",
            Self::DoesNotExist => "!",
            Self::GreaterThan => "gt",
            Self::LessThan => "lt",
        }
    }
}

/// One validated requirement of a label selector; its values are sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelRequirement {
    key: String,
    operator: LabelOperator,
    values: Vec<String>,
}

impl LabelRequirement {
    /// Validates a requirement as `labels.NewRequirement` does: the key is a qualified name, each value a
    /// label value, and the number of values fits the operator (one for `=`, `>`, ..., some for `in`, none
    /// for `exists`).
    pub fn new(key: impl Into<String>, operator: LabelOperator, values: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, SelectorError> {
        let key = key.into();
        let values: Vec<String> = values.into_iter().map(Into::into).collect();
        let errs = requirement_errors(&key, operator, &values);
        if !errs.is_empty() {
            return Err(SelectorError::Label(aggregate(errs)));
        }
        let values = values.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        Ok(Self { key, operator, values })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> LabelOperator {
        self.operator
    }

    /// The values, sorted; empty for `exists` and `!`.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// True when `labels` satisfy this requirement (`Requirement.Matches`).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let found = labels.get(&self.key);
        let listed = |v: &String| self.values.contains(v);
        match self.operator {
            LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In => found.is_some_and(listed),
            LabelOperator::NotEquals | LabelOperator::NotIn => found.is_none_or(|v| !listed(v)),
            LabelOperator::Exists => found.is_some(),
            LabelOperator::DoesNotExist => found.is_none(),
            LabelOperator::GreaterThan | LabelOperator::LessThan => {
                let (Some(have), [want]) = (found, self.values.as_slice()) else {
                    return false;
                };
                match (have.parse::<i64>(), want.parse::<i64>()) {
                    (Ok(have), Ok(want)) if self.operator == LabelOperator::GreaterThan => have > want,
                    (Ok(have), Ok(want)) => have < want,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for LabelRequirement {
    /// As `Requirement.String`: `!k`, `k`, `k=v`, `k in (a,b)`, `k>1`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.join(",");
        match self.operator {
            LabelOperator::Exists => write!(f, "{}", self.key),
            LabelOperator::DoesNotExist => write!(f, "!{}", self.key),
            LabelOperator::In => write!(f, "{} in ({values})", self.key),
            LabelOperator::NotIn => write!(f, "{} notin ({values})", self.key),
            LabelOperator::GreaterThan => write!(f, "{}>{values}", self.key),
            LabelOperator::LessThan => write!(f, "{}<{values}", self.key),
            op => write!(f, "{}{}{values}", self.key, op.as_str()),
        }
    }
}

/// A label selector: requirements that must all hold, sorted by key. The default selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses the `?labelSelector=` syntax as `labels.Parse`; the empty string selects everything.
    ///
    /// A NUL byte is refused wherever it is. Go's lexer reads it as the end of input, so kube-apiserver ignores
    /// whatever follows it and answers more than was asked for; no label key or value can hold one.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        if let Some(offset) = selector.find('\0') {
            return Err(SelectorError::Label(format!("found a NUL byte at offset {offset}: a label selector may not contain one")));
        }
        let mut parser = LabelParser::new(selector);
        parser.parse().map(Self::from_requirements).map_err(SelectorError::Label)
    }

    /// A selector of the given requirements, sorted by key as upstream keeps them.
    pub fn from_requirements(requirements: impl IntoIterator<Item = LabelRequirement>) -> Self {
        let mut requirements: Vec<_> = requirements.into_iter().collect();
        // Stable, so requirements on one key keep their order and the selector prints back the same.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self { requirements }
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// True when `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The value `key` must have, when the first requirement on `key` pins a single value (`RequiresExactMatch`).
    pub fn exact_value(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match (r.operator, r.values.as_slice()) {
            (LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::In, [one]) => Some(one),
            _ => None,
        }
    }

    /// The same selector on other keys: how a user's selector on an application becomes one on the labels of
    /// its backing object. New keys are not validated; they are the caller's own naming scheme.
    pub fn map_keys(&self, rename: impl Fn(&str) -> String) -> Self {
        Self::from_requirements(self.requirements.iter().map(|r| LabelRequirement { key: rename(&r.key), ..r.clone() }))
    }

    /// A selector requiring both this one and `other`.
    pub fn and(self, other: Self) -> Self {
        Self::from_requirements(self.requirements.into_iter().chain(other.requirements))
    }
}

impl fmt::Display for LabelSelector {
    /// Comma-separated requirements, a string that parses back to the same selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The errors `labels.NewRequirement` collects, each rendered as a field.Error with its path.
fn requirement_errors(key: &str, op: LabelOperator, values: &[String]) -> Vec<String> {
    let mut errs = Vec::new();
    errs.extend(key_error(key, "key"));
    let shown = || serde_json::to_string(values).unwrap_or_default();
    match op {
        LabelOperator::In | LabelOperator::NotIn if values.is_empty() => {
            errs.push(format!("values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty", shown()))
        }
        LabelOperator::Equals | LabelOperator::DoubleEquals | LabelOperator::NotEquals if values.len() != 1 => {
            errs.push(format!("values: Invalid value: {}: exact-match compatibility requires one single value", shown()))
        }
        LabelOperator::Exists | LabelOperator::DoesNotExist if !values.is_empty() => {
            errs.push(format!("values: Invalid value: {}: values set must be empty for exists and does not exist", shown()))
        }
        LabelOperator::GreaterThan | LabelOperator::LessThan => {
            if values.len() != 1 {
                errs.push(format!("values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required", shown()));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(format!("values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer", go_quote(v)));
                }
            }
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        let msgs = is_valid_label_value(v);
        if !msgs.is_empty() {
            errs.push(format!("values[{i}][{key}]: Invalid value: {}: {}", go_quote(v), msgs.join("; ")));
        }
    }
    errs
}

/// The field.Error for an invalid label key at `path` (`<nil>` when the parser checks it, as upstream).
fn key_error(key: &str, path: &str) -> Option<String> {
    let msgs = is_qualified_name(key);
    (!msgs.is_empty()).then(|| format!("{path}: Invalid value: {}: {}", go_quote(key), msgs.join("; ")))
}

/// As utilerrors.NewAggregate(...).Error(): one message alone, several deduplicated in brackets.
fn aggregate(errs: Vec<String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    if seen.len() == 1 { seen.remove(0) } else { format!("[{}]", seen.join(", ")) }
}

/// A string quoted as Go's `%q` does for the characters that can reach it.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A token of the label selector lexer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// The tokens spelled by fixed literals (`string2token`).
fn literal_token(lit: &[u8]) -> Option<Token> {
    Some(match lit {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// The lexer of `labels.Lexer`, byte by byte. Like upstream, `read` gives 0 at the end of input (the parser
/// refuses a NUL byte before lexing, so 0 means only that).
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        self.unread();
        if is_special_symbol(ch) { self.scan_special_symbol() } else { self.scan_identifier_or_keyword() }
    }

    fn scan_identifier_or_keyword(&mut self) -> (Token, String) {
        let mut buf = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            buf.push(ch);
        }
        let lit = String::from_utf8_lossy(&buf).into_owned();
        (literal_token(&buf).unwrap_or(Token::Identifier), lit)
    }

    /// The longest operator spelled by the special symbols ahead (`!=` rather than `!`).
    fn scan_special_symbol(&mut self) -> (Token, String) {
        let mut buf = Vec::new();
        let mut last = None;
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if !is_special_symbol(ch) {
                self.unread();
                break;
            }
            buf.push(ch);
            match literal_token(&buf) {
                Some(tok) => last = Some((tok, String::from_utf8_lossy(&buf).into_owned())),
                None if last.is_some() => {
                    self.unread();
                    break;
                }
                None => {}
            }
        }
        // Every single special symbol is a token, so `last` is set; the fallback only keeps this total.
        last.unwrap_or((Token::EndOfString, String::new()))
    }
}

/// Where the parser is: in the values context the words `in` and `notin` are plain identifiers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// The recursive-descent parser of `labels.Parser`; errors are upstream's messages.
struct LabelParser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl LabelParser {
    fn new(selector: &str) -> Self {
        let mut lexer = Lexer { s: selector.as_bytes(), pos: 0 };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::EndOfString;
            items.push(item);
            if end {
                return Self { items, position: 0 };
            }
        }
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        let (tok, lit) = self.items.get(self.position).cloned().unwrap_or((Token::EndOfString, String::new()));
        match tok {
            Token::In | Token::NotIn if ctx == Context::Values => (Token::Identifier, lit),
            _ => (tok, lit),
        }
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.lookahead(ctx);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<LabelRequirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!("found '{l2}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(format!("found '{lit}', expected: !, identifier, or 'end of string'"));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<LabelRequirement, String> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return LabelRequirement::new(key, op, Vec::<String>::new()).map_err(|e| e.to_string());
        }
        let op = self.parse_operator()?;
        let values = match op {
            LabelOperator::In | LabelOperator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        LabelRequirement::new(key, op, values).map_err(|e| e.to_string())
    }

    /// The key, and `exists` or `!` when no operator follows it.
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<LabelOperator>), String> {
        let (mut tok, mut lit) = self.consume(Context::Values);
        let mut op = None;
        if tok == Token::DoesNotExist {
            op = Some(LabelOperator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        if let Some(e) = key_error(&lit, "<nil>") {
            return Err(e);
        }
        let (next, _) = self.lookahead(Context::Values);
        if op.is_none() && matches!(next, Token::EndOfString | Token::Comma) {
            op = Some(LabelOperator::Exists);
        }
        Ok((lit, op))
    }

    fn parse_operator(&mut self) -> Result<LabelOperator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => LabelOperator::In,
            Token::Equals => LabelOperator::Equals,
            Token::DoubleEquals => LabelOperator::DoubleEquals,
            Token::GreaterThan => LabelOperator::GreaterThan,
            Token::LessThan => LabelOperator::LessThan,
            Token::NotIn => LabelOperator::NotIn,
            Token::NotEquals => LabelOperator::NotEquals,
            _ => {
                return Err(format!("found '{lit}', expected: in, notin, =, ==, !=, gt, lt"));
            }
        })
    }

    /// `(a,b,c)`; empty entries stand for the empty value, so `()` is `{""}`.
    fn parse_values(&mut self) -> Result<BTreeSet<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, String> {
        let mut values = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    values.insert(lit);
                    let (next, next_lit) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{next_lit}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    // A comma at the start, at the end or after another comma stands beside an empty value.
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            values.insert(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            values.insert(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    /// The single value after `=`, `==`, `!=`, `>` or `<`; nothing before `,` or the end is the empty value.
    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, String> {
        if matches!(self.lookahead(Context::Values).0, Token::EndOfString | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        match self.consume(Context::Values) {
            (Token::Identifier, lit) => Ok(BTreeSet::from([lit])),
            (_, lit) => Err(format!("found '{lit}', expected: identifier")),
        }
    }
}

/// The operator of a field requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Eq,
    /// `field!=value`; a missing field counts as the empty string.
    NotEq,
}

/// One term of a field selector, its value unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field path, such as `metadata.name`.
    pub field: String,
    /// `=` or `!=`.
    pub op: FieldOperator,
    /// The value, with `\,`, `\=` and `\\` already unescaped.
    pub value: String,
}

impl fmt::Display for FieldRequirement {
    /// `field=value` or `field!=value`, the value escaped as `fields.EscapeValue`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            FieldOperator::Eq => "=",
            FieldOperator::NotEq => "!=",
        };
        let value = self.value.replace('\\', "\\\\").replace(',', "\\,").replace('=', "\\=");
        write!(f, "{}{op}{value}", self.field)
    }
}

/// A field selector: terms that must all hold. The default selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `?fieldSelector=` syntax as `fields.ParseSelector`. Terms are kept sorted by their
    /// canonical spelling (upstream sorts the raw terms), so the selector prints back to itself.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, op, raw)) = split_term(term) else {
                return Err(SelectorError::Field(format!("invalid selector: '{selector}'; can't understand '{term}'")));
            };
            let value = unescape_value(raw)?;
            // As the identity Transform upstream applies: a term with neither field nor value selects all.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement { field: field.to_string(), op, value });
        }
        requirements.sort_by_cached_key(|r| r.to_string());
        Ok(Self { requirements })
    }

    /// The terms.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// True when every term holds for the object whose fields `field` looks up; a missing field is "".
    pub fn matches<S: AsRef<str>>(&self, field: impl Fn(&str) -> Option<S>) -> bool {
        self.requirements.iter().all(|r| {
            let have = field(&r.field);
            let equal = have.as_ref().map_or("", |s| s.as_ref()) == r.value;
            equal == (r.op == FieldOperator::Eq)
        })
    }

    /// The same terms with values rewritten by `rewrite(field, value)`: how a selector on an application's
    /// name becomes one on the name of its backing object.
    pub fn map_values(&self, rewrite: impl Fn(&str, &str) -> String) -> Self {
        let mut requirements: Vec<FieldRequirement> =
            self.requirements.iter().map(|r| FieldRequirement { value: rewrite(&r.field, &r.value), ..r.clone() }).collect();
        requirements.sort_by_cached_key(|r| r.to_string());
        Self { requirements }
    }

    /// The value of the first `field=value` term on `field` (`RequiresExactMatch`), to narrow a query.
    pub fn exact_value(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && r.op == FieldOperator::Eq).map(|r| r.value.as_str())
    }

    /// Fails, as kube-apiserver does for custom resources, on the first field not in `supported`.
    pub fn check_supported(&self, supported: &[&str]) -> Result<(), SelectorError> {
        match self.requirements.iter().find(|r| !supported.contains(&r.field.as_str())) {
            Some(r) => Err(SelectorError::UnsupportedField(r.field.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for FieldSelector {
    /// Comma-separated terms, a string that parses back to the same selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The comma-separated terms; a backslash protects the character after it (`splitTerms`).
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let (mut start, mut in_slash) = (0, false);
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first operator, `!=` and `==` before `=` (`splitTerm`); the field is never unescaped.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [("!=", FieldOperator::NotEq), ("==", FieldOperator::Eq), ("=", FieldOperator::Eq)];
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        OPERATORS.iter().find(|(op, _)| rest.starts_with(op)).map(|(op, kind)| (&term[..i], *kind, &rest[op.len()..]))
    })
}

/// Undoes `fields.EscapeValue`: only `\\`, `\,` and `\=` are escapes, and `,` or `=` must be escaped.
fn unescape_value(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut in_slash = false;
    for c in raw.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::Field(format!("invalid field selector: invalid escape sequence: \\{c}")));
            }
            out.push(c);
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' || c == '=' {
            // Go prints the rune with %v, that is as its number.
            return Err(SelectorError::Field(format!("invalid field selector: unescaped character in value: {}", c as u32)));
        } else {
            out.push(c);
        }
    }
    if in_slash {
        return Err(SelectorError::Field("invalid field selector: invalid escape sequence: \\".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    /// Labels or fields written as pairs.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn labels(pairs: Pairs) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn label(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn field(s: &str) -> FieldSelector {
        FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
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
            let parser = LabelParser::new(input);
            let got: Vec<Token> = parser.items.iter().map(|(t, _)| *t).filter(|t| *t != EndOfString).collect();
            assert_eq!(got, want, "lex {input:?}");
        }
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
        let fields = labels(&[("foo", "bar"), ("baz", "blah"), ("complex", r"=value\,\")]);
        let lookup = |f: &str| fields.get(f).map(String::as_str);
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
}
