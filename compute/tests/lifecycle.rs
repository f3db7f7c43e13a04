// SPDX-License-Identifier: Apache-2.0
//! The server lifecycle through ComputeApi -> bus -> ComputeHost -> FakeHypervisor.

mod common;

use common::*;
use ferrostack_compute::api::{AttachVolume, CreateImage, RebuildServer};
use ferrostack_compute::types::NetworkRequest;

fn attach(volume: ferrostack_core::id::VolumeId) -> AttachVolume {
    AttachVolume { volume, device: None, delete_on_termination: false }
}
use ferrostack_compute::error::ComputeError;
use ferrostack_compute::fake::FakeOp;
use ferrostack_compute::hypervisor::RebootKind;
use ferrostack_compute::types::{PowerState, QuotaLimits, TaskState, VmState};
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{ImageId, NetworkId, ProjectId, UserId, VolumeId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle_leaves_nothing_behind() {
    let e = env(2).await;
    let api = e.api();
    let s = e.create("vm1").await;
    assert_eq!(s.status(), "ACTIVE");
    assert_eq!(s.power_state, PowerState::Running);
    assert_eq!(s.vifs.len(), 1);
    assert_eq!(e.networks.ports().len(), 1);
    assert_eq!(e.claims().await, 1);

    api.stop_server(&e.ctx, s.id).await.unwrap();
    let s = e.wait_settled(s.id).await;
    assert_eq!((s.status(), s.power_state), ("SHUTOFF", PowerState::Shutdown));
    api.start_server(&e.ctx, s.id).await.unwrap();
    assert_eq!(e.wait_settled(s.id).await.status(), "ACTIVE");
    api.reboot_server(&e.ctx, s.id, RebootKind::Soft).await.unwrap();
    assert_eq!(e.wait_settled(s.id).await.status(), "ACTIVE");
    api.reboot_server(&e.ctx, s.id, RebootKind::Hard).await.unwrap();
    assert_eq!(e.wait_settled(s.id).await.status(), "ACTIVE");

    // Resize, revert, resize, confirm.
    api.resize_server(&e.ctx, s.id, "2").await.unwrap();
    let r = e.wait_settled(s.id).await;
    assert_eq!((r.status(), r.flavor.id.as_str()), ("VERIFY_RESIZE", "2"));
    api.revert_resize(&e.ctx, s.id).await.unwrap();
    let r = e.wait_settled(s.id).await;
    assert_eq!((r.status(), r.flavor.id.as_str()), ("ACTIVE", "1"));
    api.resize_server(&e.ctx, s.id, "2").await.unwrap();
    e.wait_settled(s.id).await;
    api.confirm_resize(&e.ctx, s.id).await.unwrap();
    let r = e.wait_settled(s.id).await;
    assert_eq!((r.status(), r.flavor.id.as_str(), r.old_flavor.is_none()), ("ACTIVE", "2", true));

    // Volume attach/detach through the attachment flow.
    let vol = e.volumes.add(1);
    let att = api.attach_volume(&e.ctx, s.id, attach(vol)).await.unwrap();
    assert_eq!(att.device, "/dev/vdb");
    assert_eq!(e.volumes.status(vol).as_deref(), Some("in-use"));
    let err = api.attach_volume(&e.ctx, s.id, attach(vol)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    api.detach_volume(&e.ctx, s.id, vol).await.unwrap();
    assert_eq!(e.volumes.status(vol).as_deref(), Some("available"));
    assert!(e.volumes.attachments().is_empty());

    // Interfaces.
    let vif = api.attach_interface(&e.ctx, s.id, Some(e.net), None).await.unwrap();
    assert_eq!(e.networks.ports().len(), 2);
    api.detach_interface(&e.ctx, s.id, vif.port_id).await.unwrap();
    assert_eq!(e.networks.ports().len(), 1);

    // Snapshot, rebuild, console.
    let before = e.images.count();
    let img = api
        .create_image(
            &e.ctx,
            s.id,
            CreateImage { name: "snap".into(), metadata: Default::default() },
        )
        .await
        .unwrap();
    e.wait_settled(s.id).await;
    assert_eq!(e.images.count(), before + 1);
    assert_eq!(e.images.get(img).unwrap().status, "active");
    let rb = api
        .rebuild_server(&e.ctx, s.id, RebuildServer { image: img, name: Some("vm1b".into()) })
        .await
        .unwrap();
    assert_eq!(rb.id, s.id);
    let rb = e.wait_settled(s.id).await;
    assert_eq!((rb.status(), rb.image_id, rb.name.as_str()), ("ACTIVE", Some(img), "vm1b"));
    let url = api.console_url(&e.ctx, s.id, "vnc").await.unwrap();
    assert!(url.contains(&s.id.to_string()));

    // Delete frees everything, including quota usage.
    api.delete_server(&e.ctx, s.id).await.unwrap();
    e.wait_gone(s.id).await;
    assert_eq!(e.domains(), 0);
    assert!(e.networks.ports().is_empty());
    assert_eq!(e.claims().await, 0);
    let (_, usage) = api.quotas(&e.ctx, e.ctx.project_id().unwrap()).await.unwrap();
    assert_eq!((usage.instances, usage.cores, usage.ram), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_failure_at_every_step_leaves_error_and_no_leaks() {
    type Inject = fn(&Env);
    let steps: Vec<(&str, Inject)> = vec![
        ("port create", |e| e.networks.fail_next("create_port", 1)),
        ("volume reserve", |e| e.volumes.fail_next("attachment_create", 1)),
        ("volume connect", |e| e.volumes.fail_next("attachment_update", 1)),
        ("volume complete", |e| e.volumes.fail_next("attachment_complete", 1)),
        ("image fetch", |e| e.images.fail_next("fetch_to", 1)),
        ("spawn", |e| {
            for hv in &e.hvs {
                hv.fail_next(FakeOp::Spawn, 1)
            }
        }),
    ];
    for (step, inject) in steps {
        let e = env(1).await;
        let vol = e.volumes.add(1);
        // A second network port proves ports created before the failure are removed too.
        let mut req = e.request("doomed").with_volume(vol);
        let net = req.networks.requests()[0].clone();
        req.networks = vec![net.clone(), net].into();
        inject(&e);
        let s = e.api().create_servers(&e.ctx, req).await.unwrap().remove(0);
        let s = e.wait_settled(s.id).await;
        assert_eq!(s.status(), "ERROR", "{step}");
        assert!(s.fault.is_some(), "{step}: fault recorded");
        assert!(s.vifs.is_empty() && s.volumes.is_empty(), "{step}");
        assert!(e.networks.ports().is_empty(), "{step}: leaked ports {:?}", e.networks.ports());
        assert!(e.volumes.attachments().is_empty(), "{step}: leaked attachments");
        assert_eq!(e.volumes.status(vol).as_deref(), Some("available"), "{step}");
        assert_eq!(e.claims().await, 0, "{step}: leaked claim");
        assert_eq!(e.domains(), 0, "{step}: leaked domain");
        // The ERROR server can still be deleted, returning its quota.
        e.api().delete_server(&e.ctx, s.id).await.unwrap();
        e.wait_gone(s.id).await;
        let (_, u) = e.api().quotas(&e.ctx, e.ctx.project_id().unwrap()).await.unwrap();
        assert_eq!(u.instances, 0, "{step}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_bad_input_quota_and_foreign_projects_change_nothing() {
    let e = env(1).await;
    let api = e.api();
    let s = e.create("vm").await;
    let kind = |r: Result<(), ComputeError>| r.unwrap_err().kind();
    // Wrong states: 409 and the record is unchanged.
    assert_eq!(kind(api.start_server(&e.ctx, s.id).await), ErrorKind::Conflict);
    assert_eq!(kind(api.confirm_resize(&e.ctx, s.id).await), ErrorKind::Conflict);
    assert_eq!(kind(api.revert_resize(&e.ctx, s.id).await), ErrorKind::Conflict);
    api.stop_server(&e.ctx, s.id).await.unwrap();
    e.wait_settled(s.id).await;
    assert_eq!(kind(api.stop_server(&e.ctx, s.id).await), ErrorKind::Conflict);
    assert_eq!(kind(api.reboot_server(&e.ctx, s.id, RebootKind::Soft).await), ErrorKind::Conflict);
    let after = e.wait_settled(s.id).await;
    assert_eq!((after.vm_state, after.task_state), (VmState::Stopped, None::<TaskState>));

    // Bad references: 400, nothing created.
    let mut r = e.request("x");
    r.flavor_ref = "nope".into();
    assert_eq!(api.create_servers(&e.ctx, r).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    let mut r = e.request("x");
    r.image_ref = Some(ImageId::new());
    assert_eq!(api.create_servers(&e.ctx, r).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    let mut r = e.request("x");
    r.networks =
        vec![NetworkRequest { network_id: Some(NetworkId::new()), ..Default::default() }].into();
    assert_eq!(api.create_servers(&e.ctx, r).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    let r = e.request("x").with_volume(VolumeId::new());
    assert_eq!(api.create_servers(&e.ctx, r).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    let mut r = e.request("x");
    r.user_data = Some("!!not base64!!".into());
    assert_eq!(api.create_servers(&e.ctx, r).await.unwrap_err().kind(), ErrorKind::InvalidInput);

    // Over quota: 413/403 class, nothing created.
    let admin = RequestContext::for_project(
        UserId::new(),
        ProjectId::new(),
        &["admin", "member", "reader"],
    );
    let project = e.ctx.project_id().unwrap().clone();
    api.set_quotas(&admin, &project, QuotaLimits { instances: 2, ..Default::default() })
        .await
        .unwrap();
    let mut r = e.request("many");
    r.min_count = 2;
    r.max_count = Some(2);
    let err = api.create_servers(&e.ctx, r).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded, "{err}");
    assert_eq!(api.list_servers(&e.ctx, &Default::default()).await.unwrap().len(), 1);
    // Members cannot change quotas.
    assert_eq!(
        api.set_quotas(&e.ctx, &project, QuotaLimits::default()).await.unwrap_err().kind(),
        ErrorKind::Forbidden
    );

    // Foreign project: 404 for every action, and the server is untouched.
    let other = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
    assert_eq!(api.get_server(&other, s.id).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(kind(api.delete_server(&other, s.id).await), ErrorKind::NotFound);
    assert_eq!(kind(api.start_server(&other, s.id).await), ErrorKind::NotFound);
    assert!(api.list_servers(&other, &Default::default()).await.unwrap().is_empty());
    assert_eq!(e.wait_settled(s.id).await.vm_state, VmState::Stopped);
    // A reader cannot act.
    let reader = RequestContext::for_project(UserId::new(), project, &["reader"]);
    assert_eq!(kind(api.start_server(&reader, s.id).await), ErrorKind::Forbidden);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_create_with_anti_affinity_spreads_and_overflow_errors() {
    use ferrostack_compute::api::CreateGroup;
    use ferrostack_compute::types::GroupPolicy;
    let e = env(2).await;
    let api = e.api();
    let g = api
        .create_group(
            &e.ctx,
            CreateGroup {
                name: "g".into(),
                policy: GroupPolicy::AntiAffinity,
                max_server_per_host: None,
            },
        )
        .await
        .unwrap();
    let mut r = e.request("aa");
    r.scheduler_hints.group = Some(g.id);
    r.min_count = 3;
    r.max_count = Some(3);
    let servers = api.create_servers(&e.ctx, r).await.unwrap();
    let mut hosts = Vec::new();
    let mut errors = 0;
    for s in &servers {
        let s = e.wait_settled(s.id).await;
        match s.status() {
            "ACTIVE" => hosts.push(s.host.clone().unwrap()),
            "ERROR" => errors += 1,
            other => panic!("{other}"),
        }
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!((hosts.len(), errors), (2, 1), "two hosts, the third member has no valid host");
    assert_eq!(api.get_group(&e.ctx, g.id).await.unwrap().members.len(), 3);
}
