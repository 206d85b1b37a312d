//! Push notifications: signing a provider token (once per 55 minutes), taking the cached
//! one (every send), and one whole send over HTTP/2 to a local APNS stand-in on 127.0.0.1
//! (request, headers, payload, answer; no TLS).
//!
//! Run: `cargo bench --bench apns` (a send should stay well under 1 ms of tron's own time).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use tron::platform::apns::{ApnsClient, ApnsConfig, Environment, Notification, ProviderToken};

fn pem() -> String {
    let secret = loop {
        let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
            break k;
        }
    };
    secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

fn bench(c: &mut Criterion) {
    let pem = pem();
    let token = ProviderToken::from_pem(&pem, Path::new("k.p8"), "KEY", "TEAM").unwrap();
    c.bench_function("apns/sign provider token", |b| b.iter(|| black_box(token.sign(1_700_000_000))));
    c.bench_function("apns/cached provider token", |b| b.iter(|| black_box(token.current(1_700_000_000))));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async {
        let app = axum::Router::new().route("/3/device/{token}", axum::routing::post(|| async { "" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    let config = ApnsConfig {
        key_path: "k.p8".into(),
        key_id: "KEY".into(),
        team_id: "TEAM".into(),
        bundle_id: "com.example.tron".into(),
        environment: Environment::Sandbox,
        base_url: url,
    };
    let client = ApnsClient::with_token(
        config,
        ProviderToken::from_pem(&pem, Path::new("k.p8"), "KEY", "TEAM").unwrap(),
    )
    .unwrap();
    let note =
        Notification { title: "Build done".into(), body: "All 42 tests pass".into(), ..Default::default() };
    let device = "ab".repeat(32);
    assert!(rt.block_on(client.send(&device, &note)).success);
    c.bench_function("apns/send one notification (h2c, loopback)", |b| {
        b.iter(|| black_box(rt.block_on(client.send(&device, &note))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
