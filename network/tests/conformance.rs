// SPDX-License-Identifier: Apache-2.0
//! The API conformance suite through the local service and through `http::Client` against the
//! router served on 127.0.0.1 (behind a fake token table): both must pass the same suite,
//! which proves the client complete.

use ferrostack_core::RequestContext;
use ferrostack_core::http::testing::{StaticTokens, serve};
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use ferrostack_network::testing::{ApiFixture, FakeBackend, run_api_conformance};
use ferrostack_network::{Backends, NetworkApi, NetworkConfig, NetworkService, http};
use std::sync::Arc;

fn service() -> Arc<NetworkService> {
    let fake = Arc::new(FakeBackend::new());
    Arc::new(NetworkService::new(
        Arc::new(MemoryStore::new()),
        NetworkConfig::default(),
        Backends::all(fake),
    ))
}

fn fixture() -> ApiFixture {
    let (a, b) = (ProjectId::new(), ProjectId::new());
    ApiFixture {
        admin: RequestContext::for_project(
            UserId::new(),
            ProjectId::new(),
            &["admin", "member", "reader"],
        ),
        member_a: RequestContext::for_project(UserId::new(), a.clone(), &["member", "reader"]),
        reader_a: RequestContext::for_project(UserId::new(), a, &["reader"]),
        member_b: RequestContext::for_project(UserId::new(), b, &["member", "reader"]),
    }
}

#[tokio::test]
async fn the_local_service_passes_the_api_suite() {
    run_api_conformance(service().as_ref(), &fixture()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_client_passes_the_api_suite_against_the_router() {
    let fx = fixture();
    let mut tokens = StaticTokens::new();
    let fx = ApiFixture {
        admin: tokens.register("admin-token", fx.admin),
        member_a: tokens.register("member-a-token", fx.member_a),
        reader_a: tokens.register("reader-a-token", fx.reader_a),
        member_b: tokens.register("member-b-token", fx.member_b),
    };
    let api: Arc<dyn NetworkApi> = service();
    let served = serve(tokens.layer(http::router(api))).await.expect("serve");
    let client = http::Client::new(served.base_url.clone());
    run_api_conformance(&client, &fx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_fault_keeps_its_status_message_and_neutron_type() {
    use ferrostack_core::ErrorKind;
    use ferrostack_core::error::Classify;
    let fx = fixture();
    let mut tokens = StaticTokens::new();
    let member = tokens.register("t", fx.member_a);
    let api: Arc<dyn NetworkApi> = service();
    let served = serve(tokens.layer(http::router(api))).await.expect("serve");
    let client = http::Client::new(served.base_url.clone());
    let id = ferrostack_core::id::NetworkId::new();
    let err = client.get_network(&member, id).await.expect_err("no such network");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), format!("Network {id} could not be found."));
    assert_eq!(err.neutron_type(), "NetworkNotFound");
    // Without a token the server answers 401, and the client says so.
    let anonymous = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member"]);
    let err = client.list_networks(&anonymous).await.expect_err("no token");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
}
