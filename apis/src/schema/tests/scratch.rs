use serde_json::json;
use super::{build, texts};

#[test]
fn scratch() {
    for rule in ["!(oldSelf == null)", "oldSelf != null", "(oldSelf == null ? optional.none() : optional.of(oldSelf)).hasValue()", "optional.of(oldSelf).hasValue()", "oldSelf == 'b'", "(oldSelf == null ? 1 : 2) == 2", "(oldSelf == null ? optional.none() : optional.of(oldSelf)).value() == 'b'"] {
        let s = build(json!({"type": "object", "properties": {"q": {"type": "string", "x-kubernetes-validations": [{"rule": rule}]}}}));
        println!("{rule}: update {:?}", texts(&s.validate(&json!({"q": "a"}), Some(&json!({"q": "b"})), "spec")));
    }
}
