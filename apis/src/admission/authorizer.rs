//! The `authorizer` CEL library: `authorizer.group(g).resource(r).namespace(ns).name(n).check(verb)`,
//! `authorizer.path(p).check(verb)`, `authorizer.serviceAccount(ns, name)`, `authorizer.requestResource`, and
//! the decision's `allowed()`, `reason()`, `errored()`, `error()`. Builders are maps carrying the check so far.

use std::collections::HashMap;
use std::sync::Arc;

use kube_cel::cel::extractors::This;
use kube_cel::cel::objects::{Key, Map};
use kube_cel::cel::{Context, ExecutionError, Value as Cel};

use super::Attributes;
use super::cel::{AuthzCheck, CelAuthorizer};

const CHECK: &str = "__authorizer_check__";
const DECISION: &str = "__authorizer_decision__";

fn key(s: &str) -> Key {
    Key::String(Arc::new(s.to_string()))
}

fn text(s: &str) -> Cel {
    Cel::String(Arc::new(s.to_string()))
}

fn map(entries: Vec<(&str, Cel)>) -> Cel {
    Cel::Map(Map { map: Arc::new(entries.into_iter().map(|(k, v)| (key(k), v)).collect::<HashMap<_, _>>()) })
}

fn field(m: &Map, name: &str) -> String {
    match m.map.get(&key(name)) {
        Some(Cel::String(s)) => s.to_string(),
        _ => String::new(),
    }
}

fn builder(m: &AuthzCheck) -> Cel {
    let mut entries = vec![
        (CHECK, Cel::Bool(true)),
        ("group", text(&m.group)),
        ("resource", text(&m.resource)),
        ("subresource", text(&m.subresource)),
        ("namespace", text(&m.namespace)),
        ("name", text(&m.name)),
    ];
    if let Some(p) = &m.path {
        entries.push(("path", text(p)));
    }
    if let Some((ns, n)) = &m.service_account {
        entries.push(("saNamespace", text(ns)));
        entries.push(("saName", text(n)));
    }
    map(entries)
}

fn check_of(m: &Map) -> AuthzCheck {
    let path = m.map.get(&key("path")).map(|_| field(m, "path"));
    let service_account = m.map.get(&key("saName")).map(|_| (field(m, "saNamespace"), field(m, "saName")));
    AuthzCheck {
        path,
        group: field(m, "group"),
        resource: field(m, "resource"),
        subresource: field(m, "subresource"),
        namespace: field(m, "namespace"),
        name: field(m, "name"),
        verb: String::new(),
        service_account,
    }
}

fn expect_builder(this: &Cel) -> Result<&Map, ExecutionError> {
    match this {
        Cel::Map(m) if m.map.contains_key(&key(CHECK)) => Ok(m),
        _ => Err(ExecutionError::function_error("authorizer", "not an authorizer check")),
    }
}

fn expect_decision(this: &Cel) -> Result<&Map, ExecutionError> {
    match this {
        Cel::Map(m) if m.map.contains_key(&key(DECISION)) => Ok(m),
        _ => Err(ExecutionError::function_error("authorizer", "not an authorizer decision")),
    }
}

/// The `authorizer` variable of a request: a builder with `requestResource` set to the request's resource.
pub fn variable(a: &Attributes<'_>) -> Cel {
    let request = AuthzCheck {
        group: a.group.into(),
        resource: a.resource.into(),
        subresource: a.subresource.into(),
        namespace: a.namespace.into(),
        name: a.name.into(),
        ..Default::default()
    };
    let Cel::Map(mut root) = builder(&AuthzCheck::default()) else { unreachable!("a builder is a map") };
    Arc::make_mut(&mut root.map).insert(key("requestResource"), builder(&request));
    Cel::Map(root)
}

fn setter(name: &'static str) -> impl Fn(This<Cel>, Arc<String>) -> Result<Cel, ExecutionError> + Send + Sync + 'static {
    move |This(this): This<Cel>, value: Arc<String>| {
        let mut check = check_of(expect_builder(&this)?);
        match name {
            "group" => check.group = value.to_string(),
            "resource" => check.resource = value.to_string(),
            "subresource" => check.subresource = value.to_string(),
            "namespace" => check.namespace = value.to_string(),
            "name" => check.name = value.to_string(),
            _ => check.path = Some(value.to_string()),
        }
        Ok(builder(&check))
    }
}

/// Registers the library's functions, answering checks with `authz`.
pub fn register(ctx: &mut Context<'_>, authz: Arc<dyn CelAuthorizer>) {
    for name in ["group", "resource", "subresource", "namespace", "name", "path"] {
        ctx.add_function(name, setter(name));
    }
    ctx.add_function("serviceAccount", |This(this): This<Cel>, ns: Arc<String>, name: Arc<String>| -> Result<Cel, ExecutionError> {
        expect_builder(&this)?;
        Ok(builder(&AuthzCheck { service_account: Some((ns.to_string(), name.to_string())), ..Default::default() }))
    });
    ctx.add_function("check", move |This(this): This<Cel>, verb: Arc<String>| -> Result<Cel, ExecutionError> {
        let mut check = check_of(expect_builder(&this)?);
        check.verb = verb.to_string();
        let d = authz.check(&check);
        Ok(map(vec![(DECISION, Cel::Bool(true)), ("allowed", Cel::Bool(d.allowed)), ("reason", text(&d.reason)), ("error", text(&d.error))]))
    });
    ctx.add_function("allowed", |This(this): This<Cel>| -> Result<Cel, ExecutionError> {
        Ok(expect_decision(&this)?.map.get(&key("allowed")).cloned().unwrap_or(Cel::Bool(false)))
    });
    ctx.add_function("reason", |This(this): This<Cel>| -> Result<Cel, ExecutionError> { Ok(text(&field(expect_decision(&this)?, "reason"))) });
    ctx.add_function("error", |This(this): This<Cel>| -> Result<Cel, ExecutionError> { Ok(text(&field(expect_decision(&this)?, "error"))) });
    ctx.add_function("errored", |This(this): This<Cel>| -> Result<Cel, ExecutionError> { Ok(Cel::Bool(!field(expect_decision(&this)?, "error").is_empty())) });
}
