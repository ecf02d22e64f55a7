//! Tenant naming (§5.1) and the hierarchical quota check of Tenant writes (§4.3), with the Kubernetes
//! Quantity arithmetic it needs.
//!
//! A tenant's place in the hierarchy is encoded in its namespace name (`tenant-a-b` is tenant `b` inside
//! tenant `a`), so parents and pools are computed from names alone; the storage layer fetches the
//! HelmReleases and ResourceQuotas these functions point at.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::status::FieldError;

/// Namespace (and HelmRelease name) of the root tenant, which is its own parent.
pub const ROOT_NAMESPACE: &str = "tenant-root";
/// Release prefix of the Tenant kind, also the prefix of every tenant namespace.
pub const TENANT_PREFIX: &str = "tenant-";
/// Field of tenant values holding the declared quota.
pub const QUOTAS_FIELD: &str = "spec.resourceQuotas";

/// The namespace a Tenant application owns: `tenant-root` for the root tenant (`root` in `tenant-root`),
/// `tenant-<name>` for a tenant in `tenant-root`, `<namespace>-<name>` otherwise.
pub fn tenant_namespace(app_namespace: &str, app_name: &str) -> String {
    if app_namespace == ROOT_NAMESPACE {
        if format!("{TENANT_PREFIX}{app_name}") == ROOT_NAMESPACE {
            return ROOT_NAMESPACE.to_string();
        }
        return format!("{TENANT_PREFIX}{app_name}");
    }
    format!("{app_namespace}-{app_name}")
}

/// Where a HelmRelease lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    /// HelmRelease name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// The HelmRelease of the tenant owning `namespace`, the parent of any tenant created there:
/// `tenant-root` → `tenant-root` in `tenant-root`; `tenant-foo` → `tenant-foo` in `tenant-root`;
/// `tenant-foo-bar` → `tenant-bar` in `tenant-foo`. None outside the tenant hierarchy.
pub fn parent_release(namespace: &str) -> Option<ReleaseRef> {
    if namespace == ROOT_NAMESPACE {
        return Some(ReleaseRef { name: ROOT_NAMESPACE.into(), namespace: ROOT_NAMESPACE.into() });
    }
    if !namespace.starts_with(TENANT_PREFIX) {
        return None;
    }
    let (rest, last) = namespace.rsplit_once('-')?;
    let release_namespace = if rest == TENANT_PREFIX.trim_end_matches('-') { ROOT_NAMESPACE } else { rest };
    Some(ReleaseRef { name: format!("{TENANT_PREFIX}{last}"), namespace: release_namespace.into() })
}

/// The namespace owned by the parent of the tenant owning `namespace`; None for the root and for
/// namespaces outside the hierarchy.
pub fn parent_namespace(namespace: &str) -> Option<String> {
    if namespace == ROOT_NAMESPACE {
        return None;
    }
    parent_release(namespace).map(|r| r.namespace)
}

/// The ResourceQuota key that carries the limit side of a declared quota key, as the tenant chart
/// renders it: `storage` → `requests.storage`; object counts verbatim; everything else `limits.<key>`.
pub fn rendered_quota_key(key: &str) -> String {
    const VERBATIM: &[&str] = &[
        "pods",
        "services",
        "services.loadbalancers",
        "services.nodeports",
        "services.clusterip",
        "configmaps",
        "secrets",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "resourcequotas",
    ];
    match key {
        "storage" => "requests.storage".into(),
        k if VERBATIM.contains(&k) => k.into(),
        k => format!("limits.{k}"),
    }
}

/// The declared `resourceQuotas` of tenant values, quantities as text (JSON numbers become their text,
/// `null` becomes `0`). Errors carry upstream's decode message, e.g. for a non-object.
pub fn declared_quotas(values: &Value) -> Result<BTreeMap<String, String>, String> {
    let obj = match values {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(o) => o,
        other => {
            let t = crate::schema::gofmt::go_json_kind(other);
            return Err(format!("decode tenant values: json: cannot unmarshal {t} into Go value of type application.tenantValues"));
        }
    };
    match obj.get("resourceQuotas") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(q)) => Ok(q
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => "0".into(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()),
        Some(other) => Err(format!(
            "decode tenant values: json: cannot unmarshal {} into Go struct field tenantValues.resourceQuotas of type map[string]resource.Quantity",
            crate::schema::gofmt::go_json_kind(other)
        )),
    }
}

