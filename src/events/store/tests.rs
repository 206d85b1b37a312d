use serde_json::json;

use super::*;
use crate::events::{ListOptions, SearchOptions};

fn store_with_session() -> (EventStore, SessionRow) {
    let store = EventStore::open_in_memory().unwrap();
    let (row, _) = store
        .create_session(NewSession {
            working_directory: "/w/proj".into(),
            model: "claude-sonnet-4-5".into(),
            ..Default::default()
        })
        .unwrap();
    (store, row)
}

fn user(text: &str) -> NewEvent {
    NewEvent::raw("message.user", json!({"content": text}))
}

fn assistant(text: &str) -> NewEvent {
    NewEvent::raw(
        "message.assistant",
        json!({"content": [{"type": "text", "text": text}], "turn": 1,
               "tokenUsage": {"inputTokens": 100, "outputTokens": 50, "cacheReadTokens": 10}}),
    )
}

#[test]
fn create_session_writes_a_root_event_and_workspace() {
    let (store, row) = store_with_session();
    assert!(row.id.starts_with("sess_"));
    assert_eq!(row.event_count, 1);
    let events = store.events(&row.id).unwrap();
    assert_eq!(events.len(), 1);
    let root = &events[0];
    assert_eq!(root.event_type.as_str(), "session.start");
    assert_eq!(root.sequence, 0);
    assert_eq!(root.parent_id, None);
    assert_eq!(root.payload, json!({"workingDirectory": "/w/proj", "model": "claude-sonnet-4-5"}));
    assert_eq!(row.root_event_id.as_ref(), Some(&root.id));
    assert_eq!(row.head_event_id.as_ref(), Some(&root.id));
    // The same directory reuses the workspace.
    let (again, _) = store
        .create_session(NewSession {
            working_directory: "/w/proj".into(),
            model: "m".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(again.workspace_id, row.workspace_id);
}

#[test]
fn append_chains_sequences_parents_and_counters() {
    let (store, row) = store_with_session();
    let a = store.append(&row.id, user("hello")).unwrap();
    let b = store.append(&row.id, assistant("hi")).unwrap();
    assert_eq!((a.sequence, b.sequence), (1, 2));
    assert_eq!(a.parent_id, row.head_event_id);
    assert_eq!(b.parent_id.as_ref(), Some(&a.id));
    let depth: i64 = store
        .connection()
        .query_row("SELECT depth FROM events WHERE id = ?1", [&b.id], |r| r.get(0))
        .unwrap();
    assert_eq!(depth, 2);
    let row = store.session(&row.id).unwrap();
    assert_eq!(row.head_event_id.as_ref(), Some(&b.id));
    assert_eq!((row.event_count, row.message_count), (3, 2));
    assert_eq!((row.total_input_tokens, row.total_output_tokens, row.total_cache_read_tokens), (100, 50, 10));
    assert_eq!(row.last_turn_input_tokens, 100);
    let (role, tokens): (String, i64) = store
        .connection()
        .query_row("SELECT role, input_tokens FROM events WHERE id = ?1", [&b.id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((role.as_str(), tokens), ("assistant", 100));
}

#[test]
fn batch_is_all_or_nothing() {
    let (store, row) = store_with_session();
    let bad = user("x").with_parent(EventId::from_raw("evt_missing"));
    let err = store.append_batch(&row.id, &[user("a"), bad]).unwrap_err();
    assert!(matches!(err, StoreError::EventNotFound(ref id) if id == "evt_missing"), "{err}");
    assert_eq!(store.events(&row.id).unwrap().len(), 1);
    assert_eq!(store.session(&row.id).unwrap().event_count, 1);
}

#[test]
fn unknown_session_and_event_are_named() {
    let (store, _) = store_with_session();
    assert_eq!(store.append("sess_nope", user("x")).unwrap_err().to_string(), "session not found: sess_nope");
    assert_eq!(store.event("evt_nope").unwrap_err().to_string(), "event not found: evt_nope");
    assert!(store.fork("evt_nope", None, None).is_err());
}

#[test]
fn unknown_event_types_are_kept_verbatim() {
    let (store, row) = store_with_session();
    let payload = json!({"z": 1, "a": [1, 2, {"k": null}], "nested": {"b": true}});
    let e = store.append(&row.id, NewEvent::raw("future.thing", payload.clone())).unwrap();
    let back = store.event(&e.id).unwrap();
    assert_eq!(back.event_type.as_str(), "future.thing");
    assert_eq!(back.payload, payload);
    let text: String = store
        .connection()
        .query_row("SELECT payload FROM events WHERE id = ?1", [&e.id], |r| r.get(0))
        .unwrap();
    assert_eq!(text, r#"{"z":1,"a":[1,2,{"k":null}],"nested":{"b":true}}"#);
}

#[test]
fn fork_shares_history_without_copying() {
    let (store, row) = store_with_session();
    let u = store.append(&row.id, user("first")).unwrap();
    store.append(&row.id, assistant("answer")).unwrap();
    store.append(&row.id, user("second")).unwrap();
    let fork = store.fork(&u.id, Some("Fork of test".into()), None).unwrap();
    let forked = store.session(&fork.new_session_id).unwrap();
    assert_eq!(forked.parent_session_id.as_ref(), Some(&row.id));
    assert_eq!(forked.fork_from_event_id.as_ref(), Some(&u.id));
    assert_eq!(forked.title.as_deref(), Some("Fork of test"));
    let own = store.events(&fork.new_session_id).unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].event_type.as_str(), "session.fork");
    assert_eq!(own[0].parent_id.as_ref(), Some(&u.id));
    let chain = store.ancestors(&fork.root_event_id).unwrap();
    assert_eq!(chain.len(), 3);
    assert_eq!(chain[0].event_type.as_str(), "session.start");
    let msgs = store.messages(&fork.new_session_id).unwrap();
    assert_eq!(msgs.messages_with_event_ids.len(), 1);
    assert_eq!(msgs.messages().next().unwrap().text(), "first");
    // Appending to the fork does not touch the source.
    store.append(&fork.new_session_id, user("in fork")).unwrap();
    assert_eq!(store.events(&row.id).unwrap().len(), 4);
}

#[test]
fn rewind_moves_the_head_and_keeps_everything() {
    let (store, row) = store_with_session();
    let u = store.append(&row.id, user("one")).unwrap();
    let a = store.append(&row.id, assistant("reply")).unwrap();
    store.append(&row.id, user("two")).unwrap();
    let after = store.rewind(&row.id, &a.id).unwrap();
    assert_eq!(after.head_event_id.as_ref(), Some(&a.id));
    assert_eq!(store.events(&row.id).unwrap().len(), 4);
    assert_eq!(store.messages(&row.id).unwrap().messages_with_event_ids.len(), 2);
    let branch = store.append(&row.id, user("three")).unwrap();
    assert_eq!(branch.parent_id.as_ref(), Some(&a.id));
    assert_eq!(branch.sequence, 4);
    // The abandoned branch is not on the chain any more.
    let two = store.events(&row.id).unwrap().into_iter().find(|e| e.payload["content"] == "two").unwrap();
    let err = store.rewind(&row.id, &two.id).unwrap_err();
    assert!(err.to_string().contains("not on the current chain"), "{err}");
    assert!(store.rewind(&row.id, &u.id).is_ok());
}

#[test]
fn search_finds_messages_and_tool_arguments_once() {
    let (store, row) = store_with_session();
    store.append(&row.id, user("please fix the OAuth refresh")).unwrap();
    store.append(&row.id, assistant("OAuth tokens are refreshed in auth.rs")).unwrap();
    store
        .append(&row.id, NewEvent::raw("tool.call", json!({"toolCallId": "t1", "name": "Read", "arguments": {"path": "src/Cargo.toml"}, "turn": 1})))
        .unwrap();
    let hits = store.search("oauth", &SearchOptions::default()).unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.snippet.contains("<mark>")));
    let hits = store.search("Cargo.toml", &SearchOptions::default()).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].event_type, "tool.call");
    let only_user = SearchOptions { types: vec!["message.user".into()], ..Default::default() };
    assert_eq!(store.search("oauth", &only_user).unwrap().len(), 1);
    let other = SearchOptions { session_id: Some("sess_other".into()), ..Default::default() };
    assert!(store.search("oauth", &other).unwrap().is_empty());
    // Words that are FTS syntax are just words.
    assert!(store.search("foo-bar a.b \"", &SearchOptions::default()).unwrap().is_empty());
    // The type column is not searched.
    assert!(store.search("user", &SearchOptions::default()).unwrap().is_empty());
}

