//! Unit tests for `Find` on real temporary directories.

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

async fn find(v: Value, dir: &Path) -> ToolResult {
    FindTool::new().execute(&args(v), &ToolContext::new(dir)).await
}

fn touch(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// A small project: sources at two depths, a gitignored build dir, a hidden dir, a dotfile.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    touch(root, "root.ts", "");
    touch(root, "notes.md", "");
    touch(root, "src/a.ts", "");
    touch(root, "src/lib/b.ts", "");
    touch(root, "src/lib/c.js", "");
    touch(root, "out/gen.ts", "");
    touch(root, "debug.log", "");
    touch(root, ".gitignore", "out/\n*.log\n");
    touch(root, ".git/HEAD.ts", "");
    touch(root, ".cache/x.ts", "");
    touch(root, ".env.ts", "");
    dir
}

#[tokio::test]
async fn nested_globs_match_relative_paths_and_names_in_path_order() {
    let dir = project();
    let r = find(json!({"pattern": "**/*.ts"}), dir.path()).await;
    assert!(!r.failed());
    // Hidden files are listed; hidden directories and gitignored paths are not.
    assert_eq!(r.text_content(), ".env.ts\nroot.ts\nsrc/a.ts\nsrc/lib/b.ts");
    assert_eq!(r.details.as_ref().unwrap()["fileCount"], 4);
    assert_eq!(r.details.unwrap()["truncated"], false);

    // `*` matches names at any depth (the TypeScript tool also tested the bare name).
    let r = find(json!({"pattern": "*.js"}), dir.path()).await;
    assert_eq!(r.text_content(), "src/lib/c.js");
    // A path pattern: `*` does not cross `/`.
    let r = find(json!({"pattern": "src/*.ts"}), dir.path()).await;
    assert_eq!(r.text_content(), "src/a.ts");
    let r = find(json!({"pattern": "src/**/*.{ts,js}"}), dir.path()).await;
    assert_eq!(r.text_content(), "src/a.ts\nsrc/lib/b.ts\nsrc/lib/c.js");
}

#[tokio::test]
async fn gitignored_files_and_hidden_directories_are_skipped() {
    let dir = project();
    let r = find(json!({"pattern": "*"}), dir.path()).await;
    let text = r.text_content();
    assert_eq!(
        text,
        ".env.ts\n.gitignore\nnotes.md\nroot.ts\nsrc/\nsrc/a.ts\nsrc/lib/\nsrc/lib/b.ts\nsrc/lib/c.js"
    );
}

#[tokio::test]
async fn type_depth_and_exclude_filters() {
    let dir = project();
    let r = find(json!({"pattern": "*", "type": "directory"}), dir.path()).await;
    assert_eq!(r.text_content(), "src/\nsrc/lib/");
    let r = find(json!({"pattern": "**/*.ts", "type": "file", "maxDepth": 0}), dir.path()).await;
    assert_eq!(r.text_content(), ".env.ts\nroot.ts");
    let r = find(json!({"pattern": "**/*.ts", "maxDepth": 1}), dir.path()).await;
    assert_eq!(r.text_content(), ".env.ts\nroot.ts\nsrc/a.ts");
    let r = find(json!({"pattern": "**/*.ts", "exclude": ["lib", ".env*"]}), dir.path()).await;
    assert_eq!(r.text_content(), "root.ts\nsrc/a.ts");
    let r = find(json!({"pattern": "*.ts", "path": "src"}), dir.path()).await;
    assert_eq!(r.text_content(), "a.ts\nlib/b.ts");
    // A directory asked for by name is searched even when it is gitignored.
    let r = find(json!({"pattern": "*.ts", "path": "out"}), dir.path()).await;
    assert_eq!(r.text_content(), "gen.ts");
}

#[tokio::test]
async fn no_matches_is_not_an_error() {
    let dir = project();
    let r = find(json!({"pattern": "*.rs"}), dir.path()).await;
    assert!(!r.failed());
    assert_eq!(r.text_content(), "No files found matching: *.rs");
    assert_eq!(r.details.unwrap()["fileCount"], 0);
}

