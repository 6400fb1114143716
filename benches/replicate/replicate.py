#!/usr/bin/env python3
"""Helpers for benches/replicate/run.sh (python3 stdlib only).

    replicate.py free-port
    replicate.py jobs --count N [--key KEY]        # LPUSH N jobs, Redis protocol on stdout, for redis-cli --pipe
    replicate.py job N                             # print job N's payload
    replicate.py payload-bytes                     # mean payload size over a sample of jobs
    replicate.py redis PORT CMD [ARG...]           # one command, reply printed (a tiny redis-cli)
    replicate.py wait-lazyfree PORT                # until INFO lazyfree_pending_objects is 0
    replicate.py stats-begin PORT STATE.json       # RESETSTAT, SLOWLOG on for every command
    replicate.py stats-end PORT STATE.json OUT.json
    replicate.py run OUT.json STDOUT STDERR -- CMD...          # wall clock, peak RSS, CPU (/usr/bin/time -v)
    replicate.py baseline OUT.json OUTPUT -- redis-benchmark ...  # runs it, parses its requests/s
    replicate.py check-copy SRC_PORT DST_PORT KEY N RESULT.json OUT.json COPIED DUPS [--full]
    replicate.py check-dry DST_PORT KEY N RESULT.json OUT.json    # a --dry-run on an empty target
    replicate.py record RESULTS.json NAME [key=value | KEY=@file.json ...]
    replicate.py report RESULTS.json [--markdown BENCHMARKS.md]

A check prints `MISSED: ...` lines and exits 3 when qctl's answer or what it
left in Redis is wrong; any other failure exits 1.

Jobs are go-redis-work-queue payloads of about 200 bytes of JSON (the shape
of benches/writes/seed.py, with a 16-hex-digit span id), numbered 1..N and
pushed the way producers push them (LPUSH, 1,000 per command, job 1 first),
so job 1, the oldest, is at the right end (the consumer end) and job N at
index 0:

    {"id":"job-0000123","filepath":"/data/invoices/2026/0000123.pdf","filesize":...,
     "priority":"high","retries":3,"creation_time":"2025-01-14T10:30:00.123Z",
     "trace_id":"","span_id":"9e3779b97f4a7c15"}

The RESP client, the SLOWLOG/commandstats accounting and the lazy-free wait
are imported from benches/writes/bench.py.
"""

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
HERE = os.path.dirname(os.path.abspath(__file__))


