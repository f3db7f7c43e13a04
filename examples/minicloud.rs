// SPDX-License-Identifier: Apache-2.0
//! minicloud: a whole Ferrostack cloud in one process on the embedded defaults.
//!
//! ```text
//! cargo run --example minicloud -- [--listen 127.0.0.1:8770] [--data-dir ./minicloud-data]
//!                                  [--config minicloud.toml] [--admin-password PW]
//! ```
//!
//! On first start it creates the `admin` user in the `admin` project and writes
//! `DATA_DIR/clouds.yaml` (cloud `minicloud`) and `DATA_DIR/openrc`; state survives restarts.
//! Stops cleanly on Ctrl-C or SIGTERM.

use anyhow::Context;
use clap::Parser;
use ferrostack::{Cloud, CloudConfig};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(about = "A whole Ferrostack cloud in one process")]
struct Args {
    /// Address to listen on [default: 127.0.0.1:8770, or `listen` from the config file].
    #[arg(long)]
    listen: Option<String>,
    /// Where state, keys and client files live.
    #[arg(long, default_value = "./minicloud-data")]
    data_dir: PathBuf,
    /// A TOML file choosing drivers (see `ferrostack::config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The admin password [default: generated on first start, kept afterwards].
    #[arg(long, env = "MINICLOUD_ADMIN_PASSWORD")]
    admin_password: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => CloudConfig::from_file(path)?,
        None => CloudConfig::default(),
    };
    if let Some(listen) = &args.listen {
        config.set_listen(listen)?;
    }
    let mut cloud = Cloud::open(config, &args.data_dir).await.context("opening the cloud")?;
    let admin = cloud.bootstrap_admin(args.admin_password.clone()).await?;
    cloud.mount_embedded(&admin).await.context("starting the services")?;
    let files = cloud.write_client_files(&admin)?;
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(cloud.config().listen)
        .await
        .with_context(|| format!("binding {}", cloud.config().listen))?;

    println!("minicloud serving on {}", cloud.config().public_url);
    println!("  index          {}/", cloud.config().public_url);
    for m in cloud.mounts() {
        println!("  {:<14} {}", m.service_type, cloud.endpoint_url(m));
    }
    println!("  state          {} ({:?} store)", cloud.data_dir().display(), cloud.store().name());
    for d in cloud.drivers() {
        println!("  {:<14} {}", d.role, d.description);
    }
    println!("  clouds.yaml    {}", files.clouds_yaml.display());
    println!("  openrc         {}", files.openrc.display());
    println!(
        "try: OS_CLIENT_CONFIG_FILE={} OS_CLOUD=minicloud openstack token issue",
        files.clouds_yaml.display()
    );

    axum::serve(listener, cloud.router()).with_graceful_shutdown(shutdown).await?;
    println!("minicloud stopped");
    Ok(())
}

/// Installs the Ctrl-C and SIGTERM handlers now (before minicloud reports that it is ready, so
/// a signal sent right after readiness is never lost) and returns the future that resolves on
/// the first of them.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
