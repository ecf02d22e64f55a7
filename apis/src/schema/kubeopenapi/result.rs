//! kube-openapi's validation errors and results, and their conversion to field errors
//! (apiextensions-apiserver's kubeOpenAPIResultToFieldErrors).

use serde_json::Value;

use crate::status::{FieldError, FieldErrorKind};

/// The error codes of kube-openapi's errors package that the conversion distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    InvalidType,
    Required,
    TooLong,
    Enum,
    MaxItems,
    TooManyProperties,
    /// Every other validation code (pattern, bounds, min*, multipleOf, uniqueness, forbidden property).
    Other,
}

/// One kube-openapi error.
#[derive(Debug, Clone)]
pub(crate) enum OErr {
    /// An errors.Validation: it names the field.
    Validation {
        code: Code,
        /// The field path kube-openapi carries (`spec.replicas`).
        name: String,
        /// errors.Validation.Value.
        value: Option<Value>,
        /// errors.Validation.Valid (the limit for too-long and too-many errors).
        valid: Option<i64>,
        /// errors.Validation.Values (the enum).
        values: Vec<Value>,
        message: String,
    },
    /// A composite error (anyOf, oneOf, allOf, not): no field, only a message.
    Composite(String),
}

impl OErr {
    /// A validation error with a value.
    pub(crate) fn v(code: Code, name: &str, value: Option<Value>, message: String) -> OErr {
        OErr::Validation { code, name: name.to_string(), value, valid: None, values: Vec::new(), message }
    }

    fn message(&self) -> &str {
        match self {
            OErr::Validation { message, .. } => message,
            OErr::Composite(m) => m,
        }
    }
}

/// A kube-openapi Result: errors without duplicates (by message) and the match count used by anyOf/oneOf.
#[derive(Debug, Default, Clone)]
pub(crate) struct Res {
    pub(crate) errors: Vec<OErr>,
    pub(crate) match_count: usize,
}

impl Res {
    /// A result holding one error and no match.
    pub(crate) fn err(e: OErr) -> Res {
        Res { errors: vec![e], match_count: 0 }
    }

    /// Adds an error unless one with the same message is already there.
    pub(crate) fn add(&mut self, e: OErr) {
        if !self.errors.iter().any(|x| x.message() == e.message()) {
            self.errors.push(e);
        }
    }

    /// Merges another result in (errors deduplicated, match counts summed).
    pub(crate) fn merge(&mut self, other: Res) {
        for e in other.errors {
            self.add(e);
        }
        self.match_count += other.match_count;
    }

    /// One more successful check.
    pub(crate) fn inc(&mut self) {
        self.match_count += 1;
    }

    /// Whether no error was found.
    pub(crate) fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// kubeOpenAPIResultToFieldErrors with a nil base path (the whole object is validated).
pub(crate) fn to_field_errors(errors: Vec<OErr>) -> Vec<FieldError> {
    errors.into_iter().map(to_field_error).collect()
}

fn to_field_error(e: OErr) -> FieldError {
    let OErr::Validation { code, name, value, valid, values, message } = e else {
        // Not an errors.Validation: field.Invalid(nil, "", err.Error()); a nil path prints as <nil>.
        return FieldError::invalid("<nil>", Value::String(String::new()), e.message());
    };
    let path = if name.is_empty() || name == "." { "<nil>".to_string() } else { name.trim_start_matches('.').to_string() };
    let value_or_empty = value.clone().unwrap_or(Value::String(String::new()));
    match code {
        Code::Required => FieldError::required(path, ""),
        Code::Enum => {
            let quoted: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Value::String(s) => super::super::gofmt::go_quote(s),
                    other => super::super::gofmt::go_quote(&super::super::gofmt::go_json(other)),
                })
                .collect();
            let detail = if quoted.is_empty() { String::new() } else { format!("supported values: {}", quoted.join(", ")) };
            FieldError::new(FieldErrorKind::NotSupported, path, detail).with_value(value.unwrap_or(Value::Null))
        }
        Code::TooLong => {
            let max = valid.unwrap_or(-1);
            let detail = match max {
                m if m < 0 => "value is too long".to_string(),
                1 => "may not be more than 1 byte".to_string(),
                m => format!("may not be more than {m} bytes"),
            };
            FieldError::new(FieldErrorKind::TooLong, path, detail)
        }
        Code::MaxItems | Code::TooManyProperties => {
            let max = valid.unwrap_or(-1);
            let detail = match max {
                m if m < 0 => "too many items".to_string(),
                1 => "must have at most 1 item".to_string(),
                m => format!("must have at most {m} items"),
            };
            let mut fe = FieldError::new(FieldErrorKind::TooMany, path, detail);
            if let Some(Value::Number(n)) = value {
                fe = fe.with_value(Value::Number(n));
            }
            fe
        }
        Code::InvalidType => FieldError::new(FieldErrorKind::TypeInvalid, path, message).with_value(value_or_empty),
        Code::Other => FieldError::invalid(path, value_or_empty, message),
    }
}
