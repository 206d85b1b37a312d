//! Reading content blocks from JSON objects.
//!
//! Each typed shape is checked first (borrowing the object); only if every known field has
//! the expected JSON type is the object taken apart, so nothing is cloned and a block that
//! does not fit is returned unchanged as `Unknown`.

use serde_json::Value;

use super::{
    ArgumentsKey, ContentBlock, DocumentBlock, ImageBlock, ImageForm, MessageContent, TextBlock,
    ThinkingBlock, ToolResultBlock, ToolResultStyle, ToolUseBlock,
};
use crate::core::wire::JsonObject;

/// Parses one object into a block (never fails).
pub(super) fn from_object(obj: JsonObject) -> ContentBlock {
    let kind = match obj.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return ContentBlock::Unknown(obj),
    };
    match kind.as_str() {
        "text" if is_str(&obj, "text") => text(obj),
        "image" => image(obj),
        "document" if document_fits(&obj) => document(obj),
        "thinking" if is_str(&obj, "thinking") && opt_str(&obj, "signature") => thinking(obj),
        "tool_use" if tool_use_fits(&obj) => tool_use(obj),
        "tool_result" => tool_result(obj),
        _ => ContentBlock::Unknown(obj),
    }
}

/// Parses an array whose items must all be objects.
pub(super) fn blocks_from_array(items: Vec<Value>) -> Option<Vec<ContentBlock>> {
    if !items.iter().all(Value::is_object) {
        return None;
    }
    Some(
        items
            .into_iter()
            .map(|v| match v {
                Value::Object(o) => from_object(o),
                _ => unreachable!("checked above"),
            })
            .collect(),
    )
}

fn is_str(obj: &JsonObject, key: &str) -> bool {
    matches!(obj.get(key), Some(Value::String(_)))
}

/// Absent, or a string.
fn opt_str(obj: &JsonObject, key: &str) -> bool {
    matches!(obj.get(key), None | Some(Value::String(_)))
}

/// Removes a key known to hold a string.
fn take_str(obj: &mut JsonObject, key: &str) -> String {
    match obj.shift_remove(key) {
        Some(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn take_opt_str(obj: &mut JsonObject, key: &str) -> Option<String> {
    match obj.shift_remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn text(mut obj: JsonObject) -> ContentBlock {
    obj.shift_remove("type");
    let text = take_str(&mut obj, "text");
    ContentBlock::Text(TextBlock { text, extra: obj })
}

fn image(mut obj: JsonObject) -> ContentBlock {
    if is_str(&obj, "data") && is_str(&obj, "mimeType") {
        obj.shift_remove("type");
        let data = take_str(&mut obj, "data");
        let mime_type = take_str(&mut obj, "mimeType");
        return ContentBlock::Image(ImageBlock { data, mime_type, form: ImageForm::Flat, extra: obj });
    }
    let form = match obj.get("source") {
        Some(Value::Object(src)) => source_form(src),
        _ => None,
    };
    let Some(form) = form else {
        return ContentBlock::Unknown(obj);
    };
    obj.shift_remove("type");
    let Some(Value::Object(mut src)) = obj.shift_remove("source") else {
        unreachable!("checked by source_form");
    };
    let data = take_str(&mut src, "data");
    let media_key = if form == ImageForm::SourceSnake { "media_type" } else { "mediaType" };
    let mime_type = take_str(&mut src, media_key);
    ContentBlock::Image(ImageBlock { data, mime_type, form, extra: obj })
}

/// Which source form an image `source` object is in, if it has exactly the modelled keys.
fn source_form(src: &JsonObject) -> Option<ImageForm> {
    if src.len() != 3 || src.get("type").and_then(Value::as_str) != Some("base64") || !is_str(src, "data") {
        return None;
    }
    if is_str(src, "media_type") {
        Some(ImageForm::SourceSnake)
    } else if is_str(src, "mediaType") {
        Some(ImageForm::SourceCamel)
    } else {
        None
    }
}

fn document_fits(obj: &JsonObject) -> bool {
    is_str(obj, "data") && is_str(obj, "mimeType") && opt_str(obj, "fileName")
}

fn document(mut obj: JsonObject) -> ContentBlock {
    obj.shift_remove("type");
    let data = take_str(&mut obj, "data");
    let mime_type = take_str(&mut obj, "mimeType");
    let file_name = take_opt_str(&mut obj, "fileName");
    ContentBlock::Document(DocumentBlock { data, mime_type, file_name, extra: obj })
}

fn thinking(mut obj: JsonObject) -> ContentBlock {
    obj.shift_remove("type");
    let thinking = take_str(&mut obj, "thinking");
    let signature = take_opt_str(&mut obj, "signature");
    ContentBlock::Thinking(ThinkingBlock { thinking, signature, extra: obj })
}

/// `input` wins over `arguments` when both are present (as the TypeScript normalizer does);
/// the other key then stays in `extra`.
fn arguments_key(obj: &JsonObject) -> ArgumentsKey {
    if obj.contains_key("input") {
        ArgumentsKey::Input
    } else if obj.contains_key("arguments") {
        ArgumentsKey::Arguments
    } else {
        ArgumentsKey::Omitted
    }
}

fn tool_use_fits(obj: &JsonObject) -> bool {
    let args_ok = match arguments_key(obj).key() {
        Some(k) => obj.get(k).is_some_and(Value::is_object),
        None => true,
    };
    is_str(obj, "id") && is_str(obj, "name") && args_ok && opt_str(obj, "thoughtSignature")
}

fn tool_use(mut obj: JsonObject) -> ContentBlock {
    obj.shift_remove("type");
    let key = arguments_key(&obj);
    let id = take_str(&mut obj, "id");
    let name = take_str(&mut obj, "name");
    let arguments = match key.key().and_then(|k| obj.shift_remove(k)) {
        Some(Value::Object(args)) => args,
        _ => JsonObject::new(),
    };
    let thought_signature = take_opt_str(&mut obj, "thoughtSignature");
    ContentBlock::ToolUse(ToolUseBlock {
        id,
        name,
        arguments,
        arguments_key: key,
        thought_signature,
        extra: obj,
    })
}

fn tool_result_style(obj: &JsonObject) -> Option<ToolResultStyle> {
    [ToolResultStyle::Api, ToolResultStyle::Internal, ToolResultStyle::Event]
        .into_iter()
        .find(|s| is_str(obj, s.keys().0))
}

fn content_fits(v: Option<&Value>) -> bool {
    match v {
        Some(Value::String(_)) => true,
        Some(Value::Array(items)) => items.iter().all(Value::is_object),
        _ => false,
    }
}

fn tool_result(mut obj: JsonObject) -> ContentBlock {
    let Some(style) = tool_result_style(&obj) else {
        return ContentBlock::Unknown(obj);
    };
    let (id_key, err_key) = style.keys();
    let err_ok = matches!(obj.get(err_key), None | Some(Value::Bool(_)));
    if !err_ok || !content_fits(obj.get("content")) {
        return ContentBlock::Unknown(obj);
    }
    obj.shift_remove("type");
    let tool_call_id = take_str(&mut obj, id_key);
    let content = match obj.shift_remove("content") {
        Some(Value::String(s)) => MessageContent::Text(s),
        Some(Value::Array(items)) => MessageContent::Blocks(blocks_from_array(items).unwrap_or_default()),
        _ => MessageContent::default(),
    };
    let is_error = obj.shift_remove(err_key).and_then(|v| v.as_bool());
    ContentBlock::ToolResult(ToolResultBlock { tool_call_id, content, is_error, style, extra: obj })
}
