#!/usr/bin/env python3
"""Connects to HOST PORT again and again (each connect with a 0.5 s timeout, INTERVAL seconds apart) until the
outcome is UNTIL (connected | refused). Measures a policy change from inside the subscriber without spawning a
process per probe.

After the first connect it prints "first <outcome>". It then reads one line from standard input: a deadline
(Unix time, seconds). It stops at the first connect with outcome UNTIL, or at the deadline, or after 2000 connects,
and prints "<outcome> <start> <end> <count>": the last connect's outcome, its start and end (Unix time, seconds),
and the number of connects since the deadline was read.
usage: probeloop.py HOST PORT UNTIL [INTERVAL]"""
import select
import socket
import sys
import time

host, port, until = sys.argv[1], int(sys.argv[2]), sys.argv[3]
interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.02
family = socket.AF_INET6 if ":" in host else socket.AF_INET


def attempt():
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(0.5)
    start = time.time()
    try:
        s.connect((host, port))
        outcome = "connected"
    except ConnectionRefusedError:
        outcome = "refused"
    except (socket.timeout, TimeoutError):
        outcome = "timeout"
    except OSError:
        outcome = "error"
    finally:
        s.close()
    return outcome, start, time.time()


outcome, start, end = attempt()
print(f"first {outcome}", flush=True)
deadline = None
count = 0
# Before the deadline arrives, keep the prober warm (bounded: at most 60 s).
warm_until = time.time() + 60
while deadline is None and time.time() < warm_until:
    ready, _, _ = select.select([sys.stdin], [], [], interval)
    if ready:
        line = sys.stdin.readline()
        deadline = float(line) if line.strip() else time.time()
if deadline is None:
    deadline = time.time()
while count < 2000:
    outcome, start, end = attempt()
    count += 1
    if outcome == until or end >= deadline:
        break
    time.sleep(interval)
print(f"{outcome} {start:.6f} {end:.6f} {count}", flush=True)
