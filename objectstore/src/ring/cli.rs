// SPDX-License-Identifier: Apache-2.0
//! The `ring` command-line tool (feature `cli`): build, rebalance, inspect and query rings.
//! `examples/ring.rs` of the facade is a thin wrapper around [`run`].
//!
//! ```text
//! ring create --builder B --part-power 16 --replicas 3 --min-part-hours 1
//! ring add --builder B --region 1 --zone 1 --ip 10.0.0.1 --port 6200 --device sdb --weight 100
//! ring add --builder B --json devs.json          # a list of Swift-style device dicts
//! ring remove --builder B --id 7
//! ring set-weight --builder B --id 7 --weight 50
//! ring set-overload --builder B --overload 0.1
//! ring rebalance --builder B                      # progress bar on a terminal
//! ring show --builder B                           # balance, dispersion, plans, last move
//! ring write-swift --builder B object.ring.gz [--format 2]
//! ring lookup --ring object.ring.gz --hash-prefix P --hash-suffix S [--handoffs 2] < names
//! ```

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};

use super::{HashMode, NewDevice, PathHasher, Ring, RingBuilder, RingData, RingFormat};
use crate::error::{ObjectStoreError, Result};

#[derive(Parser, Debug)]
#[command(name = "ring", about = "Build, rebalance and query Swift-compatible rings")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Creates an empty builder file.
    Create {
        #[arg(long)]
        builder: PathBuf,
        #[arg(long)]
        part_power: u32,
        #[arg(long, default_value_t = 3.0)]
        replicas: f64,
        #[arg(long, default_value_t = 1)]
        min_part_hours: u8,
    },
    /// Adds one device, or every device of a JSON list (`--json`).
    Add {
        #[arg(long)]
        builder: PathBuf,
        #[arg(long)]
        json: Option<PathBuf>,
        #[arg(long)]
        id: Option<u32>,
        #[arg(long, default_value_t = 1)]
        region: u32,
        #[arg(long, default_value_t = 1)]
        zone: u32,
        #[arg(long, default_value = "127.0.0.1")]
        ip: String,
        #[arg(long, default_value_t = 6200)]
        port: u16,
        #[arg(long, default_value = "sdb")]
        device: String,
        #[arg(long, default_value_t = 100.0)]
        weight: f64,
        #[arg(long, default_value = "")]
        meta: String,
    },
    /// Marks a device for removal (it drains at the next rebalance).
    Remove {
        #[arg(long)]
        builder: PathBuf,
        #[arg(long)]
        id: u32,
    },
    /// Changes a device's weight.
    SetWeight {
        #[arg(long)]
        builder: PathBuf,
        #[arg(long)]
        id: u32,
        #[arg(long)]
        weight: f64,
    },
    /// Sets the overload (0.1 = 10 %).
    SetOverload {
        #[arg(long)]
        builder: PathBuf,
        #[arg(long)]
        overload: f64,
    },
    /// Lets every partition move at the next rebalance.
    PretendMinPartHoursPassed {
        #[arg(long)]
        builder: PathBuf,
    },
    /// Doubles the partition count without moving data.
    IncreasePartPower {
        #[arg(long)]
        builder: PathBuf,
    },
    /// Rebalances.
    Rebalance {
        #[arg(long)]
        builder: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        no_progress: bool,
    },
    /// Shows devices, balance, dispersion and the weight/dispersion plans.
    Show {
        #[arg(long)]
        builder: PathBuf,
        #[arg(long)]
        devices: bool,
    },
    /// Writes the ring in Swift's format.
    WriteSwift {
        #[arg(long)]
        builder: PathBuf,
        file: PathBuf,
        #[arg(long, default_value_t = 1)]
        format: u8,
    },
    /// Reads `account/container/object` names from stdin, prints
    /// `name partition dev,dev,... [| handoff,handoff,...]`.
    Lookup {
        #[arg(long)]
        ring: PathBuf,
        #[arg(long, default_value = "")]
        hash_prefix: String,
        #[arg(long, default_value = "")]
        hash_suffix: String,
        #[arg(long, default_value_t = 0)]
        handoffs: usize,
        /// Use the fast native hash (not Swift-compatible).
        #[arg(long)]
        native: bool,
    },
    /// Times build and rebalance on a JSON device list; prints JSON.
    BenchBuild {
        #[arg(long)]
        json: PathBuf,
        #[arg(long)]
        part_power: u32,
        #[arg(long, default_value_t = 3.0)]
        replicas: f64,
        #[arg(long, default_value_t = 0.0)]
        overload: f64,
        /// Also write the initial ring here (Swift v1 format).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Times lookups of the names in a file (one `a/c/o` per line); prints JSON.
    BenchLookup {
        #[arg(long)]
        ring: PathBuf,
        #[arg(long)]
        names: PathBuf,
        #[arg(long, default_value = "startcap")]
        hash_prefix: String,
        #[arg(long, default_value = "endcap")]
        hash_suffix: String,
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
}

/// Runs the tool with `args` (including the program name); returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match dispatch(cli.cmd) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn out_err(e: std::io::Error) -> ObjectStoreError {
    ObjectStoreError::Io { path: "stdout".into(), source: e }
}

