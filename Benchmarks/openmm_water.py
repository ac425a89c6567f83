#!/usr/bin/env python3
"""OpenMM on the same water boxes as `mld bench`: the reference speed of a classical force field.

The boxes are the first frame of the bundled CP2K run (64 waters, 192 atoms, cubic cell from
the CP2K restart file) tiled k x k x k, exactly as `mld box --from DIR --frame 0 --replicate kxkxk`
and `mld bench` build them: 192 k^3 atoms (192, 1536, 12288, 98304, 786432 for k = 1, 2, 4, 8, 16).  Positions and velocities are CP2K's.

Force field: flexible SPC/Fw water, Wu, Tepper and Voth, J. Chem. Phys. 124, 024503 (2006), Table I:
  O-H bond  r0 = 1.012 Å,   k_b = 1059.162 kcal/mol/Å²   (E = k_b/2 (r - r0)²)
  H-O-H     θ0 = 113.24°,   k_θ = 75.90 kcal/mol/rad²    (E = k_θ/2 (θ - θ0)²)
  q_O = -0.82 e, q_H = +0.41 e, σ_OO = 3.165492 Å, ε_OO = 0.1554253 kcal/mol, no LJ on H,
  intramolecular nonbonded pairs excluded.
Electrostatics and LJ: 6 Å cutoff, reaction field (NonbondedForce.CutoffPeriodic, ε_rf = 78.3).
Integrator: NoseHooverIntegrator (chain of 3, collision frequency 10/ps = 100 fs time constant)
at 300 K, 0.5 fs.  Platforms: CPU (all cores) and OpenCL (e.g. PoCL) when it loads.

Timing: per size and platform, build the context, run warm-up steps, then `--repeats` timed runs
of `steps` steps each (ending with a getState(getEnergy=True) that waits for the device);
steps per size are chosen so that a run is about `--target` atom-steps.  Prints CSV on standard
output (atoms,platform,device,steps,repeats,steps_per_s,atom_steps_per_s,min,max,ns_per_day)
and writes JSON with `--json FILE` (which also holds the CPU seconds per step, all threads of the
process, a measure that other work sharing the cores disturbs less than wall time).
"""
import argparse
import json
import lzma
import os
import re
import statistics
import sys
import time

import openmm
from openmm import unit

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Data", "cp2k-water64-xtb-300K")
BOHR_PER_AUT_IN_NM_PER_PS = 0.529177210903 / 0.024188843265857 * 100.0  # Å/fs -> nm/ps is x100
MASS = {"O": 15.9994, "H": 1.00794}  # u, CP2K's table, as mld uses

# SPC/Fw (Wu, Tepper, Voth 2006), converted to OpenMM units (nm, kJ/mol, rad).
KCAL = 4.184
R0_NM = 0.1012
KB = 1059.162 * KCAL * 100.0          # kJ/mol/nm²
THETA0 = 113.24 * 3.141592653589793 / 180.0
KTHETA = 75.90 * KCAL                 # kJ/mol/rad²
Q_O, Q_H = -0.82, 0.41
SIGMA_O = 0.3165492                   # nm
EPS_O = 0.1554253 * KCAL              # kJ/mol


def read_first_frame(path):
    """Element symbols and xyz rows of the first frame of a CP2K .xyz(.xz) file."""
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt") as f:
        n = int(f.readline())
        f.readline()
        rows = [f.readline().split() for _ in range(n)]
    return [r[0] for r in rows], [tuple(float(x) for x in r[1:4]) for r in rows]


def read_cell(data):
    """Cubic/orthorhombic cell edges in Å from the &CELL section of the CP2K restart file."""
    for name in sorted(os.listdir(data)):
        if name.endswith(".restart"):
            text = open(os.path.join(data, name)).read()
            start = text.find("&CELL")
            if start < 0:
                continue
            text = text[start:text.find("&END CELL", start)]
            edges = []
            for axis, k in (("A", 0), ("B", 1), ("C", 2)):
                m = re.search(r"^\s*%s\s+(\S+)\s+(\S+)\s+(\S+)" % axis, text, re.M)
                edges.append(float(m.group(k + 1)))
            return edges
    raise SystemExit("openmm_water.py: no .restart file with a &CELL section in %s" % data)


