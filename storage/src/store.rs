//! The verbs of every projected resource, written once: get, list, watch, create, update and delete over a
//! backing resource, with dry-run, preconditions, optimistic concurrency and errors named for the served resource.

use std::sync::{Arc, OnceLock};

use apis::apply::{self, ObjectType};
use apis::status::Status;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::StorageError;
use crate::admission::{AdmissionRequest, Operation};
use crate::backend::{Backend, BackendError, Query};
use crate::projection::{Projection, set_managed_fields};
use crate::registry::{
    DeleteOptions, Deleted, EventStream, EventType, ListOptions, ObjectList, Registry, RequestContext, ResourceInfo, SharedEvent, SharedEventStream,
    SharedObject, TableConvertor, WatchEvent, WriteOptions, WriteResult,
};
use crate::watch_cache::{ProjectionView, WatchCache};

/// Field selectors every resource supports.
pub const SELECTABLE_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// A registry serving projection `P` over the backend.
pub struct Store<P> {
    projection: Arc<P>,
    backend: Backend,
    view: Arc<ProjectionView<P>>,
    cache: OnceLock<Option<Arc<WatchCache>>>,
    object_type: OnceLock<ObjectType>,
}

impl<P: Projection> Store<P> {
    /// Serves `projection` through `backend`.
    pub fn new(projection: Arc<P>, backend: Backend) -> Self {
        Self { view: Arc::new(ProjectionView::new(projection.clone())), projection, backend, cache: OnceLock::new(), object_type: OnceLock::new() }
    }

    /// The watch cache lists and watches are served from, if the projection has one (started on first use).
    fn cache(&self) -> Option<&Arc<WatchCache>> {
        let p = &self.projection;
        self.cache.get_or_init(|| p.cache_selector().map(|s| self.backend.watch_cache(p.backing(), &s))).as_ref()
    }

    fn check_fields(opts: &ListOptions) -> Result<(), StorageError> {
        opts.field_selector.check_supported(SELECTABLE_FIELDS).map_err(|e| StorageError::from(Status::bad_request(e.to_string())))
    }

    async fn list_from_backend(&self, namespace: &str, opts: &ListOptions) -> Result<ObjectList, StorageError> {
        let q = self.backend_query(opts, false)?;
        let list = self.backend.list_batched(self.projection.backing(), namespace, &q).await.map_err(|e| self.error(e, ""))?;
        let items = list.get("items").and_then(Value::as_array).map(|a| a.iter().filter_map(|o| self.served(o)).collect()).unwrap_or_default();
        let meta = list.get("metadata");
        let text = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(ObjectList {
            items,
            resource_version: text("resourceVersion"),
            continue_token: text("continue"),
            remaining_item_count: meta.and_then(|m| m.get("remainingItemCount")).and_then(Value::as_i64),
        })
    }

    /// `backing` as served: the watch cache's translation when it holds that very version (translated once, and
    /// JSON-encoded once, for every reader), else a fresh translation.
    pub(crate) fn served(&self, backing: &Value) -> Option<SharedObject> {
        let cached =
            self.cache().zip(crate::watch_cache::entry::rv_of(backing)).and_then(|(cache, rv)| cache.entry_at(&crate::watch_cache::entry::key_of(backing), rv));
        match cached {
            Some(entry) => entry.served(&*self.view),
            None => self.projection.served(backing).map(SharedObject::from),
        }
    }

    /// The projection.
    pub fn projection(&self) -> &Arc<P> {
        &self.projection
    }

    fn info_(&self) -> &ResourceInfo {
        self.projection.info()
    }

    /// A backend error about the served object `name`.
    fn error(&self, e: BackendError, name: &str) -> StorageError {
        StorageError::about(e, &*self.projection, name)
    }

    /// 404 for the served object `name`.
    fn not_found(&self, name: &str) -> StorageError {
        Status::not_found(&self.info_().group, &self.info_().plural, name).into()
    }