fn devices_from_json(path: &PathBuf) -> Result<Vec<NewDevice>> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ObjectStoreError::Io { path: path.display().to_string(), source })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ObjectStoreError::invalid_input(format!("{}: {e}", path.display())))?;
    let items =
        v.as_array().ok_or_else(|| ObjectStoreError::invalid_input("expected a JSON list"))?;
    let field = |d: &serde_json::Value, k: &str| -> Result<serde_json::Value> {
        d.get(k)
            .cloned()
            .ok_or_else(|| ObjectStoreError::invalid_input(format!("device without {k}")))
    };
    let num = |v: serde_json::Value, k: &str| -> Result<u64> {
        v.as_u64().ok_or_else(|| ObjectStoreError::invalid_input(format!("{k} is not an integer")))
    };
    items
        .iter()
        .map(|d| {
            let mut n = NewDevice::new(
                num(field(d, "region")?, "region")? as u32,
                num(field(d, "zone")?, "zone")? as u32,
                field(d, "ip")?.as_str().unwrap_or_default(),
                num(field(d, "port")?, "port")? as u16,
                field(d, "device")?.as_str().unwrap_or_default(),
                field(d, "weight")?
                    .as_f64()
                    .ok_or_else(|| ObjectStoreError::invalid_input("weight"))?,
            );
            n.id = d.get("id").and_then(|x| x.as_u64()).map(|x| x as u32);
            Ok(n)
        })
        .collect()
}

