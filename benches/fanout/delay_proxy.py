#!/usr/bin/env python3
"""TCP delay proxy for the qctl fan-out benchmark (python3 stdlib only).

Listens on N loopback ports (the OS picks free ones unless --ports is given)
and forwards every accepted connection to one upstream (the throwaway
redis-server). Each chunk read from a client is written to the upstream
--delay-ms after it was read, in order per connection, so every
request/response round trip costs about --delay-ms more. Pipelined chunks are
each delayed by the same fixed amount (a latency, not a serialising queue).
Replies from the upstream are forwarded at once. The TCP handshake itself is
not delayed (the kernel completes it before the proxy sees the connection).

Every chunk gets the same delay, so one FIFO of (due, connection, bytes) is
already in due order: one timer serves all connections, which keeps the
per-chunk cost low when 200 connections talk at once. --procs K splits the
ports over K processes (asyncio is single-threaded; on a busy wave of 200
connections the time spent handling one chunk delays the next ones).

When every port is listening, the port list (one per line) is written
atomically to --ports-file (temp file + rename): that is the ready signal.
SIGTERM/SIGINT stop it (and its worker processes) cleanly.

    python3 delay_proxy.py --upstream 127.0.0.1:6379 --count 200 \\
        --delay-ms 20 --ports-file /tmp/ports.txt
"""

import argparse
import asyncio
import collections
import os
import resource
import signal
import socket
import sys


class Proxy:
    """State shared by every connection of one process."""

    def __init__(self, loop, upstream, delay):
        self.loop = loop
        self.upstream = upstream
        self.delay = delay
        self.queue = collections.deque()  # (due, ClientSide, bytes); due non-decreasing
        self.timer = None
        self.accepted = 0
        self.upstream_failures = 0

    def enqueue(self, conn, data):
        self.queue.append((self.loop.time() + self.delay, conn, data))
        if self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self.on_timer)

    def on_timer(self):
        self.timer = None
        q = self.queue
        # The head is why the timer fired (asyncio may run it a hair early);
        # whatever else is due goes out with it.
        _, conn, data = q.popleft()
        conn.deliver(data)
        now = self.loop.time()
        while q and q[0][0] <= now:
            _, conn, data = q.popleft()
            conn.deliver(data)
        if q:
            self.timer = self.loop.call_at(q[0][0], self.on_timer)


class ClientSide(asyncio.Protocol):
    """A client's connection to one proxy port; owns the upstream leg."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.transport = None
        self.up = None  # UpstreamSide once connected
        self.held = []  # due chunks that arrived before the upstream connected
        self.in_flight = 0  # chunks in the delay queue
        self.client_eof = False
        self.closed = False

    def connection_made(self, transport):
        self.proxy.accepted += 1
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proxy.loop.create_task(self.connect_upstream())

    async def connect_upstream(self):
        host, port = self.proxy.upstream
        try:
            _, up = await self.proxy.loop.create_connection(lambda: UpstreamSide(self), host, port)
        except OSError as e:
            self.proxy.upstream_failures += 1
            print(f"delay_proxy: upstream connect failed: {e}", file=sys.stderr)
            self.close()
            return
        if self.closed:
            up.transport.close()
            return
        self.up = up
        for data in self.held:
            up.transport.write(data)
        self.held = []
        self.maybe_eof()

    def data_received(self, data):
        if not self.closed:
            self.in_flight += 1
            self.proxy.enqueue(self, data)

    def deliver(self, data):
        self.in_flight -= 1
        if self.closed:
            return
        if self.up is None:
            self.held.append(data)
        else:
            self.up.transport.write(data)
            self.maybe_eof()

    def eof_received(self):
        self.client_eof = True
        self.maybe_eof()
        return True  # stay half-open: the replies still have to come back

    def connection_lost(self, exc):
        # What the client sent is still delivered, then the upstream gets
        # EOF; the upstream closing in turn closes everything.
        self.client_eof = True
        self.maybe_eof()

    def maybe_eof(self):
        if self.client_eof and self.in_flight == 0 and self.up is not None and not self.held:
            t = self.up.transport
            if t.can_write_eof():
                t.write_eof()
            else:
                t.close()

    # Flow control: the client cannot take replies fast enough -> stop
    # reading the upstream.
    def pause_writing(self):
        if self.up is not None:
            self.up.transport.pause_reading()

    def resume_writing(self):
        if self.up is not None:
            self.up.transport.resume_reading()

    def close(self):
        self.closed = True
        self.held = []
        if self.transport is not None:
            self.transport.close()
        if self.up is not None:
            self.up.transport.close()


class UpstreamSide(asyncio.Protocol):
    """The proxy's connection to the upstream; replies go straight back."""

    def __init__(self, client):
        self.client = client
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        ct = self.client.transport
        if not ct.is_closing():
            ct.write(data)

    def eof_received(self):
        return False  # close; connection_lost closes the client side

    def connection_lost(self, exc):
        self.client.close()

    # The upstream cannot take requests fast enough -> stop reading the client.
    def pause_writing(self):
        self.client.transport.pause_reading()

    def resume_writing(self):
        self.client.transport.resume_reading()


