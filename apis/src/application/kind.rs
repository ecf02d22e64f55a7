//! What translation needs from one ApplicationDefinition, the HelmRelease server flags, and Go durations.
//!
//! HelmRelease durations are written as Go's `time.Duration.String()` does (`5m0s`, `30s`), because the
//! upstream server serialises `metav1.Duration` that way and Flux users see those strings.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::definition::{ANNOTATION_INSTALL_TIMEOUT, ANNOTATION_UPGRADE_TIMEOUT};
use crate::definition::{ApplicationDefinition, ChartRef, DefinitionError, ReleaseOverrides};

/// One served application kind, as translation sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppKind {
    /// Kind, e.g. `Postgres`; also the value of the `application.kind` label.
    pub kind: String,
    /// Resource name, e.g. `postgreses`.
    pub plural: String,
    /// Singular name, e.g. `postgres`.
    pub singular: String,
    /// HelmRelease name prefix, e.g. `postgres-` (may be empty for tenant modules).
    pub prefix: String,
    /// Labels merged into every HelmRelease (`sharding.fluxcd.io/key: tenants`, ...).
    pub release_labels: BTreeMap<String, String>,
    /// Copied into the HelmRelease `spec.chartRef`.
    pub chart_ref: ChartRef,
    /// `poller`, `legacy` or empty.
    pub wait_strategy: String,
    /// Copied verbatim into `spec.healthCheckExprs`.
    pub health_check_exprs: Vec<Value>,
    /// Timeout and wait overrides from the definition's annotations.
    pub overrides: ReleaseOverrides,
}

impl AppKind {
    /// Reads a definition; fails when its names or release annotations are unusable.
    pub fn from_definition(def: &ApplicationDefinition) -> Result<AppKind, DefinitionError> {
        def.check_names()?;
        let overrides = def.release_overrides()?;
        // The annotations passed a shape check; also make sure they fit a Go duration (no overflow), so
        // translation never has to fall back silently.
        for (annotation, value) in [(ANNOTATION_INSTALL_TIMEOUT, &overrides.install_timeout), (ANNOTATION_UPGRADE_TIMEOUT, &overrides.upgrade_timeout)] {
            if let Some(v) = value
                && let Err(why) = parse_go_duration(v)
            {
                return Err(DefinitionError::BadAnnotation { name: def.name().to_string(), annotation, why });
            }
        }
        let (app, release) = (&def.spec.application, &def.spec.release);
        Ok(AppKind {
            kind: app.kind.clone(),
            plural: app.plural.clone(),
            singular: app.singular.clone(),
            prefix: release.prefix.clone(),
            release_labels: release.labels.clone(),
            chart_ref: release.chart_ref.clone(),
            wait_strategy: release.wait_strategy.clone(),
            health_check_exprs: release.health_check_exprs.clone(),
            overrides,
        })
    }

    /// `spec.waitStrategy` of the HelmRelease: the definition's, else `poller` when health checks are
    /// declared (Flux evaluates them only under poller), else none.
    pub fn resolved_wait_strategy(&self) -> Option<&str> {
        if !self.wait_strategy.is_empty() {
            Some(&self.wait_strategy)
        } else if !self.health_check_exprs.is_empty() {
            Some("poller")
        } else {
            None
        }
    }

    /// Install and upgrade timeouts: the install annotation sets both, the upgrade annotation then wins
    /// for upgrades; a zero override counts as unset, as upstream's `> 0` test does.
    pub fn timeouts(&self, settings: &ReleaseSettings) -> (Duration, Duration) {
        let parse = |v: &Option<String>| v.as_deref().and_then(|s| parse_go_duration(s).ok()).filter(|n| *n > 0).map(|n| Duration::from_nanos(n as u64));
        let (mut install, mut upgrade) = (settings.install_timeout, settings.upgrade_timeout);
        if let Some(d) = parse(&self.overrides.install_timeout) {
            install = d;
            upgrade = d;
        }
        if let Some(d) = parse(&self.overrides.upgrade_timeout) {
            upgrade = d;
        }
        (install, upgrade)
    }
}