def find(data, part):
    for name in sorted(os.listdir(data)):
        if part in name and (name.endswith(".xyz") or name.endswith(".xyz.xz")):
            return os.path.join(data, name)
    raise SystemExit("openmm_water.py: no *%s* file in %s" % (part, data))


def molecules(symbols, pos, cell):
    """(O, H1, H2) index triples: each H goes to its nearest O (minimum image)."""
    oxygens = [i for i, s in enumerate(symbols) if s == "O"]
    owned = {o: [] for o in oxygens}
    for h, s in enumerate(symbols):
        if s != "H":
            continue
        def d2(o):
            return sum((d - L * round(d / L)) ** 2 for d, L in zip([pos[h][k] - pos[o][k] for k in range(3)], cell))
        owned[min(oxygens, key=d2)].append(h)
    bad = [o for o in oxygens if len(owned[o]) != 2]
    if bad:
        raise SystemExit("openmm_water.py: oxygen %d does not have exactly two hydrogens" % bad[0])
    return [(o, owned[o][0], owned[o][1]) for o in oxygens]


def build(k, data):
    """System, positions (nm) and velocities (nm/ps) of the CP2K frame tiled k x k x k."""
    symbols, pos = read_first_frame(find(data, "-pos-"))
    _, vel = read_first_frame(find(data, "-vel-"))
    cell = read_cell(data)
    mols = molecules(symbols, pos, cell)
    n = len(symbols)
    system = openmm.System()
    big = [L * k for L in cell]
    system.setDefaultPeriodicBoxVectors(openmm.Vec3(big[0] / 10, 0, 0), openmm.Vec3(0, big[1] / 10, 0),
                                        openmm.Vec3(0, 0, big[2] / 10))
    bonds = openmm.HarmonicBondForce()
    angles = openmm.HarmonicAngleForce()
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(0.6)
    nb.setReactionFieldDielectric(78.3)
    nb.setUseDispersionCorrection(False)
    positions, velocities, bond_pairs = [], [], []
    for iz in range(k):
        for iy in range(k):
            for ix in range(k):
                shift = (ix * cell[0], iy * cell[1], iz * cell[2])
                base = len(positions)
                for i in range(n):
                    system.addParticle(MASS[symbols[i]])
                    charge, sigma, eps = (Q_O, SIGMA_O, EPS_O) if symbols[i] == "O" else (Q_H, 0.1, 0.0)
                    nb.addParticle(charge, sigma, eps)
                    positions.append(openmm.Vec3(*[(pos[i][d] + shift[d]) / 10 for d in range(3)]))
                    velocities.append(openmm.Vec3(*[v * BOHR_PER_AUT_IN_NM_PER_PS for v in vel[i]]))
                for o, h1, h2 in mols:
                    bonds.addBond(base + o, base + h1, R0_NM, KB)
                    bonds.addBond(base + o, base + h2, R0_NM, KB)
                    angles.addAngle(base + h1, base + o, base + h2, THETA0, KTHETA)
                    bond_pairs += [(base + o, base + h1), (base + o, base + h2)]
    nb.createExceptionsFromBonds(bond_pairs, 0.0, 0.0)
    for f in (bonds, angles, nb):
        system.addForce(f)
    return system, positions, velocities


