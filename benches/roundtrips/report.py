#!/usr/bin/env python3
"""Helpers for benches/roundtrips/run.sh (python3 stdlib only).

    report.py free-port
    report.py contexts OUT.yaml PORTS_FILE SYSTEM...   # SHORT-a and SHORT-b per system
    report.py check SYSTEM COMMAND FILE.json            # the output matches the seed
    report.py time OUT.json RUNS NAME CMD [NAME CMD]... # when hyperfine is missing
    report.py report WORK_DIR [--verbose] [--markdown BENCHMARKS.md]
    report.py proxy-cpu < STATS.json                    # the proxy's CPU, one line
"""

import json
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import time

HEADING = "## Round trips per context (issue 24 baseline)"
FANOUT_HEADING = "## Fan-out: get clusters over N delayed contexts"

# What run.sh measures (its SYSTEMS): the short context prefix, the queue
# system's kind, and whether the contexts log in (the ACL user `bench`, with
# BENCH_REDIS_PASSWORD) and use database 1: that variant shows what
# connection set-up costs.
SYSTEMS = {
    "go-redis-work-queue": ("gowork", "go-redis-work-queue", False),
    "go-redis-work-queue+auth": ("goauth", "go-redis-work-queue", True),
    "sidekiq": ("sidekiq", "sidekiq", False),
    "bullmq": ("bullmq", "bullmq", False),
    "rq": ("rq", "rq", False),
}
LABELS = {"go-redis-work-queue+auth": "go-redis-work-queue, AUTH + SELECT 1"}

# What run.sh seeds, per kind: the truth each command's output is checked against.
EXPECT = {
    "go-redis-work-queue": {"queued": 8, "dead": 1, "workers": 2, "processing": 3},
    "sidekiq": {"queued": 8, "dead": 2, "workers": 1, "scheduled": 2},
    "bullmq": {"queued": 8, "dead": 2, "workers": 1, "scheduled": 2},
    "rq": {"queued": 8, "dead": 2, "workers": 1, "scheduled": 2},
}


def label(system):
    return LABELS.get(system, system)

COMMANDS = ["get clusters", "get queues", "get workers", "health", "compare"]

# Issue 24 item 1: sequential round trips per context.
def rt_target(system):
    # The others discover their queues first.
    return 2 if SYSTEMS[system][1] == "go-redis-work-queue" else 3


def time_target_ms(delay_ms):
    return 2.5 * delay_ms + 10.0


# Commands that only set a connection up: a round trip of nothing but these
# is connection set-up.
SETUP = {"HELLO", "AUTH", "SELECT", "READONLY", "CLIENT SETNAME", "CLIENT SETINFO", "CLIENT TRACKING"}


def slug(command):
    return command.replace(" ", "-")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def contexts(out, ports_file, systems):
    ports = [int(l) for l in open(ports_file) if l.strip()]
    if len(ports) < 2 * len(systems):
        sys.exit(f"report.py: {ports_file} has {len(ports)} ports, need {2 * len(systems)}")
    lines = ["apiVersion: qctl/v1", f"current-context: {SYSTEMS[systems[0]][0]}-a", "clusters:"]
    ctxs, schemas, users = [], [], False
    for i, system in enumerate(systems):
        short, kind, auth = SYSTEMS[system]
        for j, side in enumerate("ab"):
            name = f"{short}-{side}"
            db = 1 if auth else 0
            lines.append(f"  - {{ name: {name}, server: \"redis://127.0.0.1:{ports[2 * i + j]}/{db}\" }}")
            extra = f", schema: {short}" if kind != "go-redis-work-queue" else ""
            extra += ", user: bench" if auth else ""
            ctxs.append(f"  - {{ name: {name}, cluster: {name}{extra} }}")
        if kind != "go-redis-work-queue":
            schemas.append(f"  - {{ name: {short}, kind: {kind} }}")
        users |= auth
    if users:
        lines += ["users:", "  - { name: bench, username: bench, password-env: BENCH_REDIS_PASSWORD }"]
    lines.append("contexts:")
    lines += ctxs
    if schemas:
        lines.append("queue-schemas:")
        lines += schemas
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, out)
    # context -> port, for the report
    json.dump(
        {f"{SYSTEMS[s][0]}-{side}": ports[2 * i + j] for i, s in enumerate(systems) for j, side in enumerate("ab")},
        open(out + ".ports.json", "w"),
    )


