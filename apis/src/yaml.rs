//! YAML request bodies. The YAML decoder's scanner spends time proportional to the number of tokens times the
//! depth of flow collections (`[`, `{`), so a 3 MB body of brackets would hold a worker for hours before the
//! decoder's own recursion limit is reached. A second scanner that stops at a fixed flow depth reads the body
//! first; only a body it accepts reaches the decoder.

use serde_json::Value;

/// Decodes a YAML document into a JSON value; the error is a sentence naming the problem and where it is.
pub fn from_slice(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    check_nesting(text)?;
    serde_norway::from_str(text).map_err(|e| e.to_string())
}

/// Scans `text` to its end, refusing it when its flow collections nest deeper than the scanner allows.
fn check_nesting(text: &str) -> Result<(), String> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        event.map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::from_slice;

    #[test]
    fn documents_decode_to_json() {
        let v = from_slice(b"a: 1\nb: [x, {c: true}]\nd: |\n  [[[\n").unwrap();
        assert_eq!(v, json!({"a": 1, "b": ["x", {"c": true}], "d": "[[[\n"}));
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_the_decoder_sees_it() {
        for open in ["[", "{a: "] {
            let body = format!("spec: {}", open.repeat(3_000_000 / open.len()));
            // The decoder alone would take hours on this body; without the guard this test does not end.
            let err = from_slice(body.as_bytes()).unwrap_err();
            assert!(err.contains("recursion limit exceeded"), "{err}");
        }
    }

    #[test]
    fn deep_block_nesting_is_refused_by_the_decoder() {
        let err = from_slice("- ".repeat(100_000).as_bytes()).unwrap_err();
        assert!(err.contains("recursion limit exceeded"), "{err}");
    }

    #[test]
    fn invalid_utf8_is_named() {
        assert!(from_slice(b"a: \xff").unwrap_err().contains("UTF-8"));
    }
}
