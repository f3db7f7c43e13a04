#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side-by-side speed and decision check: the Python reference(s) and Ferrostack's scheduler
on the same generated input, in one run.

    python3 scripts/scheduler/side_by_side.py --hosts 1000 --requests 1000 --seed 42 \
        --scenario default [--nova ~/.cache/ferrostack/venv-nova/bin/python] [--threads 1,2,4]

Generates DATA with synth.py (unless it exists), runs
  * reimpl_sched.py (the dependency-free reference, proven identical to Nova 34),
  * nova_sched_bench.py (real Nova code) when --nova names a Python with nova installed,
  * our replay (cargo example `replay` of ferrostack-scheduler, or the facade's `schedule`
    example with --facade),
compares the decisions with compare_decisions.py and prints per-request CPU ratios.
Numbers are CPU time (thread CPU clocks on both sides); run on a quiet machine.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF = os.path.join(ROOT, "scheduler", "tests", "reference")


def run(cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def load(out):
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def compare(a, b):
    p = subprocess.run([sys.executable, os.path.join(REF, "compare_decisions.py"), a, b],
                       capture_output=True, text=True)
    first = p.stdout.splitlines()[0] if p.stdout else "{}"
    return p.returncode == 0, json.loads(first), p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--work", default="/tmp/ferrostack-sched-side-by-side")
    ap.add_argument("--nova", help="python of a venv with nova installed (real Nova harness)")
    ap.add_argument("--nova-max-requests", type=int, default=0)
    ap.add_argument("--skip-reimpl", action="store_true")
    ap.add_argument("--threads", default="1", help="comma list of thread counts for ours")
    ap.add_argument("--facade", action="store_true", help="use the facade's `schedule` example")
    a = ap.parse_args()

    data = os.path.join(a.work, "data", "h%d_s%d_r%d" % (a.hosts, a.seed, a.requests))
    if not os.path.exists(os.path.join(data, "requests.jsonl")):
        run([sys.executable, os.path.join(REF, "synth.py"), "--hosts", str(a.hosts),
             "--requests", str(a.requests), "--seed", str(a.seed), "--out", data])
    tag = "h%d_s%d_%s" % (a.hosts, a.seed, a.scenario)
    outs = {}

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if a.facade:
        run(["cargo", "build", "--release", "--example", "schedule"], cwd=ROOT)
        ours_bin = os.path.join(target, "release", "examples", "schedule")
    else:
        run(["cargo", "build", "--release", "-p", "ferrostack-scheduler", "--example", "replay"],
            cwd=ROOT)
        ours_bin = os.path.join(target, "release", "examples", "replay")

    if not a.skip_reimpl:
        out = os.path.join(a.work, "out", "reimpl_" + tag)
        run([sys.executable, os.path.join(REF, "reimpl_sched.py"), "--data", data,
             "--scenario", a.scenario, "--out", out], stdout=subprocess.DEVNULL)
        outs["reimpl"] = out
    if a.nova:
        out = os.path.join(a.work, "out", "nova_" + tag)
        cmd = [a.nova, os.path.join(REF, "nova_sched_bench.py"), "--data", data,
               "--scenario", a.scenario, "--out", out]
        if a.nova_max_requests:
            cmd += ["--max-requests", str(a.nova_max_requests), "--refresh-reps", "2"]
        run(cmd, stdout=subprocess.DEVNULL)
        outs["nova"] = out
    ours = {}
    for t in [int(x) for x in a.threads.split(",")]:
        out = os.path.join(a.work, "out", "rust_%s_t%d" % (tag, t))
        run([ours_bin, "--cluster", os.path.join(data, "cluster.json"),
             "--requests", os.path.join(data, "requests.jsonl"), "--scenario", a.scenario,
             "--out", out, "--threads", str(t), "--repeat", "3"], stdout=subprocess.DEVNULL)
        ours[t] = out

    r1 = load(ours[min(ours)])
    print()
    print("== %d hosts, %d requests, seed %d, scenario %s" % (a.hosts, a.requests, a.seed, a.scenario))
    print("%-8s %12s %12s %12s %14s" % ("impl", "cpu p50 ms", "cpu p99 ms", "req/CPU-s", "decisions"))
    for name, out in outs.items():
        s = load(out)
        p50 = s.get("sched_cpu_ms_p50", s.get("cpu_ms_p50"))
        p99 = s.get("sched_cpu_ms_p99", s.get("cpu_ms_p99"))
        same, rep, _ = compare(out, ours[min(ours)])
        print("%-8s %12.3f %12.3f %12.1f %14s" % (name, p50, p99, s["requests_per_cpu_s"],
              "%d/%d same" % (rep.get("same_chosen_and_alternates", 0), rep.get("compared", 0))))
    print("%-8s %12.4f %12.4f %12.1f %14s" % ("rust", r1["cpu_ms_p50"], r1["cpu_ms_p99"],
                                             r1["requests_per_cpu_s"], "-"))
    for name, out in outs.items():
        s = load(out)
        # The Python summaries cover only the requests they ran (Nova may be limited).
        ratio = r1["requests_per_cpu_s"] / s["requests_per_cpu_s"]
        p50 = s.get("sched_cpu_ms_p50", s.get("cpu_ms_p50"))
        print("ratio %s/rust per-request CPU: mean %.0fx, p50 %.0fx" %
              (name, ratio, p50 / max(r1["cpu_ms_p50"], 1e-9)))
    if len(ours) > 1:
        print("threads (rust, wall-clock per request):")
        for t, out in sorted(ours.items()):
            s = load(out)
            print("  threads=%d  wall p50 %.3f ms  p99 %.3f ms  req/s %.0f" %
                  (t, s["sched_ms_p50"], s["sched_ms_p99"], s["requests_per_s"]))
    print("rust memory: %d B hot state per host; %.0f B RSS per host loaded (cold data + "
          "instance index)" % (r1["hot_bytes_per_host"], r1["rss_bytes_per_host_loaded"]))
    ok = all(compare(out, ours[min(ours)])[0] for out in outs.values())
    for t, out in ours.items():
        if t != min(ours):
            ok = ok and compare(ours[min(ours)], out)[0]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
