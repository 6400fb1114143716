#!/usr/bin/env python3
"""Seed data for benches/workers/run.sh, as Redis protocol (python3 stdlib only).

    seed.py resp OUT.resp EXPECT.json [--workers N] [--unrelated N] [--ttl-ms MS]

Writes the commands to OUT.resp for `redis-cli --pipe < OUT.resp`, and what a
reader should find to EXPECT.json (key count, orphaned workers, in-flight jobs).

The data is laid out the way go-redis-work-queue writes it (SPEC section 1):

- N workers w-000000.. each own `jobqueue:worker:<id>:processing`, built with
  LPUSH (1 job; every 10th worker 2, every 50th 3), so index 0 (the left end)
  holds the job the worker took last;
- every worker with i % 3 != 2 (two thirds) has its heartbeat
  `jobqueue:processing:worker:<id>` = that last job's payload, SET ... PX TTL;
  the others (i % 3 == 2, a third) have none: orphaned;
- the queues `jobqueue:high_priority`, `jobqueue:low_priority`,
  `jobqueue:completed`, `jobqueue:dead_letter` (a few hundred jobs each);
- unrelated keys that a `jobqueue:*` pattern never matches: half
  `session:<n>` strings, a third `cache:user:<n>` strings, the rest
  `user:<n>` hashes.

Deterministic: the same arguments give the same bytes.
"""

import argparse
import json
import os
import sys

PRIORITIES = ("high", "low")


def job(n, priority=None, retries=0):
    """A job payload as go-redis-work-queue marshals it (field order included)."""
    prio = priority or PRIORITIES[n % 2]
    ms = n % 1000
    sec = (n // 1000) % 60
    minute = (n // 60000) % 60
    return (
        f'{{"id":"job-{n}","filepath":"/data/f{n}","filesize":{1024 + (n * 7919) % 1048576},'
        f'"priority":"{prio}","retries":{retries},'
        f'"creation_time":"2026-11-23T10:{minute:02d}:{sec:02d}.{ms:03d}Z","trace_id":"","span_id":""}}'
    )


def in_flight(i):
    if i % 50 == 13:
        return 3
    if i % 10 == 7:
        return 2
    return 1


def orphaned(i):
    return i % 3 == 2


class Resp:
    """Buffers commands as RESP arrays of bulk strings, flushing in large writes."""

    def __init__(self, f):
        self.f = f
        self.parts = []
        self.size = 0
        self.commands = 0

    def cmd(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        chunk = b"".join(out)
        self.parts.append(chunk)
        self.size += len(chunk)
        self.commands += 1
        if self.size > 1 << 22:
            self.flush()

    def flush(self):
        self.f.write(b"".join(self.parts))
        self.parts, self.size = [], 0


def seed(out_path, expect_path, workers, unrelated, ttl_ms, queue_jobs):
    counter = 0

    def next_job(**kw):
        nonlocal counter
        counter += 1
        return job(counter, **kw)

    keys = 0
    processing_jobs = 0
    orphaned_ids = []
    orphaned_jobs = 0
    expected = {}  # worker -> [in_flight, number of its first job, orphaned]
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        r = Resp(f)
        # Queues: producers LPUSH, so the right end is the oldest job.
        for key, n, prio in (
            ("jobqueue:high_priority", queue_jobs, "high"),
            ("jobqueue:low_priority", queue_jobs, "low"),
            ("jobqueue:completed", queue_jobs, None),
            ("jobqueue:dead_letter", max(1, queue_jobs // 4), None),
        ):
            for start in range(0, n, 100):
                r.cmd("LPUSH", key, *[next_job(priority=prio, retries=3 if "dead" in key else 0)
                                      for _ in range(min(100, n - start))])
            keys += 1

        for i in range(workers):
            wid = f"w-{i:06d}"
            first = counter + 1
            jobs = [next_job() for _ in range(in_flight(i))]
            r.cmd("LPUSH", f"jobqueue:worker:{wid}:processing", *jobs)
            keys += 1
            processing_jobs += len(jobs)
            current = jobs[-1]  # LPUSHed last: index 0, what the heartbeat names
            if orphaned(i):
                orphaned_ids.append(wid)
                orphaned_jobs += len(jobs)
                expected[wid] = [len(jobs), first, True]
            else:
                r.cmd("SET", f"jobqueue:processing:worker:{wid}", current, "PX", ttl_ms)
                keys += 1
                expected[wid] = [len(jobs), first, False]

        sessions = unrelated // 2
        caches = unrelated // 3
        hashes = unrelated - sessions - caches
        for n in range(sessions):
            r.cmd("SET", f"session:{n:08x}", f'{{"user":{n},"csrf":"{n * 2654435761 % 4294967296:08x}"}}')
        for n in range(caches):
            r.cmd("SET", f"cache:user:{n}", f'{{"id":{n},"name":"user {n}","plan":"{("free", "pro")[n % 2]}"}}')
        for n in range(hashes):
            r.cmd("HSET", f"user:{n}", "name", f"user {n}", "email", f"user{n}@example.com", "logins", str(n % 97))
        keys += unrelated
        r.flush()
    os.replace(tmp, out_path)

    doc = {
        "keys": keys,
        "commands": r.commands,
        "workers": workers,
        "active": workers - len(orphaned_ids),
        "orphaned": len(orphaned_ids),
        "processing_jobs": processing_jobs,
        "orphaned_jobs": orphaned_jobs,
        "unrelated": unrelated,
        "queue_jobs": queue_jobs,
        "ttl_ms": ttl_ms,
        "expected": expected,
    }
    tmp = expect_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, expect_path)
    print(
        f"  seed: {r.commands} commands, {keys} keys: {workers} processing lists ({processing_jobs} jobs), "
        f"{workers - len(orphaned_ids)} heartbeats, {len(orphaned_ids)} orphaned workers ({orphaned_jobs} jobs), "
        f"{unrelated} unrelated keys, 4 queues",
        file=sys.stderr,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["resp"])
    ap.add_argument("out")
    ap.add_argument("expect")
    ap.add_argument("--workers", type=int, default=100_000)
    ap.add_argument("--unrelated", type=int, default=300_000)
    ap.add_argument("--ttl-ms", type=int, default=600_000)
    ap.add_argument("--queue-jobs", type=int, default=300)
    a = ap.parse_args()
    seed(a.out, a.expect, a.workers, a.unrelated, a.ttl_ms, a.queue_jobs)


if __name__ == "__main__":
    main()