    fn backend_query(&self, opts: &ListOptions, watch: bool) -> Result<Query, StorageError> {
        Self::check_fields(opts)?;
        let p = &self.projection;
        let mut labels = p.backing_selector();
        let user = opts.label_selector.map_keys(|k| p.backing_label_key(k)).to_string();
        if !user.is_empty() {
            if !labels.is_empty() {
                labels.push(',');
            }
            labels.push_str(&user);
        }
        // Backing objects carry the prefixed name; every other selectable field means the same on both sides.
        let fields = opts
            .field_selector
            .requirements()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if r.field == "metadata.name" {
                    r.value = p.backing_name(&r.value);
                }
                r.to_string()
            })
            .collect::<Vec<_>>()
            .join(",");
        let mut q = Query::default()
            .set("labelSelector", labels)
            .set("fieldSelector", fields)
            .set("resourceVersion", opts.resource_version.clone())
            .set("resourceVersionMatch", opts.resource_version_match.clone());
        if watch {
            q = q
                .set("allowWatchBookmarks", if opts.allow_watch_bookmarks { "true" } else { "" })
                .set("sendInitialEvents", opts.send_initial_events.map(|b| b.to_string()).unwrap_or_default())
                .set("timeoutSeconds", opts.timeout_seconds.map(|t| t.to_string()).unwrap_or_default());
        } else {
            q = q.set("limit", if opts.limit > 0 { opts.limit.to_string() } else { String::new() }).set("continue", opts.continue_token.clone());
        }
        Ok(q)
    }

    async fn live(&self, ns: &str, name: &str) -> Result<(Value, Value), StorageError> {
        let (backing, obj) = self.live_shared(ns, name).await?;
        Ok((backing, obj.into_value()))
    }

    /// The backing object `name` read from the backend (a consistent read), and the object it serves.
    async fn live_shared(&self, ns: &str, name: &str) -> Result<(Value, SharedObject), StorageError> {
        let backing = self.backend.get(self.projection.backing(), ns, &self.projection.backing_name(name)).await.map_err(|e| self.error(e, name))?;
        let obj = self.served(&backing).filter(|o| o.name() == Some(name));
        match obj {
            Some(obj) => Ok((backing, obj)),
            None => Err(self.not_found(name)),
        }
    }

    /// Creates `obj`; `given` carries the managedFields of an apply, None records the create as an Update.
    async fn create_tracked(
        &self,
        ctx: &RequestContext,
        mut obj: Value,
        opts: &WriteOptions,
        given: Option<Option<Value>>,
    ) -> Result<WriteResult, StorageError> {
        self.check_identity(ctx, &obj)?;
        let i = self.info_();
        if i.namespaced {
            set_namespace(&mut obj, &ctx.namespace);
        }
        // Mutating admission sees the object before its name is generated, then the kind's own defaulting,
        // pruning and validation apply to what it made.
        let options = write_options_json("CreateOptions", opts);
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        self.projection.default_decoded(&mut obj);
        let original = obj.clone();
        let mut mutated = Some(obj);
        ctx.admission.mutate(&self.admission_request(ctx, Operation::Create, &name, None, None, &options), &mut mutated).await?;
        let mut obj = mutated.unwrap_or_default();
        self.check_identity(ctx, &obj)?;
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        if name.is_empty()
            && let Some(prefix) = obj.pointer("/metadata/generateName").and_then(Value::as_str).filter(|p| !p.is_empty())
        {
            let generated = format!("{prefix}{}", random_suffix());
            obj["metadata"]["name"] = generated.into();
        }
        if i.namespaced {
            set_namespace(&mut obj, &ctx.namespace);
        }
        let warnings = if original == obj {
            self.projection.admit_create(ctx, &mut obj, opts).await?
        } else {
            let w = self.projection.admit_create(ctx, &mut obj, &lenient(opts)).await?;
            client_field_warnings(&original, w, opts)?
        };
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        ctx.admission.validate(&self.admission_request(ctx, Operation::Create, &name, Some(&obj), None, &options)).await?;
        let managed = match given {
            Some(entries) => entries,
            None => self.updated_managed_fields(ctx, None, &obj, opts),
        };
        let mut backing = self.projection.to_backing(&obj, None)?;
        if self.projection.tracks_managed_fields() {
            set_managed_fields(&mut backing, managed.as_ref());
        }
        let created =
            self.backend.create(self.projection.backing(), &ctx.namespace, &backing, &Self::write_query(opts)).await.map_err(|e| self.error(e, &name))?;
        let object = self.projection.served(&created).ok_or_else(|| StorageError::Internal("the created object does not read back".into()))?;
        Ok(WriteResult { object, warnings })
    }

    /// Replaces object `name` with `obj`; `given` carries the managedFields of an apply (None records an Update),
    /// `prefetched` the live backing and served objects when the caller has just read them.
    async fn update_tracked(
        &self,
        ctx: &RequestContext,
        name: &str,
        mut obj: Value,
        opts: &WriteOptions,
        given: Option<Option<Value>>,
        prefetched: Option<(Value, Value)>,
    ) -> Result<WriteResult, StorageError> {
        self.check_identity(ctx, &obj)?;
        let body_name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if body_name != name {
            return Err(Status::bad_request(format!("the name of the object ({body_name}) does not match the name on the URL ({name})")).into());
        }
        let (live, old) = match prefetched {
            Some(pair) => pair,
            None => self.live(&ctx.namespace, name).await?,
        };
        if self.info_().namespaced {
            set_namespace(&mut obj, &ctx.namespace);
        }
        // An update without resourceVersion is unconditional, as for custom resources. Either way the write is
        // conditional on the version checked above, so the backing object replaced is the one found to be ours
        // (a client's other version would fail at the backend too, with the same answer).
        let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
        if rv.is_empty() {
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        } else if Some(rv.as_str()) != old.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
            let i = self.info_();
            return Err(Status::conflict(&i.group, &i.plural, name, crate::error::MODIFIED).into());
        }
        let options = write_options_json("UpdateOptions", opts);
        self.projection.default_decoded(&mut obj);
        let original = obj.clone();
        let mut mutated = Some(obj);
        ctx.admission.mutate(&self.admission_request(ctx, Operation::Update, name, None, Some(&old), &options), &mut mutated).await?;
        let mut obj = mutated.unwrap_or_default();
        self.check_identity(ctx, &obj)?;
        if obj.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
            return Err(Status::bad_request("admission changed the name of the object").into());
        }
        let warnings = if original == obj {
            self.projection.admit_update(ctx, &mut obj, &old, opts).await?
        } else {
            let w = self.projection.admit_update(ctx, &mut obj, &old, &lenient(opts)).await?;
            client_field_warnings(&original, w, opts)?
        };
        ctx.admission.validate(&self.admission_request(ctx, Operation::Update, name, Some(&obj), Some(&old), &options)).await?;
        let applying = given.is_some();
        let managed = match given {
            Some(entries) => entries,
            None => self.updated_managed_fields(ctx, Some(&old), &obj, opts),
        };
        let mut backing = self.projection.to_backing(&obj, Some(&live))?;
        if self.projection.tracks_managed_fields() {
            set_managed_fields(&mut backing, managed.as_ref());
        }
        // Nothing to change: nothing is written and the resourceVersion stays, as kube-apiserver answers an update
        // that changes nothing. (Sending it anyway could still write: a backing CRD's status defaults appear in
        // what it compares with only once the object is rewritten.)
        // A client's resourceVersion is a precondition the backend checks against its current object: such a write is
        // always sent. An apply or an unconditional update that changes nothing is answered from what was read.
        let written = if (applying || rv.is_empty()) && unchanged(&backing, &live) {
            live
        } else {
            self.backend
                .replace(self.projection.backing(), &ctx.namespace, &self.projection.backing_name(name), &backing, &Self::write_query(opts))
                .await
                .map_err(|e| self.error(e, name))?
        };
        let object = self.projection.served(&written).ok_or_else(|| StorageError::Internal("the updated object does not read back".into()))?;
        Ok(WriteResult { object, warnings })
    }

    /// Server-side apply: merges `config` into the live object (or creates it from `config`), with field
    /// ownership, conflicts and managedFields as kube-apiserver computes them for a custom resource.
    async fn apply_config(&self, ctx: &RequestContext, name: &str, config: Value, opts: &WriteOptions) -> Result<(bool, WriteResult), StorageError> {
        let i = self.info_();
        if !config.is_object() {
            return Err(Status::bad_request("the apply patch must be an object").into());
        }
        let text = |p: &str| config.pointer(p).and_then(Value::as_str).unwrap_or_default();
        if text("/apiVersion") != i.api_version() || text("/kind") != i.kind {
            let (group, version) = text("/apiVersion").rsplit_once('/').unwrap_or(("", text("/apiVersion")));
            return Err(Status::bad_request(format!("invalid object type: {group}/{version}, Kind={}", text("/kind"))).into());
        }
        if !text("/metadata/name").is_empty() && text("/metadata/name") != name {
            return Err(Status::bad_request(format!("the name of the object ({}) does not match the name on the URL ({name})", text("/metadata/name"))).into());
        }
        self.check_identity(ctx, &config)?;
        let live = match self.live(&ctx.namespace, name).await {
            Ok(pair) => Some(pair),
            Err(e) if e.to_status().code == 404 => None,
            Err(e) => return Err(e),
        };
        let old = live.as_ref().map(|(_, o)| o);
        let managed = old.and_then(|o| o.pointer("/metadata/managedFields")).and_then(|m| apply::decode_managed_fields(m).ok()).unwrap_or_default();
        let (now, api_version) = (now(), i.api_version());
        let m = apply::Manager { name: &opts.field_manager, api_version: &api_version, subresource: None, now: &now };
        let (mut merged, entries) = apply::apply(self.object_type(), old, &config, managed, &m, opts.force, RESET_FIELDS).map_err(|e| match e {
            apply::ApplyError::Conflicts(conflicts) => StorageError::from(apply::conflict_status(&conflicts, &i.group, &i.kind, name)),
            apply::ApplyError::Untypable(msg) => {
                let gvk = format!("{}, Kind={}", i.api_version(), i.kind);
                // kube-apiserver names the object by the config's own namespace (usually none) and answers 500; bad
                // input here is a 400 (docs/compatibility.md, Server-side apply).
                Status::bad_request(format!("failed to create typed patch object ({}/{name}; {gvk}): {msg}", text("/metadata/namespace"))).into()
            }
            apply::ApplyError::Invalid(msg) => Status::bad_request(msg).into(),
        })?;
        // A resourceVersion in the config is a precondition, checked when writing: after field conflicts.
        if let Some(old) = old
            && !text("/metadata/resourceVersion").is_empty()
            && old.pointer("/metadata/resourceVersion").and_then(Value::as_str) != Some(text("/metadata/resourceVersion"))
        {
            return Err(Status::conflict(&i.group, &i.plural, name, crate::error::MODIFIED).into());
        }
        // Fields the prune emptied are null: gone, as defaulting drops them for kube-apiserver.
        drop_nulls(&mut merged);
        if let Some(meta) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
            meta.insert("name".into(), name.into());
        }
        let managed = apply::encode_managed_fields(&entries);
        match live {
            None => Ok((true, self.create_tracked(ctx, merged, opts, Some(managed)).await?)),
            Some(pair) => Ok((false, self.update_tracked(ctx, name, merged, opts, Some(managed), Some(pair)).await?)),
        }
    }

    /// The structure of the served objects, for field ownership: from the kind's published schema.
    fn object_type(&self) -> &ObjectType {
        self.object_type.get_or_init(|| self.projection.schema().map(|k| ObjectType::from_openapi(&k.resolved())).unwrap_or_else(ObjectType::deduced))
    }

    /// Who writes: `fieldManager`, or else the name the User-Agent gives.
    fn manager_name(ctx: &RequestContext, opts: &WriteOptions) -> String {
        if opts.field_manager.is_empty() { apply::manager_from_user_agent(&ctx.user_agent) } else { opts.field_manager.clone() }
    }

    /// The managedFields of a create (`live` None) or an update to `new`, as kube-apiserver records an Update
    /// operation; None when there are none to keep.
    fn updated_managed_fields(&self, ctx: &RequestContext, live: Option<&Value>, new: &Value, opts: &WriteOptions) -> Option<Value> {
        if !self.projection.tracks_managed_fields() {
            return None;
        }
        let start = apply::requested_managed_fields(new)
            .or_else(|| live.and_then(|l| l.pointer("/metadata/managedFields")).and_then(|m| apply::decode_managed_fields(m).ok()))
            .unwrap_or_default();
        let (manager, now, api_version) = (Self::manager_name(ctx, opts), now(), self.info_().api_version());
        let m = apply::Manager { name: &manager, api_version: &api_version, subresource: None, now: &now };
        match apply::update(self.object_type(), live, new, start, &m, RESET_FIELDS) {
            Ok(entries) => apply::encode_managed_fields(&entries),
            // As kube-apiserver: an object the bookkeeping cannot type is written without managedFields.
            Err(e) => {
                tracing::debug!(error = ?e, "managedFields not tracked for this write");
                None
            }
        }
    }

    fn admission_request<'r>(
        &'r self,
        ctx: &'r RequestContext,
        operation: Operation,
        name: &'r str,
        object: Option<&'r Value>,
        old_object: Option<&'r Value>,
        options: &'r Value,
    ) -> AdmissionRequest<'r> {
        let dry_run = options.get("dryRun").is_some();
        AdmissionRequest {
            operation,
            resource: self.info_(),
            user: &ctx.user,
            namespace: &ctx.namespace,
            name,
            object,
            old_object,
            dry_run,
            options: Some(options),
            warnings: &ctx.warnings,
            object_type: Some(self.object_type()),
        }
    }

    fn write_query(opts: &WriteOptions) -> Query {
        Query::default().set("dryRun", if opts.dry_run { "All" } else { "" }).set("fieldManager", opts.field_manager.clone())
    }

    /// Rejects a body whose apiVersion, kind or namespace disagree with the request.
    fn check_identity(&self, ctx: &RequestContext, obj: &Value) -> Result<(), StorageError> {
        let i = self.info_();
        let (api_version, kind) = (obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""), obj.get("kind").and_then(Value::as_str).unwrap_or(""));
        if api_version != i.api_version() || kind != i.kind {
            return Err(Status::bad_request(format!(
                "the object provided is of kind {kind:?} in apiVersion {api_version:?}, but this resource expects kind {:?} in apiVersion {:?}",
                i.kind,
                i.api_version()
            ))
            .into());
        }
        let body_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
        if i.namespaced && !body_ns.is_empty() && body_ns != ctx.namespace {
            return Err(Status::bad_request("the namespace of the provided object does not match the namespace sent on the request").into());
        }
        // Metadata is checked here, in the user's terms, before the backend could answer about the backing object.
        let errors = apis::meta::validate_object_meta(obj);
        if !errors.is_empty() {
            let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            return Err(Status::invalid(&i.group, &i.kind, name, &errors).into());
        }
        Ok(())
    }
}

