// SPDX-License-Identifier: Apache-2.0
//! Ring benches: lookups (md5 Swift-compatible, native xxh3, batch), initial build, and
//! rebalance after adding or removing one device. The side-by-side comparison with Swift
//! itself is `scripts/ring/compare.sh`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ferrostack_objectstore::ring::{
    BatchLookup, HashMode, NewDevice, PathHasher, Ring, RingBuilder,
};
use std::hint::black_box;

/// 3 regions x 4 zones x 2 servers x 5 disks, mixed weights, same multiset per region.
fn devices() -> Vec<NewDevice> {
    let ws = [8000.0, 12000.0, 4000.0, 16000.0, 8000.0, 12000.0, 16000.0, 4000.0];
    let mut v = vec![];
    for r in 1..=3u32 {
        let mut i = r as usize;
        for z in 1..=4u32 {
            for s in 1..=2u32 {
                for d in 0..5 {
                    v.push(NewDevice::new(
                        r,
                        z,
                        &format!("127.{r}.{z}.{s}"),
                        6200,
                        &format!("d{d}"),
                        ws[i % ws.len()],
                    ));
                }
                i += 1;
            }
        }
    }
    v
}

fn built(pp: u32) -> RingBuilder {
    let mut b = RingBuilder::new(pp, 3.0, 1).expect("builder");
    for d in devices() {
        b.add_dev(d).expect("add");
    }
    b.rebalance().expect("rebalance");
    b
}

fn names(n: usize) -> Vec<String> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..n)
        .map(|k| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("AUTH_test{}/cont{}/obj/{x:016x}", k % 100, x % 1000)
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let b = built(16);
    let md5 = b.ring(PathHasher::swift("startcap", "endcap"));
    let native =
        Ring::new(b.ring_data(), PathHasher::with_mode("startcap", "endcap", HashMode::NativeXxh3))
            .expect("ring");
    let names = names(4096);
    let mut g = c.benchmark_group("ring/lookup");
    g.throughput(criterion::Throughput::Elements(names.len() as u64));
    g.bench_function("md5", |bn| {
        bn.iter(|| {
            for n in &names {
                let p = md5.partition_of_path(n.as_bytes());
                black_box(md5.primaries(p));
            }
        })
    });
    g.bench_function("md5_batch", |bn| {
        let mut out = BatchLookup::default();
        bn.iter(|| {
            md5.lookup_batch(&names, &mut out);
            black_box(out.parts.len());
        })
    });
    g.bench_function("native", |bn| {
        bn.iter(|| {
            for n in &names {
                let p = native.partition_of_path(n.as_bytes());
                black_box(native.primaries(p));
            }
        })
    });
    g.bench_function("native_batch", |bn| {
        let mut out = BatchLookup::default();
        bn.iter(|| {
            native.lookup_batch(&names, &mut out);
            black_box(out.parts.len());
        })
    });
    g.finish();
}

fn build_and_rebalance(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    g.sample_size(10);
    g.bench_function("build/pp16_120dev", |bn| bn.iter(|| black_box(built(16))));
    let base = {
        let mut b = built(16);
        b.pretend_min_part_hours_passed();
        b
    };
    g.bench_function("rebalance/add_node", |bn| {
        bn.iter_batched(
            || base.clone(),
            |mut b| {
                b.add_dev(NewDevice::new(1, 1, "127.1.1.250", 6200, "new", 12000.0)).expect("add");
                black_box(b.rebalance().expect("rebalance"))
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("rebalance/remove_node", |bn| {
        bn.iter_batched(
            || base.clone(),
            |mut b| {
                b.remove_dev(3).expect("remove");
                black_box(b.rebalance().expect("rebalance"))
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, lookups, build_and_rebalance);
criterion_main!(benches);
