#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Exact minimum number of part-replicas that must move after adding or removing one device.

The input is a JSON case: the device layout (region, zone, ip, weight by device id), the
removed device (`rm`; any id not in the layout for an addition), the table before the change,
the builder's integer targets after it and, optionally, what the builder moved.

The minimum is a 0/1 integer program over x[p][d] (partition p has a replica on device d):
  * every partition has R replicas on distinct devices;
  * per partition, a region/zone/server holds at most ceil(tier target / partitions) replicas
    (the builder's dispersion limits);
  * every device ends exactly on its target (--slack 1: within +-1 of it);
  * one move per partition: partitions that lost a replica keep their others, the rest keep at
    least R - 1;
and it maximises the replicas kept in place. Needs scipy (HiGHS), which
scripts/test-env/swift-ring.sh installs in the Swift venv:
    bash scripts/test-env/swift-ring.sh
    FERROSTACK_RING_REMOVAL_DUMP=/tmp/case.json cargo test -p ferrostack-objectstore \
        --test ring_builder removal_raising_a_region_limit
    ~/.cache/ferrostack/venv-swift/bin/python scripts/ring/min_moves.py /tmp/case.json
prints `/tmp/case.json minimum 1193 moved 1193 ratio 1.000 (...)`. The CI test
objectstore/tests/ring_movement_exact.rs writes such files for random topologies.
"""
import argparse
import json
import math

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix


def minimum(case, slack=0, one_move=True, time_limit=300):
    layout, rm, before, targets = case["layout"], case["rm"], case["before"], case["targets"]
    parts, reps = len(before[0]), len(before)
    held = {d for row in before for d in row}
    devs = [d for d in range(len(layout)) if d != rm and (targets[d] > 0 or d in held)]
    col = {d: i for i, d in enumerate(devs)}
    tiers = {}
    for d in devs:
        r, z, ip, _ = layout[d]
        for key in (("r", r), ("z", r, z), ("s", r, z, ip)):
            tiers.setdefault(key, []).append(d)
    tmax = {k: max(1, math.ceil(sum(targets[d] for d in v) / parts - 1e-9)) for k, v in tiers.items()}
    rows, cols, lo, hi = [], [], [], []

    def add(cs, low, high):
        k = len(lo)
        rows.extend([k] * len(cs))
        cols.extend(cs)
        lo.append(low)
        hi.append(high)

    var = lambda p, d: p * len(devs) + col[d]  # noqa: E731
    for p in range(parts):
        add([var(p, d) for d in devs], reps, reps)
        for k, v in tiers.items():
            if tmax[k] < len(v):
                add([var(p, d) for d in v], 0, tmax[k])
        kept = [row[p] for row in before if row[p] != rm]
        if one_move:
            low = len(kept) if len(kept) < reps else reps - 1
            add([var(p, d) for d in kept], low, len(kept))
    for d in devs:
        add([var(p, d) for p in range(parts)], max(0, targets[d] - slack), targets[d] + slack)
    n = parts * len(devs)
    a = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(lo), n)).tocsr()
    c = np.zeros(n)
    for row in before:
        for p, d in enumerate(row):
            if d != rm:
                c[var(p, d)] -= 1
    res = milp(c, constraints=LinearConstraint(a, lo, hi), integrality=np.ones(n),
               bounds=Bounds(0, 1), options={"time_limit": time_limit})
    if res.x is None or res.status != 0:
        raise SystemExit(f"no optimal solution: {res.message}")
    return reps * parts - round(-res.fun), res.message


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", nargs="+", help="JSON case files; one output line each")
    ap.add_argument("--slack", type=int, default=0)
    ap.add_argument("--no-one-move", action="store_true")
    args = ap.parse_args()
    for path in args.case:
        case = json.load(open(path))
        m, msg = minimum(case, args.slack, not args.no_one_move)
        moved = case.get("moved", 0)
        print(f"{path} minimum {m} moved {moved} ratio {moved / max(m, 1):.3f} ({msg})")


if __name__ == "__main__":
    main()