/// Options for the kind's own admission of an object mutating admission changed: unknown fields only warned
/// about, so that [`client_field_warnings`] decides which concern the client.
fn lenient(opts: &WriteOptions) -> WriteOptions {
    WriteOptions { field_validation: crate::registry::FieldValidation::Warn, ..opts.clone() }
}

/// Unknown fields are the client's to hear about (warned about, or refused with Strict) only when the client sent
/// them: those a mutation added are pruned silently, as kube-apiserver prunes them.
fn client_field_warnings(original: &Value, warnings: Vec<String>, opts: &WriteOptions) -> Result<Vec<String>, StorageError> {
    let unknown_path = |w: &str| w.strip_prefix("unknown field \"").and_then(|r| r.strip_suffix('"')).map(str::to_string);
    // A path with list indices is kept: it cannot be told apart here.
    let sent = |path: &str| path.contains('[') || path.split('.').try_fold(original, |v, k| v.get(k)).is_some();
    let warnings: Vec<String> = warnings.into_iter().filter(|w| unknown_path(w).is_none_or(|p| sent(&p))).collect();
    let (unknown, other): (Vec<String>, Vec<String>) = warnings.into_iter().partition(|w| unknown_path(w).is_some());
    match opts.field_validation {
        crate::registry::FieldValidation::Strict if !unknown.is_empty() => {
            Err(Status::bad_request(format!("strict decoding error: {}", unknown.join(", "))).into())
        }
        crate::registry::FieldValidation::Ignore => Ok(other),
        _ => Ok(unknown.into_iter().chain(other).collect()),
    }
}

