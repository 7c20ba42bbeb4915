#!/usr/bin/env python3
"""fleet_upkeep_join.py SAMPLES PROBE: joins the churn generator's samples ("UTC-s generation", the generation
read right after a change committed) with the router probe ("UTC-s store-generation reloads") and prints the
propagation: the first probe read at or after the sample whose store generation reaches it (the replica holds the
change), and the first read after that whose reload count also moved past the last read below the generation (the
snapshot was republished; this can end one snapshot build early when that read fell inside the previous build)."""
import bisect, sys

samples = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
probe = [tuple(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
times = [p[0] for p in probe]
replica, published = [], []
for at, generation in samples:
    i = bisect.bisect_left(times, at)
    last_below = None
    j = i
    while j < len(probe) and probe[j][1] < generation:
        last_below = probe[j]
        j += 1
    if j >= len(probe):
        continue
    if last_below is None:
        last_below = probe[i - 1] if i > 0 else probe[j]
    replica.append((probe[j][0] - at) * 1000)
    k = j
    while k < len(probe) and probe[k][2] <= last_below[2]:
        k += 1
    if k < len(probe):
        published.append((probe[k][0] - at) * 1000)


def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(-(-p * len(values) // 1)) - 1))]


gaps = [b - a for a, b in zip(times, times[1:])]
print(f"propagation under churn ({len(replica)} sampled changes; probe read every {q(gaps, .5) * 1000:.0f} ms median):")
print(f"  replica holds it (store generation), ms: p50 {q(replica, .5):.0f} p99 {q(replica, .99):.0f} max {max(replica):.0f}")
print(f"  snapshot republished, ms: p50 {q(published, .5):.0f} p99 {q(published, .99):.0f} max {max(published):.0f}")
