#!/usr/bin/env python3
"""The table of scripts/bench-vs-flink.sh: medians per (workload, engine,
parallelism) of the runs in RESULTS (tab-separated: workload, engine, p,
wall s, CPU s, peak RSS MB, 1-minute load average at the run's start), and
their ratios to Flink at the same parallelism and to the plain loop.

Throughput ratios are wall-time ratios on the same input (Flink's time over
this row's: 3.00x means three times Flink's throughput); the CPU ratios the
same of CPU seconds (work per CPU-second: the steadier figure when other
processes share the machine); the memory ratio is this row's peak RSS over
Flink's.

Usage: sidebyside_table.py RESULTS WORDS EVENTS (the records of each
workload, for the records/s column)
"""
import statistics
import sys
from collections import defaultdict

results, records = sys.argv[1], {"words": int(sys.argv[2]), "windows": int(sys.argv[3])}
runs = defaultdict(list)
loads = []
for line in open(results):
    w, e, p, wall, cpu, rss, load = line.split("\t")
    runs[(w, e, int(p))].append((float(wall), float(cpu), float(rss)))
    loads.append(float(load))
med = {k: tuple(statistics.median(r[i] for r in v) for i in range(3)) for k, v in runs.items()}

print(f"{'workload':<8} {'engine':<7} {'p':>2} {'runs':>4} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}"
      f" {'M rec/s':>8} {'vs Flink':>9} {'vs plain':>9} {'CPU vs Flink':>13} {'CPU vs plain':>13} {'RSS/Flink':>10}")
order = {"plain": 0, "squall": 1, "flink": 2, "storm": 3}
for (w, e, p) in sorted(med, key=lambda k: (k[0] != "words", k[2] if k[1] != "plain" else 0, order.get(k[1], 9))):
    wall, cpu, rss = med[(w, e, p)]
    flink = med.get((w, "flink", p))
    plain = med.get((w, "plain", 1))
    ratio = lambda other, i: f"{other[i] / med[(w, e, p)][i]:.2f}x" if other else "-"
    rss_ratio = f"{rss / flink[2]:.2f}" if flink else "-"
    print(f"{w:<8} {e:<7} {p:>2} {len(runs[(w, e, p)]):>4} {wall:>8.2f} {cpu:>8.2f} {rss:>8.0f}"
          f" {records[w] / wall / 1e6 if records[w] else 0:>8.2f} {ratio(flink, 0):>9} {ratio(plain, 0):>9}"
          f" {ratio(flink, 1):>13} {ratio(plain, 1):>13} {rss_ratio:>10}")
if loads:
    print(f"1-minute load average at the start of the runs: {min(loads):.2f} to {max(loads):.2f}"
          f" (median {statistics.median(loads):.2f})")
