// SPDX-License-Identifier: Apache-2.0
//! The API conformance suite ([`ferrostack_compute::testing::run_api_conformance`]) twice:
//! against the local `ComputeService`, and through `http::Client` against the crate's router
//! served on 127.0.0.1 — which proves the client complete.

mod common;

use common::*;
use ferrostack_compute::http::{Client, router};
use ferrostack_compute::testing::{ApiFixture, run_api_conformance};
use ferrostack_core::RequestContext;
use ferrostack_core::http::testing::{StaticTokens, serve};
use ferrostack_core::id::{ProjectId, UserId};

fn contexts(e: &Env) -> (RequestContext, RequestContext, RequestContext) {
    let other = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
    let admin = RequestContext::for_project(
        UserId::new(),
        ProjectId::new(),
        &["admin", "member", "reader"],
    );
    (e.ctx.clone(), other, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_service_passes_the_api_conformance_suite() {
    let e = env(1).await;
    let (member, other, admin) = contexts(&e);
    let fx = ApiFixture { member, other, admin, image: e.image, network: e.net };
    run_api_conformance(e.api(), &fx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_client_passes_the_api_conformance_suite_against_the_router() {
    let e = env(1).await;
    let (member, other, admin) = contexts(&e);
    let mut tokens = StaticTokens::new();
    let member = tokens.register("member-token", member);
    let other = tokens.register("other-token", other);
    let admin = tokens.register("admin-token", admin);
    let served = serve(tokens.layer(router(e.compute.service.clone()))).await.unwrap();
    let client = Client::new(&served.base_url);
    let fx = ApiFixture { member, other, admin, image: e.image, network: e.net };
    run_api_conformance(&client, &fx).await;
    // Nothing the client did is left behind in the service.
    assert!(e.networks.ports().is_empty());
}
