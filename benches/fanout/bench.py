#!/usr/bin/env python3
"""Helpers for benches/fanout/run.sh (python3 stdlib only).

    bench.py free-port
    bench.py contexts OUT.yaml N [PORTS_FILE]   # N contexts; each its own port
    bench.py check FILE.json N                  # a ClusterList with N items, no errors
    bench.py report --fanout F.json --loop L.json --startup S.json --meta M.json [--markdown BENCHMARKS.md]
"""

import argparse
import json
import os
import re
import socket
import sys

FANOUT_HEADING = "## Fan-out: get clusters over N delayed contexts"
STARTUP_HEADING = "## Start-up cost"
FANOUT_TARGET = 1.5  # t(N)/t(1)
STARTUP_TARGET_MS = 20.0  # config get-contexts over 1,000 contexts


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    print(port)


def contexts(out, n, ports_file=None):
    if ports_file:
        ports = [int(l) for l in open(ports_file) if l.strip()]
        if len(ports) < n:
            sys.exit(f"bench.py: {ports_file} has {len(ports)} ports, need {n}")
    else:
        # No server needed (start-up benchmark): nothing ever connects.
        ports = [10000 + i for i in range(n)]
    lines = ["apiVersion: qctl/v1", "current-context: ctx-000", "clusters:"]
    for i in range(n):
        lines += [f"  - name: ctx-{i:03d}", f"    server: redis://127.0.0.1:{ports[i]}/0"]
    lines.append("contexts:")
    for i in range(n):
        lines += [f"  - name: ctx-{i:03d}", f"    cluster: ctx-{i:03d}"]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, out)


def check(path, n):
    with open(path) as f:
        doc = json.load(f)
    items = doc.get("items", [])
    errors = doc.get("errors", [])
    problems = []
    if doc.get("kind") != "ClusterList":
        problems.append(f"kind is {doc.get('kind')!r}, expected ClusterList")
    if len(items) != n:
        problems.append(f"{len(items)} items, expected {n}")
    if errors:
        problems.append(f"{len(errors)} errors, first: {errors[0]}")
    if items:
        first = items[0]
        if first.get("queued", 0) == 0:
            problems.append(f"queued is {first.get('queued')} on {first.get('context')}: the seed data was not read")
    if problems:
        sys.exit(f"bench.py check {path}: " + "; ".join(problems))
    lat = sorted(i.get("latency_ms", 0.0) for i in items)
    first = items[0]
    print(
        f"  ok: {n} contexts, 0 errors; {first['context']}: status={first.get('status')} "
        f"queued={first.get('queued')} processing={first.get('processing')} workers={first.get('workers')} "
        f"dead_letter={first.get('dead_letter')}; PING latency_ms min {lat[0]:.1f} median {lat[len(lat) // 2]:.1f} max {lat[-1]:.1f}"
    )


def load_results(path):
    with open(path) as f:
        return {r["command"]: r for r in json.load(f)["results"]}


def ms(x):
    return x * 1000.0


def fmt_ms(x):
    if x is None:
        return "n/a"
    return f"{ms(x):.1f} ms" if ms(x) < 1000 else f"{x:.2f} s"


