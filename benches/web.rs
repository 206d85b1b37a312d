//! The web tools' local work, without the network: HTML to text on a realistic 200 KB
//! article page (navigation, scripts, styles, paragraphs, lists, links, entities), and URL
//! validation. Run: `cargo bench --bench web` (targets: under 5 ms per page, under 5 µs per
//! URL).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tron::tools::web::html;
use tron::tools::web::url_guard::UrlGuard;

fn page() -> String {
    let mut body = String::from(
        "<!DOCTYPE html><html><head><title>A long article &amp; notes</title>\
         <style>body { font: 16px/1.4 serif } .x > p { margin: 0 }</style>\
         <script>window.analytics = function () { return '<p>not text</p>'; };</script></head><body>\
         <nav><ul><li><a href=\"/\">Home</a></li><li><a href=\"/blog\">Blog</a></li></ul></nav><main>",
    );
    let mut section = 0;
    while body.len() < 200_000 {
        section += 1;
        body.push_str(&format!("<h2 id=\"s{section}\">Section {section}</h2>"));
        body.push_str(
            "<p>Rust&#39;s <b>ownership</b> model &mdash; with <a href=\"https://doc.rust-lang.org/book/\">the book</a> \
             as a guide &ndash; keeps memory safe without a garbage collector.<br>It is &quot;zero-cost&quot;.</p>\
             <ul><li>borrowing</li><li>lifetimes &lt;&#x27;a&gt;</li><li><code>Box&lt;T&gt;</code></li></ul>\
             <!-- a comment --><div class=\"x\"><p>Nested <i>text</i> in a div.</p></div>",
        );
    }
    body.push_str("</main><footer>Copyright &copy; 2026</footer></body></html>");
    body
}

fn bench(c: &mut Criterion) {
    let html_page = page();
    let text = html::to_text(&html_page);
    assert!(text.text.contains("# Section 1") && !text.text.contains("analytics"));
    c.bench_function("web/html to text (200 KB page)", |b| {
        b.iter(|| black_box(html::to_text(black_box(&html_page))))
    });
    let guard = UrlGuard::new();
    c.bench_function("web/url guard", |b| {
        b.iter(|| {
            black_box(
                guard.check(black_box("http://docs.rs/tokio/latest/tokio/net/index.html?search=lookup")),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
