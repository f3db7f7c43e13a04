// SPDX-License-Identifier: Apache-2.0
//! The `IdentityApi` conformance suite through the local service and through
//! `http::Client` against the router served on loopback: the client is complete when both
//! pass the same suite.
#![cfg(feature = "client")]

mod common;

use axum::Router;
use ferrostack_identity::api::{DomainRef, ProjectRef, ScopeRequest};
use ferrostack_identity::http::{Client, ClientConfig, router};
use ferrostack_identity::testing::{password, run_api_conformance};

#[tokio::test]
async fn the_local_service_passes_the_suite() {
    let (svc, _dir) = common::service("http://127.0.0.1:5000/identity").await;
    run_api_conformance(svc.as_ref(), "admin", common::ADMIN_PASSWORD, "admin").await;
}

#[tokio::test]
async fn the_remote_client_passes_the_suite_against_the_served_router() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/identity", listener.local_addr().unwrap());
    let (svc, _dir) = common::service(&url).await;
    let app = Router::new().nest("/identity", router(svc.clone(), url.clone()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let admin_project = ScopeRequest::Project(ProjectRef::Name {
        name: "admin".into(),
        domain: DomainRef::Id("default".into()),
    });
    let mut config = ClientConfig::new(url);
    config.service_auth = Some(password("admin", common::ADMIN_PASSWORD, admin_project));
    // The suite checks that a deleted user's token stops working at once; the validation
    // cache (keystonemiddleware's token_cache_time) would keep it valid until it expires, which
    // tests/remote.rs covers on its own.
    config.token_cache_time = std::time::Duration::ZERO;
    let client = Client::new(config).unwrap();
    run_api_conformance(&client, "admin", common::ADMIN_PASSWORD, "admin").await;
    server.abort();
}