/// The `--helmrelease-*` server flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSettings {
    /// `--helmrelease-interval`: `spec.interval`.
    pub interval: Duration,
    /// `--helmrelease-retry-interval`: `retryInterval` of the install and upgrade strategies.
    pub retry_interval: Duration,
    /// `--helmrelease-install-timeout`: `spec.install.timeout` unless the definition overrides it.
    pub install_timeout: Duration,
    /// `--helmrelease-upgrade-timeout`: `spec.upgrade.timeout` unless the definition overrides it.
    pub upgrade_timeout: Duration,
    /// `--helmrelease-max-history`: `spec.maxHistory`, always written (0 = unlimited).
    pub max_history: u32,
}

impl Default for ReleaseSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5 * 60),
            retry_interval: Duration::from_secs(30),
            install_timeout: Duration::from_secs(10 * 60),
            upgrade_timeout: Duration::from_secs(10 * 60),
            max_history: 5,
        }
    }
}

impl ReleaseSettings {
    /// Parses the value of one duration flag (`flag` includes the dashes): a Go duration above zero.
    pub fn parse_duration_flag(flag: &str, value: &str) -> Result<Duration, String> {
        let nanos = parse_go_duration(value).map_err(|e| format!("invalid duration for {flag}={value}: {e}"))?;
        if nanos <= 0 {
            return Err(format!("{flag} must be > 0 (got {})", format_go_duration(nanos)));
        }
        Ok(Duration::from_nanos(nanos as u64))
    }
}

const NANOS_PER_UNIT: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 micro sign
    ("μs", 1_000), // U+03BC Greek mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration as Go's `time.ParseDuration` does (`1h30m`, `1.5s`, `-2m`, `0`), in nanoseconds,
