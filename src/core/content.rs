//! Content blocks: the pieces of a message (`{"type": ..., ...}` JSON objects).
//!
//! The TypeScript server uses two spellings for the same blocks and tron must read and write
//! both exactly:
//! - in memory / on the wire to providers: `tool_use` with `arguments` (+ `thoughtSignature`),
//!   images as `{data, mimeType}`, tool results as `{toolCallId, content, isError}`;
//! - persisted `message.*` events (Anthropic API form): `tool_use` with `input` (+ `_meta` on
//!   interrupted turns), tool results as `{tool_use_id, content, is_error, _meta?}`, images
//!   optionally as `{source: {type: "base64", media_type|mediaType, data}}`.
//!
//! Each typed block remembers which spelling it was read in and writes it back the same way.
//! Fields a block does not model are kept in its `extra` map and written after the known
//! fields. A block whose `type` is unknown, or whose known fields have an unexpected JSON
//! type, is kept verbatim as [`ContentBlock::Unknown`]. So any JSON object survives a
//! parse/serialize round trip unchanged (compared as JSON values).

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::wire::JsonObject;

mod parse;

/// One content block of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// `{"type":"text","text":...}`.
    Text(TextBlock),
    /// `{"type":"image",...}`: base64 image data.
    Image(ImageBlock),
    /// `{"type":"document","data","mimeType","fileName"?}`: a base64 document (PDF, text).
    Document(DocumentBlock),
    /// `{"type":"thinking","thinking","signature"?}`: extended-thinking text.
    Thinking(ThinkingBlock),
    /// `{"type":"tool_use","id","name","arguments"|"input",...}`: a tool call by the model.
    ToolUse(ToolUseBlock),
    /// `{"type":"tool_result",...}`: the result of a tool call, as a block.
    ToolResult(ToolResultBlock),
    /// Any other object (unknown `type`, or a known `type` in a shape not modelled here),
    /// kept verbatim.
    Unknown(JsonObject),
}

/// A text block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextBlock {
    /// The text.
    pub text: String,
    /// Fields not modelled here (e.g. `cache_control`, `citations`), kept verbatim.
    pub extra: JsonObject,
}

/// An image block. `data` is base64 without a `data:` prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBlock {
    /// Base64 image bytes.
    pub data: String,
    /// MIME type, e.g. `image/png`.
    pub mime_type: String,
    /// Which JSON shape the block uses.
    pub form: ImageForm,
    /// Fields not modelled here, kept verbatim.
    pub extra: JsonObject,
}

/// The JSON shapes of an image block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageForm {
    /// TypeScript in-memory form: `{"type":"image","data","mimeType"}`.
    #[default]
    Flat,
    /// Anthropic API form: `{"type":"image","source":{"type":"base64","media_type","data"}}`.
    SourceSnake,
    /// Event-schema form: `{"type":"image","source":{"type":"base64","mediaType","data"}}`.
    SourceCamel,
}

/// A document block (PDFs and text files sent as attachments).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentBlock {
    /// Base64 document bytes.
    pub data: String,
    /// MIME type, e.g. `application/pdf`.
    pub mime_type: String,
    /// Original file name, when known (`fileName`).
    pub file_name: Option<String>,
    /// Fields not modelled here, kept verbatim.
    pub extra: JsonObject,
}

/// An extended-thinking block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThinkingBlock {
    /// The thinking text.
    pub thinking: String,
    /// Provider signature that must be sent back with the block (Anthropic).
    pub signature: Option<String>,
    /// Fields not modelled here, kept verbatim.
    pub extra: JsonObject,
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolUseBlock {
    /// Tool call id (e.g. `toolu_...`).
    pub id: String,
    /// Tool name (e.g. `Bash`).
    pub name: String,
    /// The call's arguments (a JSON object).
    pub arguments: JsonObject,
    /// Which key holds the arguments.
    pub arguments_key: ArgumentsKey,
    /// Gemini thought signature (`thoughtSignature`), replayed with the call.
    pub thought_signature: Option<String>,
    /// Fields not modelled here (e.g. `_meta` on interrupted turns), kept verbatim.
    pub extra: JsonObject,
}

