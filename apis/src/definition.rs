//! ApplicationDefinition (cozystack.io/v1alpha1): one served application kind and how it maps to a HelmRelease.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Annotation overriding both the install and the upgrade timeout of the HelmRelease.
pub const ANNOTATION_INSTALL_TIMEOUT: &str = "release.cozystack.io/helm-install-timeout";
/// Annotation overriding the upgrade timeout only (wins over the install-timeout annotation).
pub const ANNOTATION_UPGRADE_TIMEOUT: &str = "release.cozystack.io/helm-upgrade-timeout";
/// Annotation that turns off Helm's wait on install and upgrade.
pub const ANNOTATION_DISABLE_WAIT: &str = "release.cozystack.io/helm-install-disable-wait";

/// An ApplicationDefinition as stored in the cluster (only the fields the server uses are typed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationDefinition {
    /// Object metadata (name, annotations, resourceVersion).
    #[serde(default)]
    pub metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    /// The definition proper.
    #[serde(default)]
    pub spec: DefinitionSpec,
}

/// `spec` of an ApplicationDefinition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionSpec {
    /// The served kind.
    #[serde(default)]
    pub application: ApplicationSpec,
    /// How its HelmRelease is made.
    #[serde(default)]
    pub release: ReleaseSpec,
}

/// `spec.application`: the served kind's names and schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Kind, e.g. `Postgres`.
    #[serde(default)]
    pub kind: String,
    /// Resource name, e.g. `postgreses`.
    #[serde(default)]
    pub plural: String,
    /// Singular name, e.g. `postgres`.
    #[serde(default)]
    pub singular: String,
    /// JSON text of the OpenAPI v3 schema of `spec`.
    #[serde(default, rename = "openAPISchema")]
    pub open_api_schema: String,
}

/// `spec.release`: the HelmRelease side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSpec {
    /// Prefix of the HelmRelease name.
    #[serde(default)]
    pub prefix: String,
    /// Labels merged into every HelmRelease.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The chart reference copied into `spec.chartRef`.
    #[serde(default)]
    pub chart_ref: ChartRef,
    /// `poller` or `legacy`, copied into `spec.waitStrategy.name`.
    #[serde(default)]
    pub wait_strategy: String,
    /// Copied into `spec.healthCheckExprs`.
    #[serde(default)]
    pub health_check_exprs: Vec<Value>,
}

/// A chart reference `{kind, name, namespace}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChartRef {
    /// Kind of the source (ExternalArtifact, OCIRepository, HelmChart).
    #[serde(default)]
    pub kind: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// Why a definition cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DefinitionError {
    /// kind, plural or singular is missing or not a valid name.
    #[error("ApplicationDefinition {name:?}: {what}")]
    BadNames {
        /// Definition name.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// A release annotation does not parse.
    #[error("ApplicationDefinition {name:?} has invalid {annotation} annotation: {why}")]
    BadAnnotation {
        /// Definition name.
        name: String,
        /// The annotation key.
        annotation: &'static str,
        /// Why it is invalid.
        why: String,
    },
}

/// The HelmRelease timing knobs taken from a definition's annotations; None means "use the server flag".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReleaseOverrides {
    /// Install timeout override.
    pub install_timeout: Option<String>,
    /// Upgrade timeout override.
    pub upgrade_timeout: Option<String>,
    /// Disable Helm's wait on install and upgrade.
    pub disable_wait: bool,
}

impl ApplicationDefinition {
    /// Name of the definition object.
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    /// Checks that the served names are usable as a Kubernetes resource.
    pub fn check_names(&self) -> Result<(), DefinitionError> {
        let a = &self.spec.application;
        let bad = |what: String| DefinitionError::BadNames { name: self.name().to_string(), what };
        let kind_re = regex::Regex::new("^[A-Z][A-Za-z0-9]*$").expect("static regex");
        if !kind_re.is_match(&a.kind) {
            return Err(bad(format!("spec.application.kind {:?} is not a valid kind", a.kind)));
        }
        let res_re = regex::Regex::new("^[a-z]([-a-z0-9]*[a-z0-9])?$").expect("static regex");
        for (field, v) in [("plural", &a.plural), ("singular", &a.singular)] {
            if !res_re.is_match(v) || v.len() > 63 {
                return Err(bad(format!("spec.application.{field} {v:?} is not a valid resource name")));
            }
        }
        Ok(())
    }

