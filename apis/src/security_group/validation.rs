//! The checks of a SecurityGroup write, after decoding and before admission: everything that would make the
//! backing policy invalid or unenforced (Cilium drops a bad rule silently). One 422 names every problem, with
//! upstream's messages and paths (`spec.ingress[0].toPorts[1].ports[0].protocol`).

use std::net::{IpAddr, Ipv6Addr};

use super::membership_key;
use super::types::{ApplicationReference, FqdnSelector, PortRule, SecurityGroupSpec};
use crate::names::{is_qualified_name, is_valid_label_value};
use crate::status::{FieldError, FieldErrorKind};

/// Cilium's entity names: a peer or an application must not be named as one.
pub const RESERVED_ENTITIES: &[&str] = &["world", "cluster", "kube-apiserver", "host", "remote-node", "health", "init", "unmanaged", "all"];
/// The protocols a port may name (in any case).
pub const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP", "ANY"];
const RESERVED: &str = "must not name a reserved Cilium entity";

/// Every problem of the SecurityGroup `name` with `spec`; empty when it may be written.
pub fn validate(name: &str, spec: &SecurityGroupSpec) -> Vec<FieldError> {
    let mut errs = Vec::new();
    // The name becomes a label key: the group's membership label.
    for msg in is_qualified_name(&membership_key(name)) {
        errs.push(FieldError::invalid("metadata.name", name.into(), msg));
    }
    for (i, r) in spec.attachments.iter().enumerate() {
        app_ref(&format!("spec.attachments[{i}]"), r, &mut errs);
    }
    for (i, rule) in spec.ingress.iter().enumerate() {
        let at = format!("spec.ingress[{i}]");
        for (j, r) in rule.from_app.iter().enumerate() {
            app_ref(&format!("{at}.fromApp[{j}]"), r, &mut errs);
        }
        group_names(&format!("{at}.fromSG"), &rule.from_sg, &mut errs);
        cidrs(&format!("{at}.fromCIDR"), &rule.from_cidr, &mut errs);
        ports(&format!("{at}.toPorts"), &rule.to_ports, &mut errs);
    }
    for (i, rule) in spec.egress.iter().enumerate() {
        let at = format!("spec.egress[{i}]");
        for (j, r) in rule.to_app.iter().enumerate() {
            app_ref(&format!("{at}.toApp[{j}]"), r, &mut errs);
        }
        group_names(&format!("{at}.toSG"), &rule.to_sg, &mut errs);
        cidrs(&format!("{at}.toCIDR"), &rule.to_cidr, &mut errs);
        ports(&format!("{at}.toPorts"), &rule.to_ports, &mut errs);
        fqdns(&format!("{at}.toFQDNs"), &rule.to_fqdns, &mut errs);
    }
    errs
}

fn reserved(name: &str) -> bool {
    RESERVED_ENTITIES.contains(&name.to_lowercase().as_str())
}

/// An application becomes three lineage label values, so each part must be one.
fn app_ref(at: &str, r: &ApplicationReference, errs: &mut Vec<FieldError>) {
    if r.kind.is_empty() {
        errs.push(FieldError::required(format!("{at}.kind"), "must reference an application kind"));
    }
    if r.name.is_empty() {
        errs.push(FieldError::required(format!("{at}.name"), "must reference an application name"));
    }
    for (field, value) in [("apiGroup", &r.api_group), ("kind", &r.kind), ("name", &r.name)] {
        if value.is_empty() {
            continue;
        }
        for msg in is_valid_label_value(value) {
            errs.push(FieldError::invalid(format!("{at}.{field}"), value.as_str().into(), msg));
        }
    }
    if reserved(&r.name) {
        errs.push(FieldError::invalid(format!("{at}.name"), r.name.as_str().into(), RESERVED));
    }
}

