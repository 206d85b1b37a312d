//! [`BrowserService`]: one browser per tron session, started on first use, with its
//! screencast frames handed to whoever serves the clients.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Browser, BrowserConfig, Result, ScreencastFrame, ScreencastOptions};

/// A screencast frame of a session's browser (the TypeScript server's `BrowserFrame`).
#[derive(Debug, Clone)]
pub struct BrowserFrame {
    /// The tron session.
    pub session_id: String,
    /// The image, base64 (JPEG unless the stream asked for PNG).
    pub data: String,
    /// CDP's frame number.
    pub frame_id: i64,
    /// When the frame was captured, in milliseconds since the epoch.
    pub timestamp: f64,
    /// Where the frame sits in the page.
    pub metadata: FrameMetadata,
}

/// A frame's geometry, as CDP reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameMetadata {
    /// Top offset in DIP.
    pub offset_top: Option<f64>,
    /// Page scale factor.
    pub page_scale_factor: Option<f64>,
    /// Device screen width in DIP.
    pub device_width: Option<f64>,
    /// Device screen height in DIP.
    pub device_height: Option<f64>,
    /// Horizontal scroll in CSS pixels.
    pub scroll_offset_x: Option<f64>,
    /// Vertical scroll in CSS pixels.
    pub scroll_offset_y: Option<f64>,
}

/// What a session's browser does, for `browser.getStatus`.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserStatus {
    /// Whether the session has a browser.
    pub has_browser: bool,
    /// Whether it streams frames.
    pub is_streaming: bool,
    /// The active tab's URL.
    pub current_url: Option<String>,
}

/// What the service tells its owner.
#[derive(Debug, Clone)]
pub enum BrowserEvent {
    /// A screencast frame.
    Frame(BrowserFrame),
    /// A session's browser was closed.
    Closed {
        /// The tron session.
        session_id: String,
    },
}

/// Receives the service's events (the server publishes them as `browser.frame` /
/// `browser.closed`).
pub type FrameSink = Arc<dyn Fn(BrowserEvent) + Send + Sync>;

/// The outcome of one `BrowseTheWeb` action (the TypeScript `ActionResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResult {
    /// Whether it worked.
    pub success: bool,
    /// What it produced.
    pub data: Map<String, Value>,
    /// Why it failed.
    pub error: Option<String>,
}

impl ActionResult {
    /// A success with `data`.
    pub fn ok(data: Value) -> Self {
        Self { success: true, data: data.as_object().cloned().unwrap_or_default(), error: None }
    }

    /// A failure.
    pub fn fail(error: impl Into<String>) -> Self {
        Self { success: false, data: Map::new(), error: Some(error.into()) }
    }
}

/// Browsers by tron session (see the module doc).
pub struct BrowserService {
    config: BrowserConfig,
    sessions: tokio::sync::Mutex<HashMap<String, Arc<Browser>>>,
    sink: Option<FrameSink>,
}

impl std::fmt::Debug for BrowserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserService").field("config", &self.config).finish_non_exhaustive()
    }
}

impl BrowserService {
    /// A service that starts browsers as `config` says and hands events to `sink`.
    pub fn new(config: BrowserConfig, sink: Option<FrameSink>) -> Arc<Self> {
        Arc::new(Self { config, sessions: Default::default(), sink })
    }

    /// Whether anyone receives frames (a tool's browser streams only then).
    pub fn streams(&self) -> bool {
        self.sink.is_some()
    }

    /// The browser of `session`, started now if it has none.
    pub async fn ensure_session(&self, session: &str) -> Result<Arc<Browser>> {
        let mut sessions = self.sessions.lock().await;
        if let Some(b) = sessions.get(session) {
            return Ok(Arc::clone(b));
        }
        let browser = Arc::new(Browser::start(self.config.clone()).await?);
        sessions.insert(session.to_owned(), Arc::clone(&browser));
        Ok(browser)
    }

    /// The browser of `session`, if it has one.
    pub async fn session(&self, session: &str) -> Option<Arc<Browser>> {
        self.sessions.lock().await.get(session).cloned()
    }

    /// Streams `session`'s screencast to the sink (starting its browser if needed);
    /// restarts a running stream.
    pub async fn start_stream(&self, session: &str, options: ScreencastOptions) -> Result<()> {
        let browser = self.ensure_session(session).await?;
        let (sink, id) = (self.sink.clone(), session.to_owned());
        let forward = Arc::new(move |f: ScreencastFrame| {
            if let Some(sink) = &sink {
                sink(BrowserEvent::Frame(frame_of(&id, f)));
            }
        });
        browser.start_screencast(options, forward).await
    }

    /// Stops `session`'s stream (nothing to do when it has no browser).
    pub async fn stop_stream(&self, session: &str) -> Result<()> {
        match self.session(session).await {
            Some(b) => b.stop_screencast().await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// `session`'s browser status.
    pub async fn status(&self, session: &str) -> BrowserStatus {
        match self.session(session).await {
            None => BrowserStatus { has_browser: false, is_streaming: false, current_url: None },
            Some(b) => BrowserStatus {
                has_browser: true,
                is_streaming: b.is_streaming().await,
                current_url: b.current_url().await,
            },
        }
    }

    /// Closes `session`'s browser; whether it had one.
    pub async fn close_session(&self, session: &str) -> bool {
        let Some(browser) = self.sessions.lock().await.remove(session) else { return false };
        browser.close().await;
        if let Some(sink) = &self.sink {
            sink(BrowserEvent::Closed { session_id: session.to_owned() });
        }
        true
    }

    /// Closes every browser (at server shutdown).
    pub async fn close_all(&self) {
        let all: Vec<String> = self.sessions.lock().await.keys().cloned().collect();
        for s in all {
            self.close_session(&s).await;
        }
    }
}

fn frame_of(session: &str, f: ScreencastFrame) -> BrowserFrame {
    let m = &f.metadata;
    let num = |k: &str| m.get(k).and_then(Value::as_f64);
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    BrowserFrame {
        session_id: session.to_owned(),
        data: f.data,
        frame_id: f.frame_number,
        // CDP gives seconds; the wire has milliseconds.
        timestamp: num("timestamp").map_or_else(now_ms, |s| s * 1000.0),
        metadata: FrameMetadata {
            offset_top: num("offsetTop"),
            page_scale_factor: num("pageScaleFactor"),
            device_width: num("deviceWidth"),
            device_height: num("deviceHeight"),
            scroll_offset_x: num("scrollOffsetX"),
            scroll_offset_y: num("scrollOffsetY"),
        },
    }
}