/// The CreateOptions or UpdateOptions policies and webhooks see.
fn write_options_json(kind: &str, opts: &WriteOptions) -> Value {
    let mut o = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
    if opts.dry_run {
        o["dryRun"] = json!(["All"]);
    }
    if !opts.field_manager.is_empty() {
        o["fieldManager"] = opts.field_manager.clone().into();
    }
    o
}

/// Puts `metadata.namespace` in place for namespaced objects.
fn set_namespace(obj: &mut Value, ns: &str) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".into(), ns.into());
    }
}

/// Five random lowercase alphanumerics, for generateName.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let seed = uuid_like();
    (0..5).map(|i| ALPHABET[(seed >> (i * 8)) as usize % ALPHABET.len()] as char).collect()
}

fn uuid_like() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

impl<P: Projection> TableConvertor for Store<P> {
    fn columns(&self) -> Vec<apis::table::TableColumnDefinition> {
        self.projection.columns()
    }

    fn cells(&self, object: &Value) -> Vec<Value> {
        self.projection.cells(object)
    }
}

impl<P: Projection> Registry for Store<P> {
    fn info(&self) -> &ResourceInfo {
        self.info_()
    }

    fn schema(&self) -> Option<apis::openapi::KindSchema> {
        self.projection.schema()
    }

