// SPDX-License-Identifier: Apache-2.0
//! Power-state sync and the ghost reconciler: each case created deliberately and fixed per
//! the configured action.

mod common;

use common::*;
use ferrostack_compute::conformance::minimal_spec;
use ferrostack_compute::host::{GhostAction, GhostCase};
use ferrostack_compute::hypervisor::HostResources;
use ferrostack_compute::types::{PowerState, VmState};
use ferrostack_core::id::{ProjectId, ServerId};

fn res() -> HostResources {
    HostResources { vcpus: 8, memory_mb: 16384, disk_gb: 200 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_sync_follows_novas_table() {
    let e = env(1).await;
    let host = e.compute.host("host0").unwrap().clone();
    let a = e.create("a").await;
    let b = e.create("b").await;
    let c = e.create("c").await;
    // a: the guest shut itself down -> stopped.
    e.hvs[0].set_power_state(a.id, PowerState::Shutdown);
    // b: stopped in the records but running -> force stop.
    e.api().stop_server(&e.ctx, b.id).await.unwrap();
    e.wait_settled(b.id).await;
    e.hvs[0].set_power_state(b.id, PowerState::Running);
    // c: paused on the hypervisor while active -> ignored (power state copied).
    e.hvs[0].set_power_state(c.id, PowerState::Paused);
    let report = host.sync_power_states().await.unwrap();
    assert_eq!(report.stopped, vec![a.id]);
    assert_eq!(report.force_stopped, vec![b.id]);
    let a = e.wait_settled(a.id).await;
    assert_eq!((a.vm_state, a.power_state), (VmState::Stopped, PowerState::Shutdown));
    let b = e.wait_settled(b.id).await;
    assert_eq!((b.vm_state, b.power_state), (VmState::Stopped, PowerState::Shutdown));
    assert_eq!(e.hvs[0].domain(b.id).unwrap().power_state, PowerState::Shutdown);
    let c = e.wait_settled(c.id).await;
    assert_eq!((c.vm_state, c.power_state), (VmState::Active, PowerState::Paused));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_but_running_is_reaped_after_a_local_delete() {
    let e = env(1).await;
    let s = e.create("ghost-a").await;
    // The host goes down; the delete is local and the domain keeps running.
    let handle = e.compute.hosts.iter().find(|h| h.host().name() == "host0").unwrap();
    handle.host().report(false).await.unwrap();
    e.api().delete_server(&e.ctx, s.id).await.unwrap();
    e.wait_gone(s.id).await;
    assert!(e.hvs[0].domain(s.id).is_some(), "domain still running: the ghost exists");
    assert_eq!(e.claims().await, 0);
    assert!(e.networks.ports().is_empty(), "local delete freed the ports");
    handle.host().report(true).await.unwrap();
    let found = handle.host().reconcile().await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].id, found[0].case, found[0].action, found[0].ok),
        (s.id, GhostCase::DeletedButRunning, GhostAction::Reap, true)
    );
    assert!(e.hvs[0].domain(s.id).is_none());
    assert!(handle.host().reconcile().await.unwrap().is_empty(), "nothing left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_but_running_with_stop_policy_powers_off() {
    let e = env_with(1, res(), |c| c.running_deleted_action = GhostAction::Stop).await;
    let s = e.create("ghost-a2").await;
    let host = e.compute.host("host0").unwrap().clone();
    host.report(false).await.unwrap();
    e.api().delete_server(&e.ctx, s.id).await.unwrap();
    e.wait_gone(s.id).await;
    let found = host.reconcile().await.unwrap();
    assert_eq!((found[0].case, found[0].action), (GhostCase::DeletedButRunning, GhostAction::Stop));
    assert_eq!(e.hvs[0].domain(s.id).unwrap().power_state, PowerState::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_domain_is_logged_or_reaped() {
    let e = env(1).await;
    let s = e.create("ghost-b").await;
    let host = e.compute.host("host0").unwrap().clone();
    e.hvs[0].vanish(s.id);
    let found = host.reconcile().await.unwrap();
    assert_eq!(
        (found[0].id, found[0].case, found[0].action),
        (s.id, GhostCase::MissingDomain, GhostAction::Log)
    );
    assert_eq!(e.wait_settled(s.id).await.vm_state, VmState::Active, "log changes nothing");

    let e = env_with(1, res(), |c| c.missing_domain_action = GhostAction::Reap).await;
    let s = e.create("ghost-b2").await;
    let host = e.compute.host("host0").unwrap().clone();
    e.hvs[0].vanish(s.id);
    let found = host.reconcile().await.unwrap();
    assert_eq!(
        (found[0].case, found[0].action, found[0].ok),
        (GhostCase::MissingDomain, GhostAction::Reap, true)
    );
    e.wait_gone(s.id).await;
    assert_eq!(e.claims().await, 0);
    assert!(e.networks.ports().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_domains_are_logged_reaped_or_adopted() {
    for action in [GhostAction::Log, GhostAction::Reap, GhostAction::Adopt] {
        let project = ProjectId::new();
        let p2 = project.clone();
        let e = env_with(1, res(), move |c| {
            c.unknown_domain_action = action;
            c.adopt_project = Some(p2.clone());
        })
        .await;
        let spec = minimal_spec("stray");
        let id: ServerId = spec.id;
        e.hvs[0].inject_domain(spec, PowerState::Running);
        let host = e.compute.host("host0").unwrap().clone();
        let found = host.reconcile().await.unwrap();
        assert_eq!(
            (found.len(), found[0].case, found[0].action, found[0].ok),
            (1, GhostCase::UnknownDomain, action, true)
        );
        match action {
            GhostAction::Log => assert!(e.hvs[0].domain(id).is_some()),
            GhostAction::Reap => assert!(e.hvs[0].domain(id).is_none()),
            GhostAction::Adopt => {
                let s = e.compute.service.db().server(id).await.unwrap().value;
                assert_eq!((s.project_id, s.vm_state), (project, VmState::Active));
                assert!(host.reconcile().await.unwrap().is_empty(), "adopted: no longer a ghost");
            }
            GhostAction::Stop => unreachable!(),
        }
    }
}
