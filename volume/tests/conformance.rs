// SPDX-License-Identifier: Apache-2.0
//! The `VolumeApi` conformance suite, twice: against the local `VolumeService`, and against
//! `http::Client` talking to the same kind of service through the Cinder router on loopback.
//! The second run is what shows the client complete. A third runs the local service on
//! qcow2 files in a temporary directory (needs `qemu-img`).

use ferrostack_core::command::SystemRunner;
use ferrostack_core::http::client::ServiceClient;
use ferrostack_core::http::testing::{StaticTokens, serve};
use ferrostack_core::store::MemoryStore;
use ferrostack_volume::file::{FileBackend, FileBackendConfig, FileFormat};
use ferrostack_volume::testing::FakeVolumeBackend;
use ferrostack_volume::testing::api_conformance::{self, ApiFixture};
use ferrostack_volume::{VolumeApi, VolumeBackend, VolumeService, http};
use std::sync::Arc;

fn service() -> Arc<VolumeService> {
    let backend = Arc::new(FakeVolumeBackend::new("fake", 1000));
    Arc::new(VolumeService::new(
        Arc::new(MemoryStore::new()),
        vec![backend as Arc<dyn VolumeBackend>],
    ))
}

#[tokio::test]
async fn the_local_service_passes_the_api_conformance_suite() {
    api_conformance::run(service().as_ref(), &ApiFixture::new()).await;
}

#[tokio::test]
async fn the_local_service_on_qcow2_files_passes_the_api_conformance_suite() {
    let ok = std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ferrostack_core::testing::prerequisite(
        ok,
        "volume API conformance on files",
        "qemu-img",
        "apt-get install qemu-utils",
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = FileBackend::new(
        FileBackendConfig::new("file", dir.path(), FileFormat::Qcow2),
        Arc::new(SystemRunner::new()),
    )
    .expect("a file backend");
    let svc = VolumeService::new(
        Arc::new(MemoryStore::new()),
        vec![Arc::new(files) as Arc<dyn VolumeBackend>],
    );
    api_conformance::run(&svc, &ApiFixture::new()).await;
}

#[tokio::test]
async fn the_http_client_passes_the_api_conformance_suite() {
    let plain = ApiFixture::new();
    let mut tokens = StaticTokens::new();
    let fixture = ApiFixture {
        member: tokens.register("member-token", plain.member),
        reader: tokens.register("reader-token", plain.reader),
        other: tokens.register("other-token", plain.other),
        admin: tokens.register("admin-token", plain.admin),
    };
    let served = serve(tokens.layer(http::router(service()))).await.expect("serve the router");
    let client = http::Client::connect(ServiceClient::new(&served.base_url), &fixture.member)
        .await
        .expect("connect");
    api_conformance::run(&client, &fixture).await;
}

#[tokio::test]
async fn the_client_reports_the_remote_fault_text() {
    let plain = ApiFixture::new();
    let mut tokens = StaticTokens::new();
    let member = tokens.register("member-token", plain.member);
    let served = serve(tokens.layer(http::router(service()))).await.expect("serve the router");
    let client = http::Client::new(&served.base_url);
    let missing = ferrostack_core::id::VolumeId::new();
    let e = client.get_volume(&member, &missing).await.expect_err("no such volume");
    assert_eq!(e.to_string(), format!("Volume {missing} could not be found."));
    // Without a token the router answers 401.
    let anonymous = ferrostack_core::RequestContext {
        auth_token: Some("no-such-token".into()),
        ..member.clone()
    };
    let e = client.get_volume(&anonymous, &missing).await.expect_err("unauthenticated");
    assert_eq!(
        ferrostack_core::error::Classify::kind(&e),
        ferrostack_core::error::ErrorKind::Unauthenticated
    );
}