#[tokio::test]
async fn the_limit_cuts_the_list_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..30 {
        touch(dir.path(), &format!("f{i:02}.txt"), "");
    }
    let r = find(json!({"pattern": "*.txt", "maxResults": 10}), dir.path()).await;
    let text = r.text_content();
    let (list, notice) = text.split_once("\n\n").unwrap();
    assert_eq!(list.lines().count(), 10);
    assert!(list.starts_with("f00.txt\nf01.txt"));
    assert_eq!(
        notice,
        "... [Results limited to 10 entries; more match. Use maxResults or a narrower pattern or path to see more.]"
    );
    let d = r.details.unwrap();
    assert_eq!(d["truncated"], true);
    assert_eq!(d["fileCount"], 10);
    // Exactly at the limit is not cut.
    let r = find(json!({"pattern": "*.txt", "maxResults": 30}), dir.path()).await;
    assert_eq!(r.details.as_ref().unwrap()["truncated"], false);
    assert!(!r.text_content().contains("Results limited"));
}

#[tokio::test]
async fn sizes_and_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    touch(dir.path(), "older.ts", &"x".repeat(1024));
    touch(dir.path(), "newer.ts", "hi");
    let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    fs::File::options().write(true).open(dir.path().join("older.ts")).unwrap().set_modified(old).unwrap();
    let r = find(json!({"pattern": "*.ts", "showSize": true}), dir.path()).await;
    assert_eq!(r.text_content(), "       2  newer.ts\n    1.0K  older.ts");
    let r = find(json!({"pattern": "*.ts", "sortByTime": true}), dir.path()).await;
    assert_eq!(r.text_content(), "newer.ts\nolder.ts");
    let r = find(json!({"pattern": "*.ts", "sortByTime": true, "maxResults": 1}), dir.path()).await;
    assert!(r.text_content().starts_with("newer.ts\n\n... [Results limited to 1 entries"));
    assert_eq!(format_size(5 * 1024 * 1024 + 100), "5.0M");
    assert_eq!(format_size(3 * 1024 * 1024 * 1024), "3.0G");
}

#[tokio::test]
async fn failures_are_error_results() {
    let dir = project();
    let r = find(json!({}), dir.path()).await;
    assert!(r.failed());
    assert_eq!(
        r.text_content(),
        "Missing required parameter: pattern. Please provide a glob pattern to match files. \
         Example: \"*.ts\", \"**/*.js\", or \"src/**/*.tsx\""
    );
    let r = find(json!({"pattern": "   "}), dir.path()).await;
    assert!(r.failed());
    assert!(r.text_content().starts_with("Invalid pattern: pattern cannot be empty."));
    let r = find(json!({"pattern": "*", "path": "missing"}), dir.path()).await;
    assert!(r.failed());
    assert_eq!(r.text_content(), format!("Path not found: {}", dir.path().join("missing").display()));
    let r = find(json!({"pattern": "*", "path": "root.ts"}), dir.path()).await;
    assert!(r.failed());
    assert!(r.text_content().starts_with("Path is not a directory: "));
    let r = find(json!({"pattern": "a[b"}), dir.path()).await;
    assert!(r.failed());
    assert!(r.text_content().starts_with("Invalid glob pattern \"a[b\": "), "{}", r.text_content());
    let r = find(json!({"pattern": "*", "type": "link"}), dir.path()).await;
    assert!(r.failed() && r.text_content().contains("type"));
    let r = find(json!({"pattern": "*", "exclude": "out"}), dir.path()).await;
    assert!(r.failed() && r.text_content().contains("exclude"));
    let r = find(json!({"pattern": "*", "maxDepth": "2"}), dir.path()).await;
    assert!(r.failed() && r.text_content().contains("maxDepth"));
}

#[test]
fn definition_matches_the_typescript_surface() {
    let d = FindTool::new().definition();
    assert_eq!(d.name, "Find");
    let props = d.parameters["properties"].as_object().unwrap();
    let names: Vec<&str> = props.keys().map(String::as_str).collect();
    for p in ["pattern", "path", "type", "maxDepth", "exclude", "showSize", "sortByTime", "maxResults"] {
        assert!(names.contains(&p), "{p} missing");
    }
    assert_eq!(props.len(), 8);
    assert_eq!(d.parameters["required"], json!(["pattern"]));
    assert_eq!(props["type"]["enum"], json!(["file", "directory", "all"]));
}
