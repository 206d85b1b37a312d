//! Session worktrees on a small repository (20 files): create + remove, commit of a
//! changed file, and a merge of a session branch into `main` (a merge commit in the main
//! checkout), each as the CLI and the server run them (git binary, SQLite event log).
//!
//! Run: `cargo bench --bench worktree`.

use std::path::Path;
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use tron::events::{EventStore, NewSession, OpenMode};
use tron::platform::worktree::{service, RemoveMode, Strategy};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet", "-b", "main"]);
    for (k, v) in [("user.name", "bench"), ("user.email", "bench@tron.invalid"), ("commit.gpgsign", "false")]
    {
        git(&repo, &["config", k, v]);
    }
    for i in 0..20 {
        std::fs::write(repo.join(format!("file{i}.txt")), format!("line {i}\n").repeat(50)).unwrap();
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "--quiet", "-m", "first"]);
    let store = EventStore::open(dir.path().join("prod.db"), OpenMode::Create).unwrap();
    let session = || {
        let new = NewSession {
            working_directory: repo.display().to_string(),
            model: "claude-sonnet-4-5".into(),
            ..Default::default()
        };
        store.create_session(new).unwrap().0.id.to_string()
    };

    let mut g = c.benchmark_group("worktree");
    g.sample_size(20);
    g.bench_function("create + remove", |b| {
        b.iter(|| {
            let s = session();
            service::create(&store, &s, &Default::default()).unwrap();
            service::remove(&store, &s, RemoveMode::Refuse).unwrap();
        })
    });
    let s = session();
    let r = service::create(&store, &s, &Default::default()).unwrap();
    let mut n = 0;
    g.bench_function("commit one changed file", |b| {
        b.iter(|| {
            n += 1;
            std::fs::write(Path::new(&r.path).join("file0.txt"), format!("change {n}\n")).unwrap();
            service::commit(&store, &s, None).unwrap().unwrap();
        })
    });
    g.bench_function("commit + merge into main", |b| {
        b.iter(|| {
            n += 1;
            std::fs::write(Path::new(&r.path).join("file1.txt"), format!("change {n}\n")).unwrap();
            let o = service::merge(&store, &s, None, Strategy::Merge).unwrap();
            assert!(o.success, "{o:?}");
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
