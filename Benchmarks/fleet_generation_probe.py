#!/usr/bin/env python3
"""fleet_generation_probe.py PORT OUT: reads one router's /metrics every ~10 ms over one keep-alive connection and
writes "UTC-seconds store-generation reloads" lines to OUT until killed (SIGTERM). Used by
Benchmarks/run-fleet-upkeep.sh for propagation under churn."""
import http.client, signal, sys, time

port, out = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
lines = []


def stop(*_):
    with open(out, "w") as f:
        f.write("".join(lines))
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
while True:
    conn.request("GET", "/metrics")
    body = conn.getresponse().read()
    at = time.time()
    generation = reloads = 0
    for line in body.split(b"\n"):
        if line.startswith(b"egress25_policy_store_generation "):
            generation = int(float(line.split()[1]))
        elif line.startswith(b"egress25_policy_reloads_total "):
            reloads = int(float(line.split()[1]))
    lines.append("%.4f %d %d\n" % (at, generation, reloads))
    time.sleep(0.01)
