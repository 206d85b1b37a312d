//! Rules files and skills through a real `tron serve` (and `tron chat`) against the mock
//! LLM: what reaches the provider request's system prompt and tools, the events recorded,
//! and the `skill.*` methods' shapes and errors.

mod common;

use std::fs;
use std::path::Path;

use serde_json::{json, Value};
use tron::testing::{MockLlm, Script, ScriptedResponse};

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map_or(Vec::new(), |t| t.iter().filter_map(|t| t["name"].as_str().map(str::to_owned)).collect())
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Sends a prompt and waits for its run to end.
async fn prompt(c: &mut common::Client, session: &str, params: Value) {
    c.events.clear();
    let mut params = params;
    params["sessionId"] = json!(session);
    let ack = c.call("agent.prompt", params).await;
    assert_eq!(ack["acknowledged"], true);
    let done = c.until("agent.complete").await;
    assert_eq!(done["data"]["success"], true, "{done}");
    c.until("agent.ready").await;
}

fn persisted_of_type(server: &common::Server, session: &str, kind: &str) -> Vec<Value> {
    server
        .persisted(session)
        .into_iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["payload"].clone())
        .collect()
}

#[tokio::test]
async fn nested_rules_reach_the_system_prompt_and_changes_are_picked_up() {
    let script = Script::new([
        ScriptedResponse::text("one"),
        ScriptedResponse::tool_call("toolu_1", "Read", json!({"file_path": "inner/notes.txt"})),
        ScriptedResponse::text("two"),
        ScriptedResponse::text("three"),
    ]);
    let server = common::start(script).await;
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    fs::create_dir_all(root.join(".git")).unwrap();
    write(&root.join("AGENTS.md"), "ROOT-RULE: run the tests.");
    write(&root.join("pkg/CLAUDE.md"), "PKG-RULE: no unsafe code.");
    write(&root.join("pkg/app/.claude/AGENTS.md"), "APP-RULE: short functions.");
    write(&root.join("pkg/app/inner/AGENTS.md"), "INNER-RULE: document everything.");
    write(&root.join("pkg/app/inner/notes.txt"), "notes");
    write(&root.join("other/AGENTS.md"), "OTHER-RULE: never seen.");
    write(&server.dir.path().join("rules/AGENTS.md"), "GLOBAL-RULE: be kind.");
    let wd = root.join("pkg/app");

    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(wd.to_str().unwrap()).await;
    prompt(&mut c, &session, json!({"prompt": "hello"})).await;
    let system = common::system_of(&server.mock.requests()[0].body);
    for rule in ["GLOBAL-RULE", "ROOT-RULE", "PKG-RULE", "APP-RULE"] {
        assert!(system.contains(rule), "{rule} missing from {system}");
    }
    assert!(
        system.contains("You are Tron")
            && system.contains(&format!("Current working directory: {}", wd.display()))
    );
    assert!(!system.contains("INNER-RULE") && !system.contains("OTHER-RULE"), "scoped rules wait: {system}");
    let loaded = persisted_of_type(&server, &session, "rules.loaded");
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0]["totalFiles"], 4);
    assert_eq!(loaded[0]["dynamicRulesCount"], 2);
    let levels: Vec<&str> =
        loaded[0]["files"].as_array().unwrap().iter().map(|f| f["level"].as_str().unwrap()).collect();
    assert_eq!(levels, ["global", "project", "directory", "directory"]);
    assert!(c.pushed().is_empty(), "a run's events are not broadcast as event.new");

    // An edited rules file reaches the next prompt, with a new rules.loaded.
    write(&wd.join(".claude/AGENTS.md"), "APP-RULE-V2: long functions are fine.");
    prompt(&mut c, &session, json!({"prompt": "read the notes"})).await;
    let system = common::system_of(&server.mock.requests()[1].body);
    assert!(system.contains("APP-RULE-V2") && !system.contains("short functions"), "{system}");
    let loaded = persisted_of_type(&server, &session, "rules.loaded");
    assert_eq!(loaded[1]["totalFiles"], 4, "the edit, before the prompt: {loaded:?}");

    // The Read under inner/ (tracked by builtin:post-tool-use) activated its scoped rule for
    // the model call right after it, in the same run, with a rules.loaded.
    let system = common::system_of(&server.mock.requests()[2].body);
    assert!(system.contains("INNER-RULE") && !system.contains("OTHER-RULE"), "{system}");
    let post = persisted_of_type(&server, &session, "hook.completed");
    let post: Vec<&Value> = post.iter().filter(|p| p["hookEvent"] == "PostToolUse").collect();
    assert_eq!(post.len(), 1);
    assert_eq!(post[0]["hookNames"], json!(["builtin:post-tool-use"]));
    assert_eq!(post[0]["toolCallId"], "toolu_1");
    let loaded = persisted_of_type(&server, &session, "rules.loaded");
    assert_eq!(loaded.len(), 3);
    assert_eq!(loaded[2]["totalFiles"], 5);
    assert!(loaded[2]["runId"].is_string(), "written by the run: {}", loaded[2]);
    // ... and the next prompt keeps it, without another rules.loaded.
    prompt(&mut c, &session, json!({"prompt": "and now?"})).await;
    let system = common::system_of(&server.mock.requests()[3].body);
    assert!(system.contains("INNER-RULE") && !system.contains("OTHER-RULE"), "{system}");
    let loaded = persisted_of_type(&server, &session, "rules.loaded");
    assert_eq!(loaded.len(), 3);
    let _ = server.shutdown().await;
}