    /// Reads the release annotations; an invalid value is an error naming the annotation.
    pub fn release_overrides(&self) -> Result<ReleaseOverrides, DefinitionError> {
        let ann = self.metadata.annotations.clone().unwrap_or_default();
        let mut out = ReleaseOverrides::default();
        for (key, slot) in [(ANNOTATION_INSTALL_TIMEOUT, &mut out.install_timeout), (ANNOTATION_UPGRADE_TIMEOUT, &mut out.upgrade_timeout)] {
            let Some(v) = ann.get(key) else { continue };
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            if !is_go_duration(v) {
                return Err(DefinitionError::BadAnnotation {
                    name: self.name().to_string(),
                    annotation: key,
                    why: format!("{v:?} is not a duration such as 10m or 1h30m"),
                });
            }
            *slot = Some(v.to_string());
        }
        if let Some(v) = ann.get(ANNOTATION_DISABLE_WAIT) {
            match v.trim().to_ascii_lowercase().as_str() {
                "true" => out.disable_wait = true,
                "false" | "" => {}
                _ => {
                    return Err(DefinitionError::BadAnnotation {
                        name: self.name().to_string(),
                        annotation: ANNOTATION_DISABLE_WAIT,
                        why: format!("{v:?} is neither true nor false"),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The schema of `spec` as JSON, or None when the definition carries none.
    pub fn spec_schema(&self) -> Result<Option<Value>, serde_json::Error> {
        let text = self.spec.application.open_api_schema.trim();
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(text).map(Some)
    }
}

/// True for Go durations made of number+unit pairs (`10m`, `1h30m`, `1.5s`, `300ms`).
pub fn is_go_duration(s: &str) -> bool {
    regex::Regex::new(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$").expect("static regex").is_match(s)
}

/// Parses a Go duration (`90s`, `1h30m`, `1.5s`, `300ms`) into a std Duration; signs and bare numbers are refused.
pub fn parse_go_duration(s: &str) -> Option<std::time::Duration> {
    if !is_go_duration(s) {
        return None;
    }
    let nanos = crate::application::parse_go_duration(s).ok()?;
    u64::try_from(nanos).ok().map(std::time::Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str) -> ApplicationDefinition {
        crate::fixtures::application_definition(name)
    }

    #[test]
    fn every_fixture_parses_with_valid_names_and_schema() {
        let mut n = 0;
        for (path, def) in crate::fixtures::application_definitions() {
            def.check_names().unwrap();
            def.release_overrides().unwrap();
            assert!(def.spec_schema().unwrap().is_some(), "{path:?} has a schema");
            n += 1;
        }
        assert_eq!(n, 31);
    }

    #[test]
    fn postgres_fixture_fields() {
        let def = load("postgres");
        assert_eq!(def.spec.application.kind, "Postgres");
        assert_eq!(def.spec.application.plural, "postgreses");
        assert_eq!(def.spec.release.prefix, "postgres-");
        assert_eq!(def.spec.release.labels.get("sharding.fluxcd.io/key").map(String::as_str), Some("tenants"));
        assert_eq!(def.spec.release.chart_ref.kind, "ExternalArtifact");
    }

    #[test]
    fn go_durations() {
        let cases = [("5m", Some(300.0)), ("1h30m", Some(5400.0)), ("1.5s", Some(1.5)), ("300ms", Some(0.3)), ("", None), ("5", None), ("m5", None)];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text).map(|d| d.as_secs_f64()), want, "{text:?}");
        }
    }

    #[test]
    fn annotations_are_checked() {
        let mut def = load("redis");
        let ann = def.metadata.annotations.get_or_insert_with(Default::default);
        ann.insert(ANNOTATION_INSTALL_TIMEOUT.into(), "15m".into());
        ann.insert(ANNOTATION_DISABLE_WAIT.into(), " TRUE ".into());
        let o = def.release_overrides().unwrap();
        assert_eq!(o.install_timeout.as_deref(), Some("15m"));
        assert!(o.disable_wait);
        def.metadata.annotations.as_mut().unwrap().insert(ANNOTATION_UPGRADE_TIMEOUT.into(), "soon".into());
        let err = def.release_overrides().unwrap_err().to_string();
        assert!(err.contains(ANNOTATION_UPGRADE_TIMEOUT), "{err}");
    }
}