def check(system, command, path):
    """Refuses (exit 1) an output that does not match what run.sh seeded."""
    kind = SYSTEMS[system][1]
    e = EXPECT[kind]
    doc = json.load(open(path))
    problems = []

    def want(what, got, expected):
        if got != expected:
            problems.append(f"{what} is {got!r}, expected {expected!r}")

    if doc.get("errors"):
        problems.append(f"errors: {doc['errors']}")
    items = doc.get("items", [])
    if command == "get clusters":
        want("kind", doc.get("kind"), "ClusterList")
        want("items", len(items), 1)
        if items:
            it = items[0]
            want("system", it.get("system"), kind)
            want("queued", it.get("queued"), e["queued"])
            want("dead_letter", it.get("dead_letter"), e["dead"])
            want("workers", it.get("workers"), e["workers"])
            if "processing" in e:
                want("processing", it.get("processing"), e["processing"])
            if "scheduled" in e:
                want("scheduled", it.get("scheduled"), e["scheduled"])
    elif command == "get queues":
        want("kind", doc.get("kind"), "QueueList")
        want("queued (sum of the work rows)", sum(i.get("length") or 0 for i in items if i.get("role") == "work"), e["queued"])
        want("dead (sum of the dead-letter rows)", sum(i.get("length") or 0 for i in items if i.get("role") == "dead-letter"), e["dead"])
    elif command == "get workers":
        want("kind", doc.get("kind"), "WorkerList")
        want("workers", len(items), e["workers"])
    elif command == "health":
        want("kind", doc.get("kind"), "HealthReport")
        want("items", len(items), 1)
        if items:
            want("healthy", items[0].get("healthy"), True)
    elif command == "compare":
        want("kind", doc.get("kind"), "Comparison")
        want("contexts", len(doc.get("contexts", [])), 2)
        queued = [m for m in doc.get("metrics", []) if m.get("metric") == "queued"]
        want("a `queued` metric", len(queued), 1)
        if queued:
            want("queued of both contexts", [v.get("value") for v in queued[0].get("values", [])], [e["queued"]] * 2)
    if problems:
        sys.exit(f"report.py check: {system} {command}: " + "; ".join(problems) + f" (in {path})")


def time_runs(out, runs, pairs):
    """A stand-in for hyperfine's JSON when it is not installed: wall time of RUNS runs (after one warm-up)."""
    results = []
    for name, cmd in zip(pairs[::2], pairs[1::2]):
        argv = shlex.split(cmd)
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - t0)
        results.append({"command": name, "median": statistics.median(times), "min": min(times), "max": max(times), "times": times})
    json.dump({"results": results}, open(out, "w"))


# ---- the report ----


def load(path):
    with open(path) as f:
        return json.load(f)


def burst_text(b, verbose):
    """One round trip's commands: each name with how many (`LLEN×4`, in order of first use), or
    with --verbose the first words of each command."""
    if verbose:
        more = b["commands"] - len(b["first"])
        return "; ".join(b["first"]) + (f"; … {more} more" if more > 0 else "")
    counts = {}
    for name, n in b["runs"]:
        counts[name] = counts.get(name, 0) + n
    parts = [name if n == 1 else f"{name}×{n}" for name, n in counts.items()]
    counted = sum(counts.values())
    if b["commands"] > counted:
        parts.append(f"… {b['commands'] - counted} more")
    return ", ".join(parts) or f"({b['bytes']} B, not RESP)"


def is_setup(b):
    return b["runs"] and all(name in SETUP for name, _ in b["runs"])