/// Where a `tool_use` block keeps its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArgumentsKey {
    /// `arguments` (TypeScript in-memory `ToolCall`).
    #[default]
    Arguments,
    /// `input` (Anthropic API form, used in persisted events).
    Input,
    /// Neither key was present; written back without one while the arguments stay empty
    /// (as `arguments` once some are set).
    Omitted,
}

impl ArgumentsKey {
    /// The JSON key, or `None` for [`ArgumentsKey::Omitted`].
    pub fn key(self) -> Option<&'static str> {
        match self {
            Self::Arguments => Some("arguments"),
            Self::Input => Some("input"),
            Self::Omitted => None,
        }
    }
}

/// A tool result carried as a content block.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResultBlock {
    /// Id of the tool call this answers.
    pub tool_call_id: String,
    /// Result content: a string or nested blocks.
    pub content: MessageContent,
    /// Whether the tool failed; `None` when the key is absent.
    pub is_error: Option<bool>,
    /// Which key spelling the block uses.
    pub style: ToolResultStyle,
    /// Fields not modelled here (e.g. `_meta`), kept verbatim.
    pub extra: JsonObject,
}

/// Key spellings of a `tool_result` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolResultStyle {
    /// Anthropic API form: `tool_use_id`, `is_error` (persisted events, provider requests).
    #[default]
    Api,
    /// TypeScript internal form: `toolCallId`, `isError`.
    Internal,
    /// Event-schema form: `toolUseId`, `isError`.
    Event,
}

impl ToolResultStyle {
    /// The (id key, error key) pair of this style.
    pub fn keys(self) -> (&'static str, &'static str) {
        match self {
            Self::Api => ("tool_use_id", "is_error"),
            Self::Internal => ("toolCallId", "isError"),
            Self::Event => ("toolUseId", "isError"),
        }
    }
}

/// Message content as TypeScript types it: `string | ContentBlock[]`.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// Plain text (serialized as a JSON string).
    Text(String),
    /// A list of blocks (serialized as a JSON array).
    Blocks(Vec<ContentBlock>),
}

impl Default for MessageContent {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

impl MessageContent {
    /// The text of the content: the string itself, or the text blocks joined with `\n`
    /// (what the TypeScript `extractText` returns).
    pub fn text(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Blocks(blocks) => {
                blocks.iter().filter_map(ContentBlock::as_text).collect::<Vec<_>>().join("\n")
            }
        }
    }

    /// The content as a list of blocks (a string becomes one text block).
    pub fn into_blocks(self) -> Vec<ContentBlock> {
        match self {
            Self::Text(s) => vec![ContentBlock::text(s)],
            Self::Blocks(b) => b,
        }
    }

    /// True for an empty string or an empty block list.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Text(s) => s.is_empty(),
            Self::Blocks(b) => b.is_empty(),
        }
    }
}

impl From<String> for MessageContent {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&str> for MessageContent {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<Vec<ContentBlock>> for MessageContent {
    fn from(b: Vec<ContentBlock>) -> Self {
        Self::Blocks(b)
    }
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextBlock { text: text.into(), extra: JsonObject::new() })
    }

    /// A flat (`data` + `mimeType`) image block.
    pub fn image(data: impl Into<String>, mime_type: impl Into<String>) -> Self {
        Self::Image(ImageBlock {
            data: data.into(),
            mime_type: mime_type.into(),
            form: ImageForm::Flat,
            extra: JsonObject::new(),
        })
    }

    /// A thinking block.
    pub fn thinking(thinking: impl Into<String>, signature: Option<String>) -> Self {
        Self::Thinking(ThinkingBlock { thinking: thinking.into(), signature, extra: JsonObject::new() })
    }

    /// The block's `type` string (for [`ContentBlock::Unknown`], its `type` if it is a string).
    pub fn kind(&self) -> &str {
        match self {
            Self::Text(_) => "text",
            Self::Image(_) => "image",
            Self::Document(_) => "document",
            Self::Thinking(_) => "thinking",
            Self::ToolUse(_) => "tool_use",
            Self::ToolResult(_) => "tool_result",
            Self::Unknown(obj) => obj.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// The text of a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(&t.text),
            _ => None,
        }
    }

