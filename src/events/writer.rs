//! [`StoreHandle`]: the event store for async code.
//!
//! One dedicated thread owns the [`EventStore`] and runs every job sent to it, in order. So
//! all writes go through a single writer (per process, hence per session), the order in
//! which a caller sends appends is the order they commit in, and SQLite never blocks the
//! async runtime. A caller awaits the result of its own job; the event it gets back has
//! committed, so it may be published (persist before publish).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use super::error::{Result, StoreError};
use super::store::{EventStore, NewEvent};
use super::types::SessionEvent;

type Job = Box<dyn FnOnce(&EventStore) + Send>;

/// A cloneable handle to the store thread.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreHandle")
    }
}

fn stopped() -> StoreError {
    StoreError::Invalid("the event store thread has stopped".into())
}

impl StoreHandle {
    /// Moves `store` onto its own thread. The thread ends when the last handle is dropped.
    pub fn spawn(store: EventStore) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("tron-store".into())
            .spawn(move || {
                for job in queue {
                    // A job that panics fails only itself: its caller sees the store
                    // stopped for that call, and the next job runs normally.
                    let _ = catch_unwind(AssertUnwindSafe(|| job(&store)));
                }
            })
            .expect("spawning the store thread");
        Self { jobs }
    }

    /// Runs `f` on the store thread and returns its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&EventStore) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = tx.send(f(store));
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Appends one event (see [`EventStore::append`]).
    pub async fn append(&self, session: impl Into<String>, event: NewEvent) -> Result<SessionEvent> {
        let session = session.into();
        self.run(move |store| store.append(&session, event)).await
    }

    /// Appends events in one transaction (see [`EventStore::append_batch`]).
    pub async fn append_batch(
        &self,
        session: impl Into<String>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<SessionEvent>> {
        let session = session.into();
        self.run(move |store| store.append_batch(&session, &events)).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::NewSession;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn concurrent_tasks_append_one_gapless_chain() {
        runtime().block_on(async {
            let store = EventStore::open_in_memory().unwrap();
            let handle = StoreHandle::spawn(store);
            let session = handle
                .run(|s| {
                    s.create_session(NewSession {
                        working_directory: "/w".into(),
                        model: "m".into(),
                        ..Default::default()
                    })
                })
                .await
                .unwrap()
                .0
                .id
                .to_string();
            let tasks: Vec<_> = (0..50)
                .map(|i| {
                    let h = handle.clone();
                    let s = session.clone();
                    tokio::spawn(async move {
                        h.append(s, NewEvent::raw("message.user", json!({"content": i}))).await
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            let s2 = session.clone();
            let events = handle.run(move |s| s.events(&s2)).await.unwrap();
            assert_eq!(events.len(), 51);
            for (i, pair) in events.windows(2).enumerate() {
                assert_eq!(pair[1].sequence, i as i64 + 1);
                assert_eq!(pair[1].parent_id.as_ref(), Some(&pair[0].id));
            }
        });
    }

    #[test]
    fn a_panicking_job_fails_alone() {
        runtime().block_on(async {
            let handle = StoreHandle::spawn(EventStore::open_in_memory().unwrap());
            let err = handle.run(|_| -> Result<()> { panic!("boom") }).await.unwrap_err();
            assert!(err.to_string().contains("stopped"), "{err}");
            let sessions = handle.run(|s| s.list_sessions(&Default::default())).await.unwrap();
            assert!(sessions.is_empty());
            let err =
                handle.append("sess_missing", NewEvent::raw("message.user", json!({}))).await.unwrap_err();
            assert_eq!(err.to_string(), "session not found: sess_missing");
        });
    }
}