/// The namespaces whose usage counts against the pool of the tenant owning `parent_ns`: that namespace
/// plus every tenant namespace whose nearest bounded ancestor (itself included) is `parent_ns`, less
/// `exclude_ns` (the tenant being written). `tenants` lists each Tenant's owned namespace and whether it
/// declares a quota; bounded sub-tenants fall out because their reservation is counted as a sibling's.
pub fn pool_members(parent_ns: &str, exclude_ns: &str, tenants: &[(String, bool)]) -> BTreeSet<String> {
    let bounded: BTreeSet<&str> = tenants.iter().filter(|(_, b)| *b).map(|(ns, _)| ns.as_str()).collect();
    let pool_root = |ns: &str| {
        let mut cur = Some(ns.to_string());
        while let Some(c) = cur {
            if bounded.contains(c.as_str()) {
                return Some(c);
            }
            cur = parent_namespace(&c);
        }
        None
    };
    let mut members: BTreeSet<String> =
        tenants.iter().map(|(ns, _)| ns).filter(|ns| *ns != exclude_ns && pool_root(ns).as_deref() == Some(parent_ns)).cloned().collect();
    members.insert(parent_ns.to_string());
    members.remove(exclude_ns);
    members
}

/// Usage of a pool: per namespace the maximum over its ResourceQuotas' `status.used` (quotas in one
/// namespace see the same pods), summed over namespaces. Unparseable entries are skipped: the API server
/// wrote them, so they do not occur.
pub fn pool_usage(namespaces: &[Vec<BTreeMap<String, String>>]) -> BTreeMap<String, String> {
    let mut total: BTreeMap<String, Quantity> = BTreeMap::new();
    for quotas in namespaces {
        let mut max: BTreeMap<String, Quantity> = BTreeMap::new();
        for used in quotas {
            for (k, v) in used {
                let Ok(q) = v.parse::<Quantity>() else {
                    continue;
                };
                if max.get(k).is_none_or(|cur| q > *cur) {
                    max.insert(k.clone(), q);
                }
            }
        }
        for (k, q) in max {
            accumulate(&mut total, k, q);
        }
    }
    total.into_iter().map(|(k, q)| (k, q.to_string())).collect()
}

/// The declaration-time quota check of a child tenant: for every resource the parent bounds and the
/// child requests, the child may have at most what the parent allows minus what siblings declared minus
/// what the parent's pool uses (`used` is keyed by [`rendered_quota_key`], see [`pool_usage`]).
///
/// Errors: a malformed child quantity is Invalid at `spec.resourceQuotas`; a malformed parent quantity
/// is an internal error there; each violation is Forbidden at `spec.resourceQuotas[<res>]`, in resource
/// order. A malformed sibling is skipped, as upstream does, so it cannot block unrelated tenants.
pub fn check_child_quota(
    child: &BTreeMap<String, String>,
    parent: &BTreeMap<String, String>,
    siblings: &[BTreeMap<String, String>],
    used: &BTreeMap<String, String>,
) -> Vec<FieldError> {
    let child = match parse_all(child) {
        Ok(c) => c,
        Err(e) => return vec![invalid_quotas(e)],
    };
    if child.is_empty() {
        // An unbounded child shares the parent's pool; the quota controller enforces that at runtime.
        return Vec::new();
    }
    let parent = match parse_all(parent) {
        Ok(p) => p,
        Err(e) => {
            return vec![FieldError::new(crate::status::FieldErrorKind::Internal, QUOTAS_FIELD, e)];
        }
    };
    let mut allocated: BTreeMap<String, Quantity> = BTreeMap::new();
    for sibling in siblings.iter().filter_map(|s| parse_all(s).ok()) {
        for (k, q) in sibling {
            accumulate(&mut allocated, k, q);
        }
    }
    let zero = Quantity::zero();
    let mut errs = Vec::new();
    for (res, limit) in &parent {
        let Some(want) = child.get(res) else { continue };
        let alloc = allocated.get(res).unwrap_or(&zero);
        let in_use = used.get(&rendered_quota_key(res)).and_then(|u| u.parse().ok()).unwrap_or_else(Quantity::zero);
        let mut remaining = limit.clone();
        remaining.sub(alloc);
        remaining.sub(&in_use);
        if *want > remaining {
            errs.push(FieldError::forbidden(
                format!("{QUOTAS_FIELD}[{res}]"),
                format!(
                    "requested {want} exceeds the parent tenant's remaining {res:?} quota of {remaining} (parent allows {limit}, {alloc} already allocated to sibling tenants, {in_use} currently in use by the parent pool); a child tenant may not be granted more quota than its parent has left"
                ),
            ));
        }
    }
    errs
}