/// A peer group becomes a membership label key.
fn group_names(at: &str, names: &[String], errs: &mut Vec<FieldError>) {
    for (i, n) in names.iter().enumerate() {
        let at = format!("{at}[{i}]");
        if n.is_empty() {
            errs.push(FieldError::required(at, "must name a SecurityGroup"));
        } else if reserved(n) {
            errs.push(FieldError::invalid(at, n.as_str().into(), RESERVED));
        } else {
            for msg in is_qualified_name(&membership_key(n)) {
                errs.push(FieldError::invalid(at.clone(), n.as_str().into(), msg));
            }
        }
    }
}

/// A prefix (host bits allowed) or a bare address, as Cilium accepts them.
fn cidrs(at: &str, values: &[String], errs: &mut Vec<FieldError>) {
    for (i, c) in values.iter().enumerate() {
        if !is_prefix(c) && !is_address(c) {
            errs.push(FieldError::invalid(format!("{at}[{i}]"), c.as_str().into(), "must be a valid CIDR or IP address"));
        }
    }
}

fn fqdns(at: &str, values: &[FqdnSelector], errs: &mut Vec<FieldError>) {
    for (i, f) in values.iter().enumerate() {
        if f.match_name.is_empty() && f.match_pattern.is_empty() {
            errs.push(FieldError::required(format!("{at}[{i}]"), "must set matchName or matchPattern"));
        }
    }
}

fn ports(at: &str, rules: &[PortRule], errs: &mut Vec<FieldError>) {
    for (i, rule) in rules.iter().enumerate() {
        for (j, p) in rule.ports.iter().enumerate() {
            let at = format!("{at}[{i}].ports[{j}]");
            if !p.port.is_empty() {
                // A number (Go's Atoi: optional sign, within int64) must be a port; anything else a port name.
                match p.port.parse::<i64>() {
                    Ok(n) if !(1..=65535).contains(&n) => {
                        errs.push(FieldError::invalid(format!("{at}.port"), p.port.as_str().into(), "port number must be between 1 and 65535"));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        for msg in port_name_errors(&p.port) {
                            errs.push(FieldError::invalid(format!("{at}.port"), p.port.as_str().into(), msg));
                        }
                    }
                }
            }
            if !p.protocol.is_empty() && !PROTOCOLS.contains(&p.protocol.to_uppercase().as_str()) {
                let supported: Vec<String> = PROTOCOLS.iter().map(|p| format!("{p:?}")).collect();
                let detail = format!("supported values: {}", supported.join(", "));
                errs.push(FieldError::new(FieldErrorKind::NotSupported, format!("{at}.protocol"), detail).with_value(p.protocol.as_str().into()));
            }
        }
    }
}

/// An IANA service name (validation.IsValidPortName's messages).
pub fn port_name_errors(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push("must be no more than 15 characters".to_string());
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    } else if !port.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// Go's netip.ParseAddr: dotted-quad IPv4 (no leading zeros), or IPv6 with an optional non-empty zone.
pub fn is_address(s: &str) -> bool {
    if s.contains(':') {
        let addr = match s.split_once('%') {
            Some((_, "")) => return false,
            Some((a, _)) => a,
            None => s,
        };
        return addr.parse::<Ipv6Addr>().is_ok();
    }
    // Rust's parser refuses leading zeros and other spellings, as Go's does.
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Go's netip.ParsePrefix: an address without zone, `/`, and a decimal bit count without leading zeros that
/// the address family allows.
pub fn is_prefix(s: &str) -> bool {
    let Some((addr, bits)) = s.rsplit_once('/') else { return false };
    if addr.contains('%') || !is_address(addr) {
        return false;
    }
    let digits_ok = !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) && (bits.len() == 1 || !bits.starts_with('0'));
    let Some(n) = bits.parse::<u32>().ok().filter(|_| digits_ok) else { return false };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => n <= 32,
        Ok(IpAddr::V6(_)) => n <= 128,
        Err(_) => false,
    }
}
