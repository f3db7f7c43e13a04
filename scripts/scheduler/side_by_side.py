#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side-by-side speed and decision check: the Python reference(s) and Ferrostack's scheduler
on the same generated input, in one run.

    python3 scripts/scheduler/side_by_side.py --hosts 1000 --requests 1000 --seed 42 \
        --scenario default [--nova ~/.cache/ferrostack/venv-nova/bin/python] [--threads 1,2,4] \
        [--pin 0] [--skip-reimpl]

Generates DATA with synth.py (unless it exists), runs
  * reimpl_sched.py (the dependency-free reference, proven identical to Nova 34),
  * nova_sched_bench.py (real Nova code) when --nova names a Python with nova installed,
  * our replay (cargo example `replay` of ferrostack-scheduler, or the facade's `schedule`
    example with --facade),
compares the decisions with compare_decisions.py and prints per-request CPU ratios.
Numbers are CPU time (thread CPU clocks on both sides); run on a quiet machine.
Ours replays the requests --repeat times (3) from a fresh load and keeps the run with the
lowest wall p50, so one burst of load from elsewhere does not decide the figure.

Printed for ours: per-decision (one select_destinations call, all instances of the request
and their alternates) CPU p50/p99 of the scheduling thread, which is the cost on one core at
threads=1; with --threads also wall-clock and process CPU (all threads) per decision, so
parallel filtering shows both its latency gain and its CPU overhead. --pin N runs ours under
`taskset -c N` (the Python side is not pinned).
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


