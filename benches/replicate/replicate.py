#!/usr/bin/env python3
"""Helpers for benches/replicate/run.sh (python3 stdlib only).

    replicate.py free-port
    replicate.py jobs --count N [--key KEY] [--prefix P]  # LPUSH N jobs, Redis protocol on stdout, for redis-cli --pipe
    replicate.py job N [PREFIX]                    # print job N's payload
    replicate.py payload-bytes                     # mean payload size over a sample of jobs
    replicate.py redis PORT CMD [ARG...]           # one command, reply printed (a tiny redis-cli)
    replicate.py wait-lazyfree PORT                # until INFO lazyfree_pending_objects is 0
    replicate.py stats-begin PORT STATE.json       # RESETSTAT, SLOWLOG on for every command
    replicate.py stats-end PORT STATE.json OUT.json
    replicate.py run OUT.json STDOUT STDERR -- CMD...          # wall clock, peak RSS, CPU (/usr/bin/time -v)
    replicate.py baseline OUT.json OUTPUT -- redis-benchmark ...  # runs it, parses its requests/s
    replicate.py check-copy SRC_PORT DST_PORT KEY N RESULT.json OUT.json COPIED DUPS [--extra E] [--full]
    replicate.py check-dry DST_PORT KEY N RESULT.json OUT.json [--extra E]  # a --dry-run (target: E other jobs)
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

The non-empty-target case first gives the target E jobs of the same shape
whose ids occur nowhere in the source (`other-0000001` .. , `--prefix
other`), pushed the same way, so other-0000001 is the target's right end.

The RESP client, the SLOWLOG/commandstats accounting and the lazy-free wait
are imported from benches/writes/bench.py.
"""

import argparse
import importlib.util
import itertools
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


OTHER = "other"  # the id prefix of the jobs already in a non-empty target