/// with Go's error messages.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
        if !(rest.starts_with('.') || rest.as_bytes()[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let n = digits(rest);
        let whole: u128 = if n == 0 { 0 } else { rest[..n].parse().map_err(|_| invalid())? };
        rest = &rest[n..];
        let mut frac = "";
        if let Some(after) = rest.strip_prefix('.') {
            let m = digits(after);
            frac = &after[..m];
            rest = &after[m..];
        }
        if n == 0 && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {s:?}"));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let Some(&(_, per)) = NANOS_PER_UNIT.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("time: unknown unit {unit:?} in duration {s:?}"));
        };
        let mut v = whole.checked_mul(per as u128).ok_or_else(invalid)?;
        // Fraction digits beyond 19 cannot change a nanosecond count of any unit here.
        let frac = &frac[..frac.len().min(19)];
        if !frac.is_empty() {
            let f: u128 = frac.parse().map_err(|_| invalid())?;
            v += f * per as u128 / 10u128.pow(frac.len() as u32);
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > 1u128 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Formats nanoseconds as Go's `time.Duration.String()` does: `5m0s`, `1h0m0s`, `1.5s`, `300ms`, `0s`.
pub fn format_go_duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".to_string(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (int, frac) = split_frac(u, prec);
        out.push_str(&int.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let (secs, frac) = split_frac(u, 9);
        u = secs;
        let (h, m, s) = (u / 3600, (u / 60) % 60, u % 60);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || u >= 60 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg { format!("-{out}") } else { out }
}

/// Splits `v` into its integer part above `prec` decimal places and the fraction as Go prints it
/// (`.5`, nothing when zero, trailing zeros dropped).
fn split_frac(v: u64, prec: u32) -> (u64, String) {
    let div = 10u64.pow(prec);
    let (int, frac) = (v / div, v % div);
    if frac == 0 {
        return (int, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (int, format!(".{}", digits.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("5m", Ok(300_000_000_000)),
            ("30s", Ok(30_000_000_000)),
            ("1h30m", Ok(5_400_000_000_000)),
            ("1.5s", Ok(1_500_000_000)),
            (".5s", Ok(500_000_000)),
            ("300ms", Ok(300_000_000)),
            ("2us", Ok(2_000)),
            ("2µs", Ok(2_000)),
            ("7ns", Ok(7)),
            ("0", Ok(0)),
            ("+0", Ok(0)),
            ("-2m", Ok(-120_000_000_000)),
            ("", Err("time: invalid duration \"\"")),
            ("5", Err("time: missing unit in duration \"5\"")),
            ("5d", Err("time: unknown unit \"d\" in duration \"5d\"")),
            (".s", Err("time: invalid duration \".s\"")),
            ("x", Err("time: invalid duration \"x\"")),
            ("3000000h", Err("time: invalid duration \"3000000h\"")),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), want.map_err(str::to_string), "{input:?}");
        }
    }

    #[test]
    fn go_durations_format() {
        let s = 1_000_000_000;
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (7, "7ns"),
            (1_500, "1.5µs"),
            (300_000_000, "300ms"),
            (s, "1s"),
            (30 * s, "30s"),
            (1_500_000_000, "1.5s"),
            (60 * s, "1m0s"),
            (5 * 60 * s, "5m0s"),
            (10 * 60 * s, "10m0s"),
            (3600 * s, "1h0m0s"),
            (5400 * s, "1h30m0s"),
            (3661 * s + 1, "1h1m1.000000001s"),
            (-90 * s, "-1m30s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(format_go_duration(*nanos), *want, "{nanos}");
        }
    }

    #[test]
    fn duration_flags_must_be_positive() {
        let flag = "--helmrelease-interval";
        assert_eq!(ReleaseSettings::parse_duration_flag(flag, "90s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            ReleaseSettings::parse_duration_flag(flag, "soon"),
            Err("invalid duration for --helmrelease-interval=soon: time: invalid duration \"soon\"".into())
        );
        assert_eq!(ReleaseSettings::parse_duration_flag(flag, "0s"), Err("--helmrelease-interval must be > 0 (got 0s)".into()));
    }

    fn kind_with(install: Option<&str>, upgrade: Option<&str>) -> AppKind {
        AppKind {
            overrides: ReleaseOverrides { install_timeout: install.map(Into::into), upgrade_timeout: upgrade.map(Into::into), disable_wait: false },
            ..Default::default()
        }
    }

    #[test]
    fn timeouts_follow_the_annotation_precedence() {
        let settings = ReleaseSettings::default();
        let (m, ten) = (|n: u64| Duration::from_secs(n * 60), Duration::from_secs(600));
        let cases = [
            ("flags only", None, None, (ten, ten)),
            ("install sets both", Some("15m"), None, (m(15), m(15))),
            ("upgrade only", None, Some("20m"), (ten, m(20))),
            ("upgrade wins for upgrades", Some("15m"), Some("20m"), (m(15), m(20))),
            ("zero is unset", Some("0s"), None, (ten, ten)),
        ];
        for (what, install, upgrade, want) in cases {
            assert_eq!(kind_with(install, upgrade).timeouts(&settings), want, "{what}");
        }
    }

    #[test]
    fn wait_strategy_defaults_to_poller_with_health_checks() {
        let mut k = AppKind::default();
        assert_eq!(k.resolved_wait_strategy(), None);
        k.health_check_exprs = vec![serde_json::json!({"apiVersion": "v1", "current": "true"})];
        assert_eq!(k.resolved_wait_strategy(), Some("poller"));
        k.wait_strategy = "legacy".into();
        assert_eq!(k.resolved_wait_strategy(), Some("legacy"));
    }

    #[test]
    fn every_fixture_definition_becomes_a_kind() {
        for (path, def) in crate::fixtures::application_definitions() {
            let kind = AppKind::from_definition(&def).unwrap();
            assert_eq!(kind.kind, def.spec.application.kind, "{path:?}");
            assert!(!kind.chart_ref.name.is_empty(), "{path:?}");
        }
    }

    #[test]
    fn overflowing_timeout_annotation_is_rejected() {
        let mut def = ApplicationDefinition::default();
        def.spec.application.kind = "Redis".into();
        def.spec.application.plural = "redises".into();
        def.spec.application.singular = "redis".into();
        def.metadata.name = Some("redis".into());
        def.metadata.annotations = Some([(ANNOTATION_INSTALL_TIMEOUT.to_string(), "99999999999h".to_string())].into());
        let err = AppKind::from_definition(&def).unwrap_err().to_string();
        assert!(err.contains(ANNOTATION_INSTALL_TIMEOUT), "{err}");
    }
}