fn progress_bar(enabled: bool) -> impl FnMut(super::Progress) {
    let bar =
        if enabled { indicatif::ProgressBar::new(0) } else { indicatif::ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    move |p: super::Progress| {
        bar.set_message(p.stage);
        bar.set_length(p.total);
        bar.set_position(p.done);
        if p.stage == "balance" && p.done == p.total {
            bar.finish_and_clear();
        }
    }
}

fn show(b: &RingBuilder, devices: bool) -> Result<()> {
    println!(
        "part power {}, {} partitions, {} replicas, min_part_hours {}, overload {}, version {}",
        b.part_power(),
        b.parts(),
        b.replicas(),
        b.min_part_hours(),
        b.overload(),
        b.version()
    );
    let devs: Vec<_> = b.devices().iter().flatten().collect();
    let regions: std::collections::BTreeSet<_> = devs.iter().map(|d| d.region).collect();
    let zones: std::collections::BTreeSet<_> = devs.iter().map(|d| (d.region, d.zone)).collect();
    println!("{} devices, {} regions, {} zones", devs.len(), regions.len(), zones.len());
    if b.table().is_empty() {
        println!("not rebalanced yet");
        return Ok(());
    }
    println!("balance {:.3} %", b.balance());
    let plan = b.plan_report()?;
    println!(
        "required overload {:.4} (in effect {:.4})",
        plan.required_overload, plan.effective_overload
    );
    if plan.conflict {
        println!(
            "weights and dispersion conflict; two plans:\n  \
             by weight (overload 0): every device at its weight share; up to {:.2} % of \
             partitions cannot have one replica per failure domain\n  \
             fully dispersed (overload >= {:.4}): every partition spread; the heaviest-loaded \
             device gets {:.2} % over its weight share",
            plan.weight_plan_undispersed_pct,
            plan.required_overload,
            plan.dispersed_plan_max_overweight_pct
        );
    }
    let d = b.dispersion()?;
    println!(
        "partitions spread over distinct regions {:.3} %, zones {:.3} %, servers {:.3} %, devices {:.3} %; part-replicas at risk {}",
        d.distinct_pct[0], d.distinct_pct[1], d.distinct_pct[2], d.distinct_pct[3], d.at_risk
    );
    if devices {
        let counts = b.part_counts();
        let targets = b.weight_targets();
        println!(
            "{:>6} {:>6} {:>5} {:>16} {:>8} {:>10} {:>10} {:>8}",
            "id", "region", "zone", "ip", "device", "weight", "parts", "balance"
        );
        for dv in devs {
            let i = dv.id as usize;
            let bal =
                if targets[i] > 0.0 { 100.0 * (counts[i] as f64 / targets[i] - 1.0) } else { 0.0 };
            println!(
                "{:>6} {:>6} {:>5} {:>16} {:>8} {:>10.2} {:>10} {:>8.3}",
                dv.id, dv.region, dv.zone, dv.ip, dv.device, dv.weight, counts[i], bal
            );
        }
    }
    Ok(())
}

fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Create { builder, part_power, replicas, min_part_hours } => {
            RingBuilder::new(part_power, replicas, min_part_hours)?.save(&builder)
        }
        Cmd::Add { builder, json, id, region, zone, ip, port, device, weight, meta } => {
            let mut b = RingBuilder::load(&builder)?;
            let devs = match json {
                Some(p) => devices_from_json(&p)?,
                None => {
                    let mut n = NewDevice::new(region, zone, &ip, port, &device, weight);
                    n.id = id;
                    n.meta = meta;
                    vec![n]
                }
            };
            for d in devs {
                let id = b.add_dev(d)?;
                if id % 1000 == 0 {
                    eprintln!("added device {id}");
                }
            }
            b.save(&builder)
        }
        Cmd::Remove { builder, id } => {
            let mut b = RingBuilder::load(&builder)?;
            b.remove_dev(id)?;
            b.save(&builder)
        }
        Cmd::SetWeight { builder, id, weight } => {
            let mut b = RingBuilder::load(&builder)?;
            b.set_dev_weight(id, weight)?;
            b.save(&builder)
        }
        Cmd::SetOverload { builder, overload } => {
            let mut b = RingBuilder::load(&builder)?;
            b.set_overload(overload)?;
            b.save(&builder)
        }
        Cmd::PretendMinPartHoursPassed { builder } => {
            let mut b = RingBuilder::load(&builder)?;
            b.pretend_min_part_hours_passed();
            b.save(&builder)
        }
        Cmd::IncreasePartPower { builder } => {
            let mut b = RingBuilder::load(&builder)?;
            b.prepare_increase_partition_power()?;
            b.increase_partition_power()?;
            b.finish_increase_partition_power();
            b.save(&builder)
        }
        Cmd::Rebalance { builder, seed, no_progress } => {
            let mut b = RingBuilder::load(&builder)?;
            if let Some(s) = seed {
                b.set_seed(s);
            }
            let t = Instant::now();
            let mut cb = progress_bar(!no_progress);
            let r = b.rebalance_with(&mut cb)?;
            println!(
                "rebalanced in {:.3} s: moved {} part-replicas ({} resized), balance {:.3} %, removed {} devices{}",
                t.elapsed().as_secs_f64(),
                r.moved,
                r.resized,
                r.balance,
                r.removed_devices,
                if r.unfinished > 0 {
                    format!("; {} part-replicas wait for min_part_hours", r.unfinished)
                } else {
                    String::new()
                }
            );
            b.save(&builder)?;
            show(&b, false)
        }
        Cmd::Show { builder, devices } => show(&RingBuilder::load(&builder)?, devices),
        Cmd::WriteSwift { builder, file, format } => {
            let b = RingBuilder::load(&builder)?;
            let fmt = if format == 2 { RingFormat::V2 } else { RingFormat::V1 };
            b.ring_data().save(&file, fmt)
        }
        Cmd::Lookup { ring, hash_prefix, hash_suffix, handoffs, native } => {
            let mode = if native { HashMode::NativeXxh3 } else { HashMode::SwiftMd5 };
            let ring = Ring::new(
                RingData::load(&ring)?,
                PathHasher::with_mode(hash_prefix, hash_suffix, mode),
            )?;
            lookup(&ring, handoffs)
        }
        Cmd::BenchBuild { json, part_power, replicas, overload, out } => {
            bench_build(&json, part_power, replicas, overload, out)
        }
        Cmd::BenchLookup { ring, names, hash_prefix, hash_suffix, reps } => {
            bench_lookup(&ring, &names, &hash_prefix, &hash_suffix, reps)
        }
    }
}

