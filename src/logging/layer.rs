//! The tracing layer that turns events into [`LogRecord`]s for the SQLite sink.
//!
//! Fields of the enclosing spans (root first, innermost last) and of the event itself (which
//! win) are merged. Well-known names fill their own columns: `component` (else the event's
//! target), `session_id`, `workspace_id`, `event_id`, `turn`, `trace_id`,
//! `parent_trace_id`, `depth` (camelCase spellings too), and `error` / `err` become
//! `error_message`. Everything else goes to `data`. The layer does as little as it can on
//! the caller's thread: collect fields, timestamp, `try_send`.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use super::sink::{LogRecord, SinkGuard, SinkHandle};
use super::Level;

/// Where the sink goes once there is one: the layer is installed at start-up, the sink is
/// attached later (when the command knows its database).
#[derive(Default)]
pub struct SinkSlot {
    handle: OnceLock<SinkHandle>,
    pub(super) guard: Mutex<Option<SinkGuard>>,
}

impl SinkSlot {
    /// Attaches a sink; false when one is already attached.
    pub fn attach(&self, handle: SinkHandle, guard: Option<SinkGuard>) -> bool {
        if self.handle.set(handle).is_err() {
            return false;
        }
        *self.guard.lock().unwrap_or_else(|p| p.into_inner()) = guard;
        true
    }

    /// Records dropped by the attached sink (0 without one).
    pub fn dropped(&self) -> u64 {
        self.handle.get().map_or(0, SinkHandle::dropped)
    }

    /// Waits until every record queued so far is committed (no-op without a sink).
    pub fn flush(&self) {
        if let Some(g) = self.guard.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            g.flush();
        }
    }
}

/// The layer; see the module doc.
#[derive(Clone)]
pub struct SqliteLayer {
    slot: Arc<SinkSlot>,
}

impl SqliteLayer {
    /// A layer that writes to whatever sink is attached to `slot`.
    pub fn new(slot: Arc<SinkSlot>) -> Self {
        Self { slot }
    }

    /// A layer writing to `handle` right away (tests, benches).
    pub fn with_sink(handle: SinkHandle) -> Self {
        let slot = SinkSlot::default();
        slot.attach(handle, None);
        Self { slot: Arc::new(slot) }
    }
}

/// The fields a span was created (or later recorded) with.
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for SqliteLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if self.slot.handle.get().is_none() {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.map));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(SpanFields(map)) = ext.get_mut::<SpanFields>() {
            let mut fields = Fields { map: std::mem::take(map), message: None };
            values.record(&mut fields);
            *map = fields.map;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(sink) = self.slot.handle.get() else { return };
        let level = Level::from(*event.metadata().level());
        if level < sink.min_level() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut map = fields.map;
        if let Some(scope) = ctx.event_scope(event) {
            // Innermost first: a field already present (from the event or a nearer span) wins.
            for span in scope {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in span_fields {
                        if !map.contains_key(k) {
                            map.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        let text = |map: &mut Map<String, Value>, names: &[&str]| {
            let value = names.iter().find_map(|n| map.remove(*n))?;
            match value {
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            }
        };
        let int = |map: &mut Map<String, Value>, name: &str| {
            map.remove(name).and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        };
        let record = LogRecord {
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            level,
            component: text(&mut map, &["component"]).unwrap_or_else(|| event.metadata().target().to_owned()),
            message: fields.message.unwrap_or_default(),
            session_id: text(&mut map, &["session_id", "sessionId"]),
            workspace_id: text(&mut map, &["workspace_id", "workspaceId"]),
            event_id: text(&mut map, &["event_id", "eventId"]),
            turn: int(&mut map, "turn"),
            trace_id: text(&mut map, &["trace_id", "traceId"]),
            parent_trace_id: text(&mut map, &["parent_trace_id", "parentTraceId"]),
            depth: int(&mut map, "depth").unwrap_or(0),
            error_message: text(&mut map, &["error", "err"]),
            fields: map,
        };
        sink.send(record);
    }
}

/// Collects fields as JSON values; `message` is kept apart.
#[derive(Default)]
struct Fields {
    map: Map<String, Value>,
    message: Option<String>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.map.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}