def parse_hostport(s):
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1", int(port))


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def serve(socks, upstream, delay, ready_fd):
    """One process: serves its share of the listening sockets until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    proxy = Proxy(loop, upstream, delay)
    servers = [await loop.create_server(lambda: ClientSide(proxy), sock=s, backlog=1024) for s in socks]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    os.write(ready_fd, b"r")
    os.close(ready_fd)
    await stop.wait()
    for srv in servers:
        srv.close()
    return proxy.accepted, proxy.upstream_failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--count", type=int, default=1, help="number of ports to listen on, chosen by the OS (default 1)")
    ap.add_argument("--ports", help="comma-separated ports to listen on instead of --count")
    ap.add_argument("--listen", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="delay per client->server chunk (default 20)")
    ap.add_argument("--procs", type=int, default=1, help="processes to split the ports over (default 1)")
    ap.add_argument("--ports-file", help="when ready, write the listening ports here, one per line")
    args = ap.parse_args()

    upstream = parse_hostport(args.upstream)
    wanted = [int(p) for p in args.ports.split(",")] if args.ports else [0] * args.count
    procs = max(1, min(args.procs, len(wanted)))
    # One listener per port, two fds per proxied connection.
    limit = raise_nofile(len(wanted) * 16 + 256)
    if limit < len(wanted) * 3 + 64:
        sys.exit(f"delay_proxy: open-files limit {limit} is too low for {len(wanted)} ports")

    socks, ports = [], []
    for p in wanted:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.listen, p))
        s.listen(1024)
        s.setblocking(False)
        socks.append(s)
        ports.append(s.getsockname()[1])

    # Children: each serves every procs-th socket. The parent only waits.
    children = []
    ready_r, ready_w = os.pipe()
    for k in range(procs):
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            mine = socks[k::procs]
            for s in socks:
                if s not in mine:
                    s.close()
            accepted, failures = asyncio.run(serve(mine, upstream, args.delay_ms / 1000.0, ready_w))
            print(
                f"delay_proxy[{os.getpid()}]: stopping; {accepted} connections accepted, "
                f"{failures} upstream connect failures",
                file=sys.stderr,
                flush=True,
            )
            os._exit(0)
        children.append(pid)
    os.close(ready_w)
    for s in socks:
        s.close()

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    got = b""
    while len(got) < procs:
        chunk = os.read(ready_r, procs)
        if not chunk:
            stop(None, None)
            for pid in children:
                os.waitpid(pid, 0)
            sys.exit("delay_proxy: a worker process died before it was ready")
        got += chunk
    os.close(ready_r)

    if args.ports_file:
        tmp = args.ports_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(f"{p}\n" for p in ports))
        os.replace(tmp, args.ports_file)
    print(
        f"delay_proxy: {len(ports)} ports on {args.listen} -> {upstream[0]}:{upstream[1]}, "
        f"+{args.delay_ms:g} ms per client->server chunk, {procs} process(es) (pid {os.getpid()})",
        file=sys.stderr,
        flush=True,
    )

    status = 0
    for pid in children:
        while True:
            try:
                _, st = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        if not stopping or os.waitstatus_to_exitcode(st) != 0:
            status = 1  # a worker died on its own
            stop(None, None)
    sys.exit(status)


if __name__ == "__main__":
    main()
