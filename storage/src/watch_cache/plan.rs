//! What a list or watch asks of the cache, decided from its options alone (pure; table-tested), and the
//! Status objects the cache answers with, worded as kube-apiserver words them.

use apis::status::{FieldError, FieldErrorKind, Status};

use crate::StorageError;
use crate::registry::ListOptions;

/// How fresh the state a read starts from must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// resourceVersion "0": whatever the cache holds.
    Any,
    /// resourceVersion unset: at least the backend's current resourceVersion (a consistent read).
    Consistent,
    /// resourceVersion N (NotOlderThan): at least N.
    AtLeast(u64),
}

/// How a list is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListPlan {
    /// By the backend: pages (`limit` or `continue`, except with resourceVersion "0", where the limit is ignored as
    /// kube-apiserver's cache ignores it) and `resourceVersionMatch=Exact`. Continue tokens are the backend's.
    Backend,
    /// From the cache, once it is at least this fresh (else by the backend).
    Cache(Freshness),
}

/// How a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPlan {
    /// The state to start from.
    pub from: Freshness,
    /// Synthetic ADDED events for every object of that state first (resourceVersion unset or "0", or
    /// sendInitialEvents=true); otherwise only the changes after it.
    pub initial_events: bool,
    /// A BOOKMARK annotated `k8s.io/initial-events-end` after the initial events (WatchList).
    pub end_bookmark: bool,
}

/// Parses a resourceVersion given as a number.
pub fn parse_rv(rv: &str) -> Result<u64, StorageError> {
    rv.parse().map_err(|_| Status::bad_request(format!("invalid resource version {rv:?}: must be an unsigned integer")).into())
}

/// How fresh a get with `resourceVersion` must be (its options carry nothing else).
pub fn get(resource_version: &str) -> Result<Freshness, StorageError> {
    freshness(resource_version)
}

fn freshness(rv: &str) -> Result<Freshness, StorageError> {
    Ok(match rv {
        "" => Freshness::Consistent,
        "0" => Freshness::Any,
        n => Freshness::AtLeast(parse_rv(n)?),
    })
}

fn invalid_options(errors: Vec<FieldError>) -> StorageError {
    Status::invalid("meta.k8s.io", "ListOptions", "", &errors).into()
}

