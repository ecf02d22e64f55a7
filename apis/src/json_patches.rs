//! RFC 6902 JSON patches, applied all or nothing.
//!
//! The `json_patch` crate's own all-or-nothing `patch` undoes the operations already applied when a later one
//! fails, and panics when an undo is itself impossible: a `move` of a child onto its parent cannot be moved back
//! into itself. Patches here are applied to a copy without undoing anything; a failed copy is dropped.

use json_patch::{PatchError, PatchOperation};
use serde_json::Value;

/// `doc` with every operation of `ops` applied, or the first operation's error (and `doc` untouched).
pub fn patched(doc: &Value, ops: &[PatchOperation]) -> Result<Value, PatchError> {
    let mut copy = doc.clone();
    json_patch::patch_unsafe(&mut copy, ops)?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ops(v: Value) -> Vec<PatchOperation> {
        serde_json::from_value::<json_patch::Patch>(v).unwrap().0
    }

    #[test]
    fn a_failure_after_a_move_onto_the_parent_is_an_error_not_a_panic() {
        let doc = json!({"spec": {"replicas": {"x": 1}}});
        // Moving /spec/replicas/x onto /spec/replicas cannot be undone by a move, which is how the crate's atomic
        // patch would roll it back when the second operation fails.
        let p = ops(json!([
            {"op": "move", "from": "/spec/replicas/x", "path": "/spec/replicas"},
            {"op": "remove", "path": "/spec/missing"}
        ]));
        let err = patched(&doc, &p).unwrap_err();
        assert_eq!(err.operation, 1);
        assert_eq!(doc, json!({"spec": {"replicas": {"x": 1}}}));
    }

    #[test]
    fn all_operations_apply_in_order() {
        let doc = json!({"a": {"b": 1}, "c": [1, 2]});
        let p = ops(json!([
            {"op": "move", "from": "/a/b", "path": "/a"},
            {"op": "add", "path": "/c/-", "value": 3},
            {"op": "test", "path": "/a", "value": 1}
        ]));
        assert_eq!(patched(&doc, &p).unwrap(), json!({"a": 1, "c": [1, 2, 3]}));
    }
}
