// SPDX-License-Identifier: Apache-2.0
//! The `ImageApi` conformance suite, twice: against the local service (image data in files in
//! a temporary directory) and through `http::Client` against the Glance router served on a
//! loopback port. The second run is what shows the client complete.

use std::sync::Arc;

use ferrostack_core::http::testing::{StaticTokens, serve};
use ferrostack_core::store::MemoryStore;
use ferrostack_image::testing::{Fixture, run_api_conformance};
use ferrostack_image::{FilesystemStore, ImageConfig, ImageService, http};

fn service(dir: &tempfile::TempDir) -> ImageService {
    let data = Arc::new(FilesystemStore::new(dir.path().join("images")).unwrap());
    ImageService::new(Arc::new(MemoryStore::new()), data, ImageConfig::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_service_conforms() {
    let dir = tempfile::tempdir().unwrap();
    run_api_conformance(&service(&dir), &Fixture::new()).await;
    // Deleted images leave no data behind.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("images")).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_against_the_served_router_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new();
    let mut tokens = StaticTokens::new();
    for ctx in fx.contexts() {
        tokens = tokens.with(ctx.auth_token.clone().unwrap(), ctx.clone());
    }
    let router =
        axum::Router::new().nest("/image", tokens.layer(http::router(Arc::new(service(&dir)))));
    let served = serve(router).await.unwrap();
    let client = http::Client::new(format!("{}/image", served.base_url));
    run_api_conformance(&client, &fx).await;
    let left: Vec<_> = std::fs::read_dir(dir.path().join("images")).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}