def time_size(k, platform_name, data, repeats, target, steps_override):
    system, positions, velocities = build(k, data)
    atoms = system.getNumParticles()
    integrator = openmm.NoseHooverIntegrator(300 * unit.kelvin, 10 / unit.picosecond, 0.0005 * unit.picoseconds)
    platform = openmm.Platform.getPlatformByName(platform_name)
    props = {}
    if platform_name == "CPU":
        props["Threads"] = str(os.cpu_count() or 1)
    context = openmm.Context(system, integrator, platform, props)
    context.setPositions(positions)
    context.setVelocities(velocities)
    if platform_name == "CPU":
        device = "%s threads" % platform.getPropertyValue(context, "Threads")
    elif "DeviceName" in platform.getPropertyNames():
        # CUDA has no OpenCLPlatformName; both have DeviceName and Precision.
        names = platform.getPropertyNames()
        where = platform.getPropertyValue(context, "OpenCLPlatformName").strip() if "OpenCLPlatformName" in names else platform_name
        device = "%s (%s, %s precision)" % (platform.getPropertyValue(context, "DeviceName").strip(), where,
                                            platform.getPropertyValue(context, "Precision"))
    else:
        device = platform_name
    steps = steps_override or max(5, min(2000, int(target / atoms)))
    integrator.step(max(2, steps // 5))            # warm-up (kernels compiled, lists built)
    context.getState(getEnergy=True)
    rates = []
    cpu0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        integrator.step(steps)
        context.getState(getEnergy=True)          # waits for the device to finish
        rates.append(steps / (time.perf_counter() - t0))
    cpu_per_step = (time.process_time() - cpu0) / (steps * repeats)   # all threads of this process
    del context, integrator
    med = statistics.median(rates)
    return {"engine": "openmm", "version": openmm.__version__, "platform": platform_name, "device": device,
            "atoms": atoms, "steps": steps, "repeats": repeats,
            "steps_per_s": med, "steps_per_s_min": min(rates), "steps_per_s_max": max(rates),
            "atom_steps_per_s": med * atoms, "atom_steps_per_s_min": min(rates) * atoms,
            "atom_steps_per_s_max": max(rates) * atoms, "ns_per_day": med * 0.5e-6 * 86400,
            "cpu_seconds_per_step": cpu_per_step}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--atoms", default="192,1536,12288,98304,786432",
                   help="comma-separated atom counts, each 192 k^3")
    p.add_argument("--platforms", default="CPU,OpenCL", help="OpenMM platforms to try (skipped if absent)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--target", type=float, default=1.5e6, help="atom-steps per timed run")
    p.add_argument("--steps", type=int, default=0, help="steps per timed run (overrides --target)")
    p.add_argument("--data", default=DATA)
    p.add_argument("--json", help="write the results as JSON to this file")
    a = p.parse_args()
    available = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    results = []
    print("atoms,platform,device,steps,repeats,steps_per_s,atom_steps_per_s,atom_steps_per_s_min,atom_steps_per_s_max,ns_per_day", flush=True)
    for platform in a.platforms.split(","):
        if platform not in available:
            print("# OpenMM platform %s is not available (have: %s); skipped" % (platform, ", ".join(available)),
                  file=sys.stderr)
            continue
        for atoms in [int(x) for x in a.atoms.split(",")]:
            k = round((atoms / 192) ** (1 / 3))
            if 192 * k ** 3 != atoms:
                raise SystemExit("openmm_water.py: %d atoms is not 192 k^3" % atoms)
            try:
                r = time_size(k, platform, a.data, a.repeats, a.target, a.steps)
            except Exception as e:  # a platform that loads but cannot run (no device, build error)
                print("# OpenMM %s failed at %d atoms: %s" % (platform, atoms, str(e).splitlines()[0]), file=sys.stderr)
                break
            results.append(r)
            print("%d,%s,%s,%d,%d,%.3f,%.4g,%.4g,%.4g,%.3f" % (
                r["atoms"], platform, r["device"].replace(",", ";"), r["steps"], r["repeats"], r["steps_per_s"],
                r["atom_steps_per_s"], r["atom_steps_per_s_min"], r["atom_steps_per_s_max"], r["ns_per_day"]), flush=True)
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"openmm": results}, f, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
