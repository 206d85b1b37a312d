//! `AskUserQuestion`: the model asks the user multiple-choice questions in the app.
//!
//! As in the TypeScript server (its "async model"), the tool does not wait: it checks the
//! questions, answers the model with a summary ("Questions presented to user: ..."), and
//! ends the run (`stopTurn`). The app shows the questions from the persisted `tool.call`;
//! the user's answers continue the session as its next prompt, either typed by the client
//! as an `agent.prompt` or sent through `tool.result` (see [`format_answers`], used by
//! rpc/). Rules (the TypeScript validator's): 1-5 questions, unique non-empty ids, each with
//! a question text, `mode` `single` or `multi`, and at least 2 options with a label.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::{Tool, ToolContext, ToolFuture};
use crate::core::tools::{ToolDefinition, ToolResult};
use crate::core::wire::JsonObject;

/// The tool's name.
pub const NAME: &str = "AskUserQuestion";

/// Most questions in one call.
pub const MAX_QUESTIONS: usize = 5;

const DESCRIPTION: &str = "Ask the user interactive questions with multiple choice options.

Use this tool when you need to:
- Get user preferences or choices
- Clarify requirements before proceeding
- Present options for the user to select from
- Get approval for a plan or action

The user sees a question sheet with selectable options. A question is single-select (choose one) \
or multi-select (choose several); \"allowOther\" also accepts a free-form answer.

Rules:
- At most 5 questions per call
- Each question needs at least 2 options
- Question ids must be unique within the call

IMPORTANT: make this tool the last action of your response and write no text after it. The user \
answers in a dedicated sheet, and the answers come back as a new message.";

/// `AskUserQuestion` (see the module doc).
#[derive(Debug, Default, Clone)]
pub struct AskUserQuestionTool;

impl AskUserQuestionTool {
    /// The tool.
    pub fn new() -> Self {
        Self
    }
}

/// One question, as the model gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The question id.
    pub id: String,
    /// The question text.
    pub question: String,
    /// Option labels.
    pub options: Vec<String>,
    /// Whether several options may be chosen.
    pub multi: bool,
}

