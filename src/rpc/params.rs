//! Reading request parameters, with the TypeScript server's error messages
//! (`INVALID_PARAMS`, `"<name> is required"`) and a clear one for a wrong type.

use serde_json::{Map, Value};

use crate::core::errors::RpcError;

/// The parameters of one request.
pub type Params = Map<String, Value>;

fn wrong_type(name: &str, expected: &str) -> RpcError {
    RpcError::invalid_params(format!("{name} must be {expected}"))
}

/// A required non-empty string.
pub fn required_str<'a>(p: &'a Params, name: &str) -> Result<&'a str, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Err(RpcError::missing_param(name)),
        Some(Value::String(s)) if s.is_empty() => Err(RpcError::missing_param(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

/// An optional string (`null` counts as absent).
pub fn opt_str<'a>(p: &'a Params, name: &str) -> Result<Option<&'a str>, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

/// An optional non-negative integer.
pub fn opt_usize(p: &Params, name: &str) -> Result<Option<usize>, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
            .map(|n| Some(n as usize))
            .ok_or_else(|| wrong_type(name, "a non-negative integer")),
    }
}

/// An optional boolean.
pub fn opt_bool(p: &Params, name: &str) -> Result<Option<bool>, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong_type(name, "true or false")),
    }
}

/// An optional list of strings.
pub fn opt_str_list(p: &Params, name: &str) -> Result<Option<Vec<String>>, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| wrong_type(name, "a list of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong_type(name, "a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn missing_and_mistyped_params_say_which() {
        let p = params(json!({"sessionId": 5, "limit": -1, "types": ["a", 1], "empty": ""}));
        assert_eq!(required_str(&p, "prompt").unwrap_err().message, "prompt is required");
        assert_eq!(required_str(&p, "empty").unwrap_err().message, "empty is required");
        assert_eq!(required_str(&p, "sessionId").unwrap_err().message, "sessionId must be a string");
        assert!(opt_usize(&p, "limit").is_err());
        assert!(opt_str_list(&p, "types").is_err());
        assert_eq!(opt_usize(&params(json!({"limit": 20.0})), "limit").unwrap(), Some(20));
        assert_eq!(opt_bool(&p, "nope").unwrap(), None);
    }
}