fn skill(dir: &Path, name: &str, text: &str) {
    write(&dir.join(name).join("SKILL.md"), text);
}

#[tokio::test]
async fn a_skill_that_denies_a_tool_takes_it_out_of_the_request_until_removed() {
    let script = Script::new((0..4).map(|i| ScriptedResponse::text(format!("answer {i}"))));
    let server = common::start(script).await;
    skill(
        &server.dir.path().join("skills"),
        "nobash",
        "---\nname: No Bash\ndeniedTools: [Bash]\n---\nNOBASH-SKILL: use the file tools only.",
    );
    let work = tempfile::tempdir().unwrap();
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(work.path().to_str().unwrap()).await;

    prompt(&mut c, &session, json!({"prompt": "go", "skills": [{"name": "nobash", "source": "global"}]}))
        .await;
    prompt(&mut c, &session, json!({"prompt": "again, @nobash"})).await;
    let requests = server.mock.requests();
    for r in &requests[..2] {
        let tools = tool_names(&r.body);
        assert!(tools.contains(&"Read".to_owned()) && !tools.contains(&"Bash".to_owned()), "{tools:?}");
        assert!(common::system_of(&r.body).contains("NOBASH-SKILL"));
    }
    let added = persisted_of_type(&server, &session, "skill.added");
    assert_eq!(
        added,
        [json!({"skillName": "nobash", "source": "global", "addedVia": "explicit"})],
        "recorded once"
    );
    let users = persisted_of_type(&server, &session, "message.user");
    assert_eq!(
        users[0]["skills"],
        json!([{"name": "nobash", "source": "global"}]),
        "the prompt names its skills"
    );
    assert!(users[1].get("skills").is_none(), "a mention is not a named skill");

    c.events.clear();
    let removed = c.call("skill.remove", json!({"sessionId": session, "skillName": "nobash"})).await;
    assert_eq!(removed, json!({"success": true}));
    let pushed = c.until("agent.skill_removed").await;
    assert_eq!((&pushed["sessionId"], &pushed["data"]), (&json!(session), &json!({"skillName": "nobash"})));
    assert_eq!(
        persisted_of_type(&server, &session, "skill.removed"),
        [json!({"skillName": "nobash", "removedVia": "manual"})]
    );
    let again = c.call("skill.remove", json!({"sessionId": session, "skillName": "nobash"})).await;
    assert_eq!(again["success"], false);
    assert!(again["error"].as_str().unwrap().contains("not in session context"));

    prompt(&mut c, &session, json!({"prompt": "and now"})).await;
    let body = &server.mock.requests()[2].body;
    assert!(tool_names(body).contains(&"Bash".to_owned()));
    let system = common::system_of(body);
    assert!(!system.contains("NOBASH-SKILL") && system.contains("@nobash"), "removal notice: {system}");

    // An @mention of a known skill activates it.
    prompt(&mut c, &session, json!({"prompt": "please @nobash"})).await;
    assert!(!tool_names(&server.mock.requests()[3].body).contains(&"Bash".to_owned()));
    let added = persisted_of_type(&server, &session, "skill.added");
    assert_eq!(added.last().unwrap()["addedVia"], "mention");
    let _ = server.shutdown().await;
}