    fn get<'a>(&'a self, ctx: &'a RequestContext, name: &'a str) -> BoxFuture<'a, Result<Value, StorageError>> {
        Box::pin(async move { self.live(&ctx.namespace, name).await.map(|(_, obj)| obj) })
    }

    fn get_shared<'a>(&'a self, ctx: &'a RequestContext, name: &'a str) -> BoxFuture<'a, Result<SharedObject, StorageError>> {
        Box::pin(async move { self.live_shared(&ctx.namespace, name).await.map(|(_, obj)| obj) })
    }

    fn get_at<'a>(&'a self, ctx: &'a RequestContext, name: &'a str, resource_version: &'a str) -> BoxFuture<'a, Result<SharedObject, StorageError>> {
        Box::pin(async move {
            if let Some(cache) = self.cache() {
                let key = (ctx.namespace.clone(), self.projection.backing_name(name));
                match cache.get(&*self.view, &key, resource_version).await? {
                    Some(Some(obj)) if obj.name() == Some(name) => return Ok(obj),
                    Some(_) => return Err(self.not_found(name)),
                    None => {}
                }
            }
            self.get_shared(ctx, name).await
        })
    }

    fn list<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<ObjectList, StorageError>> {
        Box::pin(async move {
            if let Some(cache) = self.cache() {
                Self::check_fields(opts)?;
                if let Some(list) = cache.list(&*self.view, &ctx.namespace, opts).await? {
                    return Ok(list);
                }
            }
            self.list_from_backend(&ctx.namespace, opts).await
        })
    }

    fn watch_shared<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<SharedEventStream, StorageError>> {
        Box::pin(async move {
            let Some(cache) = self.cache() else {
                return Ok(self.watch(ctx, opts).await?.map(SharedEvent::from).boxed());
            };
            Self::check_fields(opts)?;
            // When the cache cannot serve the initial state of a consistent watch, the backend lists it.
            let consistent = ListOptions { label_selector: opts.label_selector.clone(), field_selector: opts.field_selector.clone(), ..Default::default() };
            cache.watch(self.view.clone(), &ctx.namespace, opts, || self.list_from_backend(&ctx.namespace, &consistent)).await
        })
    }

    fn watch<'a>(&'a self, ctx: &'a RequestContext, opts: &'a ListOptions) -> BoxFuture<'a, Result<EventStream, StorageError>> {
        Box::pin(async move {
            if self.cache().is_some() {
                return Ok(self.watch_shared(ctx, opts).await?.map(WatchEvent::from).boxed());
            }
            let q = self.backend_query(opts, true)?;
            let raw = self.backend.watch(self.projection.backing(), &ctx.namespace, &q).await.map_err(|e| self.error(e, ""))?;
            let projection = self.projection.clone();
            let info = self.info_().clone();
            let events = raw.filter_map(move |event| {
                let out = match event {
                    Ok((t, obj)) => translate_event(&*projection, &info, &t, &obj),
                    Err(e) => {
                        tracing::debug!(error = %e, "backend watch ended with an error");
                        None
                    }
                };
                futures::future::ready(out)
            });
            Ok(events.boxed())
        })
    }

    fn create<'a>(&'a self, ctx: &'a RequestContext, obj: Value, opts: &'a WriteOptions) -> BoxFuture<'a, Result<WriteResult, StorageError>> {
        Box::pin(self.create_tracked(ctx, obj, opts, None))
    }

    fn update<'a>(&'a self, ctx: &'a RequestContext, name: &'a str, obj: Value, opts: &'a WriteOptions) -> BoxFuture<'a, Result<WriteResult, StorageError>> {
        Box::pin(self.update_tracked(ctx, name, obj, opts, None, None))
    }

    fn apply<'a>(
        &'a self,
        ctx: &'a RequestContext,
        name: &'a str,
        config: Value,
        opts: &'a WriteOptions,
    ) -> BoxFuture<'a, Result<(bool, WriteResult), StorageError>> {
        Box::pin(self.apply_config(ctx, name, config, opts))
    }
    fn delete<'a>(&'a self, ctx: &'a RequestContext, name: &'a str, opts: &'a DeleteOptions) -> BoxFuture<'a, Result<Deleted, StorageError>> {
        Box::pin(async move {
            let (live, old) = self.live(&ctx.namespace, name).await?;
            if !self.projection.owns_for_delete(&live, name) {
                return Err(self.not_found(name));
            }
            // The delete is conditional on the uid checked above, so the backing object deleted is the one found to
            // be ours, not one recreated under its name meanwhile.
            let live_uid = live.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string);
            if let (Some(wanted), Some(uid)) = (&opts.precondition_uid, &live_uid)
                && wanted != uid
            {
                let i = self.info_();
                let detail = format!("Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}");
                return Err(Status::conflict(&i.group, &i.plural, name, &detail).into());
            }
            self.projection.admit_delete(ctx, &old).await?;
            let mut body = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
            if opts.dry_run {
                body["dryRun"] = json!(["All"]);
            }
            if let Some(p) = &opts.propagation_policy {
                body["propagationPolicy"] = p.clone().into();
            }
            if let Some(g) = opts.grace_period_seconds {
                body["gracePeriodSeconds"] = g.into();
            }
            let mut options = body.clone();
            options["apiVersion"] = "meta.k8s.io/v1".into();
            // Each delete of a deletecollection is admitted without a name, as kube-apiserver admits them.
            let admitted_name = if ctx.in_collection { "" } else { name };
            ctx.admission.mutate(&self.admission_request(ctx, Operation::Delete, admitted_name, None, Some(&old), &options), &mut None).await?;
            ctx.admission.validate(&self.admission_request(ctx, Operation::Delete, admitted_name, None, Some(&old), &options)).await?;
            let mut preconditions = serde_json::Map::new();
            if let Some(uid) = live_uid {
                preconditions.insert("uid".into(), uid.into());
            }
            if let Some(rv) = &opts.precondition_resource_version {
                preconditions.insert("resourceVersion".into(), rv.clone().into());
            }
            if !preconditions.is_empty() {
                body["preconditions"] = preconditions.into();
            }
            let answer = self
                .backend
                .delete(self.projection.backing(), &ctx.namespace, &self.projection.backing_name(name), &body)
                .await
                .map_err(|e| self.error(e, name))?;
            if answer.get("kind").and_then(Value::as_str) == Some("Status") {
                return Ok(Deleted::Gone(old));
            }
            let now = self.projection.served(&answer).unwrap_or(old);
            let pending = answer.pointer("/metadata/deletionTimestamp").is_some()
                && answer.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
            Ok(if pending && !opts.dry_run { Deleted::Pending(now) } else { Deleted::Gone(now) })
        })
    }
}

