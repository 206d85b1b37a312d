//! Unit tests for `Grep` on real temporary directories.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use super::*;

fn args(v: Value) -> JsonObject {
    match v {
        Value::Object(o) => o,
        _ => panic!("not an object"),
    }
}

async fn grep(v: Value, dir: &Path) -> ToolResult {
    GrepTool::new().execute(&args(v), &ToolContext::new(dir)).await
}

fn touch(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// Sources at two depths, a gitignored file, a skipped and a hidden directory, binaries.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch(root, "a.ts", "const foo = 1;\nlet bar = 2;\nfoo(bar);\n");
    touch(root, "src/b.js", "// TODO foo\nFOO();\n");
    touch(root, "notes.md", "nothing here\n");
    touch(root, "ignored.ts", "foo ignored\n");
    touch(root, ".gitignore", "ignored.ts\n");
    touch(root, "node_modules/dep/index.js", "foo in dep\n");
    touch(root, ".hidden/x.ts", "foo hidden\n");
    touch(root, "logo.png", "foo in a png\n");
    touch(root, "blob.dat", b"foo\0\x01\x02 binary foo\n");
    dir
}

fn p(root: &Path, rel: &str) -> String {
    root.join(rel).display().to_string()
}

#[tokio::test]
async fn content_mode_groups_lines_by_file_in_path_order() {
    let dir = project();
    let r = grep(json!({"pattern": "foo"}), dir.path()).await;
    assert!(!r.failed());
    let root = dir.path();
    // Gitignored, skip-listed, hidden, binary-extension and NUL-containing files are skipped.
    assert_eq!(
        r.text_content(),
        format!(
            "{}:\n1: const foo = 1;\n3: foo(bar);\n\n{}:\n1: // TODO foo",
            p(root, "a.ts"),
            p(root, "src/b.js")
        )
    );
    let d = r.details.unwrap();
    assert_eq!(d["matchCount"], 3);
    assert_eq!(d["fileCount"], 2);
    assert_eq!(d["truncated"], false);
}

#[tokio::test]
async fn case_glob_and_single_file() {
    let dir = project();
    let root = dir.path();
    let r = grep(json!({"pattern": "foo\\(", "ignoreCase": true, "glob": "*.{js,jsx}"}), root).await;
    assert_eq!(r.text_content(), format!("{}:\n2: FOO();", p(root, "src/b.js")));
    let r = grep(json!({"pattern": "ba[rz]", "path": "a.ts"}), root).await;
    assert_eq!(r.text_content(), format!("{}:\n2: let bar = 2;\n3: foo(bar);", p(root, "a.ts")));
    let r = grep(json!({"pattern": "foo", "path": "src", "glob": "src/*.js"}), root).await;
    assert!(r.text_content().starts_with("No matches"), "a glob is relative to the searched directory");
    let r = grep(json!({"pattern": "foo", "path": "src", "glob": "*.js"}), root).await;
    assert_eq!(r.details.unwrap()["matchCount"], 1);
}

#[tokio::test]
async fn context_lines_are_indented_and_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    touch(dir.path(), "f.txt", "line 1\nline 2\nmatch here\nline 4\nmatch again\nline 6\nline 7\n");
    let r = grep(json!({"pattern": "match", "path": "f.txt", "context": 1}), dir.path()).await;
    assert_eq!(
        r.text_content(),
        format!(
            "{}:\n  2: line 2\n  3: match here\n  4: line 4\n  5: match again\n  6: line 6",
            p(dir.path(), "f.txt")
        )
    );
    assert_eq!(r.details.unwrap()["matchCount"], 2);
}

#[tokio::test]
async fn files_and_count_modes() {
    let dir = project();
    let root = dir.path();
    let r = grep(json!({"pattern": "foo", "outputMode": "files", "ignoreCase": true}), root).await;
    assert_eq!(r.text_content(), format!("{}\n{}", p(root, "a.ts"), p(root, "src/b.js")));
    let r = grep(json!({"pattern": "foo", "outputMode": "count", "ignoreCase": true}), root).await;
    assert_eq!(r.text_content(), format!("{}: 2\n{}: 2", p(root, "a.ts"), p(root, "src/b.js")));
    assert_eq!(r.details.unwrap()["matchCount"], 4);
    let r = grep(json!({"pattern": "foo", "outputMode": "files", "maxResults": 1}), root).await;
    assert_eq!(
        r.text_content(),
        format!(
            "{}\n\n... [Showing the first 1 files; more exist. Use maxResults parameter or narrow your search.]",
            p(root, "a.ts")
        )
    );
    assert_eq!(r.details.unwrap()["truncated"], true);
}

