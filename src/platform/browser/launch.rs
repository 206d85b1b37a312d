//! Finding and starting the browser process, and ending it for good.
//!
//! The browser runs headless in its own process group with a fresh profile in a temp dir;
//! its DevTools URL comes from the `DevToolsActivePort` file it writes there (the port is
//! chosen by the browser: `--remote-debugging-port=0`). [`BrowserProcess`] kills the whole
//! group (browser, zygote, renderers) and reaps the browser when it closes or is dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{BrowserError, Result};

/// The flags every launched browser gets (headless, no sandbox so it runs as root and in
/// containers, and nothing that talks to the network on its own).
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
];

/// Binaries tried on PATH, in order, after `/usr/bin/chromium`.
const CANDIDATES: &[&str] = &["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/// The browser binary: `configured` when given (it must exist), else `/usr/bin/chromium`,
/// else the first of `chromium`, `chromium-browser`, `google-chrome`, `google-chrome-stable`
/// on `PATH`.
pub fn locate(configured: Option<&Path>, path_var: Option<&str>) -> Result<PathBuf> {
    if let Some(p) = configured {
        if is_executable(p) {
            return Ok(p.to_owned());
        }
        if p.components().count() == 1 {
            if let Some(found) = on_path(&p.to_string_lossy(), path_var) {
                return Ok(found);
            }
        }
        return Err(BrowserError::NotFound {
            looked: format!("{} (TRON_BROWSER / CHROME_PATH)", p.display()),
        });
    }
    let default = Path::new("/usr/bin/chromium");
    if is_executable(default) {
        return Ok(default.to_owned());
    }
    for name in CANDIDATES {
        if let Some(found) = on_path(name, path_var) {
            return Ok(found);
        }
    }
    Err(BrowserError::NotFound { looked: format!("/usr/bin/chromium, {} on PATH", CANDIDATES.join(", ")) })
}

fn on_path(name: &str, path_var: Option<&str>) -> Option<PathBuf> {
    std::env::split_paths(path_var?).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running browser this process launched.
#[derive(Debug)]
pub struct BrowserProcess {
    child: Child,
    profile: PathBuf,
    killed: bool,
    /// The browser-level DevTools WebSocket URL.
    pub ws_url: String,
}

impl BrowserProcess {
    /// Starts `binary` headless with a fresh profile and waits (at most `timeout`) for its
    /// DevTools URL.
    pub fn spawn(binary: &Path, timeout: Duration) -> Result<Self> {
        let profile = std::env::temp_dir().join(format!(
            "tron-browser-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let fail = |reason: String| BrowserError::Launch { path: binary.display().to_string(), reason };
        std::fs::create_dir_all(&profile)
            .map_err(|e| fail(format!("cannot create {}: {e}", profile.display())))?;
        let log = std::fs::File::create(profile.join("browser.log"))
            .map_err(|e| fail(format!("cannot create its log in {}: {e}", profile.display())))?;
        let child = Command::new(binary)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.join("profile").display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        let mut process = Self { child, profile, killed: false, ws_url: String::new() };
        let port_file = process.profile.join("profile").join("DevToolsActivePort");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    process.ws_url = format!("ws://127.0.0.1:{}{}", port.trim(), path.trim());
                    return Ok(process);
                }
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(fail(format!(
                    "it exited ({status}) before it was ready: {}",
                    process.log_tail()
                )));
            }
            if Instant::now() >= deadline {
                let tail = process.log_tail();
                return Err(fail(format!("no DevTools port within {} ms: {tail}", timeout.as_millis())));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The browser's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the browser process has exited or is exiting (it is reaped once gone).
    pub fn exited(&mut self) -> bool {
        // A killed multi-threaded process shows as a zombie while its threads still exit;
        // `waitpid` reports it only after that.
        !matches!(self.child.try_wait(), Ok(None))
            || process_state(self.child.id()).is_none_or(|s| s == "Z" || s == "X")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.profile.join("browser.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("dbus")).collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
        if tail.is_empty() {
            "(no output)".into()
        } else {
            tail
        }
    }

    /// Waits (at most `grace`) for the browser to exit on its own (after `Browser.close`,
    /// so that it ends its helper processes itself), then [`BrowserProcess::kill`]s what is
    /// left.
    pub fn shutdown(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while !self.exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// Kills the browser's whole process group, reaps the browser, waits until no process
    /// of the group runs any more (at most 5 s) and removes its profile.
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        let pgid = self.child.id();
        kill_group(pgid);
        let _ = self.child.kill();
        let _ = self.child.wait();
        // SIGKILL lands asynchronously: make sure the helpers are gone before returning.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !group_running(pgid).is_empty() && Instant::now() < deadline {
            kill_group(pgid);
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The state letter of the process `pid` (`R`, `S`, `Z`, ...), `None` when it is gone.
fn process_state(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().next()?.to_owned())
}

/// The processes of the process group `pgid` that still run (zombies, which are dead and
/// wait for their parent, do not count).
pub fn group_running(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid pgrp ...`: the fields after the last ')'.
            let mut rest = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace();
            let state = rest.next();
            let pgrp = rest.nth(1).and_then(|g| g.parse::<u32>().ok());
            pgrp == Some(pgid) && !matches!(state, Some("Z" | "X"))
        })
        .collect()
}

impl Drop for BrowserProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL to the process group `pgid` (the browser and every process it started).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_configured_binary_is_used_found_on_path_or_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("my-chrome");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("not-executable");
        std::fs::write(&plain, "").unwrap();
        let path_var = dir.path().display().to_string();

        assert_eq!(locate(Some(&exe), None).unwrap(), exe);
        assert_eq!(locate(Some(Path::new("my-chrome")), Some(&path_var)).unwrap(), exe);
        for bad in [plain.as_path(), Path::new("/nonexistent/chromium"), Path::new("no-such-browser")] {
            let e = locate(Some(bad), Some(&path_var)).unwrap_err().to_string();
            assert!(
                e.contains(&bad.display().to_string()) && e.contains("the Debian package `chromium`"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_group_without_processes_has_none_running() {
        // Process group ids are process ids; this one is far above pid_max's default.
        assert_eq!(group_running(4_000_000_000), Vec::<u32>::new());
        assert!(process_state(std::process::id()).is_some_and(|s| s != "Z"));
    }
}