/// The error for a child tenant whose quota does not decode (from [`declared_quotas`] or a quantity):
/// Invalid at `spec.resourceQuotas`, showing an empty value as upstream does.
pub fn invalid_quotas(detail: impl Into<String>) -> FieldError {
    FieldError::invalid(QUOTAS_FIELD, Value::from(""), detail)
}

/// Adds `q` under `key`; the first addend is kept as is (text included), as upstream's addQuotas copies
/// it rather than adding it to zero.
fn accumulate(sums: &mut BTreeMap<String, Quantity>, key: String, q: Quantity) {
    match sums.get_mut(&key) {
        Some(sum) => sum.add(&q),
        None => {
            sums.insert(key, q);
        }
    }
}

fn parse_all(quotas: &BTreeMap<String, String>) -> Result<BTreeMap<String, Quantity>, String> {
    quotas.iter().map(|(k, v)| Ok((k.clone(), v.parse::<Quantity>().map_err(|e| format!("decode tenant values: {e}"))?))).collect()
}

/// How a quantity is written, as resource.Format: it survives arithmetic so results read like inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityFormat {
    /// `500m`, `2k`, `1G`.
    DecimalSI,
    /// `1Ki`, `512Mi`.
    BinarySI,
    /// `1e3`.
    DecimalExponent,
}

/// A Kubernetes resource.Quantity, exact to the nanounit (as upstream rounds), with its format.
#[derive(Debug, Clone)]
pub struct Quantity {
    /// The value in units of 10⁻⁹.
    nanos: i128,
    format: QuantityFormat,
    /// The text as given when upstream would keep it (its own "already canonical" test), so Display
    /// matches `Quantity.String()` even for inputs like `+5`.
    text: Option<String>,
}

/// Why a quantity does not parse; the messages are resource.ErrFormatWrong and friends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not of the shape `<number><suffix>`.
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    /// The number part does not parse.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is not a known one.
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// Beyond what this implementation computes exactly (about 10²⁹ units); upstream would accept it.
    #[error("quantity is too large or too precise to compare exactly")]
    Range,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Upstream caps binary quantities at the largest int64.
const MAX_BINARY_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

impl Quantity {
    /// Zero, as the zero resource.Quantity (which takes the other operand's format in arithmetic).
    pub fn zero() -> Self {
        Self { nanos: 0, format: QuantityFormat::DecimalSI, text: None }
    }

