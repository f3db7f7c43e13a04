// SPDX-License-Identifier: Apache-2.0
//! The remote clients of compute, image, volume and network, used from outside their crates
//! against a whole cloud: the embedded services assembled by the facade, served over HTTP
//! behind identity's token validation, with a token issued through identity's own remote
//! client. This is what a control plane split over processes does: each service calls the
//! others through their `http::Client`, which implements the same `XxxApi` trait as the
//! local service.

use bytes::Bytes;
use ferrostack::compute::api::{ComputeApi, CreateServer, NetworkRequest};
use ferrostack::compute::types::VmState;
use ferrostack::identity::IdentityApi;
use ferrostack::identity::api::{
    AuthMethod, AuthRequest, DomainRef, ProjectRef, ScopeRequest, UserRef,
};
use ferrostack::image::api::{CreateImage, ImageApi};
use ferrostack::network::api::NetworkApi;
use ferrostack::network::types::{NetworkCreate, SubnetCreate};
use ferrostack::volume::api::{CreateVolume, ListFilter, VolumeApi};
use ferrostack::{Cloud, CloudConfig};
use ferrostack_core::ErrorKind;
use ferrostack_core::error::Classify;
use futures::StreamExt;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_client_drives_the_cloud_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut cloud = Cloud::open(CloudConfig::default(), dir.path()).await.unwrap();
    let admin = cloud.bootstrap_admin(None).await.unwrap();
    let services = cloud.mount_embedded(&admin).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = cloud.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    // A project-scoped token, issued through identity's remote client.
    let keystone = ferrostack::identity::http::Client::new(
        ferrostack::identity::http::ClientConfig::new(format!("{base}/identity/v3")),
    )
    .unwrap();
    let default = || DomainRef::Name("Default".into());
    let token = keystone
        .authenticate(AuthRequest {
            method: AuthMethod::Password {
                user: UserRef::Name { name: admin.username.clone(), domain: default() },
                password: admin.password.clone(),
            },
            scope: ScopeRequest::Project(ProjectRef::Name {
                name: admin.project_name.clone(),
                domain: default(),
            }),
        })
        .await
        .unwrap();
    let ctx =
        services.identity.context_for_token(&token.token, "req-remote-clients").await.unwrap();
    assert_eq!(ctx.auth_token.as_deref(), Some(token.token.as_str()));

    // Network: a network and a subnet.
    let network = ferrostack::network::http::Client::new(format!("{base}/network"));
    let create: NetworkCreate =
        serde_json::from_value(serde_json::json!({"name": "remote-net"})).unwrap();
    let net = network.create_network(&ctx, create).await.unwrap();
    let subnet: SubnetCreate = serde_json::from_value(serde_json::json!({
        "network_id": net.id, "cidr": "10.7.0.0/24", "ip_version": 4, "name": "remote-v4"
    }))
    .unwrap();
    let subnet = network.create_subnet(&ctx, subnet).await.unwrap();
    assert_eq!(subnet.network_id, net.id);
    let listed = network.list_networks(&ctx).await.unwrap();
    assert!(listed.iter().any(|n| n.id == net.id), "{listed:?}");

    // Image: create, upload streamed, download the same bytes.
    let images = ferrostack::image::http::Client::new(format!("{base}/image"));
    let image = images
        .create(
            &ctx,
            CreateImage {
                name: Some("remote-image".into()),
                disk_format: Some("raw".into()),
                container_format: Some("bare".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let data: Vec<u8> = (0..3 * 65536u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Bytes> = data.chunks(65536).map(Bytes::copy_from_slice).collect();
    let stream = futures::stream::iter(chunks.into_iter().map(Ok)).boxed();
    let active = images.upload(&ctx, &image.id, stream).await.unwrap();
    assert_eq!(active.size, Some(data.len() as u64));
    let (_, mut body) = images.download(&ctx, &image.id).await.unwrap().expect("image has data");
    let mut back = Vec::new();
    while let Some(chunk) = body.next().await {
        back.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(back, data);

    // Volume: a blank volume becomes available.
    let volumes = ferrostack::volume::http::Client::new(format!("{base}/volume"));
    let vol = volumes
        .create_volume(
            &ctx,
            CreateVolume {
                name: Some("remote-vol".into()),
                size_gb: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut status = vol.status.to_string();
    for _ in 0..200 {
        status = volumes.get_volume(&ctx, &vol.id).await.unwrap().status.to_string();
        if status != "creating" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "available");
    let listed = volumes.list_volumes(&ctx, &ListFilter::default()).await.unwrap();
    assert!(listed.iter().any(|v| v.id == vol.id));

    // Compute: a server on that network from that image reaches ACTIVE on the fake host.
    let compute = ferrostack::compute::http::Client::new(format!("{base}/compute"));
    let created = compute
        .create_servers(
            &ctx,
            CreateServer {
                name: "remote-vm".into(),
                flavor_ref: "1".into(),
                image_ref: Some(image.id),
                networks: vec![NetworkRequest { network_id: Some(net.id), ..Default::default() }]
                    .into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = created[0].id;
    let mut state = created[0].vm_state;
    for _ in 0..400 {
        state = compute.get_server(&ctx, id).await.unwrap().vm_state;
        if state != VmState::Building {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, VmState::Active);
    // The server's port was made through the network API.
    let ports = network.list_ports(&ctx).await.unwrap();
    assert!(ports.iter().any(|p| p.device_id == id.to_string()), "{ports:?}");

    // Faults come back as the service's own, classified.
    let missing = compute.get_server(&ctx, ferrostack_core::id::ServerId::new()).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    let mut anonymous = ctx.clone();
    anonymous.auth_token = Some("not-a-token".into());
    let refused = network.list_networks(&anonymous).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthenticated);

    compute.delete_server(&ctx, id).await.unwrap();
    server.abort();
}
