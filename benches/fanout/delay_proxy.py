#!/usr/bin/env python3
"""TCP delay proxy for the qctl fan-out benchmark (python3 stdlib only).

Listens on N loopback ports (the OS picks free ones unless --ports is given)
and forwards every accepted connection to one upstream (the throwaway
redis-server). Each chunk read from the client is written to the upstream
`--delay-ms` after it arrived, in arrival order per connection, so every
request/response round trip costs about `--delay-ms` more. Pipelined chunks
are delayed independently (a fixed latency, not a serialising queue).
Replies from the upstream are forwarded immediately.

When every port is listening, the port list (one per line) is written
atomically to --ports-file (temp file + rename), which is the ready signal.
SIGTERM/SIGINT stop it cleanly.

    python3 delay_proxy.py --upstream 127.0.0.1:6379 --count 200 \
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


class Stats:
    accepted = 0
    upstream_failures = 0


class ClientSide(asyncio.Protocol):
    """The client's connection to one proxy port; owns the upstream leg."""

    def __init__(self, loop, upstream, delay):
        self.loop = loop
        self.upstream_addr = upstream
        self.delay = delay
        self.transport = None
        self.up = None  # UpstreamSide once connected
        self.pending = collections.deque()  # (due, bytes), due non-decreasing
        self.timer = None
        self.client_eof = False
        self.closed = False

    # --- client -> proxy ---
    def connection_made(self, transport):
        Stats.accepted += 1
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.loop.create_task(self._connect_upstream())

    async def _connect_upstream(self):
        host, port = self.upstream_addr
        try:
            _, up = await self.loop.create_connection(
                lambda: UpstreamSide(self), host, port
            )
        except OSError as e:
            Stats.upstream_failures += 1
            print(f"delay_proxy: upstream connect failed: {e}", file=sys.stderr)
            self._close()
            return
        if self.closed:
            up.transport.close()
            return
        self.up = up
        self._flush()

    def data_received(self, data):
        if self.closed:
            return
        due = self.loop.time() + self.delay
        self.pending.append((due, data))
        if self.timer is None:
            self._schedule()

    def eof_received(self):
        self.client_eof = True
        self._flush()
        return True  # keep the transport half-open until pending data is sent

    def connection_lost(self, exc):
        # Whatever the client sent is still delivered, then the upstream
        # gets EOF; the upstream closing in turn tears everything down.
        self.client_eof = True
        self._flush()

    # --- delayed forwarding ---
    def _schedule(self):
        if self.pending and self.timer is None:
            self.timer = self.loop.call_at(self.pending[0][0], self._on_timer)

    def _on_timer(self):
        self.timer = None
        self._flush()

    def _flush(self):
        if self.up is not None and not self.up.transport.is_closing():
            now = self.loop.time()
            while self.pending and self.pending[0][0] <= now:
                self.up.transport.write(self.pending.popleft()[1])
        if self.pending:
            if self.up is not None:
                self._schedule()
            return  # still waiting for the upstream or for the delay
        if self.client_eof and self.up is not None:
            if self.up.transport.can_write_eof():
                self.up.transport.write_eof()
            else:
                self.up.transport.close()

    # --- flow control: upstream backs up -> stop reading the client ---
    def pause_writing(self):
        if self.up is not None:
            self.up.transport.pause_reading()

    def resume_writing(self):
        if self.up is not None:
            self.up.transport.resume_reading()

    def _close(self):
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pending.clear()
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
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        ct = self.client.transport
        if not ct.is_closing():
            ct.write(data)

    def eof_received(self):
        return False  # close our side; connection_lost closes the client

    def connection_lost(self, exc):
        self.client._close()

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


async def main(args):
    loop = asyncio.get_running_loop()
    delay = args.delay_ms / 1000.0
    upstream = parse_hostport(args.upstream)
    ports = [int(p) for p in args.ports.split(",")] if args.ports else [0] * args.count
    # Each proxied connection uses two fds, plus one listener per port.
    limit = raise_nofile(len(ports) * 16 + 256)
    if limit < len(ports) * 3 + 64:
        print(f"delay_proxy: open-files limit {limit} is too low for {len(ports)} ports", file=sys.stderr)
        return 1

    servers = []
    bound = []
    for p in ports:
        srv = await loop.create_server(
            lambda: ClientSide(loop, upstream, delay),
            host=args.listen,
            port=p,
            backlog=1024,
            reuse_address=True,
        )
        servers.append(srv)
        bound.append(srv.sockets[0].getsockname()[1])

    if args.ports_file:
        tmp = args.ports_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join(f"{p}\n" for p in bound))
        os.replace(tmp, args.ports_file)
    print(
        f"delay_proxy: {len(bound)} ports on {args.listen} -> {upstream[0]}:{upstream[1]}, "
        f"+{args.delay_ms:g} ms per client->server chunk (pid {os.getpid()})",
        file=sys.stderr,
        flush=True,
    )

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for srv in servers:
        srv.close()
    print(
        f"delay_proxy: stopping; {Stats.accepted} connections accepted, "
        f"{Stats.upstream_failures} upstream connect failures",
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--count", type=int, default=1, help="number of ports to listen on (OS-chosen)")
    ap.add_argument("--ports", help="comma-separated ports to listen on instead of --count")
    ap.add_argument("--listen", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    ap.add_argument("--delay-ms", type=float, default=20.0, help="delay per client->server chunk (default 20)")
    ap.add_argument("--ports-file", help="write the listening ports here (one per line) when ready")
    sys.exit(asyncio.run(main(ap.parse_args())))