#[test]
fn archive_hides_from_the_default_list() {
    let (store, row) = store_with_session();
    store.set_archived(&row.id, true).unwrap();
    assert!(store.list_sessions(&ListOptions::default()).unwrap().is_empty());
    let all = store.list_sessions(&ListOptions { include_archived: true, ..Default::default() }).unwrap();
    assert_eq!(all.len(), 1);
    assert!(all[0].archived_at.is_some());
}

#[test]
fn previews_take_the_latest_message_text() {
    let (store, row) = store_with_session();
    store.append(&row.id, user("old")).unwrap();
    store.append(&row.id, user("new")).unwrap();
    store
        .append(
            &row.id,
            NewEvent::raw(
                "message.assistant",
                json!({"content": [{"type":"text","text":"First "},{"type":"text","text":"Second"}]}),
            ),
        )
        .unwrap();
    assert_eq!(store.previews(&row.id).unwrap(), (Some("new".into()), Some("First Second".into())));
}

#[test]
fn head_events_of_types_follow_the_head_through_rewinds_and_forks() {
    let (store, row) = store_with_session();
    let kinds = ["plan.mode_entered", "plan.mode_exited"];
    let entered =
        |s: &str| NewEvent::raw("plan.mode_entered", json!({"skillName": s, "blockedTools": ["Write"]}));
    let u = store.append(&row.id, user("one")).unwrap();
    store.append(&row.id, entered("first")).unwrap();
    store.append(&row.id, user("two")).unwrap();
    let seen = |s: &str| -> Vec<String> {
        store
            .head_events_of_types(s, &kinds)
            .unwrap()
            .iter()
            .map(|(t, p)| format!("{} {}", t.as_str(), p["skillName"]))
            .collect()
    };
    assert_eq!(seen(&row.id), ["plan.mode_entered \"first\""]);
    // A fork after the plan event inherits it; a rewind before it leaves it behind.
    let two = store.events(&row.id).unwrap().pop().unwrap();
    let fork = store.fork(&two.id, None, None).unwrap();
    assert_eq!(seen(&fork.new_session_id), ["plan.mode_entered \"first\""]);
    store.rewind(&row.id, &u.id).unwrap();
    assert!(seen(&row.id).is_empty());
    store.append(&row.id, NewEvent::raw("plan.mode_exited", json!({"reason": "cancelled"}))).unwrap();
    assert_eq!(seen(&row.id), ["plan.mode_exited null"]);
}