def _load_writes_bench():
    path = os.path.join(HERE, "..", "writes", "bench.py")
    spec = importlib.util.spec_from_file_location("writes_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


wb = _load_writes_bench()
Redis, show, Check = wb.Redis, wb.show, wb.Check

START = "<!-- replicate:start -->"
END = "<!-- replicate:end -->"
HEADING = "## Replicate: copying a queue between two servers"
QUEUE = "high"
PER_COMMAND = 1000
ISSUE = (
    "Copy 1,000,000 jobs (about 200 bytes each) from one local server to another. Target: at least half "
    "the rate of `redis-benchmark -t lpush -P 100 -d 200` on the same machine, measured in the same run, "
    "with peak RSS under 100 MB; and peak RSS still under 100 MB for 5,000,000 jobs. Record the figures "
    "and the command in BENCHMARKS.md."
)
RATIO_TARGET = 0.5
RSS_TARGET_MIB = 100


# ---------------------------------------------------------------- seed data


def job(n):
    ms = n % 1000
    sec = (n // 1000) % 60
    minute = (n // 60000) % 60
    hour = 10 + (n // 3600000) % 10
    span = (n * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return (
        f'{{"id":"job-{n:07d}","filepath":"/data/invoices/2026/{n:07d}.pdf","filesize":{1024 + (n * 7919) % 1048576},'
        f'"priority":"high","retries":3,"creation_time":"2025-01-14T{hour:02d}:{minute:02d}:{sec:02d}.{ms:03d}Z",'
        f'"trace_id":"","span_id":"{span:016x}"}}'
    ).encode()


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def jobs(out, count, key):
    head_key = bulk(key.encode())
    buf, size = [], 0
    for start in range(1, count + 1, PER_COMMAND):
        end = min(count, start + PER_COMMAND - 1)
        parts = [b"*%d\r\n$5\r\nLPUSH\r\n" % (end - start + 3), head_key]
        parts.extend(bulk(job(n)) for n in range(start, end + 1))
        chunk = b"".join(parts)
        buf.append(chunk)
        size += len(chunk)
        if size > 1 << 22:
            out.write(b"".join(buf))
            buf, size = [], 0
    out.write(b"".join(buf))


def payload_bytes():
    sample = [len(job(n)) for n in range(1, 5_000_001, 4999)]
    return round(statistics.mean(sample))


def job_id(v):
    if v is None:
        return None
    m = re.search(rb'"id":"([^"]*)"', v)
    return m.group(1).decode() if m else show(v)[:40]


# ---------------------------------------------------------------- running things


def run(out_path, stdout_path, stderr_path, argv):
    """One process under /usr/bin/time -v: wall clock (taken around it), peak RSS, user and system CPU."""
    time_bin = "/usr/bin/time"
    have_time = os.access(time_bin, os.X_OK) and os.environ.get("NO_TIME") != "1"
    tv = out_path + ".time"
    full = [time_bin, "-v", "-o", tv] + argv if have_time else argv
    with open(stdout_path, "wb") as o, open(stderr_path, "wb") as e:
        t0 = time.perf_counter_ns()
        rc = subprocess.call(full, stdin=subprocess.DEVNULL, stdout=o, stderr=e)
        t1 = time.perf_counter_ns()
    rss = user = sys_s = None
    if have_time and os.path.exists(tv):
        for line in open(tv):
            k, _, v = line.strip().rpartition(": ")
            if k == "Maximum resident set size (kbytes)":
                rss = int(v)
            elif k == "User time (seconds)":
                user = float(v)
            elif k == "System time (seconds)":
                sys_s = float(v)
        os.unlink(tv)
    doc = {"wall_s": (t1 - t0) / 1e9, "rss_kib": rss, "user_s": user, "sys_s": sys_s, "rc": rc, "argv": argv}
    json.dump(doc, open(out_path, "w"))
    cpu = f", CPU {user + sys_s:.2f} s (user {user:.2f}, sys {sys_s:.2f})" if user is not None else ""
    print(
        f"  {os.path.basename(argv[0])} {' '.join(argv[1:3])}...: {(t1 - t0) / 1e6:.1f} ms wall, "
        f"peak RSS {rss / 1024 if rss else float('nan'):.1f} MiB{cpu}, exit {rc}",
        file=sys.stderr,
    )
    return 0


def baseline(out_path, output_path, argv):
    """redis-benchmark, timed; its last `LPUSH: N requests per second` is the figure."""
    t0 = time.perf_counter_ns()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t1 = time.perf_counter_ns()
    text = p.stdout.decode(errors="replace")
    open(output_path, "w").write(text)
    # -q prints progress lines separated by \r, then the final one.
    found = re.findall(r"LPUSH: ([0-9.]+) requests per second", text)
    if p.returncode != 0 or not found:
        print(f"redis-benchmark exited {p.returncode}; output:\n{text[-2000:]}", file=sys.stderr)
        return 1
    rps = float(found[-1])
    final = text.replace("\r", "\n").strip().splitlines()[-1].strip()
    json.dump({"rps": rps, "wall_s": (t1 - t0) / 1e9, "line": final, "argv": argv}, open(out_path, "w"))
    print(f"  redis-benchmark: {rps:,.0f} requests/s ({(t1 - t0) / 1e6:.0f} ms wall): {final}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- checks


def check_copy(src_port, dst_port, key, n, result_path, out_path, want_copied, want_dups, full):
    rerun = want_copied == 0
    c = Check(f"replicate of {n:,} jobs" + (" (re-run over a full copy)" if rerun else ""))
    it = wb.read_result(c, result_path, "copied", want_copied)
    if it:
        c.expect(it.get("context") == "dst", f"the result is for context {it.get('context')!r}, expected 'dst'")
        c.expect(it.get("skipped_duplicates") == want_dups,
                 f"skipped_duplicates is {it.get('skipped_duplicates')!r}, expected {want_dups}")
    src, dst = Redis(src_port), Redis(dst_port)
    ls, ld = src.cmd("LLEN", key), dst.cmd("LLEN", key)
    c.facts.update({"llen_src": ls, "llen_dst": ld})
    c.expect(ls == n, f"source LLEN {key} is {ls}, expected {n} (a copy leaves the source alone)")
    c.expect(ld == n, f"target LLEN {key} is {ld}, expected {n}")
    for name, r in (("source", src), ("target", dst)):
        dbsize = r.cmd("DBSIZE")
        c.expect(dbsize == 1, f"{name} DBSIZE is {dbsize}, expected 1 ({key} only)")
    ends = {}
    for name, r in (("src", src), ("dst", dst)):
        ends[name] = [r.cmd("LINDEX", key, 0), r.cmd("LINDEX", key, -1)]
    c.facts["ends"] = {k: [job_id(x) for x in v] for k, v in ends.items()}
    c.expect(ends["dst"][0] == ends["src"][0],
             f"target LINDEX 0 is {job_id(ends['dst'][0])}, source's is {job_id(ends['src'][0])}")
    c.expect(ends["dst"][1] == ends["src"][1],
             f"target LINDEX -1 is {job_id(ends['dst'][1])}, source's is {job_id(ends['src'][1])}")
    c.expect(ends["src"][0] == job(n) and ends["src"][1] == job(1),
             f"the source's ends are {job_id(ends['src'][0])} .. {job_id(ends['src'][1])}, expected "
             f"job-{n:07d} .. job-0000001 (the seed)")
    # 1,001 positions spread over the list (the ends included), same payload on both sides.
    idx = sorted({i * (n - 1) // 1000 for i in range(1001)})
    for r in (src, dst):
        r.sock.sendall(b"".join(b"*3\r\n$6\r\nLINDEX\r\n" + bulk(key.encode()) + bulk(str(i).encode()) for i in idx))
    diff = 0
    for i in idx:
        a, b = src.read(), dst.read()
        if a != b or a != job(n - i):
            diff += 1
            if diff <= 3:
                c.expect(False, f"index {i}: source {job_id(a)}, target {job_id(b)}, expected job-{n - i:07d}")
    c.facts["sampled"] = len(idx)
    if diff > 3:
        c.expect(False, f"{diff} of {len(idx)} sampled positions differ")
    if full:
        _check_all(c, dst, key, n)
        c.facts["full_check"] = True
    if not c.problems:
        print(
            f"  ok: copied {it.get('copied'):,}, skipped_duplicates {it.get('skipped_duplicates'):,}; "
            f"LLEN {ld:,} on both; ends {job_id(ends['dst'][0])} .. {job_id(ends['dst'][1])} on both; "
            f"{len(idx):,} sampled positions equal"
            + ("; every payload in the target compared with the seed, in order" if full else ""),
            file=sys.stderr,
        )
    return c.done(out_path)


def check_dry(dst_port, key, n, result_path, out_path):
    """A --dry-run on an empty target: the plan counts every job as to copy, and nothing is written."""
    c = Check(f"replicate --dry-run of {n:,} jobs")
    try:
        doc = json.load(open(result_path))
    except (OSError, ValueError) as e:
        c.expect(False, f"qctl's output {result_path} is not a JSON document: {e}")
        return c.done(out_path)
    c.expect(doc.get("kind") == "ActionResult" and doc.get("dry_run") is True,
             f"kind {doc.get('kind')!r}, dry_run {doc.get('dry_run')!r}, expected an ActionResult with dry_run true")
    res = doc.get("results") or []
    if c.expect(len(res) == 1, f"{len(res)} result items, expected 1"):
        it = res[0]
        c.expect(it.get("status") == "ok", f"status {it.get('status')!r}, expected 'ok'")
        c.expect(it.get("copied") == n and it.get("skipped_duplicates") == 0,
                 f"copied {it.get('copied')!r}, skipped_duplicates {it.get('skipped_duplicates')!r}, expected {n} and 0")
    dbsize = Redis(dst_port).cmd("DBSIZE")
    c.expect(dbsize == 0, f"the target's DBSIZE is {dbsize} after a dry run, expected 0")
    if not c.problems:
        print(f"  ok: dry run plans {n:,} to copy, 0 already there; the target still empty", file=sys.stderr)
    return c.done(out_path)


def _check_all(c, r, key, n):
    """Every payload of the target, left to right, against job(n) .. job(1)."""
    k = n
    bad = 0
    for v in r.lrange_pages(key):
        if k < 1:
            c.expect(False, f"{key} has more than {n} jobs")
            return
        if v != job(k):
            bad += 1
            if bad <= 3:
                c.expect(False, f"{key}[{n - k}] is {job_id(v)}, expected job-{k:07d} unchanged")
        k -= 1
    c.expect(k == 0, f"{key} ends after {n - k} jobs, expected {n}")
    if bad > 3:
        c.expect(False, f"{bad} payloads in all differ from the seed")


# ---------------------------------------------------------------- results


def record(results_path, name, pairs):
    doc = json.load(open(results_path)) if os.path.exists(results_path) else {"meta": {}, "runs": {}}
    if name == "meta":
        for p in pairs:
            k, _, v = p.partition("=")
            doc["meta"][k] = int(v) if re.fullmatch(r"-?\d+", v) else v
    else:
        entry = {}
        for p in pairs:
            k, _, v = p.partition("=")
            entry[k] = json.load(open(v[1:])) if v.startswith("@") else v
        doc["runs"].setdefault(name, []).append(entry)
    tmp = results_path + ".tmp"
    json.dump(doc, open(tmp, "w"), indent=1)
    os.replace(tmp, results_path)


med = wb.med
fmt_s, fmt_us, fmt_kib = wb.fmt_s, wb.fmt_us, wb.fmt_kib


def median_run(runs, key):
    """The run whose `key` is the median (the lower one for an even count)."""
    order = sorted(runs, key=key)
    return order[(len(order) - 1) // 2]


def per_command(stats):
    return ", ".join(
        f"{v['calls']:,} × `{k.upper()}` ({fmt_us(v['usec'])})"
        for k, v in sorted(stats["per_command"].items(), key=lambda kv: (-kv[1]["usec"], kv[0]))
    )


def summarize(runs):
    if not runs:
        return None
    walls = [r["run"]["wall_s"] for r in runs]
    rss = [r["run"]["rss_kib"] for r in runs if r["run"].get("rss_kib")]
    rep = median_run(runs, lambda r: r["run"]["wall_s"])
    s = {
        "n": len(runs),
        "wall": med(walls),
        "wall_min": min(walls),
        "wall_max": max(walls),
        "rss": max(rss) if rss else None,
        "ok": all(r.get("check", {}).get("ok", False) and r["run"]["rc"] == 0 for r in runs),
        "duration_ms": med([r.get("check", {}).get("duration_ms") for r in runs]),
        "cpu": med([(r["run"]["user_s"] or 0) + (r["run"]["sys_s"] or 0) for r in runs if r["run"].get("user_s") is not None]),
        "rep": rep,
    }
    for side in ("src", "dst"):
        st = [r[f"stats_{side}"] for r in runs if f"stats_{side}" in r]
        if st:
            s[f"cpu_{side}"] = med([x["cpu_main_s"] for x in st])
            s[f"usec_{side}"] = med([x["usec_total"] for x in st])
            s[f"max_{side}"] = max(st, key=lambda x: x["usec_max"] or 0)
    return s


def summarize_baseline(runs):
    if not runs:
        return None
    rps = [r["baseline"]["rps"] for r in runs]
    return {
        "n": len(runs),
        "rps": med(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "wall": med([r["baseline"]["wall_s"] for r in runs]),
        "line": median_run(runs, lambda r: r["baseline"]["rps"])["baseline"]["line"],
    }


def verdict(ok):
    return "met" if ok else "**missed**"


def report(args):
    doc = json.load(open(args.results))
    m, R = doc["meta"], doc["runs"]
    N, NB = m["jobs"], m.get("jobs_big")
    one, big, again = summarize(R.get("copy")), summarize(R.get("copy_big")), summarize(R.get("rerun"))
    dry = summarize(R.get("dry"))
    b1, bb = summarize_baseline(R.get("baseline")), summarize_baseline(R.get("baseline_big"))
    ok = all(s["ok"] for s in (one, big, again, dry) if s)
    rows = []  # (case, qctl wall, jobs/s, baseline, ratio, rss)
    targets = []

    def row(label, s, base, jobs):
        rate = jobs / s["wall"]
        ratio = rate / base["rps"] if base else None
        rows.append((
            label,
            f"{fmt_s(s['wall'])}" + (f" ({fmt_s(s['wall_min'])} – {fmt_s(s['wall_max'])})" if s["n"] > 1 else ""),
            f"{rate:,.0f}",
            f"{base['rps']:,.0f} req/s" + (f" ({base['rps_min']:,.0f} – {base['rps_max']:,.0f})" if base["n"] > 1 else "")
            if base else "n/a",
            "n/a" if ratio is None else f"**{ratio:.3f}** ({verdict(ratio >= RATIO_TARGET)})",
            "n/a" if s["rss"] is None else f"**{fmt_kib(s['rss'])}** ({verdict(s['rss'] / 1024 < RSS_TARGET_MIB)})",
        ))
        if ratio is not None:
            targets.append(ratio >= RATIO_TARGET)
        if s["rss"] is not None:
            targets.append(s["rss"] / 1024 < RSS_TARGET_MIB)
        return rate, ratio

    if one:
        row(f"{N:,} jobs (median of {one['n']})" if one["n"] > 1 else f"{N:,} jobs (1 run)", one, b1, N)
    if big:
        row(f"{NB:,} jobs (1 run)", big, bb, NB)
    if dry:
        rows.append((
            f"`--dry-run` on the empty target, {N:,} jobs (the plan alone; 1 run)",
            fmt_s(dry["wall"]),
            "—",
            "—",
            "—",
            "n/a" if dry["rss"] is None else fmt_kib(dry["rss"]),
        ))
    if again:
        rows.append((
            f"re-run over the {N:,} copied jobs: 0 copied, {N:,} skipped",
            fmt_s(again["wall"]),
            f"{N / again['wall']:,.0f} checked",
            "—",
            "—",
            "n/a" if again["rss"] is None else fmt_kib(again["rss"]),
        ))
    targets_met = all(targets) if targets else None
    if one and b1 and len(R["copy"]) == len(R["baseline"]):
        m["pair_ratios"] = ", ".join(
            f"{N / c['run']['wall_s'] / b['baseline']['rps']:.3f}" for c, b in zip(R["copy"], R["baseline"])
        )

    # ---- console ----
    print()
    nruns = one["n"] if one else 0
    print(f"Replicate ({N:,} jobs: {nruns} run{'' if nruns == 1 else 's'}, medians; {NB or 0:,} jobs: 1 run):")
    for label, wall, rate, base, ratio, rss in rows:
        label = label.replace("`", "")
        if base == "—":
            print(f"  {label}: qctl {wall}" + ("" if rate == "—" else f", {rate} jobs/s") + f"; peak RSS {rss}")
            continue
        print(f"  {label}: qctl {wall}, {rate} jobs/s; baseline {base}; ratio {re.sub(r'[*]', '', ratio)}; "
              f"peak RSS {re.sub(r'[*]', '', rss)}")
    print(f"  verifications: {'all passed' if ok else 'FAILED (see MISSED lines above)'}")
    if targets_met is not None:
        print(f"  targets (ratio >= {RATIO_TARGET}, peak RSS < {RSS_TARGET_MIB} MiB): {'met' if targets_met else 'NOT met'}")
    print()

    if args.markdown:
        update_markdown(args.markdown, markdown(m, one, big, again, dry, b1, bb, rows, ok, targets_met))
        print(f"updated {args.markdown}")
    return 0 if ok else 3


def where_time_goes(m, s, N, rerun=False):
    """A paragraph from one summary: qctl's own split, and what each server ran (the median run)."""
    rep = s["rep"]
    windows = N // m["window"] + 1  # the last LRANGE is the short (possibly empty) one
    parts = []
    dur = s["duration_ms"]
    if dur is not None:
        parts.append(
            f"qctl's own `duration_ms` (the copy, after the plan) is {dur / 1000:.2f} s of the {s['wall']:.2f} s wall; "
            f"the other {s['wall'] - dur / 1000:.2f} s are start-up, connecting, the plan (which counts what is "
            f"missing) and the output"
        )
    if s.get("cpu") is not None:
        parts.append(f"qctl used {s['cpu']:.2f} s of CPU (user + system) in all")
        srv = [st["cpu_main_s"] for st in (rep.get("stats_src"), rep.get("stats_dst")) if st]
        if len(srv) == 2:
            busy = "qctl, not Redis, sets the pace" if s["cpu"] > max(srv) * 2 else "Redis takes a fair share"
            parts.append(
                f"the two servers' main threads {srv[0]:.2f} s (source) and {srv[1]:.2f} s (target): {busy}"
            )
    text = "; ".join(parts) + "." if parts else ""
    for side, name in (("src", "source"), ("dst", "target")):
        st = rep.get(f"stats_{side}")
        if not st:
            continue
        lr = st["per_command"].get("lrange", {}).get("calls", 0)
        passes = ""
        if side == "src" and lr:
            passes = f" ({lr:,} `LRANGE` for {windows:,} windows of {m['window']:,}: the source is read {lr / windows:.1f} times)"
        if side == "dst" and lr and not rerun:
            passes = " (`LRANGE` on the empty target: the fingerprints, read by the plan and again by the copy)"
        if side == "dst" and lr and rerun:
            passes = f" ({lr:,} `LRANGE` for {windows:,} windows: the target's fingerprints are read {lr / windows:.1f} times)"
        text += (
            f" The {name} server ran {per_command(st)}{passes}: main-thread CPU {st['cpu_main_s']:.2f} s, "
            f"longest command {fmt_us(st['usec_max'])} (`{st['max_command'][:50]}`)."
        )
    return text.strip()


def markdown(m, one, big, again, dry, b1, bb, rows, ok, targets_met):
    N, NB = m["jobs"], m.get("jobs_big")
    machine = f"{m['nproc']} CPUs ({m['cpu']}), {m['kernel']}, {m['mem_total_mib']:,} MiB RAM"
    cmd = "qctl replicate --from src --to dst --what queues --queue high --yes-i-typed=dst -o json"
    sampled = (one or again or {}).get("rep", {}).get("check", {}).get("sampled", 1001)
    knobs = m.get("knobs", "")
    lines = [
        START,
        HEADING,
        "<!-- generated by benches/replicate/run.sh; a rerun replaces this section, from the start marker above to the end marker below -->",
        "",
        f"Measured {m['date']} on {machine}; qctl {m['qctl_rev']}, Redis {m['redis']} (redis-server and "
        f"redis-benchmark), Python {m['python']}.",
        "",
        f"What it measures (issue text: \"{ISSUE}\"): two throwaway `redis-server`s on 127.0.0.1 (no persistence), "
        f"contexts `src` and `dst` (the built-in `default` schema, kind go-redis-work-queue: queue `high` is `{m['key']}`). The source "
        f"holds go-redis-work-queue jobs of about {m['payload_bytes']} bytes of JSON "
        f"(`{{\"id\":\"job-0000123\",\"filepath\":\"/data/invoices/2026/0000123.pdf\",...,\"span_id\":\"...\"}}`), "
        f"seeded with `redis-cli --pipe` (LPUSH, oldest first); the target is flushed before every run. The command, "
        f"with `QCTL_CONFIG` naming the contexts file, under `/usr/bin/time -v` (wall clock taken around it; peak "
        f"RSS and CPU from it):",
        "",
        "```sh",
        cmd,
        "```",
        "",
        f"The baseline, in the same run on the target server just before each qctl run (then `FLUSHALL`): "
        f"`redis-benchmark -h 127.0.0.1 -p PORT -t lpush -P 100 -d 200 -n JOBS -q` (its own key `mylist`, 50 "
        f"clients, 200-byte values), its requests/s as it prints them. qctl's rate is jobs / wall seconds of the "
        f"whole qctl process; ratio = qctl jobs/s / baseline requests/s (target ≥ {RATIO_TARGET}); peak RSS target "
        f"< {RSS_TARGET_MIB} MiB.",
        "",
        "| case | qctl wall | qctl jobs/s | baseline (redis-benchmark LPUSH) | ratio | qctl peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    lines += [
        "",
        f"Every verification passed: {'yes' if ok else '**NO** (see the script output)'}. "
        + ("" if targets_met is None else f"Targets: {'all met' if targets_met else '**not all met**'}."),
        "",
        f"Checked after every qctl run: the `ActionResult` (`status: ok` for `dst`, `copied` = {N:,} and "
        f"`skipped_duplicates` = 0; on the re-run `copied` = 0 and `skipped_duplicates` = {N:,}), LLEN {N:,} on "
        f"both servers and nothing else in either keyspace, the target's `LINDEX 0` and `LINDEX -1` equal to the "
        f"source's (job-{N:07d} and job-0000001: copies go in the same orientation), the same payload on both "
        f"sides (and the seed's) at {sampled:,} positions spread over the list, and once (the last {N:,}-job copy) every payload of the "
        f"target against the seed, in order. The audit log has one `\"result\":\"ok\"` line per qctl run.",
        "",
    ]
    if one:
        plan = ""
        if dry:
            st = dry["rep"].get("stats_src") or {}
            lr = st.get("per_command", {}).get("lrange", {}).get("calls")
            plan = (
                f" The plan on its own (the same command with `--dry-run`, once, on the empty target) takes "
                f"{fmt_s(dry['wall'])}, {dry['wall'] / one['wall']:.0%} of the copy's wall time"
                + (f", and reads the whole source ({lr:,} `LRANGE`)" if lr else "")
                + (f"; qctl CPU {dry['cpu']:.2f} s" if dry.get("cpu") is not None else "")
                + ". The copy then reads the source again."
            )
        lines += [
            f"**Where the time goes ({N:,} jobs, the median run).** " + where_time_goes(m, one, N) + plan,
            "",
        ]
        if b1:
            pairs = m.get("pair_ratios", "")
            lines += [
                f"Baseline: {b1['rps']:,.0f} requests/s (median of {b1['n']}, from {b1['rps_min']:,.0f} to "
                f"{b1['rps_max']:,.0f}: the machine is shared; the whole redis-benchmark process took "
                f"{fmt_s(b1['wall'])} for {N:,} LPUSHes, {N / b1['wall']:,.0f}/s by wall clock). The ratio in the "
                f"table is median over median"
                + (f"; run by run (each qctl run against the baseline just before it) it was {pairs}" if pairs else "")
                + ".",
                "",
            ]
    if big:
        lines += [
            f"**{NB:,} jobs.** Peak RSS {fmt_kib(big['rss'])} (the {N:,}-job runs: "
            f"{fmt_kib(one['rss']) if one else 'n/a'}): memory is bounded by the window and the target's "
            f"fingerprints (8 bytes a job, the target being empty here), not by the queue. "
            + where_time_goes(m, big, NB),
            "",
        ]
    if again:
        lines += [
            f"**Re-run over a full copy** (the \"re-run after a failure\" cost: the same command again on the "
            f"{N:,} jobs already there, nothing to copy): {fmt_s(again['wall'])}, peak RSS {fmt_kib(again['rss'])}. "
            + where_time_goes(m, again, N, rerun=True),
            "",
        ]
    lines += [
        "Reproduce (builds qctl in release mode with `CARGO_TARGET_DIR=/tmp/qctl-bench-target` unless `QCTL_BIN` "
        "is set; needs `redis-server`, `redis-cli`, `redis-benchmark` (Debian: `redis-tools`), `python3`, and "
        f"`/usr/bin/time` for the RSS figures; about {m['total_s'] // 60} min {m['total_s'] % 60} s here, build "
        "excluded):",
        "",
        "```sh",
        f"{knobs + ' ' if knobs else ''}bash benches/replicate/run.sh",
        "```",
        "",
        "Knobs (environment): `JOBS` (1000000), `JOBS_BIG` (5000000), `RUNS` (3: runs of the `JOBS` case, each "
        "with its own baseline), `BIG_RUN=0` (skip the `JOBS_BIG` case), `QCTL_BIN` (a built qctl), `QCTL_REV` "
        "(build that git revision, exported to `/tmp/qctl-bench-src/<sha>`, in `/tmp/qctl-bench-target-rev`, "
        "instead of the work tree), "
        "`NO_MARKDOWN=1` (print only), `KEEP_WORK=1` (keep the temp dir: contexts file, audit log, qctl output, "
        "per-run JSON). The script checks `MemAvailable` first and stops, saying so, if the two servers would not "
        "hold `JOBS_BIG` jobs each.",
        END,
    ]
    return lines


def update_markdown(path, lines):
    """Replaces the text between our markers (markers included), or appends it at the end."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    block = "\n".join(lines)
    a, b = text.find(START), text.find(END)
    if a != -1 and b > a:
        text = text[:a] + block + text[b + len(END):]
    else:
        if a != -1 or b != -1:
            print(f"warning: {path} has only one of the {START} / {END} markers; appending a new section",
                  file=sys.stderr)
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    text = re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- main


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "free-port":
        wb.free_port()
    elif cmd == "jobs":
        ap = argparse.ArgumentParser(prog="replicate.py jobs")
        ap.add_argument("--count", type=int, required=True)
        ap.add_argument("--key", default="jobqueue:high_priority")
        a = ap.parse_args(rest)
        try:
            jobs(sys.stdout.buffer, a.count, a.key)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            sys.exit("replicate.py: the reader went away (redis-cli --pipe failed?)")
    elif cmd == "job" and len(rest) == 1:
        print(job(int(rest[0])).decode())
    elif cmd == "payload-bytes":
        print(payload_bytes())
    elif cmd == "redis" and len(rest) >= 2:
        wb.redis_cmd(rest[0], rest[1:])
    elif cmd == "wait-lazyfree" and len(rest) == 1:
        wb.wait_lazyfree(rest[0])
    elif cmd == "stats-begin" and len(rest) == 2:
        wb.stats_begin(rest[0], rest[1])
    elif cmd == "stats-end" and len(rest) == 3:
        wb.stats_end(*rest)
    elif cmd == "run" and len(rest) >= 5 and rest[3] == "--":
        sys.exit(run(rest[0], rest[1], rest[2], rest[4:]))
    elif cmd == "baseline" and len(rest) >= 4 and rest[2] == "--":
        sys.exit(baseline(rest[0], rest[1], rest[3:]))
    elif cmd == "check-copy" and len(rest) in (8, 9) and rest[8:] in ([], ["--full"]):
        sys.exit(check_copy(rest[0], rest[1], rest[2], int(rest[3]), rest[4], rest[5], int(rest[6]), int(rest[7]),
                            rest[8:] == ["--full"]))
    elif cmd == "check-dry" and len(rest) == 5:
        sys.exit(check_dry(rest[0], rest[1], int(rest[2]), rest[3], rest[4]))
    elif cmd == "record" and len(rest) >= 2:
        record(rest[0], rest[1], rest[2:])
    elif cmd == "report":
        ap = argparse.ArgumentParser(prog="replicate.py report")
        ap.add_argument("results")
        ap.add_argument("--markdown")
        sys.exit(report(ap.parse_args(rest)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
