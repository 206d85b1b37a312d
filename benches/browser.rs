//! The headless browser (Debian's chromium over CDP) against a page served on 127.0.0.1:
//! launch + close, navigate + read text, a click that changes the DOM, a PNG screenshot.
//! Without a chromium on this machine it says so and measures nothing.
//!
//! Run: `cargo bench --bench browser`.

use std::time::Duration;

use axum::response::Html;
use criterion::{criterion_group, criterion_main, Criterion};
use tron::platform::browser::{launch, Browser, BrowserConfig};

const PAGE: &str = "<!doctype html><title>Bench</title><h1>Bench page</h1>\
    <button id=b onclick=\"o.textContent = ++n\">go</button><div id=o>0</div><script>var n = 0</script>";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Ok(bin) = launch::locate(None, std::env::var("PATH").ok().as_deref()) else {
        eprintln!("skipped: no chromium here (apt-get install chromium)");
        return;
    };
    let config = BrowserConfig { executable: Some(bin), ..BrowserConfig::default() };
    let url = rt.block_on(async {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { Html(PAGE) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/")
    });

    let mut g = c.benchmark_group("browser");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("launch + close", |b| {
        b.iter(|| {
            rt.block_on(async {
                let browser = Browser::start(config.clone()).await.unwrap();
                browser.close().await;
            })
        })
    });
    let browser = rt.block_on(Browser::start(config.clone())).unwrap();
    g.sample_size(30);
    g.bench_function("navigate + text", |b| {
        b.iter(|| {
            rt.block_on(async {
                browser.navigate(&url).await.unwrap();
                assert!(browser.text().await.unwrap().contains("Bench page"));
            })
        })
    });
    g.bench_function("click (real mouse events)", |b| {
        b.iter(|| rt.block_on(async { browser.click("#b").await.unwrap() }))
    });
    g.bench_function("screenshot (PNG 1280x800)", |b| {
        b.iter(|| rt.block_on(async { browser.screenshot().await.unwrap() }))
    });
    g.finish();
    rt.block_on(browser.close());
}

criterion_group!(benches, bench);
criterion_main!(benches);
