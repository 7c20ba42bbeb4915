#!/usr/bin/env python3
"""Measures how long a change takes to reach every router (run by Benchmarks/run-fleet-propagation.sh).

fleet_propagation_probe.py CTL ADMIN_CONFIG PORTS CHANGES OUT_CSV

For each of CHANGES changes (alternately `exception grant` and `exception revoke` of customer c-0's exception,
made with the real egress25ctl as an admin), it reads every router's /metrics over one keep-alive connection per
router, as fast as it can, until each router shows both a higher `egress25_policy_store_generation` than before
the change and one more `egress25_policy_reloads_total` (the snapshot holding the change is published). A router's
propagation = the time of that first /metrics read minus egress25ctl's exit (the commit is a few ms before the
exit); the time from egress25ctl's start is written too. Between changes it waits a random 0.2-0.6 s, so changes
fall at every phase of the routers' 250 ms poll.
"""
import http.client, random, subprocess, sys, time

ctl, admin_config, ports_text, changes, out = sys.argv[1:6]
ports = [int(p) for p in ports_text.split(",")]
changes = int(changes)
connections = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=5) for p in ports}


def read(port):
    """(store generation, reloads) of one router."""
    for attempt in range(3):
        conn = connections[port]
        try:
            conn.request("GET", "/metrics")
            body = conn.getresponse().read()
            break
        except (http.client.HTTPException, OSError):
            conn.close()
            connections[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    else:
        raise SystemExit(f"router on port {port}: /metrics unreadable")
    generation = reloads = None
    for line in body.split(b"\n"):
        if line.startswith(b"egress25_policy_store_generation "):
            generation = float(line.split()[1])
        elif line.startswith(b"egress25_policy_reloads_total "):
            reloads = float(line.split()[1])
    return generation, reloads


def run(arguments):
    result = subprocess.run([ctl, "--config", admin_config] + arguments, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"egress25ctl {' '.join(arguments)}: {result.stderr}")
    return result.stdout.strip()


rows = []
rounds = []
exception = None
for index in range(changes):
    before = {p: read(p) for p in ports}
    started = time.time()
    if exception is None:
        exception = run(["exception", "grant", "c-0", "--to", "198.51.100.25", "--for", "1h", "--reason",
                         "propagation benchmark", "--by", "bench"])
        kind = "grant"
    else:
        run(["exception", "revoke", exception, "--reason", "propagation benchmark", "--by", "bench"])
        exception = None
        kind = "revoke"
    committed = time.time()
    pending = set(ports)
    reads = 0
    while pending:
        for port in list(pending):
            generation, reloads = read(port)
            reads += 1
            if generation > before[port][0] and reloads > before[port][1]:
                seen = time.time()
                rows.append((index, kind, port, (seen - committed) * 1000, (seen - started) * 1000))
                pending.discard(port)
        if time.time() - committed > 10:
            raise SystemExit(f"change {index}: routers {sorted(pending)} never applied it")
    rounds.append((time.time() - committed) / max(1, reads) * len(ports) * 1000)
    time.sleep(random.uniform(0.2, 0.6))

with open(out, "w") as f:
    f.write("change,kind,port,ms_after_ctl_exit,ms_after_ctl_start\n")
    for row in rows:
        f.write("%d,%s,%d,%.2f,%.2f\n" % row)


def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(-(-p * len(values) // 1)) - 1))]


per_router = [r[3] for r in rows]
from_start = [r[4] for r in rows]
ctl_ms = sorted({r[0]: r[4] - r[3] for r in rows}.values())
per_change = [max(r[3] for r in rows if r[0] == i) for i in range(changes)]
print(f"changes: {changes} ({changes - changes // 2} grants, {changes // 2} revokes) x {len(ports)} routers "
      f"= {len(rows)} samples")
print(f"per-router propagation after egress25ctl exit, ms: p50 {q(per_router, .5):.0f} p99 {q(per_router, .99):.0f} "
      f"max {max(per_router):.0f}")
print(f"per-router propagation after egress25ctl start, ms: p50 {q(from_start, .5):.0f} "
      f"p99 {q(from_start, .99):.0f} max {max(from_start):.0f}")
print(f"last of the {len(ports)} routers, per change, ms after exit: p50 {q(per_change, .5):.0f} "
      f"p99 {q(per_change, .99):.0f} max {max(per_change):.0f}")
print(f"egress25ctl run time, ms: p50 {q(ctl_ms, .5):.0f} max {max(ctl_ms):.0f}")
print(f"probe resolution: one /metrics read of all {len(ports)} routers took {q(rounds, .5):.1f} ms (median)")