#[tokio::test]
async fn skill_methods_have_the_typescript_shapes_and_bad_params_say_why() {
    let server = common::start(Script::default()).await;
    skill(
        &server.dir.path().join("skills"),
        "global-one",
        "---\ndescription: A global skill\ntags: [a, b]\n---\nG body",
    );
    let work = tempfile::tempdir().unwrap();
    skill(&work.path().join(".tron/skills"), "project-one", "# Title\n\nProject skill line.\n");
    fs::write(work.path().join(".tron/skills/project-one/extra.md"), "x").unwrap();
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(work.path().to_str().unwrap()).await;

    let global = c.call("skill.list", json!({})).await;
    assert_eq!(
        global,
        json!({"skills": [{"name": "global-one", "displayName": "global-one", "description": "A global skill",
            "source": "global", "autoInject": false, "tags": ["a", "b"]}], "totalCount": 1, "autoInjectCount": 0})
    );
    let all = c.call("skill.list", json!({"sessionId": session})).await;
    let names: Vec<&str> =
        all["skills"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["global-one", "project-one"]);
    assert_eq!(all["totalCount"], 2);
    let project = c
        .call("skill.list", json!({"sessionId": session, "source": "project", "includeContent": true}))
        .await;
    assert_eq!(project["skills"][0]["description"], "Project skill line.");
    assert_eq!(project["skills"][0]["content"], "# Title\n\nProject skill line.\n");
    assert_eq!(project["skills"][0]["additionalFiles"], json!(["extra.md"]));

    let got = c.call("skill.get", json!({"name": "project-one", "sessionId": session})).await;
    assert_eq!(got["found"], true);
    assert_eq!(got["skill"]["source"], "project");
    assert!(got["skill"]["path"].as_str().unwrap().ends_with("project-one"));
    assert_eq!(
        c.call("skill.get", json!({"name": "project-one"})).await,
        json!({"skill": null, "found": false})
    );
    assert_eq!(
        c.call("skill.refresh", json!({"sessionId": session})).await,
        json!({"success": true, "skillCount": 2})
    );

    let err = c.fail("skill.get", json!({})).await;
    assert_eq!(
        (err["code"].as_str(), err["message"].as_str()),
        (Some("INVALID_PARAMS"), Some("name is required"))
    );
    let err = c.fail("skill.list", json!({"source": "elsewhere"})).await;
    assert_eq!(err["code"], "INVALID_PARAMS");
    assert!(err["message"].as_str().unwrap().contains("source must be"), "{err}");
    let err = c.fail("skill.remove", json!({"sessionId": session})).await;
    assert_eq!(err["message"], "skillName is required");
    let err = c.fail("skill.list", json!({"sessionId": "sess_nope"})).await;
    assert_eq!(err["code"], "SESSION_NOT_FOUND");
    let err = c
        .fail("agent.prompt", json!({"sessionId": session, "prompt": "x", "skills": [{"name": "nope"}]}))
        .await;
    assert_eq!(err["code"], "INVALID_PARAMS");
    assert_eq!(err["message"], "unknown skill \"nope\" (skills: global-one, project-one)");
    let err =
        c.fail("agent.prompt", json!({"sessionId": session, "prompt": "x", "skills": "global-one"})).await;
    assert_eq!(err["message"], "skills must be a list of {name, source} objects");
    assert!(server.mock.requests().is_empty(), "refused prompts never reach the model");
    assert!(persisted_of_type(&server, &session, "message.user").is_empty(), "and change nothing");
    let _ = server.shutdown().await;
}

