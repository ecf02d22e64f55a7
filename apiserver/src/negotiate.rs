//! Content negotiation: which representation a client asked for in its Accept header.

/// One clause of an Accept header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaRange {
    /// `application/json`.
    pub essence: String,
    /// The `as` parameter (Table, PartialObjectMetadata, APIGroupDiscoveryList, ...).
    pub as_kind: String,
    /// The `g` parameter.
    pub group: String,
    /// The `v` parameter.
    pub version: String,
    /// The `q` weight in thousandths.
    pub q: u16,
}

/// Parses an Accept header into clauses, highest q first (stable for equal q). A missing header accepts anything.
pub fn parse_accept(header: Option<&str>) -> Vec<MediaRange> {
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
        return vec![MediaRange { essence: "*/*".into(), q: 1000, ..Default::default() }];
    };
    let mut out: Vec<MediaRange> = header
        .split(',')
        .filter_map(|clause| {
            let mut parts = clause.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let mut m = MediaRange { essence, q: 1000, ..Default::default() };
            for p in parts {
                let Some((k, v)) = p.split_once('=') else { continue };
                let v = v.trim().trim_matches('"').to_string();
                match k.trim() {
                    "as" => m.as_kind = v,
                    "g" => m.group = v,
                    "v" => m.version = v,
                    "q" => m.q = v.parse::<f32>().map(|q| (q.clamp(0.0, 1.0) * 1000.0) as u16).unwrap_or(0),
                    _ => {}
                }
            }
            (m.q > 0).then_some(m)
        })
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse(m.q));
    out
}

impl MediaRange {
    /// True for `application/json`, `application/*` and `*/*`.
    pub fn accepts_json(&self) -> bool {
        matches!(self.essence.as_str(), "application/json" | "application/*" | "*/*")
    }

    /// True for `application/yaml`.
    pub fn is_yaml(&self) -> bool {
        self.essence == "application/yaml"
    }
}

/// The representation chosen for an object response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// Plain JSON.
    Json,
    /// YAML.
    Yaml,
    /// meta.k8s.io/v1 Table.
    Table,
    /// meta.k8s.io/v1 PartialObjectMetadata (or its List for collections).
    PartialMetadata,
}

/// Chooses a representation for resource responses, or None (406) when nothing offered is servable.
pub fn choose_representation(accept: &[MediaRange]) -> Option<Representation> {
    for m in accept {
        if !m.as_kind.is_empty() {
            let meta_v1 = m.group == "meta.k8s.io" && (m.version == "v1" || m.version == "v1beta1");
            if m.essence == "application/json" && meta_v1 {
                match m.as_kind.as_str() {
                    "Table" => return Some(Representation::Table),
                    "PartialObjectMetadata" | "PartialObjectMetadataList" => return Some(Representation::PartialMetadata),
                    _ => {}
                }
            }
            continue;
        }
        if m.accepts_json() {
            return Some(Representation::Json);
        }
        if m.is_yaml() {
            return Some(Representation::Yaml);
        }
    }
    None
}

/// True when the client asked for aggregated discovery v2.
pub fn wants_aggregated_discovery(accept: &[MediaRange]) -> bool {
    for m in accept {
        if m.as_kind == "APIGroupDiscoveryList" {
            if m.group == "apidiscovery.k8s.io" && m.version == "v2" && m.essence == "application/json" {
                return true;
            }
            continue;
        }
        if m.accepts_json() {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_asks_for_table() {
        let a = parse_accept(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
        assert_eq!(choose_representation(&a), Some(Representation::Table));
    }

    #[test]
    fn representations_by_accept_header() {
        let cases = [
            (None, Some(Representation::Json)),
            (Some("application/json"), Some(Representation::Json)),
            (Some("application/yaml"), Some(Representation::Yaml)),
            (Some("application/vnd.kubernetes.protobuf, application/json"), Some(Representation::Json)),
            (Some("application/vnd.kubernetes.protobuf"), None),
            (Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"), Some(Representation::PartialMetadata)),
            (Some("application/json;as=Foo;g=x;v=v1"), None),
            (Some("application/json;q=0.5,application/yaml"), Some(Representation::Yaml)),
            (Some("*/*"), Some(Representation::Json)),
        ];
        for (header, want) in cases {
            assert_eq!(choose_representation(&parse_accept(header)), want, "{header:?}");
        }
    }

    #[test]
    fn aggregated_discovery_only_when_asked() {
        let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        assert!(wants_aggregated_discovery(&parse_accept(Some(v2))));
        assert!(!wants_aggregated_discovery(&parse_accept(Some("application/json"))));
        assert!(!wants_aggregated_discovery(&parse_accept(Some("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"))));
    }
}
