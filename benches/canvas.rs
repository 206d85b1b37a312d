//! Canvas export (src/platform/canvas): a settings-sized canvas to Markdown and PDF, and a
//! long one (a 1,000-item list, about 25 PDF pages) to PDF, as `canvas.export` does them.
//!
//! Run: `cargo bench --bench canvas`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use tron::platform::canvas::{export, CanvasArtifact};

fn canvas(ui: Value, state: Value) -> CanvasArtifact {
    CanvasArtifact {
        canvas_id: "bench".into(),
        session_id: "sess_bench".into(),
        title: Some("Preferences".into()),
        ui: ui.as_object().unwrap().clone(),
        state: state.as_object().cloned(),
        saved_at: "2026-01-01T00:00:00.000Z".into(),
    }
}

fn bench(c: &mut Criterion) {
    let controls: Vec<Value> = (0..20)
        .map(|i| json!({"$tag": "Toggle", "$props": {"label": format!("Option {i}"), "bindingId": format!("o{i}")}}))
        .collect();
    let small = canvas(
        json!({"$tag": "VStack", "$children": [
            {"$tag": "Text", "$props": {"style": "title"}, "$children": "Notifications"},
            {"$tag": "Section", "$props": {"header": "Alerts"}, "$children": controls},
            {"$tag": "Button", "$props": {"label": "Save", "actionId": "save"}}
        ]}),
        json!({"o1": true, "o7": true}),
    );
    let items: Vec<Value> =
        (0..1000).map(|i| json!(format!("Row {i}: a line of text in a long list"))).collect();
    let long = canvas(json!({"$tag": "List", "$props": {"items": items}}), Value::Null);

    c.bench_function("canvas/markdown 20 controls", |b| b.iter(|| black_box(export::to_markdown(&small))));
    c.bench_function("canvas/pdf 20 controls", |b| b.iter(|| black_box(export::to_pdf(&small))));
    c.bench_function("canvas/pdf 1000-item list", |b| b.iter(|| black_box(export::to_pdf(&long))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