def job(n, prefix="job"):
    ms = n % 1000
    sec = (n // 1000) % 60
    minute = (n // 60000) % 60
    hour = 10 + (n // 3600000) % 10
    span = (n * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return (
        f'{{"id":"{prefix}-{n:07d}","filepath":"/data/invoices/2026/{n:07d}.pdf","filesize":{1024 + (n * 7919) % 1048576},'
        f'"priority":"high","retries":3,"creation_time":"2025-01-14T{hour:02d}:{minute:02d}:{sec:02d}.{ms:03d}Z",'
        f'"trace_id":"","span_id":"{span:016x}"}}'
    ).encode()


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def jobs(out, count, key, prefix="job"):
    head_key = bulk(key.encode())
    buf, size = [], 0
    for start in range(1, count + 1, PER_COMMAND):
        end = min(count, start + PER_COMMAND - 1)
        parts = [b"*%d\r\n$5\r\nLPUSH\r\n" % (end - start + 3), head_key]
        parts.extend(bulk(job(n, prefix)) for n in range(start, end + 1))
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


def check_copy(src_port, dst_port, key, n, result_path, out_path, want_copied, want_dups, full, extra=0):
    """A copy of the source's n jobs; with extra > 0 onto a target that held extra other jobs
    (other-0000001 at its right end): those stay at the consumer end and the copies follow them."""
    rerun = want_copied == 0
    what = f"replicate of {n:,} jobs"
    if rerun:
        what += " (re-run over a full copy)"
    if extra:
        what += f" onto a target holding {extra:,} other jobs"
    c = Check(what)
    it = wb.read_result(c, result_path, "copied", want_copied)
    if it:
        c.expect(it.get("context") == "dst", f"the result is for context {it.get('context')!r}, expected 'dst'")
        c.expect(it.get("skipped_duplicates") == want_dups,
                 f"skipped_duplicates is {it.get('skipped_duplicates')!r}, expected {want_dups}")
    src, dst = Redis(src_port), Redis(dst_port)
    ls, ld = src.cmd("LLEN", key), dst.cmd("LLEN", key)
    c.facts.update({"llen_src": ls, "llen_dst": ld, "extra": extra})
    c.expect(ls == n, f"source LLEN {key} is {ls}, expected {n} (a copy leaves the source alone)")
    c.expect(ld == n + extra, f"target LLEN {key} is {ld}, expected {n + extra}"
             + (f" ({n:,} copied + {extra:,} already there)" if extra else ""))
    for name, r in (("source", src), ("target", dst)):
        dbsize = r.cmd("DBSIZE")
        c.expect(dbsize == 1, f"{name} DBSIZE is {dbsize}, expected 1 ({key} only)")
    ends = {}
    for name, r in (("src", src), ("dst", dst)):
        ends[name] = [r.cmd("LINDEX", key, 0), r.cmd("LINDEX", key, -1)]
    c.facts["ends"] = {k: [job_id(x) for x in v] for k, v in ends.items()}
    c.expect(ends["src"][0] == job(n) and ends["src"][1] == job(1),
             f"the source's ends are {job_id(ends['src'][0])} .. {job_id(ends['src'][1])}, expected "
             f"job-{n:07d} .. job-0000001 (the seed)")
    c.expect(ends["dst"][0] == ends["src"][0],
             f"target LINDEX 0 is {job_id(ends['dst'][0])}, source's is {job_id(ends['src'][0])}")
    if extra:
        # The jobs that were there run first: the oldest of them is still the consumer end,
        # the newest of them is next to the oldest copied job, which is the source's right end.
        joint = [dst.cmd("LINDEX", key, -extra), dst.cmd("LINDEX", key, -(extra + 1))]
        c.facts["joint"] = [job_id(x) for x in joint]
        c.expect(ends["dst"][1] == job(1, OTHER),
                 f"target LINDEX -1 is {job_id(ends['dst'][1])}, expected {OTHER}-0000001 (the jobs already "
                 f"there stay at the consumer end)")
        c.expect(joint[0] == job(extra, OTHER),
                 f"target LINDEX -{extra} is {job_id(joint[0])}, expected {OTHER}-{extra:07d}")
        c.expect(joint[1] == ends["src"][1],
                 f"target LINDEX -{extra + 1} is {job_id(joint[1])}, source's LINDEX -1 is "
                 f"{job_id(ends['src'][1])} (the copies come after the jobs already there, oldest first)")
    else:
        c.expect(ends["dst"][1] == ends["src"][1],
                 f"target LINDEX -1 is {job_id(ends['dst'][1])}, source's is {job_id(ends['src'][1])}")
    # 1,001 positions spread over the copied jobs (the ends included), same payload on both sides.
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
    # And up to 101 positions over the jobs that were already there (the target's right end).
    if extra:
        kdx = sorted({k * (extra - 1) // 100 for k in range(101)})
        dst.sock.sendall(b"".join(b"*3\r\n$6\r\nLINDEX\r\n" + bulk(key.encode()) + bulk(str(n + k).encode())
                                  for k in kdx))
        bad = 0
        for k in kdx:
            v = dst.read()
            if v != job(extra - k, OTHER):
                bad += 1
                if bad <= 3:
                    c.expect(False, f"target index {n + k}: {job_id(v)}, expected {OTHER}-{extra - k:07d}")
        c.facts["sampled_extra"] = len(kdx)
        if bad > 3:
            c.expect(False, f"{bad} of {len(kdx)} sampled positions of the jobs already there differ")
    if full:
        _check_all(c, dst, key, n, extra)
        c.facts["full_check"] = True
    if not c.problems:
        there = (f"; {OTHER}-{extra:07d} .. {OTHER}-0000001 still at the consumer end, the copies after them "
                 f"({c.facts['sampled_extra']:,} of them sampled)"
                 if extra else "")
        print(
            f"  ok: copied {it.get('copied'):,}, skipped_duplicates {it.get('skipped_duplicates'):,}; "
            f"LLEN {ls:,} source, {ld:,} target; ends {job_id(ends['dst'][0])} .. {job_id(ends['dst'][1])} "
            f"on the target; {len(idx):,} sampled positions equal{there}"
            + ("; every payload in the target compared with the seed, in order" if full else ""),
            file=sys.stderr,
        )
    return c.done(out_path)


def check_dry(dst_port, key, n, result_path, out_path, extra=0):
    """A --dry-run onto a target holding extra other jobs (0: empty): the plan counts every job as
    to copy, none as there, and nothing is written."""
    c = Check(f"replicate --dry-run of {n:,} jobs" + (f" onto a target holding {extra:,} other jobs" if extra else ""))
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
    r = Redis(dst_port)
    dbsize, llen = r.cmd("DBSIZE"), r.cmd("LLEN", key)
    c.expect(dbsize == (1 if extra else 0) and llen == extra,
             f"the target's DBSIZE is {dbsize}, LLEN {key} {llen} after a dry run, expected "
             f"{1 if extra else 0} and {extra} (as before it)")
    if extra:
        c.expect(r.cmd("LINDEX", key, 0) == job(extra, OTHER) and r.cmd("LINDEX", key, -1) == job(1, OTHER),
                 "the target's ends changed in a dry run")
    if not c.problems:
        print(f"  ok: dry run plans {n:,} to copy, 0 already there; the target "
              + (f"still holds its {extra:,} jobs, unchanged" if extra else "still empty"), file=sys.stderr)
    return c.done(out_path)


def _check_all(c, r, key, n, extra=0):
    """Every payload of the target, left to right, against job(n) .. job(1), then (extra > 0)
    other(extra) .. other(1)."""
    want = ((k, "job") for k in range(n, 0, -1))
    if extra:
        want = itertools.chain(want, ((k, OTHER) for k in range(extra, 0, -1)))
    total, seen, bad = n + extra, 0, 0
    for v in r.lrange_pages(key):
        w = next(want, None)
        if w is None:
            c.expect(False, f"{key} has more than {total} jobs")
            return
        if v != job(*w):
            bad += 1
            if bad <= 3:
                c.expect(False, f"{key}[{seen}] is {job_id(v)}, expected {w[1]}-{w[0]:07d} unchanged")
        seen += 1
    c.expect(seen == total, f"{key} ends after {seen} jobs, expected {total}")
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


def lrange_calls(stats):
    return (stats or {}).get("per_command", {}).get("lrange", {}).get("calls", 0)


def report(args):
    doc = json.load(open(args.results))
    m, R = doc["meta"], doc["runs"]
    N, NB, E = m["jobs"], m.get("jobs_big"), m.get("target_extra")
    one, big, again = summarize(R.get("copy")), summarize(R.get("copy_big")), summarize(R.get("rerun"))
    ne = summarize(R.get("nonempty"))
    dry, dry_ne = summarize(R.get("dry")), summarize(R.get("dry_nonempty"))
    b1, bb = summarize_baseline(R.get("baseline")), summarize_baseline(R.get("baseline_big"))
    bne = summarize_baseline(R.get("baseline_nonempty"))
    ok = all(s["ok"] for s in (one, ne, big, again, dry, dry_ne) if s)
    rows = []  # (case, qctl wall, jobs/s, baseline, ratio, rss)
    targets = []  # (case, met)

    def row(label, short, s, base, jobs):
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
            targets.append((f"{short} ratio", ratio >= RATIO_TARGET))
        if s["rss"] is not None:
            targets.append((f"{short} RSS", s["rss"] / 1024 < RSS_TARGET_MIB))
        return rate, ratio

    def runs_label(s):
        return f"median of {s['n']}" if s["n"] > 1 else "1 run"

    if one:
        row(f"{N:,} jobs onto the **empty** target (the shortcut: no fingerprint work; {runs_label(one)})",
            f"{N:,} onto the empty target", one, b1, N)
    if ne:
        row(f"{N:,} jobs onto a target **already holding {E:,} other jobs** (the general path: every job checked "
            f"against the target's fingerprints; {runs_label(ne)})",
            f"{N:,} onto {E:,} other jobs", ne, bne, N)
    if big:
        row(f"{NB:,} jobs onto the **empty** target (the shortcut; 1 run)", f"{NB:,} onto the empty target", big, bb, NB)

    def plan_row(label, s):
        rows.append((label, fmt_s(s["wall"]), "—", "—", "—", "n/a" if s["rss"] is None else fmt_kib(s["rss"])))

    if dry:
        plan_row(f"`--dry-run` on the empty target, {N:,} jobs (the plan alone; 1 run)", dry)
    if dry_ne:
        plan_row(f"`--dry-run` on a target holding {E:,} other jobs, {N:,} jobs (the plan alone; 1 run)", dry_ne)
    if again:
        rows.append((
            f"re-run over the {N:,} copied jobs: 0 copied, {N:,} skipped",
            fmt_s(again["wall"]),
            f"{N / again['wall']:,.0f} checked",
            "—",
            "—",
            "n/a" if again["rss"] is None else fmt_kib(again["rss"]),
        ))
    targets_met = all(t for _, t in targets) if targets else None
    for key, s, base_key in (("pair_ratios", one, "baseline"), ("pair_ratios_nonempty", ne, "baseline_nonempty")):
        copies = R.get("copy" if key == "pair_ratios" else "nonempty") or []
        bases = R.get(base_key) or []
        if s and bases and len(copies) == len(bases):
            m[key] = ", ".join(
                f"{N / c['run']['wall_s'] / b['baseline']['rps']:.3f}" for c, b in zip(copies, bases)
            )

    # ---- console ----
    print()
    head = [f"{N:,} jobs: {plural(one['n'] if one else 0, 'run')} onto the empty target"]
    if ne:
        head.append(f"{plural(ne['n'], 'run')} onto {E:,} other jobs")
    if big:
        head.append(f"{NB:,} jobs: 1 run")
    print(f"Replicate ({', '.join(head)}; medians):")
    for label, wall, rate, base, ratio, rss in rows:
        label = label.replace("`", "").replace("**", "")
        if base == "—":
            print(f"  {label}: qctl {wall}" + ("" if rate == "—" else f", {rate} jobs/s") + f"; peak RSS {rss}")
            continue
        print(f"  {label}: qctl {wall}, {rate} jobs/s; baseline {base}; ratio {re.sub(r'[*]', '', ratio)}; "
              f"peak RSS {re.sub(r'[*]', '', rss)}")
    print(f"  verifications: {'all passed' if ok else 'FAILED (see MISSED lines above)'}")
    if targets_met is not None:
        missed = [name for name, t in targets if not t]
        print(f"  targets (ratio >= {RATIO_TARGET}, peak RSS < {RSS_TARGET_MIB} MiB; "
              f"{', '.join(name for name, _ in targets)}): "
              + ("all met" if targets_met else f"NOT met ({', '.join(missed)})"))
    print()
    S = {"one": one, "ne": ne, "big": big, "again": again, "dry": dry, "dry_ne": dry_ne,
         "b1": b1, "bne": bne, "bb": bb}
    print("Details (BENCHMARKS.md keeps the table, the command and where the time goes):")
    print()
    for line in details(m, S, rows, ok, targets, targets_met):
        if line not in (START, END) and not line.startswith("<!--"):
            print(line)

    if args.markdown:
        update_markdown(args.markdown, markdown(m, S, rows, ok, targets, targets_met))
        print(f"updated {args.markdown}")
    return 0 if ok else 3


def times(x):
    if x < 0.05:
        return "not at all"
    return "once" if abs(x - 1) < 0.05 else "twice" if abs(x - 2) < 0.05 else f"{x:.1f} times"


def where_time_goes(m, s, N, target_jobs=0, plan=None):
    """A paragraph from one summary: qctl's own split, and what each server ran (the median run).

    target_jobs: the jobs in the target before the run; plan: the summary of a --dry-run onto the
    same kind of target, whose reads are the plan's (the rest of the run's reads are the copy's)."""
    rep = s["rep"]
    W = m["window"]
    windows = N // W + 1  # the last LRANGE is the short (possibly empty) one
    pages = target_jobs // W + 1  # the same, for the target's fingerprints
    parts = []
    dur = s["duration_ms"]
    if dur is not None:
        parts.append(
            f"qctl's own `duration_ms` (the copy, after the plan) is {dur / 1000:.2f} s of the {s['wall']:.2f} s wall; "
            f"the other {s['wall'] - dur / 1000:.2f} s are start-up, connecting, the plan and the output"
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
    prep = plan["rep"] if plan else {}
    for side, name in (("src", "source"), ("dst", "target")):
        st = rep.get(f"stats_{side}")
        if not st:
            continue
        lr = lrange_calls(st)
        unit = windows if side == "src" else pages
        split = ""
        if plan and prep.get(f"stats_{side}"):
            p_lr = lrange_calls(prep[f"stats_{side}"])
            split = (f"; the plan alone (its `--dry-run`) ran {p_lr:,} `LRANGE` there, so the plan reads it "
                     f"{times(p_lr / unit)} and the copy {times((lr - p_lr) / unit)}")
        if side == "src":
            passes = (f" ({lr:,} `LRANGE` for {windows:,} windows of {W:,}: the source is read "
                      f"{times(lr / windows)}{split})")
        elif target_jobs == 0:
            passes = (f" ({lr:,} `LRANGE` of the empty target list, returning nothing: the target's fingerprints "
                      f"are read {times(lr / pages)} and come out empty{split})") if lr else \
                " (no `LRANGE`: the target's list is not read)"
        else:
            passes = (f" ({lr:,} `LRANGE` for the {target_jobs:,} jobs it held before the run, {plural(pages, 'page')} "
                      f"of up to {W:,}: the target's fingerprints are read {times(lr / pages)}{split})")
        text += (
            f" The {name} server ran {per_command(st)}{passes}: main-thread CPU {st['cpu_main_s']:.2f} s, "
            f"longest command {fmt_us(st['usec_max'])} (`{st['max_command'][:50]}`)."
        )
        ev = st.get("per_command", {}).get("evalsha")
        if side == "dst" and ev and N and ev["calls"] > 2:  # 2: taking and dropping the lock
            text += (
                f" The target's pushes are qctl's fenced push script (EVALSHA: the lock checked with GET, then the "
                f"window's jobs, passed as ARGV, LPUSHed 1,000 at a time), so each job becomes a Lua string and "
                f"then a Redis argument again on the target's main thread: {ev['usec'] / N:.2f} µs a job there"
            )
            lp = st.get("per_command", {}).get("lpush")
            text += f" against {lp['usec'] / N:.2f} µs for plain LPUSH." if lp else "."
    return text.strip()


def plural(n, what):
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def plan_text(m, dry, copy, N, where):
    """What the plan alone costs and reads, from a --dry-run onto the same kind of target."""
    windows = N // m["window"] + 1
    st = dry["rep"].get("stats_src") or {}
    lr = lrange_calls(st)
    text = (f"The plan on its own (the same command with `--dry-run`, once, {where}) takes {fmt_s(dry['wall'])}, "
            f"{dry['wall'] / copy['wall']:.0%} of the copy's median wall time")
    if dry.get("cpu") is not None:
        text += f" (qctl CPU {dry['cpu']:.2f} s)"
    if lr:
        text += (f", and reads the source {times(lr / windows)} ({lr:,} `LRANGE`) to count what is missing, "
                 f"fingerprinting every job")
    elif st:
        text += (f", and reads no job of the source (the source server ran only {per_command(st)}): "
                 f"it takes the count to copy from the source's length")
    return text + "."


def pace(s):
    """Who sets the pace of a run: qctl, or the servers (the target, mostly)."""
    rep = s["rep"]
    srv = [st["cpu_main_s"] for st in (rep.get("stats_src"), rep.get("stats_dst")) if st]
    if s.get("cpu") is None or len(srv) < 2:
        return None
    return "qctl, not Redis, sets its pace" if s["cpu"] > max(srv) * 2 else "the target's main thread sets its pace"


def push_text(s, N):
    """How the target took the pushes of a run, and what a job cost its main thread."""
    per = (s["rep"].get("stats_dst") or {}).get("per_command", {})
    ev, lp = per.get("evalsha"), per.get("lpush")
    if ev and ev["calls"] > 2 and (not lp or ev["usec"] > lp["usec"]):  # 2: taking and dropping the lock
        return (f"each push is qctl's fenced push script (EVALSHA, the window's jobs as ARGV), "
                f"{ev['usec'] / N:.2f} µs a job there")
    if lp:
        return f"each push is `WATCH` on the lock and `MULTI`/`LPUSH`/`EXEC`, {lp['usec'] / N:.2f} µs a job there"
    return None


def markdown(m, S, rows, ok, targets, targets_met):
    """BENCHMARKS.md's section: the table, the command, where the time goes."""
    one, ne, big, again, dry, dry_ne = (S[k] for k in ("one", "ne", "big", "again", "dry", "dry_ne"))
    N, NB, E = m["jobs"], m.get("jobs_big"), m.get("target_extra")
    knobs = m.get("knobs", "")
    cases = "the target empty (nothing to check a job against)" + (
        f", or holding {E:,} other jobs (every job checked against their fingerprints)" if ne else "")
    lines = [
        START,
        HEADING,
        "<!-- generated by benches/replicate/run.sh; a rerun replaces this section, from the start marker above to the end marker below -->",
        "",
        f"`qctl replicate --from src --to dst --what queues --queue {QUEUE}` of go-redis-work-queue jobs of about "
        f"{m['payload_bytes']} bytes between two throwaway `redis-server`s, against `redis-benchmark -t lpush -P 100 "
        f"-d 200` on the target just before each run; {cases} ({m['date']}, qctl {m['qctl_rev']}):",
        "",
        "| case | qctl wall | qctl jobs/s | baseline (redis-benchmark LPUSH) | ratio | qctl peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    missed = [name for name, t in targets if not t]
    verdict_line = (
        "The issue's targets: at least half the rate of `redis-benchmark -t lpush -P 100 -d 200` on the same "
        f"machine in the same run, and peak RSS under {RSS_TARGET_MIB} MB for {N:,}"
        + (f" and for {NB:,}" if NB else "") + " jobs. "
        + ("" if targets_met is None else
           "Every copy row met them. " if targets_met else f"Missed: {', '.join(missed)}. ")
        + ("Every check of the result passed." if ok else "**Some check of the result FAILED** (see the script output).")
    )
    lines += [
        "",
        verdict_line,
        "",
        "```sh",
        f"{knobs + ' ' if knobs else ''}bash benches/replicate/run.sh",
        "```",
        "",
    ]
    where = []
    if one:
        W = m["window"]
        st_src, st_dst = one["rep"].get("stats_src") or {}, one["rep"].get("stats_dst") or {}
        lr = st_src.get("per_command", {}).get("lrange", {})
        text = (f"qctl reads the source in windows of {W:,} ({lr.get('calls', 0):,} × `LRANGE` for {N:,} jobs, "
                f"{fmt_us(lr.get('usec', 0))} of the source's time) and pushes each window to the target while it "
                f"reads the next")
        p = pace(one)
        if p and st_dst:
            text += (f"; onto the empty target {p}: {st_dst['cpu_main_s']:.2f} s of the target's CPU for the "
                     f"{fmt_s(one['wall'])} copy")
        push = push_text(one, N)
        where.append(text + "." + (f" {push[0].upper()}{push[1:]}." if push else ""))
    if ne:
        text = ("Onto a target that already holds jobs qctl first reads them into fingerprints (8 bytes a job)")
        if dry_ne:
            text += (f", and the plan reads the whole source once more to count what is missing "
                     f"({fmt_s(dry_ne['wall'])}, {dry_ne['wall'] / ne['wall']:.0%} of the {fmt_s(ne['wall'])})")
        text += " before the copy checks every job against them"
        if one and ne.get("cpu") and one.get("cpu"):
            text += f": {ne['cpu'] / one['cpu']:.2f}× the qctl CPU of the empty case"
        where.append(text + ".")
    if dry and not lrange_calls(dry["rep"].get("stats_src")):
        where.append(f"The plan onto an empty target reads no job ({fmt_s(dry['wall'])}).")
    if again:
        p = pace(again)
        where.append("A re-run over a full copy pushes nothing" + (
            f"; {p.replace('its pace', 'the pace')} ({again['cpu']:.2f} s of CPU)." if p else "."))
    if big:
        where.append(f"Memory is bounded by the window and the target's fingerprints, not by the queue: "
                     f"{fmt_kib(big['rss'])} for {NB:,} jobs.")
    lines += [
        "**Where the time goes.** " + " ".join(where),
        "",
        "The script also prints the method, what it checked after every run, what each server ran in each case, "
        "and the baselines run by run; its header lists the knobs.",
        END,
    ]
    return lines


def details(m, S, rows, ok, targets, targets_met):
    """The long form, printed by the report."""
    one, ne, big, again, dry, dry_ne = (S[k] for k in ("one", "ne", "big", "again", "dry", "dry_ne"))
    b1, bne = S["b1"], S["bne"]
    N, NB, E = m["jobs"], m.get("jobs_big"), m.get("target_extra")
    machine = f"{m['nproc']} CPUs ({m['cpu']}), {m['kernel']}, {m['mem_total_mib']:,} MiB RAM"
    cmd = "qctl replicate --from src --to dst --what queues --queue high --yes-i-typed=dst -o json"
    sampled = (one or ne or again or {}).get("rep", {}).get("check", {}).get("sampled", 1001)
    sampled_extra = (ne or {}).get("rep", {}).get("check", {}).get("sampled_extra")
    knobs = m.get("knobs", "")
    general = (
        f" A second case measures the general path: before each of its runs the target's `{m['key']}` is given "
        f"{E:,} jobs of the same shape whose ids occur nowhere in the source (`other-0000001` .. "
        f"`other-{E:07d}`, pushed the same way), so qctl has to fingerprint the target and check every source "
        f"job against it."
    ) if ne else ""
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
        f"**Which case is the shortcut.** When the target list is empty, qctl does no fingerprint work at all: "
        f"nothing is there to skip, so nothing is checked. The cases onto the **empty** target measure that "
        f"shortcut only.{general}",
        "",
        f"The baseline, in the same run on the target server just before each qctl run (then `FLUSHALL`): "
        f"`redis-benchmark -h 127.0.0.1 -p PORT -t lpush -P 100 -d 200 -n JOBS -q` (its own key `mylist`, 50 "
        f"clients, 200-byte values), its requests/s as it prints them. qctl's rate is copied jobs / wall seconds of "
        f"the whole qctl process; ratio = qctl jobs/s / baseline requests/s (target ≥ {RATIO_TARGET}); peak RSS target "
        f"< {RSS_TARGET_MIB} MiB.",
        "",
        "| case | qctl wall | qctl jobs/s | baseline (redis-benchmark LPUSH) | ratio | qctl peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    considered = "; ".join(name for name, _ in targets)
    missed = [name for name, t in targets if not t]
    lines += [
        "",
        f"Every verification passed: {'yes' if ok else '**NO** (see the script output)'}. "
        + ("" if targets_met is None else
           "Targets, judged on the empty target (the shortcut)"
           + (f" and on the target already holding {E:,} other jobs (the general path) alike" if ne else
              " only (this run skipped the non-empty-target case, `NONEMPTY_RUN=0`)")
           + f", every copy row's ratio and peak RSS ({considered}): "
           + ("**all met**." if targets_met else f"**not all met** (missed: {', '.join(missed)}).")),
        "",
        f"Checked after every qctl run: the `ActionResult` (`status: ok` for `dst`, `copied` = {N:,} and "
        f"`skipped_duplicates` = 0; on the re-run `copied` = 0 and `skipped_duplicates` = {N:,}), the source "
        f"unchanged (LLEN {N:,}) and nothing but `{m['key']}` in either keyspace, the target's `LINDEX 0` equal "
        f"to the source's (job-{N:07d}: copies go in the same orientation), the same payload on both sides (and "
        f"the seed's) at {sampled:,} positions spread over the copied jobs; onto the empty target, LLEN {N:,} and "
        f"`LINDEX -1` equal to the source's (job-0000001), and once (the last {N:,}-job copy) every payload of the "
        f"target against the seed, in order."
        + (f" Onto the target holding {E:,} other jobs: LLEN {N + E:,}, `LINDEX -1` still `other-0000001` (the jobs "
           f"already there run first), `LINDEX -{E}` `other-{E:07d}` and `LINDEX -{E + 1}` the source's `LINDEX -1` "
           f"(the copies follow them, oldest first), {sampled_extra or 101:,} positions of the jobs already there "
           f"unchanged, and once (its last run) every payload of the target, {N:,} copies then {E:,} others, in order."
           if ne else "")
        + " Each `--dry-run`: the planned counts (every job to copy, none already there) and the target as it was. "
          "The audit log has one `\"result\":\"ok\"` line per qctl run (dry runs write none).",
        "",
    ]
    if one:
        lines += [
            f"**Where the time goes: onto the empty target ({N:,} jobs, the median run; the shortcut).** "
            + where_time_goes(m, one, N, 0, dry)
            + (" " + plan_text(m, dry, one, N, "on the empty target") if dry else ""),
            "",
        ]
    if ne:
        lines += [
            f"**Where the time goes: onto a target already holding {E:,} other jobs ({N:,} jobs, the median run; "
            f"the general path).** "
            + where_time_goes(m, ne, N, E, dry_ne)
            + (" " + plan_text(m, dry_ne, ne, N, f"on a target holding the {E:,} other jobs") if dry_ne else "")
            + (f" Against the empty target's median wall of {fmt_s(one['wall'])}, the general path takes "
               f"{ne['wall'] / one['wall']:.2f}× as long" + (f", {ne['cpu'] / one['cpu']:.2f}× the qctl CPU"
                                                            if ne.get("cpu") and one.get("cpu") else "") + "."
               if one else ""),
            "",
        ]
    if b1 or bne:
        text = ""
        for label, b, pairs in (("empty-target", b1, m.get("pair_ratios")),
                                (f"{E or 0:,}-other-jobs", bne, m.get("pair_ratios_nonempty"))):
            if not b:
                continue
            text += (
                f"{'Baseline' if not text else ' Baselines'} of the {label} runs: {b['rps']:,.0f} requests/s "
                f"(median of {b['n']}, from {b['rps_min']:,.0f} to {b['rps_max']:,.0f}; the whole redis-benchmark "
                f"process took {fmt_s(b['wall'])} for {N:,} LPUSHes, {N / b['wall']:,.0f}/s by wall clock)"
                + (f"; run by run (each qctl run against the baseline just before it) the ratio was {pairs}"
                   if pairs else "")
                + "."
            )
        lines += [text + " The machine is shared; the ratios in the table are median over median.", ""]
    if big:
        lines += [
            f"**{NB:,} jobs, onto the empty target.** Peak RSS {fmt_kib(big['rss'])} (the {N:,}-job runs: "
            f"{fmt_kib(one['rss']) if one else 'n/a'} onto the empty target"
            + (f", {fmt_kib(ne['rss'])} onto the {E:,} other jobs" if ne else "")
            + "): memory is bounded by the window and the target's fingerprints (8 bytes a job of the target, "
            "none here), not by the queue. "
            + where_time_goes(m, big, NB, 0),
            "",
        ]
    if again:
        lines += [
            f"**Re-run over a full copy** (the \"re-run after a failure\" cost: the same command again on the "
            f"{N:,} jobs already there, nothing to copy): {fmt_s(again['wall'])}, peak RSS {fmt_kib(again['rss'])}. "
            + where_time_goes(m, again, N, N),
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
        "Knobs (environment): `JOBS` (1000000), `JOBS_BIG` (5000000), `RUNS` (3: runs of the `JOBS` case onto the "
        "empty target, and of the one onto a non-empty target, each run with its own baseline), `TARGET_EXTRA` "
        "(1000: the other jobs the non-empty target holds), `NONEMPTY_RUN=0` (skip the non-empty-target case), "
        "`BIG_RUN=0` (skip the `JOBS_BIG` case), `QCTL_BIN` (a built qctl), `QCTL_REV` "
        "(build that git revision, exported to `/tmp/qctl-bench-src/<sha>`, in `/tmp/qctl-bench-target-rev`, "
        "instead of the work tree), "
        "`NO_MARKDOWN=1` (print only), `KEEP_WORK=1` (keep the temp dir: contexts file, audit log, qctl output, "
        "per-run JSON). The script checks `MemAvailable` first and stops, saying so, if the two servers would not "
        "hold the biggest case.",
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
        ap.add_argument("--prefix", default="job", help="the ids' prefix (job-0000001, ...)")
        a = ap.parse_args(rest)
        try:
            jobs(sys.stdout.buffer, a.count, a.key, a.prefix)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            sys.exit("replicate.py: the reader went away (redis-cli --pipe failed?)")
    elif cmd == "job" and len(rest) in (1, 2):
        print(job(int(rest[0]), *rest[1:]).decode())
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
    elif cmd == "check-copy":
        ap = argparse.ArgumentParser(prog="replicate.py check-copy")
        for name in ("src_port", "dst_port", "key"):
            ap.add_argument(name)
        ap.add_argument("n", type=int)
        ap.add_argument("result")
        ap.add_argument("out")
        ap.add_argument("copied", type=int)
        ap.add_argument("dups", type=int)
        ap.add_argument("--extra", type=int, default=0, help="other jobs the target held before the copy")
        ap.add_argument("--full", action="store_true", help="compare every payload of the target")
        a = ap.parse_args(rest)
        sys.exit(check_copy(a.src_port, a.dst_port, a.key, a.n, a.result, a.out, a.copied, a.dups, a.full, a.extra))
    elif cmd == "check-dry":
        ap = argparse.ArgumentParser(prog="replicate.py check-dry")
        ap.add_argument("dst_port")
        ap.add_argument("key")
        ap.add_argument("n", type=int)
        ap.add_argument("result")
        ap.add_argument("out")
        ap.add_argument("--extra", type=int, default=0, help="other jobs the target holds")
        a = ap.parse_args(rest)
        sys.exit(check_dry(a.dst_port, a.key, a.n, a.result, a.out, a.extra))
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
