#!/usr/bin/env python3
"""Temperature and O-H statistics of an mld lammps run and of an mld run, computed the same way.

usage: scripts/lammps-statistics.py SCREEN_OUTPUT DUMP
       scripts/lammps-statistics.py RUN_DIRECTORY
  SCREEN_OUTPUT  what mld lammps printed (LAMMPS's thermo table with columns Step ... Temp ...)
  DUMP           a custom dump with columns id type xu yu zu (type 1 O, type 2 H)
  RUN_DIRECTORY  an mld run (thermo.csv, trajectory.xyz)

temperature: mean and std of the thermo rows after step 0 (K).
O-H bond: every H to its nearest O (minimum image), over every frame (Å).
Each mean is followed by its standard error from 5 consecutive blocks (std of the block means / 2).
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


def frame_bonds(box, atoms):
    out = []
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


def bonds(path):
    return [frame_bonds(box, atoms) for box, atoms in frames(path)]


def run_directory(path):
    temps = []
    with open(path + "/thermo.csv") as f:
        header = f.readline().strip().split(",")
        col = header.index("temperature_K")
        for line in f:
            w = line.strip().split(",")
            if int(w[0]) > 0:
                temps.append(float(w[col]))
    per_frame = []
    with open(path + "/trajectory.xyz") as f:
        while True:
            line = f.readline()
            if not line.strip():
                break
            n = int(line)
            comment = f.readline()
            lattice = comment.split('Lattice="')[1].split('"')[0].split()
            box = [float(lattice[0]), float(lattice[4]), float(lattice[8])]
            atoms = []
            for _ in range(n):
                w = f.readline().split()
                atoms.append((1 if w[0] == "O" else 2, [float(x) for x in w[1:4]]))
            per_frame.append(frame_bonds(box, atoms))
    return temps, per_frame


def block_error(v, blocks=5):
    size = len(v) // blocks
    means = [sum(v[i * size:(i + 1) * size]) / size for i in range(blocks)]
    m = sum(means) / blocks
    return math.sqrt(sum((x - m) ** 2 for x in means) / (blocks - 1)) / math.sqrt(blocks)


def mean_std(v):
    m = sum(v) / len(v)
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / len(v))


def main():
    if len(sys.argv) == 3:
        t, per_frame = thermo_temperatures(sys.argv[1]), bonds(sys.argv[2])
    elif len(sys.argv) == 2:
        t, per_frame = run_directory(sys.argv[1])
    else:
        sys.exit(__doc__)
    b = [x for f in per_frame for x in f]
    if len(t) < 5 or len(per_frame) < 5:
        sys.exit("error: fewer than 5 thermo rows or frames")
    tm, ts = mean_std(t)
    bm, bs = mean_std(b)
    frame_means = [sum(f) / len(f) for f in per_frame]
    print(f"temperature     mean {tm:.1f} ± {block_error(t):.1f} K, std {ts:.1f} K ({len(t)} thermo rows after step 0)")
    print(f"O-H bond        mean {bm:.4f} ± {block_error(frame_means):.4f} Å, std {bs:.4f} Å, range {min(b):.3f}-{max(b):.3f} Å "
          f"(each H to its nearest O, {len(per_frame)} frames)")


if __name__ == "__main__":
    main()
