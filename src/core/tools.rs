//! Tool calls, tool results and tool definitions, in the TypeScript JSON shapes.
//!
//! - [`ToolCall`]: `{"type":"tool_use","id","name","arguments","thoughtSignature"?}` (the
//!   in-memory call; `toolcall_end` stream events carry it). Reading also accepts the API
//!   spelling `input` for `arguments`.
//! - [`ToolResult`]: what a tool returns, `{content: string | blocks, details?, isError?,
//!   stopTurn?}`.
//! - [`ToolDefinition`]: what the model is told about a tool, `{name, description,
//!   parameters}` with a JSON-schema `parameters` object kept verbatim.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::content::{ArgumentsKey, ContentBlock, MessageContent, ToolUseBlock};
use super::wire::JsonObject;

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    /// Tool call id (provider-assigned, e.g. `toolu_...`).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments object.
    pub arguments: JsonObject,
    /// Gemini thought signature (`thoughtSignature`).
    pub thought_signature: Option<String>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    name: &'a str,
    arguments: &'a JsonObject,
    #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
    thought_signature: Option<&'a str>,
}

#[derive(Deserialize)]
struct ToolCallIn {
    id: String,
    name: String,
    #[serde(default, alias = "input")]
    arguments: Option<JsonObject>,
    #[serde(default, rename = "thoughtSignature")]
    thought_signature: Option<String>,
}

impl Serialize for ToolCall {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ToolCallOut {
            kind: "tool_use",
            id: &self.id,
            name: &self.name,
            arguments: &self.arguments,
            thought_signature: self.thought_signature.as_deref(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ToolCall {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = ToolCallIn::deserialize(deserializer)?;
        Ok(Self {
            id: raw.id,
            name: raw.name,
            arguments: raw.arguments.unwrap_or_default(),
            thought_signature: raw.thought_signature,
        })
    }
}

impl ToolCall {
    /// A call with the given id, name and arguments.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: JsonObject) -> Self {
        Self { id: id.into(), name: name.into(), arguments, thought_signature: None }
    }

    /// The call as a content block in the in-memory form (`arguments`).
    pub fn to_block(&self) -> ContentBlock {
        ContentBlock::ToolUse(self.to_use_block(ArgumentsKey::Arguments))
    }

    /// The call as a content block in the persisted / Anthropic API form (`input`).
    pub fn to_api_block(&self) -> ContentBlock {
        ContentBlock::ToolUse(self.to_use_block(ArgumentsKey::Input))
    }

    fn to_use_block(&self, key: ArgumentsKey) -> ToolUseBlock {
        ToolUseBlock {
            id: self.id.clone(),
            name: self.name.clone(),
            arguments: self.arguments.clone(),
            arguments_key: key,
            thought_signature: self.thought_signature.clone(),
            extra: JsonObject::new(),
        }
    }
}

impl From<ToolUseBlock> for ToolCall {
    fn from(b: ToolUseBlock) -> Self {
        Self { id: b.id, name: b.name, arguments: b.arguments, thought_signature: b.thought_signature }
    }
}

impl From<&ToolUseBlock> for ToolCall {
    fn from(b: &ToolUseBlock) -> Self {
        b.clone().into()
    }
}

/// What a tool execution returns.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    /// Result content: a string, or text/image blocks.
    pub content: MessageContent,
    /// Tool-specific structured details (e.g. Bash: `{command, exitCode, durationMs, ...}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Stop the turn loop after this tool (tools waiting for the user, e.g. AskUserQuestion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_turn: Option<bool>,
}