fn lookup(ring: &Ring, handoffs: usize) -> Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut batch: Vec<String> = Vec::with_capacity(4096);
    let mut res = super::BatchLookup::default();
    let mut lines = stdin.lock().lines();
    loop {
        batch.clear();
        for line in lines.by_ref() {
            let line =
                line.map_err(|e| ObjectStoreError::Io { path: "stdin".into(), source: e })?;
            let name = line.trim_end_matches('\r').trim_start_matches('/').to_string();
            if !name.is_empty() {
                batch.push(name);
            }
            if batch.len() == 4096 {
                break;
            }
        }
        if batch.is_empty() {
            break;
        }
        ring.lookup_batch(&batch, &mut res);
        for (i, name) in batch.iter().enumerate() {
            let part = res.parts[i];
            let ids: Vec<String> = res.primaries[i].as_slice().iter().map(u32::to_string).collect();
            write!(out, "{name} {part} {}", ids.join(",")).map_err(out_err)?;
            if handoffs > 0 {
                let h: Vec<String> =
                    ring.handoffs(part).take(handoffs).map(|x| x.to_string()).collect();
                write!(out, " | {}", h.join(",")).map_err(out_err)?;
            }
            writeln!(out).map_err(out_err)?;
        }
    }
    out.flush().map_err(out_err)
}

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/schedstat`), falling
/// back to wall time elsewhere.
fn thread_cpu(start: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse::<u64>().ok()))
        .map(|ns| ns as f64 / 1e9)
        .unwrap_or_else(|| start.elapsed().as_secs_f64())
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t0 = Instant::now();
    let c0 = thread_cpu(t0);
    let r = f();
    (r, thread_cpu(t0) - c0)
}

fn bench_build(
    json: &PathBuf,
    pp: u32,
    replicas: f64,
    overload: f64,
    out: Option<PathBuf>,
) -> Result<()> {
    let devs = devices_from_json(json)?;
    let n = devs.len();
    let (b, build_cpu) = timed(|| -> Result<RingBuilder> {
        let mut b = RingBuilder::new(pp, replicas, 1)?;
        b.set_overload(overload)?;
        for d in devs {
            b.add_dev(d)?;
        }
        b.rebalance()?;
        Ok(b)
    });
    let b = b?;
    let initial_disp = b.dispersion()?;
    let initial_balance = b.balance();
    if let Some(p) = &out {
        b.ring_data().save(p, RingFormat::V1)?;
    }
    // No-op rebalance after min_part_hours.
    let mut noop = b.clone();
    noop.pretend_min_part_hours_passed();
    let (r, noop_cpu) = timed(|| noop.rebalance());
    let noop_moved = r?.moved;
    drop(noop);
    // +1 device: region 1 zone 1, weight 12000, a new server (as the Swift benchmark).
    let mut add = b.clone();
    add.pretend_min_part_hours_passed();
    let new_id = add.add_dev(NewDevice::new(1, 1, "127.1.1.250", 6200, "dnew", 12000.0))?;
    let (r, add_cpu) = timed(|| add.rebalance());
    let add_moved = r?.moved;
    let add_min = add.weight_targets()[new_id as usize].floor() as usize;
    let add_counts = add.part_counts();
    let add_disp = add.dispersion()?;
    let add_balance = add.balance();
    drop(add);
    // -1 device: the first 16000-weight device.
    let victim = b.devices().iter().flatten().find(|d| d.weight == 16000.0).map_or(0, |d| d.id);
    let had = b.part_counts()[victim as usize];
    let mut rm = b.clone();
    rm.pretend_min_part_hours_passed();
    rm.remove_dev(victim)?;
    let (r, rm_cpu) = timed(|| rm.rebalance());
    let rm_moved = r?.moved;
    let rm_disp = rm.dispersion()?;
    let rm_balance = rm.balance();
    let out = serde_json::json!({
        "devices": n,
        "part_power": pp,
        "replicas": replicas,
        "initial_build_cpu_s": build_cpu,
        "initial_balance_pct": initial_balance,
        "initial_distinct_pct": initial_disp.distinct_pct,
        "noop_rebalance_cpu_s": noop_cpu,
        "noop_moved": noop_moved,
        "add_one": {"cpu_s": add_cpu, "moved": add_moved, "min": add_min,
                    "ratio": add_moved as f64 / add_min.max(1) as f64,
                    "parts_on_new": add_counts[new_id as usize],
                    "balance_pct": add_balance, "distinct_pct": add_disp.distinct_pct},
        "remove_one": {"cpu_s": rm_cpu, "moved": rm_moved, "min": had,
                       "ratio": rm_moved as f64 / had.max(1) as f64,
                       "balance_pct": rm_balance, "distinct_pct": rm_disp.distinct_pct},
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{out}");
    Ok(())
}

fn bench_lookup(
    ring: &PathBuf,
    names: &PathBuf,
    prefix: &str,
    suffix: &str,
    reps: usize,
) -> Result<()> {
    let data = RingData::load(ring)?;
    let text = std::fs::read_to_string(names)
        .map_err(|source| ObjectStoreError::Io { path: names.display().to_string(), source })?;
    let names: Vec<&str> =
        text.lines().filter(|l| !l.is_empty()).map(|l| l.split('\t').next().unwrap_or(l)).collect();
    let md5 = Ring::new(data.clone(), PathHasher::swift(prefix, suffix))?;
    let native = Ring::new(data, PathHasher::with_mode(prefix, suffix, HashMode::NativeXxh3))?;
    let n = names.len() as f64;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        v[v.len() / 2]
    };
    let mut single = vec![];
    let mut batch = vec![];
    let mut nat = vec![];
    let mut nat_batch = vec![];
    let mut sink = 0u64;
    let mut res = super::BatchLookup::default();
    for _ in 0..reps.max(1) {
        let ((), t) = timed(|| {
            for name in &names {
                let p = md5.partition_of_path(name.as_bytes());
                sink = sink.wrapping_add(md5.primaries(p).as_slice()[0] as u64);
            }
        });
        single.push(n / t);
        let ((), t) = timed(|| {
            md5.lookup_batch(&names, &mut res);
            sink = sink.wrapping_add(res.parts.len() as u64);
        });
        batch.push(n / t);
        let ((), t) = timed(|| {
            for name in &names {
                let p = native.partition_of_path(name.as_bytes());
                sink = sink.wrapping_add(native.primaries(p).as_slice()[0] as u64);
            }
        });
        nat.push(n / t);
        let ((), t) = timed(|| {
            native.lookup_batch(&names, &mut res);
            sink = sink.wrapping_add(res.parts.len() as u64);
        });
        nat_batch.push(n / t);
    }
    let out = serde_json::json!({
        "names": names.len(),
        "md5_get_nodes_per_cpu_s": median(single),
        "md5_batch_per_cpu_s": median(batch),
        "native_get_nodes_per_cpu_s": median(nat),
        "native_batch_per_cpu_s": median(nat_batch),
        "checksum": sink,
    });
    println!("{out}");
    Ok(())
}