    /// Parses a JSON object. Never fails: objects that do not fit a typed block become
    /// [`ContentBlock::Unknown`].
    pub fn from_object(obj: JsonObject) -> Self {
        parse::from_object(obj)
    }

    /// The block as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Writes `extra` entries whose keys were not already written.
fn write_extra<M: SerializeMap>(map: &mut M, extra: &JsonObject, written: &[&str]) -> Result<(), M::Error> {
    for (k, v) in extra {
        if k != "type" && !written.contains(&k.as_str()) {
            map.serialize_entry(k, v)?;
        }
    }
    Ok(())
}

/// The `source` object of an image block in one of the source forms.
#[derive(Serialize)]
struct ImageSourceOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<&'a str>,
    #[serde(rename = "mediaType", skip_serializing_if = "Option::is_none")]
    media_type_camel: Option<&'a str>,
    data: &'a str,
}

impl Serialize for ContentBlock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Self::Unknown(obj) = self {
            return obj.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind())?;
        match self {
            Self::Text(b) => {
                map.serialize_entry("text", &b.text)?;
                write_extra(&mut map, &b.extra, &["text"])?;
            }
            Self::Image(b) => match b.form {
                ImageForm::Flat => {
                    map.serialize_entry("data", &b.data)?;
                    map.serialize_entry("mimeType", &b.mime_type)?;
                    write_extra(&mut map, &b.extra, &["data", "mimeType"])?;
                }
                ImageForm::SourceSnake | ImageForm::SourceCamel => {
                    let snake = b.form == ImageForm::SourceSnake;
                    let source = ImageSourceOut {
                        kind: "base64",
                        media_type: snake.then_some(b.mime_type.as_str()),
                        media_type_camel: (!snake).then_some(b.mime_type.as_str()),
                        data: &b.data,
                    };
                    map.serialize_entry("source", &source)?;
                    write_extra(&mut map, &b.extra, &["source"])?;
                }
            },
            Self::Document(b) => {
                map.serialize_entry("data", &b.data)?;
                map.serialize_entry("mimeType", &b.mime_type)?;
                if let Some(name) = &b.file_name {
                    map.serialize_entry("fileName", name)?;
                }
                write_extra(&mut map, &b.extra, &["data", "mimeType", "fileName"])?;
            }
            Self::Thinking(b) => {
                map.serialize_entry("thinking", &b.thinking)?;
                if let Some(sig) = &b.signature {
                    map.serialize_entry("signature", sig)?;
                }
                write_extra(&mut map, &b.extra, &["thinking", "signature"])?;
            }
            Self::ToolUse(b) => {
                map.serialize_entry("id", &b.id)?;
                map.serialize_entry("name", &b.name)?;
                let key = match b.arguments_key.key() {
                    Some(k) => Some(k),
                    None if b.arguments.is_empty() => None,
                    None => Some("arguments"),
                };
                if let Some(k) = key {
                    map.serialize_entry(k, &b.arguments)?;
                }
                if let Some(sig) = &b.thought_signature {
                    map.serialize_entry("thoughtSignature", sig)?;
                }
                let arg_key = key.unwrap_or("");
                write_extra(&mut map, &b.extra, &["id", "name", arg_key, "thoughtSignature"])?;
            }
            Self::ToolResult(b) => {
                let (id_key, err_key) = b.style.keys();
                map.serialize_entry(id_key, &b.tool_call_id)?;
                map.serialize_entry("content", &b.content)?;
                if let Some(e) = b.is_error {
                    map.serialize_entry(err_key, &e)?;
                }
                write_extra(&mut map, &b.extra, &[id_key, "content", err_key])?;
            }
            Self::Unknown(_) => unreachable!("handled above"),
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let obj = JsonObject::deserialize(deserializer)?;
        Ok(parse::from_object(obj))
    }
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(s) => serializer.serialize_str(s),
            Self::Blocks(b) => b.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(Self::Text(s)),
            Value::Array(items) => parse::blocks_from_array(items)
                .map(Self::Blocks)
                .ok_or_else(|| D::Error::custom("content blocks must be JSON objects")),
            other => Err(D::Error::custom(format!(
                "expected message content (string or array of blocks), got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