def context_counts(stats, ports):
    """Per context (proxy port): sequential round trips, set-up ones, connections, bursts."""
    out = {}
    for p in stats["ports"]:
        conns = [c for c in stats["conns"] if c["port"] == p["port"]]
        setup_depths = set()
        # A depth is set-up when every burst at that depth, on any connection of the port, is set-up only.
        by_depth = {}
        for c in conns:
            for b in c.get("bursts", []):
                by_depth.setdefault(b["depth"], []).append(b)
        for d, bs in by_depth.items():
            if all(is_setup(b) for b in bs):
                setup_depths.add(d)
        out[p["port"]] = {
            "sequential": p["sequential"],
            "setup": len(setup_depths),
            "connections": p["connections"],
            "bursts": p["round_trips"],
            "conns": conns,
        }
    return out


def summarize(work):
    meta = load(os.path.join(work, "meta.json"))
    ports = load(os.path.join(work, "contexts.yaml.ports.json"))
    rows = []
    for system in meta["systems"]:
        short = SYSTEMS[system][0]
        tpath = os.path.join(work, f"time-{short}.json")
        timing = {r["command"]: r for r in load(tpath)["results"]} if os.path.exists(tpath) else {}
        for command in COMMANDS:
            ctx_ports = [ports[f"{short}-a"]] + ([ports[f"{short}-b"]] if command == "compare" else [])
            runs = []
            for i in range(1, meta["count_runs"] + 1):
                stats = load(os.path.join(work, "counts", f"{short}-{slug(command)}.{i}.json"))
                per = context_counts(stats, ports)
                missing = [p for p in ctx_ports if p not in per]
                if missing:
                    sys.exit(f"report.py: {system} {command}: the proxy saw no connection on port(s) {missing}")
                runs.append((stats, [per[p] for p in ctx_ports]))
            seq = [max(c["sequential"] for c in ctxs) for _, ctxs in runs]
            t = timing.get(command)
            rows.append(
                {
                    "system": system,
                    "command": command,
                    "seq_min": min(seq),
                    "seq_max": max(seq),
                    "setup": max(c["setup"] for _, ctxs in runs for c in ctxs),
                    "connections": max(c["connections"] for _, ctxs in runs for c in ctxs),
                    "bursts": max(c["bursts"] for _, ctxs in runs for c in ctxs),
                    "proxy_cpu_ms": max(s["cpu_since_reset"]["total_s"] for s, _ in runs) * 1000.0,
                    "median_ms": t["median"] * 1000.0 if t else None,
                    "min_ms": t["min"] * 1000.0 if t else None,
                    "max_ms": t["max"] * 1000.0 if t else None,
                    "listing": runs[0][1],
                }
            )
    return meta, rows


def fmt_rt(r):
    return str(r["seq_max"]) if r["seq_min"] == r["seq_max"] else f"{r['seq_min']}-{r['seq_max']}"


def listing_lines(r, verbose, indent="    "):
    lines = []
    for ci, ctx in enumerate(r["listing"]):
        for c in ctx["conns"]:
            label = f"{indent}{'ctx ' + 'ab'[ci] + ', ' if len(r['listing']) > 1 else ''}conn {c['id']}"
            for b in c.get("bursts", []):
                tag = " [set-up]" if is_setup(b) else ""
                lines.append(f"{label}  rt {b['depth']}{tag}: {burst_text(b, verbose)}")
                label = " " * len(label)
    return lines


