#!/usr/bin/env python3
"""A continuous prober: one non-blocking TCP connect attempt every INTERVAL seconds (default 10 ms), alternating
over the TARGETS (default 198.51.100.25:25 and [2001:db8:99::25]:25, non-relay MX hosts), until the file STOP
exists or MAX seconds have passed. Each attempt stays open until it resolves or TIMEOUT seconds pass (so a SYN
that is held in a queue, or retransmitted by the kernel, and then let through is still seen); at most 500
attempts are pending at once. Runs in the subscriber namespace.

Prints "started" (flushed) after the first attempt, and at the end, after the pending attempts resolved:
    attempts=N connected=M refused=R timeout=T error=E
    success <unix time of the attempt's start> <unix time connected> <target>     (one line per connect)
usage: prober.py [--stop FILE] [--max S] [--interval S] [--timeout S] [TARGET ...]   (TARGET: host:port, [v6]:port)
"""
import argparse
import errno
import os
import select
import socket
import time


def parse_target(text):
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), host, int(port)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stop", default=None)
    parser.add_argument("--max", type=float, default=120.0)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--timeout", type=float, default=1.5)
    parser.add_argument("targets", nargs="*", default=["198.51.100.25:25", "[2001:db8:99::25]:25"])
    args = parser.parse_args()
    targets = [parse_target(t) for t in args.targets]
    max_pending = 500

    poller = select.poll()
    pending = {}  # fd -> (socket, start, target text, deadline)
    counts = {"connected": 0, "refused": 0, "timeout": 0, "error": 0}
    successes = []
    attempts = 0
    started = time.time()
    end = started + args.max
    next_attempt = time.monotonic()
    stopping = False

    def finish(fd, outcome):
        sock, start, text, _ = pending.pop(fd)
        poller.unregister(fd)
        sock.close()
        counts[outcome] += 1
        if outcome == "connected":
            successes.append((start, time.time(), text))

    while True:
        now_wall = time.time()
        if not stopping and (now_wall >= end or (args.stop and os.path.exists(args.stop))):
            stopping = True
        if stopping and not pending:
            break
        if not stopping and time.monotonic() >= next_attempt and len(pending) < max_pending:
            family, host, port = targets[attempts % len(targets)]
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            start = time.time()
            code = sock.connect_ex((host, port))
            attempts += 1
            text = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
            pending[sock.fileno()] = (sock, start, text, time.monotonic() + args.timeout)
            poller.register(sock.fileno(), select.POLLOUT | select.POLLERR | select.POLLHUP)
            if code not in (0, errno.EINPROGRESS):
                finish(sock.fileno(), "refused" if code == errno.ECONNREFUSED else "error")
            elif code == 0:
                finish(sock.fileno(), "connected")
            if attempts == 1:
                print("started", flush=True)
            next_attempt += args.interval
            if next_attempt < time.monotonic() - 1:  # fell far behind (a stalled machine): do not burst
                next_attempt = time.monotonic()
        wait = max(0.0, min(next_attempt - time.monotonic(), 0.01)) if not stopping else 0.01
        for fd, _ in poller.poll(wait * 1000):
            if fd not in pending:
                continue
            code = pending[fd][0].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                finish(fd, "connected")
            elif code == errno.ECONNREFUSED:
                finish(fd, "refused")
            else:
                finish(fd, "error")
        now = time.monotonic()
        for fd in [fd for fd, entry in pending.items() if entry[3] <= now]:
            finish(fd, "timeout")
        if time.time() > end + args.timeout + 5:  # hard bound
            break

    print(f"attempts={attempts} connected={counts['connected']} refused={counts['refused']} "
          f"timeout={counts['timeout']} error={counts['error']}", flush=True)
    for start, connected, text in successes:
        print(f"success {start:.6f} {connected:.6f} {text}", flush=True)


if __name__ == "__main__":
    main()
