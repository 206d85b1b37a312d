//! The release binary's surface: `tron --version` names version, commit and features, and the
//! `scripts/tron` launcher picks its backend with TRON_BACKEND and fails clearly otherwise.
//! (Size, linked libraries and the subcommand smoke test are scripts/release-check.sh.)

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

#[test]
fn version_names_version_commit_and_features() {
    let out = Command::cargo_bin("tron").unwrap().arg("--version").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let line = text.trim_end();
    assert!(line.starts_with(&format!("tron {} (", env!("CARGO_PKG_VERSION"))), "{line}");
    assert!(line.contains("(commit "), "{line}");
    assert!(line.contains(", features: "), "{line}");
    // The commit is a short hash, or "unknown" outside a git checkout.
    let commit = line.split("(commit ").nth(1).unwrap().split(',').next().unwrap();
    assert!(commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    // Subcommands name themselves (clap: `tron-events`) with the same version, commit and features.
    let version = line.strip_prefix("tron ").unwrap();
    let sub = Command::cargo_bin("tron").unwrap().args(["events", "--version"]).assert().success();
    assert_eq!(
        String::from_utf8_lossy(&sub.get_output().stdout).trim_end(),
        format!("tron-events {version}")
    );
}

/// A temp HOME/TRON_DATA_DIR and an empty bin dir that is the whole PATH: no node, no bun,
/// no tron. The launcher runs under /bin/bash directly, as PATH cannot find bash.
struct Launcher {
    dir: tempfile::TempDir,
}

impl Launcher {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("bin")).unwrap();
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self, backend: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        self.run_with_path(&self.path("bin").display().to_string(), backend, args)
    }

    fn run_with_path(&self, path: &str, backend: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tron");
        Command::new("/bin/bash")
            .arg(script)
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("TRON_DATA_DIR", self.path("data"))
            // Not this checkout's target/: the Rust backend must not be found either.
            .env("CARGO_TARGET_DIR", self.path("target"))
            .env("TRON_BACKEND", backend)
            .current_dir(self.dir.path())
            .assert()
    }

    fn write_executable(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn launcher_rejects_an_unknown_backend() {
    let l = Launcher::new();
    let a = l.run("bogus", &["serve"]).code(2);
    let err = stderr(&a);
    assert!(err.contains("unknown TRON_BACKEND 'bogus'"), "{err}");
    assert!(err.contains("TRON_BACKEND=rust") && err.contains("TRON_BACKEND=ts"), "{err}");
}

#[test]
fn launcher_ts_without_an_installed_server_says_so_and_how_to_switch_back() {
    let l = Launcher::new();
    let a = l.run("ts", &["serve"]).code(1);
    let err = stderr(&a);
    assert!(err.contains("no TypeScript Tron server is installed"), "{err}");
    assert!(err.contains(&l.path("data/app/index.js").display().to_string()), "{err}");
    assert!(err.contains("TRON_BACKEND=rust"), "{err}");

    // Installed, but nothing on PATH to run it.
    fs::create_dir_all(l.path("data/app")).unwrap();
    fs::write(l.path("data/app/index.js"), "").unwrap();
    let err = stderr(&l.run("ts", &["serve"]).code(1));
    assert!(err.contains("neither bun nor node is on PATH"), "{err}");
}

#[test]
fn launcher_ts_runs_the_installed_server_with_bun() {
    let l = Launcher::new();
    fs::create_dir_all(l.path("data/app")).unwrap();
    fs::write(l.path("data/app/index.js"), "").unwrap();
    l.write_executable("bin/bun", "#!/bin/sh\necho \"bun $*\"\n");
    let entry = l.path("data/app/index.js").display().to_string();
    l.run("ts", &["serve"]).success().stdout(format!("bun {entry}\n"));
    // Only the server: anything else is a usage error that points at the Rust backend.
    let err = stderr(&l.run("ts", &["events", "list"]).code(2));
    assert!(err.contains("TRON_BACKEND=rust"), "{err}");
}

#[test]
fn launcher_rust_is_the_default_and_says_how_to_build_it() {
    let l = Launcher::new();
    let err = stderr(&l.run("", &["--version"]).code(1));
    assert!(err.contains("the Rust tron is not built") && err.contains("cargo build --release"), "{err}");

    // A `tron` script on PATH (this launcher installed, or upstream's management script) is
    // skipped; a binary is run with the arguments.
    l.write_executable("bin/tron", "#!/bin/sh\necho script\n");
    l.run("rust", &["--version"]).code(1);
    fs::create_dir_all(l.path("bin2")).unwrap();
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("tron"), l.path("bin2/tron")).unwrap();
    let bins = format!("{}:{}", l.path("bin").display(), l.path("bin2").display());
    let out = l.run_with_path(&bins, "rust", &["--version"]).success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("(commit "));
    l.write_executable("target/release/tron", "#!/bin/sh\necho \"built $*\"\n");
    l.run("rust", &["serve", "--port", "0"]).success().stdout("built serve --port 0\n");
}