#[tokio::test]
async fn the_limit_cuts_matches_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..200).map(|i| format!("foo line {i}")).collect();
    touch(dir.path(), "a.txt", lines.join("\n"));
    touch(dir.path(), "b.txt", "foo in b\n");
    let r = grep(json!({"pattern": "foo", "maxResults": 50}), dir.path()).await;
    let text = r.text_content();
    assert!(text.ends_with(
        "49: foo line 48\n50: foo line 49\n\n... [Showing the first 50 matches; more exist. \
         Use maxResults parameter or narrow your search.]"
    ));
    assert!(!text.contains("b.txt"));
    let d = r.details.unwrap();
    assert_eq!(d["truncated"], true);
    assert_eq!(d["matchCount"], 50);
    // Reaching the limit exactly at the end of a file still notices a match in the next one.
    let r = grep(json!({"pattern": "foo", "maxResults": 200}), dir.path()).await;
    assert_eq!(r.details.unwrap()["truncated"], true);
    let r = grep(json!({"pattern": "foo", "maxResults": 201}), dir.path()).await;
    assert_eq!(r.details.unwrap()["truncated"], false);
}

#[tokio::test]
async fn large_output_is_cut_to_the_token_limit() {
    let dir = tempfile::tempdir().unwrap();
    let line = format!("foo {}", "y".repeat(200));
    touch(dir.path(), "big.txt", vec![line.as_str(); 400].join("\n"));
    let r = grep(json!({"pattern": "foo", "maxResults": 1000}), dir.path()).await;
    let text = r.text_content();
    assert!(text.ends_with(
        "... [Results truncated: 400 matches found. Output exceeded 15,000 token limit. \
         Use maxResults parameter or narrow your search.]"
    ));
    assert!(js_len(&text) <= MAX_OUTPUT_TOKENS * 4);
    let d = r.details.unwrap();
    assert_eq!(d["truncated"], true);
    assert!(d["originalTokens"].as_u64().unwrap() > 15_000);
}

#[tokio::test]
async fn binary_files_are_skipped_even_when_named() {
    let dir = project();
    let r = grep(json!({"pattern": "binary", "path": "blob.dat"}), dir.path()).await;
    assert!(!r.failed());
    assert_eq!(r.text_content(), "No matches found for pattern: binary");
    let r = grep(json!({"pattern": "png", "path": "logo.png"}), dir.path()).await;
    assert_eq!(r.details.unwrap()["matchCount"], 0);
}

#[tokio::test]
async fn failures_are_error_results() {
    let dir = project();
    let r = grep(json!({"pattern": "("}), dir.path()).await;
    assert!(r.failed());
    assert!(r.text_content().starts_with("Invalid regex pattern \"(\": "), "{}", r.text_content());
    let r = grep(json!({"pattern": "foo", "path": "missing"}), dir.path()).await;
    assert!(r.failed());
    assert_eq!(r.text_content(), format!("Path not found: {}", p(dir.path(), "missing")));
    let r = grep(json!({}), dir.path()).await;
    assert!(r.failed());
    assert_eq!(
        r.text_content(),
        "Missing required parameter: pattern. Please provide a regex pattern to search for. \
         Example: \"function.*export\" or \"TODO\""
    );
    let r = grep(json!({"pattern": " "}), dir.path()).await;
    assert!(r.failed() && r.text_content().starts_with("Invalid pattern: pattern cannot be empty."));
    let r = grep(json!({"pattern": "foo", "glob": "a[b"}), dir.path()).await;
    assert!(r.failed() && r.text_content().starts_with("Invalid glob pattern \"a[b\""));
    let r = grep(json!({"pattern": "foo", "outputMode": "lines"}), dir.path()).await;
    assert!(r.failed() && r.text_content().contains("outputMode"));
    let r = grep(json!({"pattern": "foo", "context": "2"}), dir.path()).await;
    assert!(r.failed() && r.text_content().contains("context"));
}

#[test]
fn definition_matches_the_typescript_surface() {
    let d = GrepTool::new().definition();
    assert_eq!(d.name, "Grep");
    let props = d.parameters["properties"].as_object().unwrap();
    for p in ["pattern", "path", "glob", "ignoreCase", "context", "maxResults", "outputMode"] {
        assert!(props.contains_key(p), "{p} missing");
    }
    assert_eq!(props["context"]["type"], "number");
    assert_eq!(d.parameters["required"], json!(["pattern"]));
}