/// Top-level fields left out of field ownership: a served object's status is the server's.
const RESET_FIELDS: &[&str] = &["status"];

/// Now, as managedFields write times: RFC 3339 in whole seconds.
fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// True when writing `backing` over `live` would change nothing the writer controls: they differ at most in
/// the backend's own bookkeeping (resourceVersion, its managedFields) and the status a main-resource write
/// cannot change.
fn unchanged(backing: &Value, live: &Value) -> bool {
    let essence = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["resourceVersion", "managedFields"] {
                m.remove(k);
            }
        }
        v
    };
    essence(backing) == essence(live)
}

/// Removes null members of every object in `v`.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// The served event of a backend event; None for events about objects that are not ours.
fn translate_event<P: Projection>(p: &P, info: &ResourceInfo, t: &str, obj: &Value) -> Option<WatchEvent> {
    let event_type = match t {
        "ADDED" => EventType::Added,
        "MODIFIED" => EventType::Modified,
        "DELETED" => EventType::Deleted,
        "BOOKMARK" => {
            let mut meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
            if let Some(a) = obj.pointer("/metadata/annotations") {
                meta["annotations"] = a.clone();
            }
            return Some(WatchEvent {
                event_type: EventType::Bookmark,
                object: json!({"apiVersion": info.api_version(), "kind": info.kind, "metadata": meta}),
            });
        }
        _ => return Some(WatchEvent { event_type: EventType::Error, object: obj.clone() }),
    };
    p.served(obj).map(|object| WatchEvent { event_type, object })
}
