#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Swift's half of scripts/ring/compare.sh: builds and rebalances a layout with
Swift's RingBuilder, times Ring.get_nodes, and prints one JSON object.

  swift_side.py DEVS.json PART_POWER WORKDIR NAMES.txt
Writes WORKDIR/swift.ring.gz and WORKDIR/swift-lookups.txt
(`name part id,id,id` per name, the format of `ring lookup`).
"""
import copy
import gc
import json
import resource
import statistics
import sys
import time

import swift.common.utils as sutils
sutils.HASH_PATH_PREFIX = b'startcap'
sutils.HASH_PATH_SUFFIX = b'endcap'
from swift.common.ring import RingBuilder, Ring  # noqa: E402


def cpu(fn):
    gc.collect()
    c0 = time.process_time()
    r = fn()
    return r, time.process_time() - c0


def main():
    devs_path, pp, workdir, names_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    devs = json.load(open(devs_path))
    out = {'swift_version': __import__('swift').__version__, 'devices': len(devs), 'part_power': pp}

    def build():
        b = RingBuilder(pp, 3, 1)
        for d in devs:
            b.add_dev(dict(d))
        b.rebalance(seed=1)
        return b
    b, t = cpu(build)
    out['initial_build_cpu_s'] = t
    out['initial_balance_pct'] = b.get_balance()
    b.get_ring().save(workdir + '/swift.ring.gz')

    add = copy.deepcopy(b)
    add.pretend_min_part_hours_passed()
    add.add_dev({'region': 1, 'zone': 1, 'ip': '127.1.1.250', 'port': 6200,
                 'device': 'dnew', 'weight': 12000.0})
    (moved, _, _), t = cpu(lambda: add.rebalance(seed=2))
    out['add_one'] = {'cpu_s': t, 'moved': moved}
    del add
    rm = copy.deepcopy(b)
    rm.pretend_min_part_hours_passed()
    victim = next((d['id'] for d in b._iter_devs() if d['weight'] == 16000.0), 0)
    rm.remove_dev(victim)
    (moved, _, _), t = cpu(lambda: rm.rebalance(seed=2))
    out['remove_one'] = {'cpu_s': t, 'moved': moved}
    del rm, b
    out['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    ring = Ring(workdir + '/swift.ring.gz')
    names = [line.rstrip('\n') for line in open(names_path) if line.strip()]
    split = [n.split('/', 2) for n in names]
    rates = []
    for _ in range(5):
        _, t = cpu(lambda: [ring.get_nodes(a, c, o) for a, c, o in split])
        rates.append(len(split) / t)
    out['get_nodes_per_cpu_s'] = statistics.median(rates)
    with open(workdir + '/swift-lookups.txt', 'w') as f:
        for n, (a, c, o) in zip(names, split):
            part, nodes = ring.get_nodes(a, c, o)
            f.write('%s %d %s\n' % (n, part, ','.join(str(x['id']) for x in nodes)))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