def report(work, verbose, markdown):
    meta, rows = summarize(work)
    delay = meta["delay_ms"]
    tt = time_target_ms(delay)
    ok_all = True
    print()
    print(
        f"Round trips per context, +{delay:g} ms per round trip (delay proxy), wall time median of {meta['runs']} "
        f"({meta['timer']}); targets (issue 24 item 1): round trips <= 2 (3 for systems that discover their queues), "
        f"t <= 2.5 x {delay:g} + 10 = {tt:g} ms"
    )
    print(f"  {'system':<36} {'command':<13} {'round trips':>11} {'set-up':>6} {'conns':>5} {'target':>6}  {'median':>9} {'min':>9} {'max':>9}  time target")
    for r in rows:
        rt_ok = r["seq_max"] <= rt_target(r["system"])
        t_ok = r["median_ms"] is not None and r["median_ms"] <= tt
        ok_all &= rt_ok and t_ok
        med = f"{r['median_ms']:.1f} ms" if r["median_ms"] is not None else "n/a"
        mn = f"{r['min_ms']:.1f} ms" if r["min_ms"] is not None else ""
        mx = f"{r['max_ms']:.1f} ms" if r["max_ms"] is not None else ""
        print(
            f"  {label(r['system']):<36} {r['command']:<13} {fmt_rt(r):>11} {r['setup']:>6} {r['connections']:>5} "
            f"{('ok' if rt_ok else 'MISSED') + ' ' + str(rt_target(r['system'])):>6}  {med:>9} {mn:>9} {mx:>9}  "
            f"{'ok' if t_ok else 'MISSED'}"
        )
    cpu = max(r["proxy_cpu_ms"] for r in rows)
    print(
        f"  (round trips: sequential, per context, as the proxy counted them over {meta['count_runs']} runs of each command; "
        f"set-up: those carrying only {', '.join(sorted(SETUP))}; conns: connections per context. "
        f"The proxy's CPU during one counted run: at most {cpu:.1f} ms.)"
    )
    print()
    print("What each round trip carried (per context, per connection; `rt N` is the N-th sequential round trip):")
    for r in rows:
        print(f"  {label(r['system'])} {r['command']}:")
        for line in listing_lines(r, verbose):
            print(line)
    print()
    if markdown:
        update_markdown(markdown, section(meta, rows))
        print(f"updated {markdown}")
    return 0 if ok_all else 3


def section(meta, rows):
    delay = meta["delay_ms"]
    tt = time_target_ms(delay)
    systems = meta["systems"]
    by = {(r["system"], r["command"]): r for r in rows}
    md = [
        HEADING,
        "",
        f"Each command on one context (`compare`: two), behind `benches/proxy`, which adds {delay:g} ms to every "
        f"round trip and counts them: a round trip is a burst of requests that follows a reply, and the figure is "
        f"a context's sequential ones (set-up: those that carry only AUTH, HELLO, SELECT, CLIENT SETNAME or the "
        f"like). Each cell: round trips · median wall time of {meta['runs']} runs ({meta['timer']}); **bold**: "
        f"over the target in the last row ({meta['date']}, qctl {meta['qctl_rev']}):",
        "",
        "| command | " + " | ".join(label(s) for s in systems) + " |",
        "| --- | " + " | ".join("---:" for _ in systems) + " |",
    ]
    for command in COMMANDS:
        cells = []
        for system in systems:
            r = by[(system, command)]
            rt = fmt_rt(r) + (f" ({r['setup']} set-up)" if r["setup"] else "")
            if r["seq_max"] > rt_target(system):
                rt = f"**{rt}**"
            med = f"{r['median_ms']:.1f} ms" if r["median_ms"] is not None else "n/a"
            if r["median_ms"] is None or r["median_ms"] > tt:
                med = f"**{med}**"
            cells.append(f"{rt} · {med}")
        name = "compare A B" if command == "compare" else command
        md.append(f"| `{name}` | " + " | ".join(cells) + " |")
    md.append("| target | " + " | ".join(f"≤ {rt_target(s)} · ≤ {tt:g} ms" for s in systems) + " |")
    md += [
        "",
        "```sh",
        "bash benches/roundtrips/run.sh            # --verbose: the first words of every command, per round trip",
        "```",
        "",
    ]
    # Where the round trips go: get clusters per system, from the proxy's listing.
    parts = []
    alone = {}  # command name -> the systems where it has a round trip to itself
    for system in systems:
        r = by[(system, "get clusters")]
        trips = []
        for ctx in r["listing"]:
            for c in ctx["conns"]:
                for b in c.get("bursts", []):
                    trips.append((b["depth"], burst_text(b, False)))
        trips.sort()
        parts.append(f"{label(system)}: " + " · ".join(f"({d}) `{t}`" for d, t in trips))
        for ctx in r["listing"]:
            for c in ctx["conns"]:
                for b in c.get("bursts", []):
                    if b["commands"] == 1 and not is_setup(b):
                        alone.setdefault(b["runs"][0][0], []).append(label(system))
    # compare: the same reading as get clusters, and then?
    def trips_of(r):
        ctx = r["listing"][0]
        return sorted((b["depth"], burst_text(b, False)) for c in ctx["conns"] for b in c.get("bursts", []))

    same, last = True, set()
    for system in systems:
        g, c = trips_of(by[(system, "get clusters")]), trips_of(by[(system, "compare")])
        if c:
            last.add(c[-1][1])
            same &= c[:-1] == g
    compare_note = ""
    if len(last) == 1:
        compare_note = (
            f"`compare A B` reads each context as `get clusters` does and then sends `{last.pop()}` in a round "
            "trip of its own. "
            if same
            else f"`compare A B` ends with a round trip of its own for `{last.pop()}`. "
        )
    # What the set-up-only round trips carried, per system.
    setup = {}
    for r in rows:
        for ctx in r["listing"]:
            for c in ctx["conns"]:
                for b in c.get("bursts", []):
                    if is_setup(b):
                        setup.setdefault(label(r["system"]), set()).add(burst_text(b, False))
    skipped = meta.get("skipped", [])
    md.append(
        "**Where the round trips go.** `get clusters`, from the proxy's listing (`(N)` is the N-th sequential "
        "round trip, `×k` k commands pipelined in it): "
        + "; ".join(parts)
        + ". Round trips that carry a single command: "
        + (
            ", ".join(
                f"`{name}` ({'every system' if len(set(who)) == len(systems) else ', '.join(sorted(set(who)))})"
                for name, who in alone.items()
            )
            or "none"
        )
        + "; the issue's floor sends the latency reading and INFO in the first pipeline, with the queue lengths "
        "and the first SCAN page, and what that SCAN found in the second. "
        + compare_note
        + (
            "Round trips of connection set-up only: "
            + "; ".join(f"{name}: `{'`, `'.join(sorted(texts))}` (one per connection)" for name, texts in setup.items())
            + "; the other contexts send no set-up command. "
            if setup
            else "No round trip is connection set-up only. "
        )
        + "The proxy lets the TCP handshake through undelayed (the kernel completes it), so on a real network "
        "each new connection costs one more round trip than counted here; the wall time also holds qctl's start "
        "(a few ms) and the proxy's timer rounding (under 1 ms a round trip)."
        + (f" Not measured (framework not installed): {', '.join(skipped)}." if skipped else "")
    )
    md.append("")
    md.append(
        "The script also prints min and max beside each median, the listing for every command and system "
        "(with `--verbose`, the first words of each command), and the proxy's own CPU time; its header lists the knobs."
    )
    md.append("")
    return md


