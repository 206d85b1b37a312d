use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

/// Parses TS-shaped JSON, serializes it back and checks the JSON is unchanged.
fn round_trip(v: Value) -> ContentBlock {
    let block: ContentBlock = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&block).unwrap(), v, "round trip changed {block:?}");
    block
}

#[test]
fn text_block() {
    let b = round_trip(json!({"type": "text", "text": "hello"}));
    assert_eq!(b.as_text(), Some("hello"));
    assert_eq!(serde_json::to_string(&ContentBlock::text("hi")).unwrap(), r#"{"type":"text","text":"hi"}"#);
}

#[test]
fn text_block_keeps_unknown_fields() {
    let b = round_trip(json!({"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}));
    let ContentBlock::Text(t) = b else { panic!("not text") };
    assert_eq!(t.extra["cache_control"], json!({"type": "ephemeral"}));
}

#[test]
fn image_flat_and_source_forms() {
    let b = round_trip(json!({"type": "image", "data": "aGk=", "mimeType": "image/png"}));
    assert!(matches!(b, ContentBlock::Image(ImageBlock { form: ImageForm::Flat, .. })));
    let b = round_trip(
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "eA=="}}),
    );
    let ContentBlock::Image(img) = b else { panic!() };
    assert_eq!(
        (img.form, img.mime_type.as_str(), img.data.as_str()),
        (ImageForm::SourceSnake, "image/jpeg", "eA==")
    );
    let b = round_trip(
        json!({"type": "image", "source": {"type": "base64", "mediaType": "image/gif", "data": "eA=="}}),
    );
    assert!(matches!(b, ContentBlock::Image(ImageBlock { form: ImageForm::SourceCamel, .. })));
    // A URL source is not modelled: kept verbatim.
    let b = round_trip(json!({"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}));
    assert!(matches!(b, ContentBlock::Unknown(_)));
}

#[test]
fn document_block() {
    let b = round_trip(
        json!({"type": "document", "data": "JVBERi0=", "mimeType": "application/pdf", "fileName": "a.pdf"}),
    );
    let ContentBlock::Document(d) = b else { panic!() };
    assert_eq!(d.file_name.as_deref(), Some("a.pdf"));
    round_trip(json!({"type": "document", "data": "eA==", "mimeType": "text/plain"}));
}

#[test]
fn thinking_block_with_signature() {
    let b = round_trip(json!({"type": "thinking", "thinking": "hmm", "signature": "sig=="}));
    let ContentBlock::Thinking(t) = b else { panic!() };
    assert_eq!(t.signature.as_deref(), Some("sig=="));
    round_trip(json!({"type": "thinking", "thinking": "no sig"}));
}

#[test]
fn tool_use_internal_form_uses_arguments() {
    let v = json!({"type": "tool_use", "id": "toolu_1", "name": "Bash", "arguments": {"command": "ls"}, "thoughtSignature": "ts"});
    let ContentBlock::ToolUse(t) = round_trip(v) else { panic!() };
    assert_eq!(t.arguments_key, ArgumentsKey::Arguments);
    assert_eq!(t.arguments["command"], "ls");
    assert_eq!(t.thought_signature.as_deref(), Some("ts"));
}

#[test]
fn tool_use_persisted_form_uses_input_and_meta() {
    let v = json!({"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {"path": "/a"},
        "_meta": {"status": "running", "interrupted": true, "durationMs": 12}});
    let ContentBlock::ToolUse(t) = round_trip(v) else { panic!() };
    assert_eq!(t.arguments_key, ArgumentsKey::Input);
    assert_eq!(t.extra["_meta"]["interrupted"], true);
}

#[test]
fn tool_use_with_both_keys_or_none() {
    let v = json!({"type": "tool_use", "id": "a", "name": "n", "input": {"x": 1}, "arguments": {"y": 2}});
    let ContentBlock::ToolUse(t) = round_trip(v) else { panic!() };
    assert_eq!(t.arguments["x"], 1);
    let ContentBlock::ToolUse(t) = round_trip(json!({"type": "tool_use", "id": "a", "name": "n"})) else {
        panic!()
    };
    assert_eq!(t.arguments_key, ArgumentsKey::Omitted);
    // Non-object arguments do not fit: kept verbatim.
    let b = round_trip(json!({"type": "tool_use", "id": "a", "name": "n", "input": "{\"x\":"}));
    assert!(matches!(b, ContentBlock::Unknown(_)));
}

#[test]
fn tool_result_styles() {
    let b = round_trip(
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "is_error": false,
        "_meta": {"durationMs": 5, "toolName": "Bash"}}),
    );
    let ContentBlock::ToolResult(r) = b else { panic!() };
    assert_eq!((r.style, r.is_error, r.content.text()), (ToolResultStyle::Api, Some(false), "ok".to_owned()));
    let b =
        round_trip(json!({"type": "tool_result", "toolCallId": "c1", "content": "boom", "isError": true}));
    assert!(matches!(b, ContentBlock::ToolResult(ToolResultBlock { style: ToolResultStyle::Internal, .. })));
    let b = round_trip(json!({"type": "tool_result", "toolUseId": "c2", "content": "x"}));
    assert!(matches!(
        b,
        ContentBlock::ToolResult(ToolResultBlock { style: ToolResultStyle::Event, is_error: None, .. })
    ));
    let b = round_trip(json!({"type": "tool_result", "tool_use_id": "c3",
        "content": [{"type": "text", "text": "a"}, {"type": "image", "data": "eA==", "mimeType": "image/png"}]}));
    let ContentBlock::ToolResult(r) = b else { panic!() };
    assert!(matches!(r.content, MessageContent::Blocks(ref v) if v.len() == 2));
    // Missing content: kept verbatim.
    assert!(matches!(
        round_trip(json!({"type": "tool_result", "tool_use_id": "c4"})),
        ContentBlock::Unknown(_)
    ));
}

#[test]
fn unknown_blocks_are_preserved() {
    for v in [
        json!({"type": "redacted_thinking", "data": "opaque"}),
        json!({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
        json!({"type": "text", "text": 42}),
        json!({"no_type": true}),
        json!({"type": 7}),
    ] {
        assert!(matches!(round_trip(v), ContentBlock::Unknown(_)));
    }
    let b = round_trip(json!({"type": "redacted_thinking", "data": "opaque"}));
    assert_eq!(b.kind(), "redacted_thinking");
}

#[test]
fn non_objects_are_rejected() {
    assert!(serde_json::from_value::<ContentBlock>(json!("text")).is_err());
    assert!(serde_json::from_value::<MessageContent>(json!(["a"])).is_err());
    assert!(serde_json::from_value::<MessageContent>(json!(5)).is_err());
}

#[test]
fn message_content_string_or_blocks() {
    let c: MessageContent = serde_json::from_value(json!("plain")).unwrap();
    assert_eq!(c, MessageContent::Text("plain".into()));
    let v = json!([{"type": "text", "text": "a"}, {"type": "thinking", "thinking": "t"}, {"type": "text", "text": "b"}]);
    let c: MessageContent = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(c.text(), "a\nb");
    assert_eq!(serde_json::to_value(&c).unwrap(), v);
    assert_eq!(MessageContent::from("x").into_blocks(), vec![ContentBlock::text("x")]);
}

#[test]
fn typed_constructors_write_ts_shapes() {
    assert_eq!(
        ContentBlock::image("eA==", "image/png").to_value(),
        json!({"type": "image", "data": "eA==", "mimeType": "image/png"})
    );
    assert_eq!(
        ContentBlock::thinking("t", Some("s".into())).to_value(),
        json!({"type": "thinking", "thinking": "t", "signature": "s"})
    );
    // Omitted key with arguments set falls back to `arguments`.
    let mut t = ToolUseBlock {
        id: "i".into(),
        name: "n".into(),
        arguments_key: ArgumentsKey::Omitted,
        ..Default::default()
    };
    t.arguments.insert("k".into(), json!(1));
    assert_eq!(
        ContentBlock::ToolUse(t).to_value(),
        json!({"type": "tool_use", "id": "i", "name": "n", "arguments": {"k": 1}})
    );
}

// ---- property tests -------------------------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Extra fields whose keys cannot collide with modelled keys.
fn arb_extra() -> impl Strategy<Value = JsonObject> {
    prop::collection::btree_map("x_[a-z]{1,5}", arb_json(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn arb_args() -> impl Strategy<Value = JsonObject> {
    prop::collection::btree_map("[a-z]{1,6}", arb_json(), 0..4).prop_map(|m| m.into_iter().collect())
}

fn arb_leaf_block() -> impl Strategy<Value = ContentBlock> {
    let s = || "\\PC{0,12}";
    prop_oneof![
        (s(), arb_extra()).prop_map(|(text, extra)| ContentBlock::Text(TextBlock { text, extra })),
        (
            s(),
            s(),
            prop_oneof![Just(ImageForm::Flat), Just(ImageForm::SourceSnake), Just(ImageForm::SourceCamel)],
            arb_extra()
        )
            .prop_map(|(data, mime_type, form, extra)| ContentBlock::Image(ImageBlock {
                data,
                mime_type,
                form,
                extra
            })),
        (s(), s(), prop::option::of(s()), arb_extra()).prop_map(|(data, mime_type, file_name, extra)| {
            ContentBlock::Document(DocumentBlock { data, mime_type, file_name, extra })
        }),
        (s(), prop::option::of(s()), arb_extra()).prop_map(|(thinking, signature, extra)| {
            ContentBlock::Thinking(ThinkingBlock { thinking, signature, extra })
        }),
        (
            s(),
            s(),
            arb_args(),
            prop_oneof![Just(ArgumentsKey::Arguments), Just(ArgumentsKey::Input)],
            prop::option::of(s()),
            arb_extra()
        )
            .prop_map(|(id, name, arguments, arguments_key, thought_signature, extra)| {
                ContentBlock::ToolUse(ToolUseBlock {
                    id,
                    name,
                    arguments,
                    arguments_key,
                    thought_signature,
                    extra,
                })
            }),
        (arb_json(), "[a-z_]{1,10}").prop_map(|(v, kind)| {
            let mut obj = JsonObject::new();
            obj.insert("type".into(), Value::String(format!("zz_{kind}")));
            obj.insert("payload".into(), v);
            ContentBlock::Unknown(obj)
        }),
    ]
}

fn arb_block() -> impl Strategy<Value = ContentBlock> {
    let styles = prop_oneof![
        Just(ToolResultStyle::Api),
        Just(ToolResultStyle::Internal),
        Just(ToolResultStyle::Event)
    ];
    let content = prop_oneof![
        "\\PC{0,12}".prop_map(MessageContent::Text),
        prop::collection::vec(arb_leaf_block(), 0..3).prop_map(MessageContent::Blocks),
    ];
    prop_oneof![
        4 => arb_leaf_block(),
        1 => ("\\PC{1,8}", content, prop::option::of(any::<bool>()), styles, arb_extra()).prop_map(
            |(tool_call_id, content, is_error, style, extra)| {
                ContentBlock::ToolResult(ToolResultBlock { tool_call_id, content, is_error, style, extra })
            }
        ),
    ]
}

proptest! {
    #[test]
    fn typed_blocks_round_trip(block in arb_block()) {
        let json = serde_json::to_string(&block).unwrap();
        let back: ContentBlock = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, block);
    }

    #[test]
    fn any_object_round_trips_as_json(kind in prop_oneof![
            Just("text"), Just("image"), Just("document"), Just("thinking"),
            Just("tool_use"), Just("tool_result"), Just("other")],
        fields in prop::collection::btree_map(
            prop_oneof![Just("text".to_owned()), Just("data".to_owned()), Just("mimeType".to_owned()),
                Just("id".to_owned()), Just("name".to_owned()), Just("input".to_owned()),
                Just("arguments".to_owned()), Just("content".to_owned()), Just("tool_use_id".to_owned()),
                Just("is_error".to_owned()), Just("signature".to_owned()), "[a-z]{1,4}"],
            arb_json(), 0..6)) {
        let mut obj: JsonObject = fields.into_iter().collect();
        obj.insert("type".into(), Value::String(kind.into()));
        let v = Value::Object(obj);
        let block: ContentBlock = serde_json::from_value(v.clone()).unwrap();
        prop_assert_eq!(serde_json::to_value(&block).unwrap(), v);
    }
}