/// The plan of a list.
pub fn list(opts: &ListOptions) -> Result<ListPlan, StorageError> {
    if opts.send_initial_events.is_some() {
        return Err(invalid_options(vec![FieldError::forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list")]));
    }
    let paged = !opts.continue_token.is_empty() || (opts.limit > 0 && opts.resource_version != "0");
    if paged || opts.resource_version_match == "Exact" {
        return Ok(ListPlan::Backend);
    }
    freshness(&opts.resource_version).map(ListPlan::Cache)
}

/// The plan of a watch, with the checks kube-apiserver makes on watch options.
pub fn watch(opts: &ListOptions) -> Result<WatchPlan, StorageError> {
    let rv_match = opts.resource_version_match.as_str();
    let mut errors = Vec::new();
    if opts.send_initial_events.is_some() && rv_match != "NotOlderThan" {
        errors.push(FieldError::forbidden("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"));
    }
    if !rv_match.is_empty() {
        if opts.send_initial_events.is_none() {
            errors.push(FieldError::forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
        }
        if rv_match != "NotOlderThan" {
            errors
                .push(FieldError::new(FieldErrorKind::NotSupported, "resourceVersionMatch", "supported values: \"NotOlderThan\"").with_value(rv_match.into()));
        }
    }
    if !errors.is_empty() {
        return Err(invalid_options(errors));
    }
    let from = freshness(&opts.resource_version)?;
    let legacy_initial = matches!(from, Freshness::Any | Freshness::Consistent);
    let initial_events = opts.send_initial_events.unwrap_or(legacy_initial);
    Ok(WatchPlan { from, initial_events, end_bookmark: opts.send_initial_events == Some(true) && opts.allow_watch_bookmarks })
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any resourceVersion text parses to the number it spells or is refused with a 400 naming it.
        #[test]
        fn resource_versions_parse_or_are_refused_with_400(s in prop_oneof!["[0-9]{0,22}", "[-+ 0-9a-z.]{0,8}", any::<String>()]) {
            match parse_rv(&s) {
                Ok(n) => {
                    let printed = n.to_string();
                    prop_assert_eq!(printed.trim_start_matches('0'), s.trim_start_matches(['+', '0']));
                }
                Err(e) => {
                    let st = e.to_status();
                    prop_assert_eq!(st.code, 400);
                    prop_assert!(st.message.contains("invalid resource version"), "{}", st.message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(rv: &str, rv_match: &str, limit: i64, cont: &str, sie: Option<bool>, bookmarks: bool) -> ListOptions {
        ListOptions {
            resource_version: rv.into(),
            resource_version_match: rv_match.into(),
            limit,
            continue_token: cont.into(),
            send_initial_events: sie,
            allow_watch_bookmarks: bookmarks,
            ..Default::default()
        }
    }

    #[test]
    fn list_plans() {
        use Freshness::*;
        use ListPlan::*;
        let rows: &[(&str, ListOptions, ListPlan)] = &[
            ("unset is a consistent read from the cache", opts("", "", 0, "", None, false), Cache(Consistent)),
            ("0 is any state", opts("0", "", 0, "", None, false), Cache(Any)),
            ("N is not older than N", opts("42", "", 0, "", None, false), Cache(AtLeast(42))),
            ("NotOlderThan N", opts("42", "NotOlderThan", 0, "", None, false), Cache(AtLeast(42))),
            ("Exact goes to the backend", opts("42", "Exact", 0, "", None, false), Backend),
            ("a limit pages through the backend", opts("", "", 10, "", None, false), Backend),
            ("a limit with N too", opts("42", "", 10, "", None, false), Backend),
            ("a limit with 0 is ignored, as kube-apiserver's cache does", opts("0", "", 10, "", None, false), Cache(Any)),
            ("continue tokens are the backend's", opts("", "", 10, "abc", None, false), Backend),
        ];
        for (why, o, want) in rows {
            assert_eq!(list(o).unwrap(), *want, "{why}");
        }
        assert_eq!(list(&opts("x", "", 0, "", None, false)).unwrap_err().to_status().code, 400, "a non-numeric resourceVersion");
        assert_eq!(list(&opts("", "", 0, "", Some(true), false)).unwrap_err().to_status().code, 422, "sendInitialEvents on a list");
    }

    #[test]
    fn watch_plans() {
        use Freshness::*;
        let plan = |from, initial_events, end_bookmark| WatchPlan { from, initial_events, end_bookmark };
        let rows: &[(&str, ListOptions, WatchPlan)] = &[
            ("unset: consistent state, then changes", opts("", "", 0, "", None, false), plan(Consistent, true, false)),
            ("0: any state, then changes", opts("0", "", 0, "", None, true), plan(Any, true, false)),
            ("N: changes after N only", opts("7", "", 0, "", None, true), plan(AtLeast(7), false, false)),
            ("WatchList, consistent", opts("", "NotOlderThan", 0, "", Some(true), true), plan(Consistent, true, true)),
            ("WatchList from 0 (kube-rs)", opts("0", "NotOlderThan", 0, "", Some(true), true), plan(Any, true, true)),
            ("WatchList not older than N", opts("7", "NotOlderThan", 0, "", Some(true), true), plan(AtLeast(7), true, true)),
            ("WatchList without bookmarks has no end bookmark", opts("", "NotOlderThan", 0, "", Some(true), false), plan(Consistent, true, false)),
            ("sendInitialEvents=false from unset: now, nothing before", opts("", "NotOlderThan", 0, "", Some(false), true), plan(Consistent, false, false)),
            ("sendInitialEvents=false from 0", opts("0", "NotOlderThan", 0, "", Some(false), true), plan(Any, false, false)),
        ];
        for (why, o, want) in rows {
            assert_eq!(watch(o).unwrap(), *want, "{why}");
        }
        let bad: &[(&str, ListOptions)] = &[
            ("sendInitialEvents without NotOlderThan", opts("", "", 0, "", Some(true), true)),
            ("resourceVersionMatch without sendInitialEvents", opts("5", "NotOlderThan", 0, "", None, true)),
            ("Exact on a watch", opts("5", "Exact", 0, "", Some(true), true)),
        ];
        for (why, o) in bad {
            let s = watch(o).unwrap_err().to_status();
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{why}");
            assert!(s.message.starts_with("ListOptions.meta.k8s.io \"\" is invalid: "), "{why}: {}", s.message);
        }
        assert_eq!(watch(&opts("abc", "", 0, "", None, false)).unwrap_err().to_status().code, 400);
    }
}