def update_markdown(path, lines):
    """Replaces this section (its heading to the next `## `), or appends it."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    body = "\n".join(lines).rstrip("\n") + "\n"
    pat = re.compile(r"^" + re.escape(HEADING) + r"\n.*?(?=^## |^<!-- [a-z]+:start -->|\Z)", re.S | re.M)
    if pat.search(text):
        text = pat.sub(lambda _: body + "\n", text, count=1)
    elif FANOUT_HEADING in text:
        # Next to the fan-out section, its sibling (same proxy, same delay).
        text = text.replace(FANOUT_HEADING, body + "\n" + FANOUT_HEADING, 1)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "free-port":
        free_port()
    elif a[0] == "contexts" and len(a) >= 4:
        contexts(a[1], a[2], a[3:])
    elif a[0] == "check" and len(a) == 4:
        check(a[1], a[2], a[3])
    elif a[0] == "time" and len(a) >= 5:
        time_runs(a[1], int(a[2]), a[3:])
    elif a[0] == "proxy-cpu":
        st = json.load(sys.stdin)
        c = st["cpu"]
        print(
            f"==> delay proxy: CPU user {c['user_s']:.3f} s + sys {c['sys_s']:.3f} s over its whole run of "
            f"{st['uptime_s']:.1f} s ({st['accepted_total']} connections, {st['upstream_failures']} upstream "
            f"failures, max RSS {st['maxrss_kib']} KiB)"
        )
    elif a[0] == "report" and len(a) >= 2:
        verbose = "--verbose" in a
        md = a[a.index("--markdown") + 1] if "--markdown" in a else None
        sys.exit(report(a[1], verbose, md))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