/// Checks `AskUserQuestion` arguments; the questions, or what is wrong with them.
pub fn validate(args: &JsonObject) -> Result<Vec<Question>, String> {
    let questions = match args.get("questions") {
        Some(Value::Array(q)) => q,
        Some(other) => return Err(format!("questions must be an array, got {}", kind(other))),
        None => return Err("questions is required (an array of 1-5 questions)".into()),
    };
    if questions.is_empty() || questions.len() > MAX_QUESTIONS {
        return Err(format!("questions must hold 1-{MAX_QUESTIONS} questions, got {}", questions.len()));
    }
    let mut ids = HashSet::new();
    let mut out = Vec::with_capacity(questions.len());
    for (i, q) in questions.iter().enumerate() {
        let at = format!("questions[{i}]");
        let q = q.as_object().ok_or_else(|| format!("{at} must be an object"))?;
        let string = |key: &str| q.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        let id = string("id").ok_or_else(|| format!("{at}.id is required (a non-empty string)"))?;
        if !ids.insert(id.to_owned()) {
            return Err(format!("{at}.id {id:?} is used by an earlier question; ids must be unique"));
        }
        let text =
            string("question").ok_or_else(|| format!("{at}.question is required (a non-empty string)"))?;
        let multi = match q.get("mode").and_then(Value::as_str) {
            Some("single") => false,
            Some("multi") => true,
            _ => return Err(format!("{at}.mode must be \"single\" or \"multi\"")),
        };
        let options = q
            .get("options")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{at}.options is required (an array)"))?;
        if options.len() < 2 {
            return Err(format!("{at}.options needs at least 2 options, got {}", options.len()));
        }
        let labels = options
            .iter()
            .enumerate()
            .map(|(j, o)| {
                o.get("label")
                    .and_then(Value::as_str)
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{at}.options[{j}].label is required (a non-empty string)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Question { id: id.to_owned(), question: text.to_owned(), options: labels, multi });
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The result text the model reads (the TypeScript server's summary).
fn summary(questions: &[Question]) -> String {
    let mut lines = vec!["Questions presented to user:".to_owned()];
    for (i, q) in questions.iter().enumerate() {
        lines.push(format!("{}. {} ({})", i + 1, q.question, q.options.join(" / ")));
    }
    lines.push(String::new());
    lines.push("Awaiting user response...".into());
    lines.join("\n")
}

/// One answer of a `tool.result` (the iOS app's `AskUserQuestionAnswer`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The question answered.
    pub question_id: String,
    /// The options chosen.
    pub selected_values: Vec<String>,
    /// The free-form answer.
    pub other_value: Option<String>,
}

/// Checks a `tool.result` `result` (`{answers: [{questionId, selectedValues, otherValue?}],
/// complete, submittedAt}`) against the questions asked; the answers, or what is wrong.
pub fn parse_answers(result: &Value, questions: &[Question]) -> Result<Vec<Answer>, String> {
    let answers = result
        .get("answers")
        .and_then(Value::as_array)
        .ok_or("result.answers is required (an array of {questionId, selectedValues, otherValue?})")?;
    let mut out = Vec::with_capacity(answers.len());
    for (i, a) in answers.iter().enumerate() {
        let at = format!("result.answers[{i}]");
        let id = a
            .get("questionId")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}.questionId is required (a string)"))?;
        let question = questions
            .iter()
            .find(|q| q.id == id)
            .ok_or_else(|| format!("{at}.questionId {id:?} is not one of the questions asked"))?;
        let selected = match a.get("selectedValues") {
            Some(Value::Array(v)) => v
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("{at}.selectedValues must hold strings"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(format!("{at}.selectedValues must be an array of strings")),
        };
        if !question.multi && selected.len() > 1 {
            return Err(format!(
                "{at}: question {id:?} is single-select, but {} values were selected",
                selected.len()
            ));
        }
        let other = a.get("otherValue").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        out.push(Answer { question_id: id.to_owned(), selected_values: selected, other_value: other });
    }
    Ok(out)
}

/// The prompt that carries `answers` to the model.
pub fn format_answers(questions: &[Question], answers: &[Answer]) -> String {
    let mut lines = vec!["[Answers to your questions]".to_owned()];
    for q in questions {
        lines.push(String::new());
        lines.push(format!("**{}**", q.question));
        let answer = answers.iter().find(|a| a.question_id == q.id);
        let mut parts: Vec<String> = answer.map(|a| a.selected_values.clone()).unwrap_or_default();
        if let Some(other) = answer.and_then(|a| a.other_value.clone()) {
            parts.push(format!("Other: {other}"));
        }
        if parts.is_empty() {
            lines.push("Answer: (no answer)".into());
        } else {
            lines.push(format!("Answer: {}", parts.join(", ")));
        }
    }
    lines.join("\n")
}

impl Tool for AskUserQuestionTool {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition::new(
            NAME,
            DESCRIPTION,
            json!({
                "type": "object",
                "properties": {
                    "questions": {
                        "type": "array",
                        "description": "Array of questions to ask (1-5 questions)",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "description": "Unique identifier for this question"},
                                "question": {"type": "string", "description": "The question text to display"},
                                "options": {
                                    "type": "array",
                                    "description": "Available options (minimum 2)",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "label": {"type": "string", "description": "Display text for the option"},
                                            "value": {"type": "string", "description": "Value returned when selected (defaults to label)"},
                                            "description": {"type": "string", "description": "Optional description for the option"}
                                        },
                                        "required": ["label"]
                                    },
                                    "minItems": 2
                                },
                                "mode": {"type": "string", "enum": ["single", "multi"], "description": "single: choose one, multi: choose multiple"},
                                "allowOther": {"type": "boolean", "description": "Allow free-form \"Other\" response"},
                                "otherPlaceholder": {"type": "string", "description": "Placeholder text for the \"Other\" input field"}
                            },
                            "required": ["id", "question", "options", "mode"]
                        },
                        "minItems": 1,
                        "maxItems": 5
                    },
                    "context": {"type": "string", "description": "Optional context to display with the questions"}
                },
                "required": ["questions"]
            }),
        )
    }

    fn execute<'a>(&'a self, arguments: &'a JsonObject, _ctx: &'a ToolContext) -> ToolFuture<'a> {
        Box::pin(async move {
            match validate(arguments) {
                Ok(questions) => ToolResult {
                    details: Some(json!({ "async": true, "questionCount": questions.len() })),
                    stop_turn: Some(true),
                    ..ToolResult::text(summary(&questions))
                },
                Err(e) => ToolResult {
                    details: Some(json!({ "validation": { "valid": false, "error": e } })),
                    ..ToolResult::error(format!("Invalid parameters: {e}"))
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> JsonObject {
        v.as_object().unwrap().clone()
    }

    fn ok_args() -> JsonObject {
        args(json!({"questions": [
            {"id": "db", "question": "Which database?", "mode": "single",
             "options": [{"label": "SQLite"}, {"label": "Postgres"}]},
            {"id": "os", "question": "Which targets?", "mode": "multi",
             "options": [{"label": "Linux"}, {"label": "macOS"}], "allowOther": true}
        ]}))
    }

    #[tokio::test]
    async fn valid_questions_end_the_turn_with_a_summary() {
        let r = AskUserQuestionTool.execute(&ok_args(), &ToolContext::new(".")).await;
        assert_eq!(r.stop_turn, Some(true));
        assert!(!r.failed());
        assert_eq!(
            r.text_content(),
            "Questions presented to user:\n1. Which database? (SQLite / Postgres)\n\
             2. Which targets? (Linux / macOS)\n\nAwaiting user response..."
        );
        assert_eq!(r.details.unwrap(), json!({"async": true, "questionCount": 2}));
    }

    #[tokio::test]
    async fn invalid_questions_are_errors_that_do_not_end_the_turn() {
        let cases = [
            (json!({}), "questions is required"),
            (json!({"questions": []}), "1-5 questions"),
            (
                json!({"questions": [{"id": "a", "question": "q", "mode": "single", "options": [{"label": "x"}]}]}),
                "at least 2",
            ),
            (
                json!({"questions": [{"id": "a", "question": "q", "mode": "both", "options": [{"label": "x"}, {"label": "y"}]}]}),
                "mode",
            ),
            (
                json!({"questions": [
                    {"id": "a", "question": "q", "mode": "single", "options": [{"label": "x"}, {"label": "y"}]},
                    {"id": "a", "question": "r", "mode": "single", "options": [{"label": "x"}, {"label": "y"}]}]}),
                "unique",
            ),
        ];
        for (a, want) in cases {
            let r = AskUserQuestionTool.execute(&args(a.clone()), &ToolContext::new(".")).await;
            assert!(r.failed() && r.stop_turn.is_none(), "{a}");
            assert!(r.text_content().contains(want), "{a}: {}", r.text_content());
        }
    }

    #[test]
    fn answers_are_checked_against_the_questions_and_formatted() {
        let questions = validate(&ok_args()).unwrap();
        let result = json!({"answers": [
            {"questionId": "db", "selectedValues": ["SQLite"]},
            {"questionId": "os", "selectedValues": ["Linux", "macOS"], "otherValue": "FreeBSD"}
        ], "complete": true, "submittedAt": "2026-01-01T00:00:00Z"});
        let answers = parse_answers(&result, &questions).unwrap();
        assert_eq!(
            format_answers(&questions, &answers),
            "[Answers to your questions]\n\n**Which database?**\nAnswer: SQLite\n\n\
             **Which targets?**\nAnswer: Linux, macOS, Other: FreeBSD"
        );
        let unknown = json!({"answers": [{"questionId": "zz", "selectedValues": []}]});
        assert!(parse_answers(&unknown, &questions).unwrap_err().contains("not one of the questions"));
        let two = json!({"answers": [{"questionId": "db", "selectedValues": ["SQLite", "Postgres"]}]});
        assert!(parse_answers(&two, &questions).unwrap_err().contains("single-select"));
        assert!(parse_answers(&json!({}), &questions).unwrap_err().contains("result.answers"));
    }
}
