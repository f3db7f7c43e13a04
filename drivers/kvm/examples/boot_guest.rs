// SPDX-License-Identifier: Apache-2.0
//! Boots the test payload (`scripts/guest/build-payload.sh`) through the KVM or Xen driver,
//! prints the guest's serial marker and the time from `spawn` to the marker, and exits
//! non-zero when the marker does not appear.
//!
//! ```text
//! cargo run -p ferrostack-kvm --example boot-guest -- --driver kvm
//!     # daemonless qemu:///embed?root=... under the state directory (connect takes ~8 s)
//! cargo run -p ferrostack-kvm --example boot-guest -- --driver kvm --uri qemu:///system --compare-virsh
//!     # also runs `virsh create` of the same XML and prints the control-plane overhead ratio
//! cargo run -p ferrostack-kvm --example boot-guest -- --driver xen --uri xen:///system
//! ```

use anyhow::{Context, bail};
use clap::Parser;
use ferrostack_compute::conformance::minimal_spec;
use ferrostack_compute::hypervisor::{ConfigDrive, ConfigDriveFormat, Hypervisor};
use ferrostack_kvm::{KvmDriver, VirtType};
use ferrostack_libvirt::LibvirtDriver;
use ferrostack_libvirt::domain::DirectBoot;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MARKER: &str = "@@GUEST-UP@@";

#[derive(Debug, Parser)]
#[command(about = "Boot the test payload through a Ferrostack hypervisor driver")]
struct Args {
    /// `kvm` or `xen`.
    #[arg(long, default_value = "kvm")]
    driver: String,
    /// The libvirt URI; default: `qemu:///embed?root=STATE/embed` (kvm), `xen:///system` (xen).
    #[arg(long)]
    uri: Option<String>,
    /// `qemu` (TCG) or `kvm`.
    #[arg(long, default_value = "qemu")]
    virt_type: String,
    /// Xen guest kind: `pv`, `pvh` or `hvm`.
    #[arg(long, default_value = "pv")]
    xen_guest: String,
    /// The payload directory (vmlinuz, initrd.cpio.gz).
    #[arg(long)]
    payload: Option<PathBuf>,
    /// Instance files; default: a temporary directory.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Seconds to wait for the marker.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// Also start the same XML with `virsh create` and print the overhead ratio.
    #[arg(long)]
    compare_virsh: bool,
    /// Runs of each (driver, virsh), alternating.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Boot without a config drive (hosts without genisoimage or a qdisk backend).
    #[arg(long)]
    no_config_drive: bool,
    /// No remote display (Xen hosts without a device model in dom0).
    #[arg(long)]
    no_graphics: bool,
    /// Print the domain XML (`xml`) or, for Xen, the xl config (`xl`) and exit.
    #[arg(long)]
    render: Option<String>,
}