def report(args):
    meta = json.load(open(args.meta))
    fan = load_results(args.fanout)
    loop = load_results(args.loop) if args.loop else {}
    start = load_results(args.startup)

    names = {1: "1 context", 50: "50 contexts", 200: "200 contexts"}
    base = fan[names[1]]["mean"]
    rows = []
    ok_all = True
    for n, name in names.items():
        r = fan[name]
        ratio = r["mean"] / base
        verdict = "" if n == 1 else ("ok" if ratio <= FANOUT_TARGET else f"MISSED ({ratio:.3f})")
        ok_all &= n == 1 or ratio <= FANOUT_TARGET
        rows.append((n, r, ratio, verdict))

    s1 = start["1 context"]
    s1000 = start["1000 contexts"]
    s_ratio = s1000["mean"] / s1["mean"]
    s_ok = ms(s1000["mean"]) < STARTUP_TARGET_MS

    # ---- console summary ----
    print()
    print(f"Fan-out: qctl get clusters -A -o json, +{meta['delay_ms']:g} ms per round trip, {meta['runs']} runs each")
    print(f"  {'contexts':>8}  {'mean':>10}  {'stddev':>9}  {'min':>10}  {'max':>10}  {'t(N)/t(1)':>9}  target <= {FANOUT_TARGET}")
    for n, r, ratio, verdict in rows:
        print(
            f"  {n:>8}  {fmt_ms(r['mean']):>10}  {fmt_ms(r['stddev']):>9}  {fmt_ms(r['min']):>10}  "
            f"{fmt_ms(r['max']):>10}  {ratio:>9.2f}  {verdict}"
        )
    if loop:
        lr = next(iter(loop.values()))
        print(
            f"  reference: shell loop of redis-cli over the 50 proxied endpoints "
            f"({meta['loop_calls']} calls): {fmt_ms(lr['mean'])} ± {fmt_ms(lr['stddev'])} "
            f"({meta['loop_runs']} runs) = {lr['mean'] / fan[names[50]]['mean']:.0f}x qctl over 50"
        )
    print()
    print("Start-up: qctl config get-contexts (no Redis)")
    for name, r in (("1 context", s1), ("1000 contexts", s1000)):
        print(f"  {name:>13}  {fmt_ms(r['mean']):>10} ± {fmt_ms(r['stddev'])}  (min {fmt_ms(r['min'])}, max {fmt_ms(r['max'])})")
    print(
        f"  ratio t(1000)/t(1) = {s_ratio:.2f}; 1000-context mean {ms(s1000['mean']):.1f} ms, "
        f"target < {STARTUP_TARGET_MS:g} ms: {'ok' if s_ok else 'MISSED'}"
    )
    print()

    # ---- the long form (printed), then BENCHMARKS.md's short sections ----
    machine = f"{meta['nproc']} CPUs ({meta['cpu']}), {meta['kernel']}"
    versions = (
        f"qctl {meta['qctl_rev']}, {meta['hyperfine']}, {meta['redis']}, Python {meta['python']}"
    )
    fan_md = [
        FANOUT_HEADING,
        "",
        f"Measured {meta['date']} on {machine}; {versions}.",
        "",
        "What it measures: `qctl --config FILE get clusters -A -o json >/dev/null` over 1, 50 and 200",
        "contexts. Each context points at its own loopback port of `delay_proxy.py`, which forwards to one",
        "throwaway `redis-server` (seeded with a little go-redis-work-queue data) and delays every",
        f"client-to-server chunk by {meta['delay_ms']:g} ms, so every round trip costs ~{meta['delay_ms']:g} ms more, like a",
        f"remote deployment (the proxy is asyncio, its ports split over {meta['proxy_procs']} processes; the TCP",
        "handshake itself is not delayed). Done one after another, 200 contexts would cost 200× the",
        "single-context time; done concurrently, about the same. Target: t(N)/t(1) ≤ "
        f"{FANOUT_TARGET} (means; hyperfine `-N --warmup 1 --runs {meta['runs']}`, all three in one invocation).",
        "",
        "Per context, with this seed data (two busy workers), qctl sends over one connection (from `qctl -v`): "
        + (", ".join("`" + x + "`" for x in meta.get("qctl_commands", [])) or "n/a")
        + f". t(1) = {ms(base):.0f} ms ≈ {ms(base) / meta['delay_ms']:.1f} × {meta['delay_ms']:g} ms: about "
        f"{round(ms(base) / meta['delay_ms'])} sequential round trips (some commands are pipelined).",
        "",
        "| contexts | mean | σ | min | max | t(N)/t(1) | target ≤ 1.5 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for n, r, ratio, verdict in rows:
        fan_md.append(
            f"| {n} | {fmt_ms(r['mean'])} | {fmt_ms(r['stddev'])} | {fmt_ms(r['min'])} | "
            f"{fmt_ms(r['max'])} | {ratio:.2f} | {verdict or '—'} |"
        )
    if loop:
        lr = next(iter(loop.values()))
        fan_md += [
            "",
            f"For reference, a shell loop of `redis-cli -p PORT` calls over the same 50 proxied endpoints",
            f"({meta['loop_desc']}; {meta['loop_calls']} processes, one round trip each) takes",
            f"**{fmt_ms(lr['mean'])}** ± {fmt_ms(lr['stddev'])} ({meta['loop_runs']} runs), "
            f"{lr['mean'] / fan[names[50]]['mean']:.0f}× qctl over the same 50 contexts.",
        ]
    fan_md += [
        "",
        "Reproduce (builds `target/release/qctl` unless `QCTL_BIN` is set; needs `redis-server`,",
        "`redis-cli`, `hyperfine`, `python3`):",
        "",
        "```sh",
        "bash benches/fanout/run.sh",
        "```",
        "",
        "Knobs (environment): `DELAY_MS` (20), `RUNS` (10), `LOOP_RUNS` (3), `STARTUP_RUNS` (30),",
        "`PROXY_PROCS` (2), `SKIP_LOOP=1`, `QCTL_BIN`, `NO_MARKDOWN=1` (print only), `KEEP_WORK=1` (keep the temp dir: contexts files,",
        "hyperfine JSON, logs).",
        "",
    ]
    start_md = [
        STARTUP_HEADING,
        "",
        f"Measured {meta['date']} on {machine}; {versions}.",
        "",
        "What it measures: `qctl --config FILE config get-contexts >/dev/null` (reads and validates the",
        "contexts file, prints the table; no Redis involved) with a 1,000-context file against a 1-context",
        f"file. Target: the 1,000-context mean under {STARTUP_TARGET_MS:g} ms. hyperfine `-N --warmup 3 --runs {meta['startup_runs']}`.",
        "",
        "| contexts file | mean | σ | min | max |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in (("1 context", s1), ("1,000 contexts", s1000)):
        start_md.append(
            f"| {name} | {fmt_ms(r['mean'])} | {fmt_ms(r['stddev'])} | {fmt_ms(r['min'])} | {fmt_ms(r['max'])} |"
        )
    start_md += [
        "",
        f"t(1000)/t(1) = **{s_ratio:.2f}**; 1,000-context mean **{ms(s1000['mean']):.1f} ms** "
        f"(target < {STARTUP_TARGET_MS:g} ms: {'met' if s_ok else 'MISSED'}).",
        "",
        "Reproduce: `bash benches/fanout/run.sh` (the same script runs both sections).",
        "",
    ]
    print("Details (BENCHMARKS.md keeps the tables, the command and where the time goes):")
    print()
    for line in reflow(fan_md) + reflow(start_md):
        print(line)
    if not args.markdown:
        return 0 if (ok_all and s_ok) else 3
    short = short_sections(meta, rows, fan, loop, names, s1, s1000, s_ratio, s_ok)
    update_markdown(args.markdown, short)
    print(f"updated {args.markdown}")
    return 0 if (ok_all and s_ok) else 3


def short_sections(meta, rows, fan, loop, names, s1, s1000, s_ratio, s_ok):
    """BENCHMARKS.md's two sections: a table, the command, where the time goes."""
    when = f"{meta['date']}, qctl {meta['qctl_rev']}"
    base = fan[names[1]]["mean"]
    delay = meta["delay_ms"]
    n_max, _, ratio_max, _ = rows[-1]
    fan_md = [
        FANOUT_HEADING,
        "",
        f"`qctl get clusters -A -o json` over {', '.join(str(n) for n, *_ in rows[:-1])} and {n_max} contexts, "
        f"each on its own port of a proxy that adds {delay:g} ms to every round trip, like a remote deployment "
        f"(hyperfine, {meta['runs']} runs each; {when}):",
        "",
        f"| contexts | mean | σ | min | max | t(N)/t(1) | target ≤ {FANOUT_TARGET} |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for n, r, ratio, verdict in rows:
        v = "—" if n == 1 else ("met" if ratio <= FANOUT_TARGET else f"**missed** ({ratio:.3f})")
        fan_md.append(
            f"| {n} | {fmt_ms(r['mean'])} | {fmt_ms(r['stddev'])} | {fmt_ms(r['min'])} | "
            f"{fmt_ms(r['max'])} | {ratio:.2f} | {v} |"
        )
    commands = meta.get("qctl_commands", [])
    where = (
        f"**Where the time goes.** One context costs about {round(ms(base) / delay)} sequential round trips of "
        f"{delay:g} ms (t(1) = {ms(base):.0f} ms ≈ {ms(base) / delay:.1f} × {delay:g} ms"
        + (f"; some of its {len(commands)} commands are pipelined" if commands else "")
        + f"). The contexts run concurrently, so {n_max} of them cost {ratio_max:.2f}× one context, not "
        f"{n_max}×: what grows with N is the work per context of qctl and of the delay proxy, which share the "
        f"machine's {meta['nproc']} CPUs."
    )
    if loop:
        lr = next(iter(loop.values()))
        where += (
            f" A shell loop of `redis-cli` over the same 50 endpoints, one process and one round trip per command "
            f"({meta['loop_calls']} in all), takes {fmt_ms(lr['mean'])}"
            + (f" ± {fmt_ms(lr['stddev'])}" if lr.get("stddev") is not None else "")
            + f" ({meta['loop_runs']} run{'' if meta['loop_runs'] == 1 else 's'}), "
            f"{lr['mean'] / fan[names[50]]['mean']:.0f}× qctl over the same 50 contexts."
        )
    fan_md += [
        "",
        "```sh",
        "bash benches/fanout/run.sh",
        "```",
        "",
        where,
        "",
        "The script also prints the commands qctl sends per context (from `qctl -v`) and how the proxy works; "
        "its header lists the knobs.",
        "",
    ]
    fastest = ms(s1000["min"])
    start_md = [
        STARTUP_HEADING,
        "",
        "`qctl config get-contexts` (read and validate the contexts file, print the table; no Redis) on a "
        f"1,000-context file against a 1-context one (hyperfine, {meta['startup_runs']} runs each; {when}):",
        "",
        "| contexts file | mean | σ | min | max | target |",
        "| ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for name, r, target in (
        ("1 context", s1, "—"),
        ("1,000 contexts", s1000, f"< {STARTUP_TARGET_MS:g} ms: {'met' if s_ok else '**missed**'}"),
    ):
        start_md.append(
            f"| {name} | {fmt_ms(r['mean'])} | {fmt_ms(r['stddev'])} | {fmt_ms(r['min'])} | {fmt_ms(r['max'])} "
            f"| {target} |"
        )
    start_md += [
        "",
        "```sh",
        "bash benches/fanout/run.sh",
        "```",
        "",
        "**Where the time goes.** All of it is qctl's own: starting, reading and validating the file, printing "
        f"one row per context; 1,000 contexts cost {s_ratio:.2f}× one. "
        + (
            f"The fastest 1,000-context run, {fastest:.1f} ms, is under the target, and so is the mean."
            if s_ok and fastest < STARTUP_TARGET_MS
            else f"The fastest 1,000-context run, {fastest:.1f} ms, is under the target; the mean is not, with "
            f"runs up to {fmt_ms(s1000['max'])} (σ {fmt_ms(s1000['stddev'])}) on {meta['nproc']} CPUs."
            if fastest < STARTUP_TARGET_MS
            else f"Even the fastest 1,000-context run, {fastest:.1f} ms, is over the target (σ "
            f"{fmt_ms(s1000['stddev'])} on {meta['nproc']} CPUs)."
        ),
        "",
        "The fan-out script runs this too and prints it with the fan-out's figures.",
        "",
    ]
    return {FANOUT_HEADING: fan_md, STARTUP_HEADING: start_md}


def reflow(lines):
    """Joins each prose paragraph into one line (tables, fences and headings stay as they are)."""
    out, fence = [], False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
            out.append(line)
            continue
        prose = not fence and line.strip() and not line.startswith(("|", "#"))
        prev = out[-1] if out else ""
        prev_prose = prev.strip() and not prev.startswith(("|", "#", "```")) and not fence
        if prose and out and prev_prose and getattr(reflow, "_open", False):
            out[-1] = prev + " " + line.strip()
        else:
            out.append(line)
        reflow._open = bool(prose)
    return out


def update_markdown(path, sections):
    """Replaces our `## ` sections in place (or appends them); leaves every other section alone."""
    if os.path.exists(path):
        text = open(path).read()
    else:
        text = "# Benchmarks\n\nPerformance figures for qctl, each with the command that reproduces it.\n"
    lines = text.split("\n")
    # Split into a preamble and `## ` sections (a heading line plus what follows, up to the next `## `).
    blocks, cur = [], []
    in_fence = False
    for line in lines:
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and re.match(r"^## ", line):
            blocks.append(cur)
            cur = [line]
        else:
            cur.append(line)
    blocks.append(cur)
    done = set()
    out = []
    for b in blocks:
        head = b[0].rstrip() if b else ""
        if head in sections:
            out.append(sections[head])
            done.add(head)
        else:
            out.append(b)
    for head, body in sections.items():
        if head not in done:
            if out and out[-1] and out[-1][-1].strip() != "":
                out[-1] = out[-1] + [""]
            out.append(body)
    text = "\n".join("\n".join(b) for b in out)
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd == "free-port":
        free_port()
    elif cmd == "contexts":
        contexts(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
    elif cmd == "check":
        check(sys.argv[2], int(sys.argv[3]))
    elif cmd == "report":
        ap = argparse.ArgumentParser()
        ap.add_argument("--fanout", required=True)
        ap.add_argument("--loop")
        ap.add_argument("--startup", required=True)
        ap.add_argument("--meta", required=True)
        ap.add_argument("--markdown")
        sys.exit(report(ap.parse_args(sys.argv[2:])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