#[test]
fn tron_chat_builds_the_same_system_prompt() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let script = Script::new([ScriptedResponse::text("a"), ScriptedResponse::text("b")]);
    let mock = rt.block_on(MockLlm::start(script)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("prod.db");
    let work = tempfile::tempdir().unwrap();
    write(&work.path().join("CLAUDE.md"), "CHAT-RULE: tabs.");
    skill(&dir.path().join("skills"), "nogrep", "---\ndeniedTools: [Grep]\n---\nNOGREP-SKILL");

    let out =
        common::chat_command(&mock, &db).arg("hi @nogrep").arg("--cwd").arg(work.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = &mock.requests()[0].body;
    let system = common::system_of(body);
    assert!(
        system.starts_with("You are Tron") && system.contains("CHAT-RULE") && system.contains("NOGREP-SKILL"),
        "{system}"
    );
    assert!(!tool_names(body).contains(&"Grep".to_owned()));
    let (_, events) = common::only_session_events(&db);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(&kinds[..4], ["session.start", "rules.loaded", "skill.added", "message.user"], "{kinds:?}");

    // --system replaces the core prompt; rules still come along.
    let out = common::chat_command(&mock, &db)
        .args(["again", "--system", "CUSTOM-CORE.", "--cwd"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let system = common::system_of(&mock.requests()[1].body);
    assert!(
        system.starts_with("CUSTOM-CORE.")
            && system.contains("CHAT-RULE")
            && !system.contains("You are Tron"),
        "{system}"
    );
}

#[tokio::test]
async fn agents_md_and_claude_md_load_at_every_level_and_the_rules_index_is_recorded_once() {
    let script = Script::new([ScriptedResponse::text("one"), ScriptedResponse::text("two")]);
    let server = common::start(script).await;
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    fs::create_dir_all(root.join(".git")).unwrap();
    write(&root.join("AGENTS.md"), "ROOT-AGENTS");
    write(&root.join("CLAUDE.md"), "ROOT-CLAUDE");
    write(&root.join("pkg/AGENTS.md"), "PKG-AGENTS");
    write(&root.join("pkg/.claude/CLAUDE.md"), "PKG-CLAUDE");
    write(&root.join("lib/CLAUDE.md"), "LIB-SCOPED");
    write(&server.dir.path().join("rules/AGENTS.md"), "GLOBAL-AGENTS");
    write(&server.dir.path().join("rules/CLAUDE.md"), "GLOBAL-CLAUDE");
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(root.join("pkg").to_str().unwrap()).await;
    prompt(&mut c, &session, json!({"prompt": "hello"})).await;
    let system = common::system_of(&server.mock.requests()[0].body);
    let at = |rule: &str| system.find(rule).unwrap_or_else(|| panic!("{rule} missing from {system}"));
    assert!(at("GLOBAL-AGENTS") < at("GLOBAL-CLAUDE") && at("GLOBAL-CLAUDE") < at("ROOT-AGENTS"));
    assert!(at("ROOT-AGENTS") < at("ROOT-CLAUDE") && at("ROOT-CLAUDE") < at("PKG-CLAUDE"));
    assert!(at("PKG-CLAUDE") < at("PKG-AGENTS"), "the agent folder's, then the folder's own");
    assert!(!system.contains("LIB-SCOPED"), "scoped until touched");
    let loaded = persisted_of_type(&server, &session, "rules.loaded");
    assert_eq!(loaded[0]["totalFiles"], 6);

    // The rules index of the project, at the session's start (the TypeScript payload).
    let indexed = persisted_of_type(&server, &session, "rules.indexed");
    assert_eq!(
        indexed,
        [json!({"totalRules": 5, "globalRules": 2, "scopedRules": 3, "files": [
            {"relativePath": "AGENTS.md", "isGlobal": true, "scopeDir": "", "sizeBytes": 11},
            {"relativePath": "CLAUDE.md", "isGlobal": true, "scopeDir": "", "sizeBytes": 11},
            {"relativePath": "pkg/.claude/CLAUDE.md", "isGlobal": false, "scopeDir": "pkg", "sizeBytes": 10},
            {"relativePath": "pkg/AGENTS.md", "isGlobal": false, "scopeDir": "pkg", "sizeBytes": 10},
            {"relativePath": "lib/CLAUDE.md", "isGlobal": false, "scopeDir": "lib", "sizeBytes": 10},
        ]})]
    );
    let kinds: Vec<String> =
        server.persisted(&session).iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap();
    assert!(pos("rules.loaded") < pos("rules.indexed") && pos("rules.indexed") < pos("message.user"));
    prompt(&mut c, &session, json!({"prompt": "again"})).await;
    assert_eq!(persisted_of_type(&server, &session, "rules.indexed").len(), 1, "once per session");
    let _ = server.shutdown().await;
}

#[tokio::test]
async fn a_projects_system_md_replaces_the_core_prompt_of_the_request() {
    let server = common::start(Script::new([ScriptedResponse::text("ok")])).await;
    let work = tempfile::tempdir().unwrap();
    write(&work.path().join(".tron/SYSTEM.md"), "PROJECT-CORE: you review code, nothing else.");
    write(&work.path().join("AGENTS.md"), "RULE-STILL-THERE");
    write(&server.dir.path().join("SYSTEM.md"), "GLOBAL-CORE: not used when the project has one.");
    let mut c = common::Client::connect(server.addr).await;
    let session = c.session(work.path().to_str().unwrap()).await;
    prompt(&mut c, &session, json!({"prompt": "review"})).await;
    let system = common::system_of(&server.mock.requests()[0].body);
    assert!(system.starts_with("PROJECT-CORE: you review code, nothing else.\n\n"), "{system}");
    assert!(!system.contains("You are Tron") && !system.contains("GLOBAL-CORE"), "{system}");
    assert!(
        system.contains(&format!("Current working directory: {}", work.path().display()))
            && system.contains("RULE-STILL-THERE"),
        "the other parts stay: {system}"
    );
    let _ = server.shutdown().await;
}
