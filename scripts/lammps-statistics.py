#!/usr/bin/env python3
"""Temperature and O-H statistics of an mld lammps run, defined as mld run prints them.

usage: scripts/lammps-statistics.py SCREEN_OUTPUT DUMP [--skip-step0]
  SCREEN_OUTPUT  what mld lammps printed (LAMMPS's thermo table with columns Step ... Temp ...)
  DUMP           a custom dump with columns id type xu yu zu (type 1 O, type 2 H), sorted by id

temperature: mean and std of Temp over the thermo rows after step 0 (K).
O-H bond: every H to its nearest O (minimum image), over every dumped frame (Å).
"""
import math
import sys


def thermo_temperatures(path):
    temps, column, in_table = [], None, False
    for line in open(path):
        words = line.split()
        if words[:1] == ["Step"] and "Temp" in words:
            column, in_table = words.index("Temp"), True
            continue
        if in_table:
            if words and words[0] == "Loop":
                in_table = False
                continue
            try:
                step, t = int(words[0]), float(words[column])
            except (ValueError, IndexError):
                continue
            if step > 0:
                temps.append(t)
    return temps


def frames(path):
    with open(path) as f:
        while True:
            line = f.readline()
            if not line:
                return
            assert line.startswith("ITEM: TIMESTEP")
            f.readline()
            f.readline()
            n = int(f.readline())
            f.readline()
            box = []
            for _ in range(3):
                lo, hi = map(float, f.readline().split()[:2])
                box.append(hi - lo)
            header = f.readline().split()[2:]
            ix = [header.index(c) for c in ("id", "type", "xu", "yu", "zu")]
            atoms = []
            for _ in range(n):
                w = f.readline().split()
                atoms.append((int(w[ix[1]]), [float(w[k]) for k in ix[2:]]))
            yield box, atoms


def bonds(path):
    out = []
    for box, atoms in frames(path):
        oxygens = [p for t, p in atoms if t == 1]
        for t, h in atoms:
            if t != 2:
                continue
            best = math.inf
            for o in oxygens:
                d2 = 0.0
                for k in range(3):
                    d = h[k] - o[k]
                    d -= box[k] * round(d / box[k])
                    d2 += d * d
                best = min(best, d2)
            out.append(math.sqrt(best))
    return out


def mean_std(v):
    m = sum(v) / len(v)
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / len(v))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    t = thermo_temperatures(sys.argv[1])
    b = bonds(sys.argv[2])
    if not t or not b:
        sys.exit("error: no thermo rows or no dumped frames")
    tm, ts = mean_std(t)
    bm, bs = mean_std(b)
    print(f"temperature     mean {tm:.1f} K, std {ts:.1f} K ({len(t)} thermo rows after step 0)")
    print(f"O-H bond        mean {bm:.4f} Å, std {bs:.4f} Å, range {min(b):.3f}-{max(b):.3f} Å (each H to its nearest O, {len(b)} bonds)")


if __name__ == "__main__":
    main()