/// Follows a growing file (the serial log) or a PTY (the Xen console) until `marker`.
fn wait_marker(source: &Path, deadline: Instant) -> anyhow::Result<String> {
    if source.starts_with("/dev/pts") {
        let f =
            std::fs::File::open(source).with_context(|| format!("open {}", source.display()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                if line.contains(MARKER) {
                    let _ = tx.send(line);
                    return;
                }
            }
        });
        let left = deadline.saturating_duration_since(Instant::now());
        return rx
            .recv_timeout(left)
            .map_err(|_| anyhow::anyhow!("no {MARKER} on {}", source.display()));
    }
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(source).unwrap_or_default()).into_owned();
        if let Some(l) = text.lines().find(|l| l.contains(MARKER)) {
            return Ok(l.trim().to_string());
        }
        if Instant::now() > deadline {
            bail!("no {MARKER} in {} within the timeout:\n{text}", source.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn via_driver(drv: &LibvirtDriver, args: &Args, name: &str) -> anyhow::Result<Duration> {
    let mut spec = minimal_spec(name);
    spec.flavor.ram_mb = 256;
    if !args.no_config_drive {
        spec.config_drive = Some(ConfigDrive::render(&spec, ConfigDriveFormat::ConfigDriveV2));
    }
    let id = spec.id;
    let t0 = Instant::now();
    drv.spawn(&spec).await.context("spawn")?;
    let spawned = t0.elapsed();
    let deadline = t0 + Duration::from_secs(args.timeout);
    let source = if drv.config().console_log {
        drv.console_log_path(id)
    } else {
        let url = ferrostack_compute::hypervisor::Console::console_url(drv, id, "serial").await?;
        PathBuf::from(url.trim_start_matches("pty://"))
    };
    let r = tokio::task::spawn_blocking(move || wait_marker(&source, deadline)).await?;
    let elapsed = t0.elapsed();
    drv.destroy(id).await.context("destroy")?;
    let line = r?;
    println!(
        "driver: spawn returned after {} ms; marker after {} ms: {line}",
        spawned.as_millis(),
        elapsed.as_millis()
    );
    Ok(elapsed)
}

async fn via_virsh(drv: &LibvirtDriver, args: &Args, uri: &str) -> anyhow::Result<Duration> {
    // The same XML the driver defines, for another instance id.
    let mut spec = minimal_spec("virsh-create");
    spec.flavor.ram_mb = 256;
    if !args.no_config_drive {
        spec.config_drive = Some(ConfigDrive::render(&spec, ConfigDriveFormat::ConfigDriveV2));
    }
    let xml = drv.render_domain(&spec)?;
    let dir = drv.config().instance_dir(spec.id.as_uuid());
    std::fs::create_dir_all(&dir)?;
    let log = drv.console_log_path(spec.id);
    std::fs::write(&log, b"")?;
    // The config drive the driver would build, made before the clock starts.
    if let Some(cd) = &spec.config_drive {
        let src = dir.join("config-drive");
        for (rel, data) in &cd.files {
            let p = src.join(rel);
            std::fs::create_dir_all(p.parent().unwrap_or(&src))?;
            std::fs::write(p, data)?;
        }
        let st = std::process::Command::new("genisoimage")
            .args(["-quiet", "-o"])
            .arg(dir.join("disk.config"))
            .args(["-l", "-J", "-r", "-V", &cd.label])
            .arg(&src)
            .status()?;
        if !st.success() {
            bail!("genisoimage failed");
        }
    }
    let file = dir.join("domain.xml");
    std::fs::write(&file, xml)?;
    let t0 = Instant::now();
    let st = std::process::Command::new("virsh")
        .args(["-q", "-c", uri, "create"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()
        .context("virsh")?;
    let created = t0.elapsed();
    if !st.success() {
        bail!("virsh create failed");
    }
    let deadline = t0 + Duration::from_secs(args.timeout);
    let r = tokio::task::spawn_blocking(move || wait_marker(&log, deadline)).await?;
    let elapsed = t0.elapsed();
    let name = format!("instance-{}", spec.id);
    let _ = std::process::Command::new("virsh")
        .args(["-q", "-c", uri, "destroy", &name])
        .stdout(std::process::Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    let line = r?;
    println!(
        "virsh create: returned after {} ms; marker after {} ms: {line}",
        created.as_millis(),
        elapsed.as_millis()
    );
    Ok(elapsed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let payload = args
        .payload
        .clone()
        .unwrap_or_else(|| ferrostack_core::testing::cache_dir().join("guest-payload"));
    if !payload.join("vmlinuz").exists() {
        bail!("no payload in {} (run scripts/guest/build-payload.sh)", payload.display());
    }
    let tmp = tempfile::Builder::new().prefix("ferrostack-boot-guest").tempdir()?;
    let state = args.state_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&state)?;
    // QEMU may run as an unprivileged user: the payload goes where it can read it.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755))?;
    for f in ["vmlinuz", "initrd.cpio.gz"] {
        std::fs::copy(payload.join(f), state.join(f))?;
    }
    let boot = |console: &str| DirectBoot {
        kernel: state.join("vmlinuz"),
        initrd: Some(state.join("initrd.cpio.gz")),
        cmdline: Some(format!("console={console} panic=-1 quiet")),
    };
    let instances = state.join("instances");
    let (drv, uri) = match args.driver.as_str() {
        "kvm" => {
            let uri = args
                .uri
                .clone()
                .unwrap_or_else(|| format!("qemu:///embed?root={}", state.join("embed").display()));
            let vt: VirtType = args.virt_type.parse().map_err(anyhow::Error::msg)?;
            let d = KvmDriver::new(&uri, vt, &instances)
                .direct_boot(boot("ttyS0"))
                .configure(|c| {
                    if args.no_graphics {
                        c.graphics = None;
                    }
                })
                .shutdown_timeout(Duration::ZERO)
                .poll_interval(Duration::ZERO)
                .build();
            (d, uri)
        }
        "xen" => {
            let uri = args.uri.clone().unwrap_or_else(|| "xen:///system".into());
            let g: ferrostack_xen::XenGuest = args.xen_guest.parse().map_err(anyhow::Error::msg)?;
            let console = if g == ferrostack_xen::XenGuest::Hvm { "ttyS0" } else { "hvc0" };
            let b = ferrostack_xen::XenDriver::new(&uri, g, &instances)
                .direct_boot(boot(console))
                .configure(|c| {
                    if args.no_graphics {
                        c.graphics = None;
                    }
                });
            if args.render.as_deref() == Some("xl") {
                let mut spec = minimal_spec("xl-guest");
                spec.flavor.ram_mb = 256;
                print!("{}", ferrostack_xen::xl::render_spec(b.config(), &spec)?);
                return Ok(());
            }
            let d = b.shutdown_timeout(Duration::ZERO).poll_interval(Duration::ZERO).build();
            (d, uri)
        }
        other => bail!("--driver must be kvm or xen, not {other:?}"),
    };
    if args.render.as_deref() == Some("xml") {
        let mut spec = minimal_spec("xml-guest");
        spec.flavor.ram_mb = 256;
        print!("{}", drv.render_domain(&spec)?);
        return Ok(());
    }
    let t = Instant::now();
    let report = drv.host_report().await.context("connect")?;
    println!(
        "connected to {uri} in {} ms: {} {} (libvirt {}), {} CPUs ({}), {} MiB",
        t.elapsed().as_millis(),
        report.hypervisor_type,
        report.hypervisor_version,
        report.libvirt_version,
        report.resources.vcpus,
        report.cpu_model,
        report.resources.memory_mb
    );
    let compare = args.compare_virsh
        && {
            let ok = !uri.starts_with("qemu:///embed") && drv.config().console_log;
            if !ok {
                println!(
                    "--compare-virsh needs a daemon URI (virsh cannot reach an embedded driver) and a serial log"
                );
            }
            ok
        };
    let (mut d_total, mut v_total) = (Duration::ZERO, Duration::ZERO);
    for round in 0..args.rounds {
        d_total += via_driver(&drv, &args, &format!("boot-guest-{round}")).await?;
        if compare {
            v_total += via_virsh(&drv, &args, &uri).await?;
        }
    }
    if compare {
        let n = args.rounds.max(1);
        println!(
            "spawn-to-marker over {n} round(s): driver {} ms, virsh create {} ms, ratio driver/virsh = {:.3}",
            (d_total / n).as_millis(),
            (v_total / n).as_millis(),
            d_total.as_secs_f64() / v_total.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}
