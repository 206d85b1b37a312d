use serde_json::json;

use super::*;

#[test]
fn codes_serialize_as_strings() {
    for s in RpcErrorCode::KNOWN {
        let c: RpcErrorCode = serde_json::from_value(json!(s)).unwrap();
        assert!(c.is_known(), "{s}");
        assert_eq!(serde_json::to_value(&c).unwrap(), json!(s));
        assert_eq!(c.as_str(), *s);
    }
    let c: RpcErrorCode = serde_json::from_value(json!("ENOENT")).unwrap();
    assert_eq!(c, RpcErrorCode::Unknown("ENOENT".into()));
    assert_eq!(serde_json::to_value(&c).unwrap(), json!("ENOENT"));
}

#[test]
fn json_rpc_numbers() {
    for (n, c) in [
        (-32700, RpcErrorCode::ParseError),
        (-32600, RpcErrorCode::InvalidFormat),
        (-32601, RpcErrorCode::MethodNotFound),
        (-32602, RpcErrorCode::InvalidParams),
        (-32603, RpcErrorCode::InternalError),
    ] {
        assert_eq!(RpcErrorCode::from_json_rpc_code(n), c);
        assert_eq!(c.json_rpc_code(), Some(n as i32));
        assert_eq!(serde_json::from_value::<RpcErrorCode>(json!(n)).unwrap(), c);
    }
    assert_eq!(RpcErrorCode::SessionBusy.json_rpc_code(), None);
    assert_eq!(RpcErrorCode::from_json_rpc_code(-32000), RpcErrorCode::Unknown("-32000".into()));
}

#[test]
fn rpc_error_wire_shape() {
    let e = RpcError::method_not_found("foo.bar");
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"code": "METHOD_NOT_FOUND", "message": "Unknown method: foo.bar"})
    );
    let v = json!({"code": "INVALID_PARAMS", "message": "sessionId is required", "details": {"param": "sessionId"}});
    let e: RpcError = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(e, RpcError::missing_param("sessionId").with_details(json!({"param": "sessionId"})));
    assert_eq!(serde_json::to_value(&e).unwrap(), v);
    assert_eq!(serde_json::to_value(RpcError::parse_error()).unwrap()["code"], "PARSE_ERROR");
    assert_eq!(RpcError::not_available("contextManager").message, "contextManager is not available");
}

#[test]
fn tron_error_maps_to_codes() {
    let sid = SessionId::from_raw("sess_abc");
    let cases = [
        (TronError::SessionNotFound(sid.clone()), "SESSION_NOT_FOUND", "Session not found: sess_abc"),
        (TronError::SessionBusy(sid), "SESSION_BUSY", "Session is busy: sess_abc"),
        (TronError::not_found("event", "e1"), "NOT_FOUND", "event not found: e1"),
        (TronError::MissingParam("prompt".into()), "INVALID_PARAMS", "prompt is required"),
        (TronError::MethodNotFound("x.y".into()), "METHOD_NOT_FOUND", "Unknown method: x.y"),
        (TronError::NotAvailable("agentManager".into()), "NOT_AVAILABLE", "agentManager is not available"),
        (TronError::Aborted, "AGENT_ABORTED", "Operation aborted"),
        (TronError::ToolNotFound("Nope".into()), "TOOL_NOT_FOUND", "Tool not found: Nope"),
        (TronError::Unauthorized("no key".into()), "UNAUTHORIZED", "no key"),
        (TronError::internal("boom"), "INTERNAL_ERROR", "boom"),
        (TronError::Rpc(RpcError::new("CUSTOM".into(), "c")), "CUSTOM", "c"),
    ];
    for (err, code, msg) in cases {
        let wire = err.to_rpc_error();
        assert_eq!((wire.code.as_str(), wire.message.as_str()), (code, msg));
    }
    let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
    assert_eq!(TronError::io_at("/x", io).rpc_code(), RpcErrorCode::FileNotFound);
    let json_err = serde_json::from_str::<Value>("{").unwrap_err();
    assert_eq!(TronError::from(json_err).rpc_code(), RpcErrorCode::InvalidParams);
}

#[test]
fn provider_errors_and_retryability() {
    let rate = TronError::Provider {
        message: "slow down".into(),
        category: ErrorCategory::from_http_status(429),
        status: Some(429),
        retry_after: Some(Duration::from_secs(3)),
    };
    assert_eq!(rate.rpc_code(), RpcErrorCode::RateLimited);
    assert!(rate.is_retryable());
    assert_eq!(rate.retry_after(), Some(Duration::from_secs(3)));
    let bad = TronError::Provider {
        message: "bad".into(),
        category: ErrorCategory::from_http_status(400),
        status: Some(400),
        retry_after: None,
    };
    assert!(!bad.is_retryable());
    assert_eq!(bad.rpc_code(), RpcErrorCode::ProviderError);
    assert!(ErrorCategory::from_http_status(503).is_retryable());
    let overloaded = TronError::provider_http(529, "Overloaded", None);
    assert!(overloaded.is_retryable());
    assert_eq!(overloaded.rpc_code(), RpcErrorCode::ProviderError);
    assert!(!TronError::Aborted.is_retryable());
    let cat: ErrorCategory = serde_json::from_value(json!("rate_limit")).unwrap();
    assert_eq!(cat, ErrorCategory::RateLimit);
    let cat: ErrorCategory = serde_json::from_value(json!("cosmic_rays")).unwrap();
    assert_eq!(serde_json::to_value(cat).unwrap(), json!("cosmic_rays"));
}