def pct_field(s, *names):
    for n in names:
        if n in s:
            return s[n]
    return float("nan")


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
    ap.add_argument("--no-build", action="store_true",
                    help="use the already built release binary (no cargo build)")
    ap.add_argument("--pin", help="run ours under `taskset -c PIN` (one core)")
    ap.add_argument("--repeat", type=int, default=3, help="replays of ours; the fastest is kept")
    ap.add_argument("--nova-refresh-reps", type=int, default=0,
                    help="reps of Nova's HostState rebuild measurement (default: harness's)")
    a = ap.parse_args()

    data = os.path.join(a.work, "data", "h%d_s%d_r%d" % (a.hosts, a.seed, a.requests))
    if not os.path.exists(os.path.join(data, "requests.jsonl")):
        run([sys.executable, os.path.join(REF, "synth.py"), "--hosts", str(a.hosts),
             "--requests", str(a.requests), "--seed", str(a.seed), "--out", data])
    tag = "h%d_s%d_%s" % (a.hosts, a.seed, a.scenario)
    outs = {}

    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if a.facade:
        build = ["cargo", "build", "--release", "--example", "schedule"]
        ours_bin = os.path.join(target, "release", "examples", "schedule")
    else:
        build = ["cargo", "build", "--release", "-p", "ferrostack-scheduler", "--example",
                 "replay"]
        ours_bin = os.path.join(target, "release", "examples", "replay")
    if not a.no_build:
        run(build, cwd=ROOT)

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
        if a.nova_refresh_reps:
            cmd += ["--refresh-reps", str(a.nova_refresh_reps)]
        run(cmd, stdout=subprocess.DEVNULL)
        outs["nova"] = out
    ours = {}
    for t in [int(x) for x in a.threads.split(",")]:
        out = os.path.join(a.work, "out", "rust_%s_t%d" % (tag, t))
        cmd = [ours_bin, "--cluster", os.path.join(data, "cluster.json"),
               "--requests", os.path.join(data, "requests.jsonl"), "--scenario", a.scenario,
               "--out", out, "--threads", str(t), "--repeat", str(a.repeat)]
        if a.nova_max_requests:
            # The same requests as Nova, so that the CPU ratios compare like with like.
            cmd += ["--max-requests", str(a.nova_max_requests)]
        if a.pin is not None:
            cmd = ["taskset", "-c", a.pin] + cmd
        run(cmd, stdout=subprocess.DEVNULL)
        ours[t] = out

    r1 = load(ours[min(ours)])
    print()
    print("== %d hosts, %d requests, seed %d, scenario %s" % (a.hosts, a.requests, a.seed, a.scenario))
    print("%-8s %12s %12s %12s %10s %s" % ("impl", "cpu p50 ms", "cpu p99 ms", "req/CPU-s",
                                           "placed", "decisions vs rust"))
    mismatch_reports = []
    for name, out in outs.items():
        s = load(out)
        p50 = pct_field(s, "sched_cpu_ms_p50", "cpu_ms_p50")
        p99 = pct_field(s, "sched_cpu_ms_p99", "cpu_ms_p99")
        same, rep, text = compare(out, ours[min(ours)])
        if not same:
            mismatch_reports.append((name, text))
        print("%-8s %12.3f %12.3f %12.1f %10s %s" % (
            name, p50, p99, s["requests_per_cpu_s"],
            "%d/%d" % (s.get("instances_placed", 0), s.get("requests_failed", 0)),
            "%d/%d identical (chosen %d, outcome %d)" % (
                rep.get("same_chosen_and_alternates", 0), rep.get("compared", 0),
                rep.get("same_chosen_hosts", 0), rep.get("same_outcome", 0))))
    print("%-8s %12.4f %12.4f %12.1f %10s %s" % (
        "rust", r1["cpu_ms_p50"], r1["cpu_ms_p99"], r1["requests_per_cpu_s"],
        "%d/%d" % (r1["instances_placed"], r1["requests_failed"]),
        "(placed/failed; rust threads=%d%s)" % (min(ours), ", pinned cpu " + a.pin if a.pin
                                                 is not None else "")))
    print("rust per decision on one core (threads=%d): cpu p50 %.4f ms, p99 %.4f ms; "
          "wall p50 %.4f ms, p99 %.4f ms" % (min(ours), r1["cpu_ms_p50"], r1["cpu_ms_p99"],
                                            r1["sched_ms_p50"], r1["sched_ms_p99"]))
    if "nova" in outs:
        s = load(outs["nova"])
        print("nova also rebuilds HostState per request (not in its cpu column): median %s ms"
              % s.get("per_request_hoststate_rebuild_ms_median"))
    for name, out in outs.items():
        s = load(out)
        # The Python summaries cover only the requests they ran (Nova may be limited).
        ratio = r1["requests_per_cpu_s"] / s["requests_per_cpu_s"]
        p50 = s.get("sched_cpu_ms_p50", s.get("cpu_ms_p50"))
        print("ratio %s/rust per-request CPU: mean %.0fx, p50 %.0fx" %
              (name, ratio, p50 / max(r1["cpu_ms_p50"], 1e-9)))
    if len(ours) > 1:
        print("threads (rust, per decision; process CPU counts every thread):")
        for t, out in sorted(ours.items()):
            s = load(out)
            print("  threads=%d  wall p50 %.4f ms  p99 %.4f ms  req/s %.0f | process cpu p50 "
                  "%.4f ms  p99 %.4f ms  req/CPU-s %.0f" % (
                      t, s["sched_ms_p50"], s["sched_ms_p99"], s["requests_per_s"],
                      s.get("proc_cpu_ms_p50", float("nan")),
                      s.get("proc_cpu_ms_p99", float("nan")),
                      s.get("requests_per_proc_cpu_s", float("nan"))))
    print("rust memory: %d B hot state per host; %.0f B RSS per host loaded (cold data + "
          "instance index)" % (r1["hot_bytes_per_host"], r1["rss_bytes_per_host_loaded"]))
    ok = not mismatch_reports
    for t, out in ours.items():
        if t != min(ours):
            same, _, text = compare(ours[min(ours)], out)
            if not same:
                ok = False
                mismatch_reports.append(("rust threads=%d" % t, text))
    for name, text in mismatch_reports:
        print("MISMATCH %s vs rust:\n%s" % (name, text))
    print("RESULT %s" % ("identical" if ok else "MISMATCH"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
