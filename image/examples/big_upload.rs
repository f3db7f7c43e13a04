// SPDX-License-Identifier: Apache-2.0
//! Streams a multi-GiB image through the Glance router into the filesystem store and back,
//! then prints the process's peak RSS: memory stays constant whatever the image size.
//!
//! `cargo run --release -p ferrostack-image --example big_upload -- <GiB>` (default 3).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use ferrostack_image::{FilesystemStore, ImageConfig, ImageService, http};
use futures::StreamExt;
use md5::Digest as _;
use tower::ServiceExt;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let gib: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Arc::new(FilesystemStore::new(dir.path()).expect("store"));
    let svc = ImageService::new(Arc::new(MemoryStore::new()), data, ImageConfig::default());
    let project = ProjectId::new();
    let ctx = RequestContext::for_project(UserId::new(), project, &["member", "reader"]);
    let app = http::router(Arc::new(svc));
    let req = |r: axum::http::request::Builder, body: Body| {
        let mut r = r.body(body).expect("request");
        r.extensions_mut().insert(ctx.clone());
        r
    };

    let create = req(
        Request::post("/v2/images").header("content-type", "application/json"),
        Body::from(r#"{"name":"big","disk_format":"raw","container_format":"bare"}"#),
    );
    let resp = app.clone().oneshot(create).await.expect("create");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    let id = serde_json::from_slice::<serde_json::Value>(&body).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // 1 MiB chunks of a non-trivial pattern, generated on the fly.
    let chunk: Bytes =
        (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let chunks = gib * 1024;
    let mut expect_md5 = md5::Md5::new();
    for _ in 0..chunks {
        expect_md5.update(&chunk);
    }
    let expect_md5 = hex::encode(expect_md5.finalize());
    let c2 = chunk.clone();
    let stream = futures::stream::iter(0..chunks).map(move |_| Ok::<_, std::io::Error>(c2.clone()));
    let before = peak_rss_kib();
    let start = std::time::Instant::now();
    let put = req(
        Request::put(format!("/v2/images/{id}/file"))
            .header("content-type", "application/octet-stream"),
        Body::from_stream(stream),
    );
    let resp = app.clone().oneshot(put).await.expect("upload");
    assert_eq!(resp.status(), 204, "upload failed");
    let up = start.elapsed();

    let get = req(Request::get(format!("/v2/images/{id}")), Body::empty());
    let resp = app.clone().oneshot(get).await.expect("show");
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.expect("body");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["status"], "active");
    assert_eq!(v["size"], gib << 30);
    assert_eq!(v["checksum"], expect_md5);

    let get = req(Request::get(format!("/v2/images/{id}/file")), Body::empty());
    let resp = app.clone().oneshot(get).await.expect("download");
    let mut stream = resp.into_body().into_data_stream();
    let mut md5 = md5::Md5::new();
    let mut n = 0u64;
    while let Some(c) = stream.next().await {
        let c = c.expect("chunk");
        n += c.len() as u64;
        md5.update(&c);
    }
    assert_eq!(n, gib << 30);
    assert_eq!(hex::encode(md5.finalize()), expect_md5);
    println!(
        "uploaded and downloaded {gib} GiB (upload {:.1} s); checksum {expect_md5}; peak RSS before upload {} KiB, after {} KiB",
        up.as_secs_f64(),
        before,
        peak_rss_kib()
    );
}
