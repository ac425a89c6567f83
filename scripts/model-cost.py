#!/usr/bin/env python3
"""The cost of richer invariants: `mld bench` of several models on one box, interleaved.

Usage: model-cost.py [--mld PATH] [--atoms N] [--rounds R] LABEL=MODEL.json ...
Runs `mld bench --backend cpu --atoms N --repeats 1 --json` for every model, R rounds with the
models interleaved (so all see the same machine load), and prints a Markdown table: invariants
per agent, median atom-steps/s (whole MD steps), median force-evaluation ms per step, and the
cost relative to the first model.
"""
import json
import statistics
import subprocess
import sys


def main(argv):
    mld, atoms, rounds = ".build/release/mld", 12288, 3
    models = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--mld", "--atoms", "--rounds"):
            v = argv[i + 1]
            i += 2
            if a == "--mld":
                mld = v
            elif a == "--atoms":
                atoms = int(v)
            else:
                rounds = int(v)
            continue
        if "=" not in a:
            raise SystemExit(__doc__)
        label, path = a.split("=", 1)
        models.append((label, path))
        i += 1
    if not models:
        raise SystemExit(__doc__)
    rate = {m: [] for m in models}
    force = {m: [] for m in models}
    steps = {}
    for _ in range(rounds):
        for m in models:
            out = subprocess.run([mld, "bench", "--model", m[1], "--backend", "cpu", "--atoms", str(atoms),
                                  "--repeats", "1", "--json"], check=True, capture_output=True, text=True).stdout
            r = json.loads(out)["results"][0]
            rate[m].append(r["atomStepsPerSecond"]["median"])
            force[m].append(1e3 * r["forceSeconds"]["median"])
            steps[m] = r["steps"]
    counts = {}
    for m in models:
        spec = json.load(open(m[1]))["invariants"]
        counts[m] = spec
    base = statistics.median(rate[models[0]])
    print("| model | atom-steps/s (median of %d) | force ms/step | cost vs %s |" % (rounds, models[0][0]))
    print("|---|---:|---:|---:|")
    for m in models:
        med = statistics.median(rate[m])
        print("| %s | %.3g | %.2f | %.1f x |" % (m[0], med, statistics.median(force[m]), base / med))
    print()
    print("%d atoms (the CP2K frame tiled), CPU backend, `mld bench --backend cpu --atoms %d`, %d rounds interleaved." % (atoms, atoms, rounds))


if __name__ == "__main__":
    main(sys.argv[1:])