    /// The value in nanounits.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format results are written in.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// Adds `other`; a zero receiver takes `other`'s format, as resource.Quantity.Add does.
    pub fn add(&mut self, other: &Quantity) {
        if self.nanos == 0 {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_add(other.nanos);
        self.text = None;
    }

    /// Subtracts `other`; a zero receiver takes `other`'s format, as resource.Quantity.Sub does.
    pub fn sub(&mut self, other: &Quantity) {
        if self.nanos == 0 {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_sub(other.nanos);
        self.text = None;
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// The pieces of a quantity string, as resource.parseQuantityString splits it.
struct Parts<'a> {
    positive: bool,
    /// Integer digits, leading zeros removed ("0" when none).
    num: &'a str,
    /// Fraction digits.
    denom: &'a str,
    suffix: &'a str,
}

fn split_quantity(s: &str) -> Result<Parts<'_>, QuantityError> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => (positive, pos) = (false, 1),
        Some(b'+') => pos = 1,
        _ => {}
    }
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    let digits = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let num_end = digits(pos);
    let num = if num_end == pos { "0" } else { &s[pos..num_end] };
    pos = num_end;
    let mut denom = "";
    if pos < b.len() && b[pos] == b'.' {
        let end = digits(pos + 1);
        denom = &s[pos + 1..end];
        pos = end;
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    if digits(pos) != b.len() {
        return Err(QuantityError::Format);
    }
    Ok(Parts { positive, num, denom, suffix: &s[suffix_start..] })
}

/// (base, exponent, format) of a suffix, as resource's suffixHandler.interpret.
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, QuantityFormat)> {
    const DECIMAL: &[(&str, i32)] = &[("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];
    const BINARY: &[(&str, i32)] = &[("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40), ("Pi", 50), ("Ei", 60)];
    if let Some((_, e)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
        return Some((10, *e, QuantityFormat::DecimalSI));
    }
    if let Some((_, e)) = BINARY.iter().find(|(s, _)| *s == suffix) {
        return Some((2, *e, QuantityFormat::BinarySI));
    }
    let exp = suffix.strip_prefix(['e', 'E']).filter(|e| !e.is_empty())?;
    Some((10, exp.parse::<i64>().ok()? as i32, QuantityFormat::DecimalExponent))
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Format);
        }
        if s == "0" {
            return Ok(Self { text: Some("0".into()), ..Self::zero() });
        }
        let p = split_quantity(s)?;
        let (base, exponent, parsed_format) = interpret_suffix(p.suffix).ok_or(QuantityError::Suffix)?;
        let mut format = parsed_format;

        // value = (num.denom) × base^exponent, in nanounits, rounded away from zero as upstream does so
        // that a tiny request still asks for something.
        let frac = p.denom.trim_end_matches('0');
        let mantissa: i128 = format!("{}{frac}", p.num).parse().map_err(|_| QuantityError::Range)?;
        let scale10 = 9 - frac.len() as i32 + if base == 10 { exponent } else { 0 };
        let shift = if base == 2 { exponent as u32 } else { 0 };
        let magnitude = mantissa.checked_mul(1i128 << shift).and_then(|m| scale_pow10_up(m, scale10));
        let mut nanos = match magnitude {
            Some(n) => n,
            // Binary quantities are capped below anyway, so overflowing one is the cap.
            None if format == QuantityFormat::BinarySI => MAX_BINARY_NANOS,
            None => return Err(QuantityError::Range),
        };
        if format == QuantityFormat::BinarySI && nanos > MAX_BINARY_NANOS {
            nanos = MAX_BINARY_NANOS;
        }
        if format == QuantityFormat::BinarySI && nanos > 0 && nanos < NANOS_PER_UNIT {
            format = QuantityFormat::DecimalSI;
        }
        if !p.positive {
            nanos = -nanos;
        }
        let text = keeps_text(&p, parsed_format, exponent).then(|| s.to_string());
        Ok(Self { nanos, format, text })
    }
}

/// `m × 10^e` for a non-negative `m`, rounded up when `e` is negative; None on overflow.
fn scale_pow10_up(m: i128, e: i32) -> Option<i128> {
    if e >= 0 {
        return 10i128.checked_pow(e as u32).and_then(|p| m.checked_mul(p));
    }
    let Some(p) = 10i128.checked_pow(e.unsigned_abs()) else {
        return Some(i128::from(m != 0));
    };
    Some(m / p + i128::from(m % p != 0))
}

/// Upstream's ParseQuantity keeps the input text when its int64 fast path judges it canonical; the same
/// test here makes Display match `String()`, quirks (`+5`, `05`, `1E3`) included.
fn keeps_text(p: &Parts<'_>, format: QuantityFormat, exponent: i32) -> bool {
    let (num, denom) = (p.num.len() as i32, p.denom.len() as i32);
    let (precision, scale, mantissa) = match format {
        QuantityFormat::BinarySI if exponent >= 0 && denom == 0 => (15 - num - (exponent as f32 * 3.0 / 10.0) as i32 - 1, 0, 1i64.checked_shl(exponent as u32)),
        QuantityFormat::BinarySI => (-1, 0, None),
        _ => (18 - num - denom, exponent - denom, Some(1)),
    };
    if precision < 0 || scale < -9 {
        return false;
    }
    let shifted = format!("{}{}", p.num, p.denom);
    let Ok(value) = shifted.parse::<i64>() else {
        return false;
    };
    if mantissa.and_then(|m| value.checked_mul(m)).is_none() {
        return false;
    }
    match format {
        QuantityFormat::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
    }
}

impl fmt::Display for Quantity {
    /// Canonical form, as resource.Quantity.String().
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = &self.text {
            return f.write_str(t);
        }
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut format = self.format;
        if format == QuantityFormat::BinarySI && (self.nanos.abs() < 1024 * NANOS_PER_UNIT || self.nanos % NANOS_PER_UNIT != 0) {
            // Small or fractional binary values read better (and exactly) in decimal.
            format = QuantityFormat::DecimalSI;
        }
        if format == QuantityFormat::BinarySI {
            let (mut units, mut step) = (self.nanos / NANOS_PER_UNIT, 0);
            while units % 1024 == 0 && step < 6 {
                units /= 1024;
                step += 1;
            }
            return write!(f, "{units}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][step]);
        }
        let (mut m, mut e) = (self.nanos, -9i32);
        while m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        while e % 3 != 0 {
            m *= 10;
            e -= 1;
        }
        if format == QuantityFormat::DecimalExponent {
            return if e == 0 { write!(f, "{m}") } else { write!(f, "{m}e{e}") };
        }
        while e > 18 {
            m *= 1000;
            e -= 3;
        }
        let suffix = match e {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        write!(f, "{m}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::FieldErrorKind;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn tenant_namespaces() {
        let cases = [
            ("root tenant", "tenant-root", "root", "tenant-root"),
            ("child of root", "tenant-root", "foo", "tenant-foo"),
            ("grandchild", "tenant-foo", "bar", "tenant-foo-bar"),
            ("deeper", "tenant-foo-bar", "baz", "tenant-foo-bar-baz"),
            ("outside the hierarchy", "default", "x", "default-x"),
        ];
        for (what, ns, name, want) in cases {
            assert_eq!(tenant_namespace(ns, name), want, "{what}");
        }
    }

    #[test]
    fn parent_releases() {
        let r = |name: &str, namespace: &str| Some(ReleaseRef { name: name.into(), namespace: namespace.into() });
        let cases = [
            ("root is its own parent", "tenant-root", r("tenant-root", "tenant-root")),
            ("child of root", "tenant-foo", r("tenant-foo", "tenant-root")),
            ("grandchild", "tenant-foo-bar", r("tenant-bar", "tenant-foo")),
            ("deeper", "tenant-foo-bar-baz", r("tenant-baz", "tenant-foo-bar")),
            ("not a tenant namespace", "default", None),
            ("prefix only in the middle", "my-tenant-x", None),
        ];
        for (what, ns, want) in cases {
            assert_eq!(parent_release(ns), want, "{what}");
        }
        assert_eq!(parent_namespace("tenant-root"), None);
        assert_eq!(parent_namespace("tenant-foo").as_deref(), Some("tenant-root"));
        assert_eq!(parent_namespace("tenant-foo-bar").as_deref(), Some("tenant-foo"));
        assert_eq!(parent_namespace("kube-system"), None);
    }

    #[test]
    fn rendered_keys() {
        let cases = [
            ("storage", "requests.storage"),
            ("pods", "pods"),
            ("services.loadbalancers", "services.loadbalancers"),
            ("resourcequotas", "resourcequotas"),
            ("cpu", "limits.cpu"),
            ("memory", "limits.memory"),
            ("nvidia.com/gpu", "limits.nvidia.com/gpu"),
        ];
        for (key, want) in cases {
            assert_eq!(rendered_quota_key(key), want, "{key}");
        }
    }

    #[test]
    fn declared_quotas_of_values() {
        let cases = [
            ("no values", Value::Null, Ok(map(&[]))),
            ("no quotas", json!({"host": "x"}), Ok(map(&[]))),
            ("null quotas", json!({"resourceQuotas": null}), Ok(map(&[]))),
            (
                "strings, numbers and null",
                json!({"resourceQuotas": {"cpu": "2", "pods": 10, "memory": null}}),
                Ok(map(&[("cpu", "2"), ("pods", "10"), ("memory", "0")])),
            ),
            (
                "quotas not a map",
                json!({"resourceQuotas": "lots"}),
                Err(
                    "decode tenant values: json: cannot unmarshal string into Go struct field tenantValues.resourceQuotas of type map[string]resource.Quantity",
                ),
            ),
            ("values not an object", json!([1]), Err("decode tenant values: json: cannot unmarshal array into Go value of type application.tenantValues")),
        ];
        for (what, values, want) in cases {
            assert_eq!(declared_quotas(&values), want.map_err(str::to_string), "{what}");
        }
    }

    #[test]
    fn quantities_print_canonically() {
        let cases = [
            ("0", "0"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1025Mi", "1025Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("0.5Ki", "512"),
            ("1536", "1536"),
            ("100m", "100m"),
            ("0.1", "100m"),
            ("1.5", "1500m"),
            ("5.0", "5"),
            ("1000", "1k"),
            ("1000m", "1"),
            ("1000000", "1M"),
            ("1.1M", "1100k"),
            ("1k", "1k"),
            ("1e3", "1e3"),
            ("1E3", "1E3"),
            ("1.5e3", "1500"),
            ("1.5e-3", "1500e-6"),
            ("12e6", "12e6"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("1u", "1u"),
            ("2E", "2E"),
            ("-1Gi", "-1Gi"),
            ("-1.5", "-1500m"),
            ("+5", "+5"),
            ("05", "05"),
            ("0.0", "0"),
            ("-", "0"),
            ("8Ei", "9223372036854775807"),
        ];
        for (input, want) in cases {
            let q: Quantity = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(q.to_string(), want, "{input}");
        }
    }

    #[test]
    fn quantities_compare_by_value() {
        let q = |s: &str| s.parse::<Quantity>().unwrap();
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1"), q("1000m"));
        assert!(q("1G") < q("1Gi"));
        assert!(q("999m") < q("1"));
        assert!(q("-1") < q("0"));
        assert_eq!(q("1Ki").nanos(), 1_024_000_000_000);
    }

    #[test]
    fn malformed_quantities() {
        let cases = [
            ("", QuantityError::Format),
            ("abc", QuantityError::Format),
            ("1 Gi", QuantityError::Format),
            ("1GiB", QuantityError::Format),
            ("1Kb", QuantityError::Format),
            ("1.2.3", QuantityError::Format),
            ("1ki", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1e100", QuantityError::Range),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Quantity>().unwrap_err(), want, "{input:?}");
        }
        assert_eq!(QuantityError::Format.to_string(), "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
    }

    #[test]
    fn arithmetic_keeps_the_receivers_format() {
        let q = |s: &str| s.parse::<Quantity>().unwrap();
        let mut a = q("10Gi");
        a.sub(&q("1536Mi"));
        assert_eq!(a.to_string(), "8704Mi");
        let mut z = Quantity::zero();
        z.add(&q("2Gi"));
        assert_eq!(z.to_string(), "2Gi", "a zero receiver takes the other's format");
        let mut c = q("1");
        c.sub(&q("1500m"));
        assert_eq!(c.to_string(), "-500m");
        let mut n = q("1Gi");
        n.sub(&q("2Gi"));
        assert_eq!(n.to_string(), "-1Gi");
    }

    #[test]
    fn pool_membership() {
        let tenants: Vec<(String, bool)> =
            [("tenant-root", true), ("tenant-a", false), ("tenant-a-x", false), ("tenant-b", true), ("tenant-b-y", false), ("tenant-c", false)]
                .iter()
                .map(|(ns, b)| (ns.to_string(), *b))
                .collect();
        let got = pool_members("tenant-root", "tenant-c", &tenants);
        let want: BTreeSet<String> = ["tenant-root", "tenant-a", "tenant-a-x"].iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "bounded tenant-b and its pool are out, the child itself too");
        let b_pool = pool_members("tenant-b", "tenant-b-new", &tenants);
        assert_eq!(b_pool, ["tenant-b", "tenant-b-y"].iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn pool_usage_is_max_per_namespace_summed() {
        let usage = pool_usage(&[
            vec![map(&[("limits.cpu", "2"), ("pods", "3")]), map(&[("limits.cpu", "1500m"), ("pods", "5")])],
            vec![map(&[("limits.cpu", "500m"), ("requests.storage", "10Gi"), ("bad", "x")])],
        ]);
        assert_eq!(usage, map(&[("limits.cpu", "2500m"), ("pods", "5"), ("requests.storage", "10Gi")]));
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn child_within_remaining_quota_is_allowed() {
        let parent = map(&[("cpu", "10"), ("memory", "10Gi")]);
        let siblings = [map(&[("cpu", "4")])];
        let used = map(&[("limits.cpu", "2")]);
        let child = map(&[("cpu", "4"), ("memory", "10Gi"), ("pods", "100")]);
        assert_eq!(check_child_quota(&child, &parent, &siblings, &used), vec![]);
    }

    #[test]
    fn child_over_remaining_quota_is_forbidden_per_resource() {
        let parent = map(&[("storage", "100Gi"), ("cpu", "10"), ("memory", "1Gi")]);
        let siblings = [map(&[("cpu", "4"), ("storage", "40Gi")]), map(&[("cpu", "1")])];
        let used = map(&[("limits.cpu", "2"), ("requests.storage", "50Gi")]);
        let child = map(&[("cpu", "3500m"), ("storage", "20Gi"), ("memory", "2Gi")]);
        let errs = check_child_quota(&child, &parent, &siblings, &used);
        assert!(errs.iter().all(|e| e.kind == FieldErrorKind::Forbidden));
        assert_eq!(
            messages(&errs),
            vec![
                "spec.resourceQuotas[cpu]: Forbidden: requested 3500m exceeds the parent tenant's remaining \"cpu\" quota of 3 (parent allows 10, 5 already allocated to sibling tenants, 2 currently in use by the parent pool); a child tenant may not be granted more quota than its parent has left",
                "spec.resourceQuotas[memory]: Forbidden: requested 2Gi exceeds the parent tenant's remaining \"memory\" quota of 1Gi (parent allows 1Gi, 0 already allocated to sibling tenants, 0 currently in use by the parent pool); a child tenant may not be granted more quota than its parent has left",
                "spec.resourceQuotas[storage]: Forbidden: requested 20Gi exceeds the parent tenant's remaining \"storage\" quota of 10Gi (parent allows 100Gi, 40Gi already allocated to sibling tenants, 50Gi currently in use by the parent pool); a child tenant may not be granted more quota than its parent has left",
            ]
        );
    }

    #[test]
    fn overcommitted_parent_reports_a_negative_remainder() {
        let errs = check_child_quota(&map(&[("cpu", "1")]), &map(&[("cpu", "2")]), &[map(&[("cpu", "3")])], &map(&[]));
        assert_eq!(
            messages(&errs),
            vec![
                "spec.resourceQuotas[cpu]: Forbidden: requested 1 exceeds the parent tenant's remaining \"cpu\" quota of -1 (parent allows 2, 3 already allocated to sibling tenants, 0 currently in use by the parent pool); a child tenant may not be granted more quota than its parent has left"
            ]
        );
    }

    #[test]
    fn malformed_child_quota_is_invalid() {
        let errs = check_child_quota(&map(&[("cpu", "lots")]), &map(&[("cpu", "2")]), &[], &map(&[]));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].kind, FieldErrorKind::Invalid);
        assert_eq!(
            errs[0].to_string(),
            "spec.resourceQuotas: Invalid value: \"\": decode tenant values: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        let decode = declared_quotas(&json!({"resourceQuotas": 5})).unwrap_err();
        assert_eq!(invalid_quotas(decode).field, "spec.resourceQuotas");
    }

    #[test]
    fn malformed_parent_quota_is_an_internal_error() {
        let errs = check_child_quota(&map(&[("cpu", "1")]), &map(&[("cpu", "1ki")]), &[], &map(&[]));
        assert_eq!(messages(&errs), vec!["spec.resourceQuotas: Internal error: decode tenant values: unable to parse quantity's suffix"]);
        assert_eq!(errs[0].kind, FieldErrorKind::Internal);
    }

    #[test]
    fn quotas_that_do_not_constrain() {
        let cases = [
            ("unbounded child", map(&[]), map(&[("cpu", "1")]), vec![]),
            ("unbounded parent", map(&[("cpu", "100")]), map(&[]), vec![]),
            ("resource the parent does not bound", map(&[("gpu", "100")]), map(&[("cpu", "1")]), vec![]),
            ("malformed sibling skipped", map(&[("cpu", "1")]), map(&[("cpu", "1")]), vec![map(&[("cpu", "x")])]),
        ];
        for (what, child, parent, siblings) in cases {
            assert_eq!(check_child_quota(&child, &parent, &siblings, &map(&[])), vec![], "{what}");
        }
    }
}
