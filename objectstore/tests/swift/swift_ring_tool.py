#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Swift's side of Ferrostack's ring differential tests and side-by-side benchmarks.

Runs OpenStack Swift's own RingBuilder and Ring (installed from PyPI by
scripts/test-env/swift-ring.sh). Hash prefix/suffix are b'startcap'/b'endcap',
as in Swift's unit tests; the Rust side uses the same values.

  build   --part-power P --servers S --disks D [--weights balanced|skewed]
          [--replicas R] [--overload O] --out RING.gz [--format 1|2]
          [--devs-json DEVS.json]
  export  RING.gz OUT.tsv [--n N] [--handoffs H]
          writes one line per name: a/c/o TAB part TAB ids TAB handoff ids
  check   RING.gz EXPECTED.tsv
          loads RING.gz with Swift's Ring and compares every line of
          EXPECTED.tsv (same format as export); prints the mismatch count
  layout  --servers S --disks D [--weights ...] --out DEVS.json
          the device list (same seeds) for the Rust builder
"""
import argparse
import json
import random
import sys

import swift.common.utils as sutils
sutils.HASH_PATH_PREFIX = b'startcap'
sutils.HASH_PATH_SUFFIX = b'endcap'
from swift.common.ring import RingBuilder, Ring  # noqa: E402

WEIGHTS = [4000.0, 8000.0, 12000.0, 16000.0]


def make_devs(servers, disks, scheme='balanced', seed=42, regions=3, zones=4):
    """3 regions x 4 zones x servers x disks; per-server weights from a
    seeded RNG. 'balanced': every region has the same multiset of server
    weights; 'skewed': independent draws (regions differ)."""
    rng = random.Random(seed)
    per_region = zones * servers
    base = [rng.choice(WEIGHTS) for _ in range(per_region)]
    devs = []
    dev_id = 0
    for r in range(1, regions + 1):
        if scheme == 'balanced':
            ws = base[:]
            rng.shuffle(ws)
        else:
            ws = [rng.choice(WEIGHTS) for _ in range(per_region)]
        i = 0
        for z in range(1, zones + 1):
            for s in range(1, servers + 1):
                w = ws[i]
                i += 1
                for d in range(disks):
                    devs.append({'id': dev_id, 'region': r, 'zone': z,
                                 'ip': '127.%d.%d.%d' % (r, z, s),
                                 'port': 6200, 'device': 'd%d' % d,
                                 'weight': w})
                    dev_id += 1
    return devs


def names(n, seed=7):
    rng = random.Random(seed)
    return [('AUTH_test%d' % rng.randrange(100), 'cont%d' % rng.randrange(1000),
             'obj/%016x' % rng.getrandbits(64)) for _ in range(n)]


def line_for(ring, a, c, o, handoffs):
    part, nodes = ring.get_nodes(a, c, o)
    more = []
    if handoffs:
        for d in ring.get_more_nodes(part):
            more.append(d['id'])
            if len(more) >= handoffs:
                break
    return '%s/%s/%s\t%d\t%s\t%s' % (a, c, o, part,
                                     ','.join(str(d['id']) for d in nodes),
                                     ','.join(str(x) for x in more))


def cmd_build(args):
    devs = make_devs(args.servers, args.disks, args.weights)
    b = RingBuilder(args.part_power, args.replicas, 1)
    b.set_overload(args.overload)
    for d in devs:
        b.add_dev(dict(d))
    b.rebalance(seed=1)
    b.get_ring().save(args.out, format_version=args.format)
    print('built pp%d with %d devices, balance %.3f' % (
        args.part_power, len(devs), b.get_balance()))


def cmd_layout(args):
    with open(args.out, 'w') as f:
        json.dump(make_devs(args.servers, args.disks, args.weights), f)


def cmd_export(args):
    ring = Ring(args.ring)
    with open(args.out, 'w') as f:
        for a, c, o in names(args.n):
            f.write(line_for(ring, a, c, o, args.handoffs) + '\n')


def cmd_check(args):
    ring = Ring(args.ring)
    bad = total = 0
    with open(args.expected) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                continue
            name, _, _, more = line.split('\t')
            a, c, o = name.split('/', 2)
            h = len(more.split(',')) if more else 0
            total += 1
            got = line_for(ring, a, c, o, h)
            if got != line:
                if bad < 5:
                    print('MISMATCH\n  ours:  %s\n  swift: %s' % (line, got))
                bad += 1
    print('checked %d names: %d mismatches' % (total, bad))
    sys.exit(1 if bad or not total else 0)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    b = sub.add_parser('build')
    b.add_argument('--part-power', type=int, required=True)
    b.add_argument('--servers', type=int, required=True)
    b.add_argument('--disks', type=int, required=True)
    b.add_argument('--weights', default='balanced')
    b.add_argument('--replicas', type=float, default=3.0)
    b.add_argument('--overload', type=float, default=0.0)
    b.add_argument('--format', type=int, default=1)
    b.add_argument('--out', required=True)
    lay = sub.add_parser('layout')
    lay.add_argument('--servers', type=int, required=True)
    lay.add_argument('--disks', type=int, required=True)
    lay.add_argument('--weights', default='balanced')
    lay.add_argument('--out', required=True)
    e = sub.add_parser('export')
    e.add_argument('ring')
    e.add_argument('out')
    e.add_argument('--n', type=int, default=100000)
    e.add_argument('--handoffs', type=int, default=6)
    c = sub.add_parser('check')
    c.add_argument('ring')
    c.add_argument('expected')
    args = ap.parse_args()
    {'build': cmd_build, 'layout': cmd_layout, 'export': cmd_export,
     'check': cmd_check}[args.cmd](args)


if __name__ == '__main__':
    main()
