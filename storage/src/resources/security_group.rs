//! SecurityGroupRegistry: `securitygroups.sdn.cozystack.io`, the `cilium.io/v2` CiliumNetworkPolicies labelled
//! `sdn.cozystack.io/securitygroup=true`, with every verb but deletecollection. Policies without the marker are
//! invisible (404) and never written; the translation both ways and the checks are `apis::security_group`.
//!
//! As every resource of this server, and unlike upstream (docs/compatibility.md, SecurityGroup): reads go to the
//! backend rather than an informer cache, errors name the SecurityGroup, lists page and honour
//! resourceVersion, and a write with a stale resourceVersion is a 409 of the SecurityGroup.

use std::sync::Arc;

use apis::schema::StructuralSchema;
use apis::security_group::{self as sg, SecurityGroupSpec};
use apis::status::Status;
use apis::table::TableColumnDefinition;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::StorageError;
use crate::backend::BackingResource;
use crate::projection::Projection;
use crate::registry::{FieldValidation, RequestContext, ResourceInfo, TableConvertor, WriteOptions};

/// Cilium's namespaced network policies.
pub const CILIUM_NETWORK_POLICIES: BackingResource = BackingResource { group: "cilium.io", version: "v2", plural: "ciliumnetworkpolicies", namespaced: true };

/// The hooks of SecurityGroup.
pub struct SecurityGroupRegistry {
    info: ResourceInfo,
    spec_schema: Arc<StructuralSchema>,
}

impl Default for SecurityGroupRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl SecurityGroupRegistry {
    /// The registry.
    pub fn new() -> Self {
        let spec_schema = StructuralSchema::new(&sg::spec_schema()).expect("the SecurityGroup spec schema is structural");
        Self { info: ResourceInfo::security_group(), spec_schema: Arc::new(spec_schema) }
    }

    /// What create and update share: unknown fields pruned (refused or warned about per fieldValidation), the
    /// spec decoded as upstream's type (400 when it does not decode), then checked (one 422 naming every
    /// problem). The object keeps the decoded spec, so admission sees what is written. Returns the warnings.
    fn admit(&self, obj: &mut Value, opts: &WriteOptions) -> Result<Vec<String>, StorageError> {
        let Some(o) = obj.as_object_mut() else { return Err(Status::bad_request("the object must be a JSON object").into()) };
        let mut unknown: Vec<String> = o.keys().filter(|k| !sg::OBJECT_FIELDS.contains(&k.as_str())).map(|k| format!("unknown field \"{k}\"")).collect();
        if let Some(m) = o.get("metadata").and_then(Value::as_object) {
            let fields = super::application::METADATA_FIELDS;
            unknown.extend(m.keys().filter(|k| !fields.contains(&k.as_str())).map(|k| format!("unknown field \"metadata.{k}\"")));
        }
        o.retain(|k, _| sg::OBJECT_FIELDS.contains(&k.as_str()));
        if let Some(spec) = o.get_mut("spec").filter(|s| s.is_object()) {
            unknown.extend(self.spec_schema.prune(spec, "spec"));
        }
        let warnings = match opts.field_validation {
            FieldValidation::Strict if !unknown.is_empty() => return Err(Status::bad_request(format!("strict decoding error: {}", unknown.join(", "))).into()),
            FieldValidation::Ignore => vec![],
            _ => unknown,
        };
        let spec = SecurityGroupSpec::of(obj).map_err(|e| undecodable(&e.to_string()))?;
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let errors = sg::validate(&name, &spec);
        if !errors.is_empty() {
            return Err(Status::invalid(apis::SDN_GROUP, sg::KIND, &name, &errors).into());
        }
        obj["spec"] = spec.to_value();
        Ok(warnings)
    }
}

/// 400 for a body whose spec is not a SecurityGroupSpec, as kube-apiserver words a decoding failure.
fn undecodable(detail: &str) -> StorageError {
    Status::bad_request(format!("{} in version \"{}\" cannot be handled as a {}: {detail}", sg::KIND, apis::VERSION, sg::KIND)).into()
}

impl TableConvertor for SecurityGroupRegistry {
    fn columns(&self) -> Vec<TableColumnDefinition> {
        vec![TableColumnDefinition::new("NAME", "string", ""), TableColumnDefinition::new("AGE", "string", "")]
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let created = object.pointer("/metadata/creationTimestamp").and_then(|t| serde_json::from_value(t.clone()).ok());
        vec![name.into(), apis::table::age(created.as_ref(), jiff::Timestamp::now()).into()]
    }
}

impl Projection for SecurityGroupRegistry {
    fn info(&self) -> &ResourceInfo {
        &self.info
    }

    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        Some(apis::openapi::sdn::security_group())
    }

    fn backing(&self) -> &BackingResource {
        &CILIUM_NETWORK_POLICIES
    }

    fn backing_selector(&self) -> String {
        format!("{}=true", sg::MARKER_LABEL)
    }

    fn from_backing(&self, backing: &Value) -> Option<Value> {
        sg::from_policy(backing)
    }

    fn to_backing(&self, obj: &Value, live: Option<&Value>) -> Result<Value, StorageError> {
        sg::to_policy(obj, live).map_err(|e| undecodable(&e.to_string()))
    }

    fn admit_create<'a>(&'a self, _ctx: &'a RequestContext, obj: &'a mut Value, opts: &'a WriteOptions) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async move { self.admit(obj, opts) })
    }

    fn admit_update<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        obj: &'a mut Value,
        _old: &'a Value,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<Vec<String>, StorageError>> {
        Box::pin(async move { self.admit(obj, opts) })
    }
}

#[cfg(test)]
#[path = "security_group_tests.rs"]
mod tests;