impl ToolResult {
    /// A successful result with one text block (`isError: false`).
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: MessageContent::Blocks(vec![ContentBlock::text(text)]),
            is_error: Some(false),
            ..Default::default()
        }
    }

    /// A failed result with one text block (`isError: true`).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            content: MessageContent::Blocks(vec![ContentBlock::text(message)]),
            is_error: Some(true),
            ..Default::default()
        }
    }

    /// An image result, preceded by a caption text block when one is given.
    pub fn image(data: impl Into<String>, mime_type: impl Into<String>, caption: Option<&str>) -> Self {
        let mut blocks = Vec::new();
        if let Some(c) = caption.filter(|c| !c.is_empty()) {
            blocks.push(ContentBlock::text(c));
        }
        blocks.push(ContentBlock::image(data, mime_type));
        Self { content: MessageContent::Blocks(blocks), ..Default::default() }
    }

    /// Attaches `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// True when `isError` is set to true.
    pub fn failed(&self) -> bool {
        self.is_error == Some(true)
    }

    /// The text of the result (text blocks joined with `\n`).
    pub fn text_content(&self) -> String {
        self.content.text()
    }
}

/// A tool as described to the model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Tool name.
    pub name: String,
    /// What the tool does.
    pub description: String,
    /// JSON schema of the arguments (`{"type":"object","properties":...,"required":[...]}`),
    /// kept verbatim.
    pub parameters: JsonObject,
}

impl ToolDefinition {
    /// A definition from a JSON-schema object (anything else gives empty parameters).
    pub fn new(name: impl Into<String>, description: impl Into<String>, schema: serde_json::Value) -> Self {
        let parameters = match schema {
            serde_json::Value::Object(o) => o,
            _ => JsonObject::new(),
        };
        Self { name: name.into(), description: description.into(), parameters }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tool_call_round_trip() {
        let v =
            json!({"type": "tool_use", "id": "toolu_1", "name": "Bash", "arguments": {"command": "ls -la"}});
        let call: ToolCall = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(call.arguments["command"], "ls -la");
        assert_eq!(serde_json::to_value(&call).unwrap(), v);
        let v =
            json!({"type": "tool_use", "id": "c", "name": "G", "arguments": {}, "thoughtSignature": "sig"});
        let call: ToolCall = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&call).unwrap(), v);
    }

    #[test]
    fn tool_call_accepts_input_spelling() {
        let call: ToolCall =
            serde_json::from_value(json!({"id": "a", "name": "Read", "input": {"p": 1}})).unwrap();
        assert_eq!(call.arguments["p"], 1);
        assert_eq!(
            call.to_api_block().to_value(),
            json!({"type": "tool_use", "id": "a", "name": "Read", "input": {"p": 1}})
        );
        assert_eq!(
            call.to_block().to_value(),
            json!({"type": "tool_use", "id": "a", "name": "Read", "arguments": {"p": 1}})
        );
        let ContentBlock::ToolUse(b) = call.to_api_block() else { panic!() };
        assert_eq!(ToolCall::from(b), call);
    }

    #[test]
    fn tool_result_shapes() {
        assert_eq!(
            serde_json::to_value(ToolResult::text("ok")).unwrap(),
            json!({"content": [{"type": "text", "text": "ok"}], "isError": false})
        );
        assert_eq!(
            serde_json::to_value(ToolResult::error("bad").with_details(json!({"exitCode": 1}))).unwrap(),
            json!({"content": [{"type": "text", "text": "bad"}], "details": {"exitCode": 1}, "isError": true})
        );
        assert_eq!(
            serde_json::to_value(ToolResult::image("eA==", "image/png", Some("shot"))).unwrap(),
            json!({"content": [{"type": "text", "text": "shot"}, {"type": "image", "data": "eA==", "mimeType": "image/png"}]})
        );
        let v = json!({"content": "plain", "stopTurn": true});
        let r: ToolResult = serde_json::from_value(v.clone()).unwrap();
        assert_eq!((r.stop_turn, r.failed(), r.text_content()), (Some(true), false, "plain".to_owned()));
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }

    #[test]
    fn tool_definition_keeps_schema() {
        let v = json!({"name": "Bash", "description": "Run a command", "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "number", "maximum": 600000}},
            "required": ["command"],
            "additionalProperties": false
        }});
        let d: ToolDefinition = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&d).unwrap(), v);
    }
}
