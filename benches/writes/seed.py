#!/usr/bin/env python3
"""Seed data for benches/writes/run.sh, as Redis protocol (python3 stdlib only).

    seed.py jobs  --count N [--key KEY] [--alternate] [--out FILE]   # LPUSH N jobs
    seed.py lmove --count N [--src KEY] [--dst KEY] [--out FILE]     # N x LMOVE SRC DST RIGHT LEFT
    seed.py job N [--alternate]                                       # print job N's payload

Writes the commands to FILE (default stdout), for `redis-cli --pipe`.

Jobs are go-redis-work-queue payloads (~190 bytes of JSON), numbered 1..N
and pushed the way producers push them (LPUSH, 1,000 per command, job 1
first), so job 1, the oldest, is at the right end (the consumer end) and
job N at index 0:

    {"id":"job-0000123","filepath":"/data/invoices/2026/0000123.pdf","filesize":...,
     "priority":"high","retries":3,"creation_time":"2025-01-14T10:30:00.123Z",
     "trace_id":"","span_id":""}

With --alternate, odd-numbered jobs are under /data/invoices/ and
even-numbered ones under /data/reports/ (half of them match
'*"filepath":"/data/invoices/*'); without it all are invoices.

Deterministic: the same arguments give the same bytes. bench.py imports
`job` from here to check what qctl left behind, payload by payload.
"""

import argparse
import sys

PER_COMMAND = 1000


def job(n, alternate=False):
    d = "reports" if alternate and n % 2 == 0 else "invoices"
    ms = n % 1000
    sec = (n // 1000) % 60
    minute = (n // 60000) % 60
    hour = 10 + (n // 3600000) % 10
    return (
        f'{{"id":"job-{n:07d}","filepath":"/data/{d}/2026/{n:07d}.pdf","filesize":{1024 + (n * 7919) % 1048576},'
        f'"priority":"high","retries":3,"creation_time":"2025-01-14T{hour:02d}:{minute:02d}:{sec:02d}.{ms:03d}Z",'
        f'"trace_id":"","span_id":""}}'
    ).encode()


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def jobs(out, count, key, alternate):
    head_key = bulk(key.encode())
    buf = []
    size = 0
    for start in range(1, count + 1, PER_COMMAND):
        end = min(count, start + PER_COMMAND - 1)
        parts = [b"*%d\r\n$5\r\nLPUSH\r\n" % (end - start + 3), head_key]
        parts.extend(bulk(job(n, alternate)) for n in range(start, end + 1))
        chunk = b"".join(parts)
        buf.append(chunk)
        size += len(chunk)
        if size > 1 << 22:
            out.write(b"".join(buf))
            buf, size = [], 0
    out.write(b"".join(buf))


def lmove(out, count, src, dst):
    one = b"*5\r\n$5\r\nLMOVE\r\n" + bulk(src.encode()) + bulk(dst.encode()) + b"$5\r\nRIGHT\r\n$4\r\nLEFT\r\n"
    block = 10_000
    for start in range(0, count, block):
        out.write(one * min(block, count - start))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["jobs", "lmove", "job"])
    ap.add_argument("n", nargs="?", type=int, help="job number (mode job)")
    ap.add_argument("--count", type=int)
    ap.add_argument("--key", default="jobqueue:dead_letter")
    ap.add_argument("--src", default="jobqueue:dead_letter")
    ap.add_argument("--dst", default="jobqueue:high_priority")
    ap.add_argument("--alternate", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.mode == "job":
        if a.n is None:
            ap.error("job needs N")
        print(job(a.n, a.alternate).decode())
        return
    if a.count is None or a.count < 0:
        ap.error("--count N is required")
    out = open(a.out, "wb") if a.out else sys.stdout.buffer
    try:
        if a.mode == "jobs":
            jobs(out, a.count, a.key, a.alternate)
        else:
            lmove(out, a.count, a.src, a.dst)
        out.flush()
    except BrokenPipeError:
        sys.exit("seed.py: the reader went away (redis-cli --pipe failed?)")
    finally:
        if a.out:
            out.close()


if __name__ == "__main__":
    main()
