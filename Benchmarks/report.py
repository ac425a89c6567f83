#!/usr/bin/env python3
"""Merges `mld bench --json` and `Benchmarks/openmm_water.py --json` into one Markdown report.

Usage: report.py MLD_JSON OPENMM_JSON [--interleaved INTERLEAVED_JSON] [--out BENCHMARKS.md]
Writes the Markdown (atomically with --out, else to standard output): with --interleaved (the
output of Benchmarks/interleave.py) first the interleaved comparison of mld's CPU backend (each
model) with OpenMM's CPU platform: medians over the rounds of atom-steps per wall second and per
CPU-second, the ratios mld / OpenMM (median over the rounds of each round's ratio), and where
the mld step's time goes; then one side-by-side table of atom-steps/s per box size (median of
repeats, min-max below it) for mld CPU, mld OpenCL, OpenMM CPU and OpenMM OpenCL, the CP2K
speed-up, the detail of the mld runs, and the machine. A missing or empty OpenMM file leaves its
columns as "-" with the reason.
"""
import json
import os
import sys


def fmt(x):
    return "%.3g" % x if x is not None else "-"


def cell(med, lo, hi):
    return "%s (%s-%s)" % (fmt(med), fmt(lo), fmt(hi))


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2]))


def interleaved_section(path):
    """The interleaved mld / OpenMM tables (see the module comment)."""
    d = json.load(open(path))
    runs, sizes, labels = d["runs"], d["atoms"], d["models"]
    m = d["machine"]
    omm = [r for r in runs if r["engine"] == "openmm"]
    omm_label = omm[0]["label"] if omm else "OpenMM CPU"

    def pick(engine, label, n, key):
        return {r["round"]: r[key] for r in runs
                if r["engine"] == engine and r["atoms"] == n and (engine == "openmm" or r["label"] == label)}

    per_run = d.get("stepsPerRun")
    same_steps = (" Both timed the same MD steps per run: %s." % ", ".join(
        "%s at %s atoms" % (per_run[str(n)], n) for n in sizes)) if per_run else ""
    lines = ["## mld CPU against OpenMM CPU, interleaved", "",
             "`Benchmarks/interleave.py` (run by `make bench`), %d rounds; in every round each size ran "
             "`mld bench --backend cpu --repeats 1` for each model and then `Benchmarks/openmm_water.py "
             "--platforms CPU --repeats 1`, so both saw the same load. %d cores, %s, %s; 1-minute load "
             "average %.2f at the end (other work shared the cores). Medians over the rounds; a ratio is the "
             "median of the rounds' ratios mld / OpenMM.%s" % (
                 d["rounds"], m["cores"], m["cpuModel"], m["date"], d["loadAverageAtEnd"], same_steps), ""]
    for title, key in [("Atom-steps per wall second", "atom_steps_per_s"),
                       ("Atom-steps per CPU-second (user + system, all threads of the process)", "cpu_atom_steps_per_s")]:
        head = "| atoms | " + " | ".join("mld %s" % l for l in labels) + " | %s | " % omm_label + \
            " | ".join("ratio %s" % l for l in labels) + " |"
        lines += [title + ":", "", head, "|---:|" + "---:|" * (2 * len(labels) + 1)]
        for n in sizes:
            o = pick("openmm", None, n, key)
            cells, ratios = [], []
            for l in labels:
                x = pick("mld", l, n, key)
                cells.append(fmt(median(list(x.values()))))
                rs = [x[r] / o[r] for r in x if r in o and o[r] > 0]
                ratios.append("%.2f" % median(rs) if rs else "-")
            lines.append("| %d | %s | %s | %s |" % (n, " | ".join(cells), fmt(median(list(o.values()))), " | ".join(ratios)))
        lines.append("")
    lines += ["Where the mld step goes (ms per step, medians over the rounds; force excludes the neighbour-list "
              "rebuilds, other is the rest of the step; extended XYZ is the time to format one output frame):", "",
              "| model | atoms | step | force | rebuild | integration | thermostat | other | extended XYZ ms/frame |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for l in labels:
        for n in sizes:
            ph = [r["phases"] for r in runs if r["engine"] == "mld" and r["label"] == l and r["atoms"] == n and r.get("phases")]
            if not ph:
                continue
            def col(k):
                v = median([p[k] for p in ph if p.get(k) is not None])
                return "%.4g" % (v * 1e3) if v is not None else "-"
            lines.append("| %s | %d | %s |" % (l, n, " | ".join(col(k) for k in
                         ["step", "force", "rebuild", "integration", "thermostat", "other", "outputPerFrame"])))
    def described(l):
        r = next(r for r in runs if r.get("label") == l)
        return "%s = `%s`%s" % (l, r["model"], " with `--cpu-precision %s`" % r["precision"]
                                if r.get("precision", "double") != "double" else "")
    lines += ["", "Models: " + "; ".join(described(l) for l in labels) + ".", ""]
    return lines


def main(argv):
    out = None
    interleaved = None
    if "--interleaved" in argv:
        i = argv.index("--interleaved")
        interleaved = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if "--out" in argv:
        i = argv.index("--out")
        out = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if len(argv) != 2:
        raise SystemExit(__doc__)
    mld = json.load(open(argv[0]))
    openmm_note = ""
    try:
        omm = json.load(open(argv[1])).get("openmm", [])
    except (OSError, ValueError) as e:
        omm, openmm_note = [], "OpenMM results missing (%s)." % e
    cols = {}
    for r in mld["results"]:
        a = r["atomStepsPerSecond"]
        cols[("mld", r["backend"], r["atoms"])] = cell(a["median"], a["min"], a["max"])
    for r in omm:
        cols[("openmm", r["platform"].lower(), r["atoms"])] = cell(
            r["atom_steps_per_s"], r["atom_steps_per_s_min"], r["atom_steps_per_s_max"])
    # Atom-steps per CPU-second (all threads of the process): what sharing the cores with
    # other work disturbs least.
    cpu = {}
    for r in mld["results"]:
        if r.get("cpuSecondsPerStep"):
            cpu[("mld", r["backend"], r["atoms"])] = fmt(r["atoms"] / r["cpuSecondsPerStep"])
    for r in omm:
        if r.get("cpu_seconds_per_step"):
            cpu[("openmm", r["platform"].lower(), r["atoms"])] = fmt(r["atoms"] / r["cpu_seconds_per_step"])
    sizes = sorted({k[2] for k in cols})
    heads = [("mld", "cpu", "mld CPU"), ("mld", "opencl", "mld OpenCL"),
             ("openmm", "cpu", "OpenMM CPU"), ("openmm", "opencl", "OpenMM OpenCL")]
    m = mld["machine"]
    lines = ["# Benchmarks", "",
             "Generated by `make bench` on %s: %d cores, %s, 1-minute load average %s when the mld runs ended "
             "(other work on the cores slows every number)." % (
                 m["date"], m["cores"], m["cpuModel"], "%.2f" % m["loadAverage"] if m.get("loadAverage") is not None else "unknown"),
             "",
             "Atom-steps per second (atoms x whole MD steps per second, 0.5 fs steps), median of %d timed runs "
             "with min-max in brackets. mld: learned dynamics (model `%s`, velocity Verlet + Nose-Hoover chain, "
             "neighbour-list rebuilds included). OpenMM %s: flexible SPC/Fw water, 6 Å reaction-field cutoff, "
             "Nose-Hoover, 0.5 fs. Same boxes: the first CP2K frame (64 waters) tiled k x k x k." % (
                 mld["settings"]["repeats"], mld["model"], omm[0]["version"] if omm else ""),
             "",
             "| atoms | " + " | ".join(h[2] for h in heads) + " |",
             "|---:|" + "---:|" * len(heads)]
    for n in sizes:
        lines.append("| %d | " % n + " | ".join(cols.get((h[0], h[1], n), "-") for h in heads) + " |")
    if interleaved:
        lines[4:4] = interleaved_section(interleaved) + ["## All backends, one after the other", ""]
    lines += ["", "Atom-steps per CPU-second (user + system time of all the process's threads; on a machine "
              "shared with other work this is steadier than the wall-clock rate above, and times the core "
              "count it estimates the rate on an idle machine when every core is busy):", "",
              "| atoms | " + " | ".join(h[2] for h in heads) + " |",
              "|---:|" + "---:|" * len(heads)]
    for n in sizes:
        lines.append("| %d | " % n + " | ".join(cpu.get((h[0], h[1], n), "-") for h in heads) + " |")
    lines.append("")
    cp2k = mld.get("cp2k")
    if cp2k:
        sp = mld.get("speedup", {})
        lines.append("CP2K (GFN1-xTB, the training data) took %.3f s per MD step (median of %d steps of %s) for %s atoms; "
                     "the mld step is faster by %s." % (
                         cp2k["secondsPerStep"]["median"], cp2k["steps"], cp2k["file"], cp2k.get("atoms"),
                         ", ".join("%.3g x (%s)" % (v, k) for k, v in sorted(sp.items())) or "- (no run at that size)"))
        lines.append("")
    for s in mld.get("skipped", []):
        lines.append("Skipped: %s." % s)
    if openmm_note:
        lines.append(openmm_note)
    lines += ["", "## mld detail", "",
              "| backend | atoms | steps x runs | steps/s | ns/day | force eval ms | transfer ms/step | rebuilds | peak RSS MB | RSS B/atom | CPU ms/step | T after K |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in mld["results"]:
        lines.append("| %s | %d | %d x %d | %s | %s | %s | %s | %d | %s | %s | %s | %s |" % (
            r["backend"], r["atoms"], r["steps"], r["repeats"], fmt(r["stepsPerSecond"]["median"]),
            fmt(r["nsPerDay"]["median"]), fmt(r["forceSeconds"]["median"] * 1e3),
            fmt(r["transferSecondsPerStep"] * 1e3) if r.get("transferSecondsPerStep") is not None else "-",
            r["neighbourRebuilds"],
            "%.0f" % (r["peakResidentBytes"] / 2 ** 20) if r.get("peakResidentBytes") else "-",
            "%.0f" % r["bytesPerAtom"] if r.get("bytesPerAtom") is not None else "-",
            fmt(r["cpuSecondsPerStep"] * 1e3), "%.0f" % r["finalTemperature"] if r.get("finalTemperature") else "-"))
    devices = sorted({"%s: %s" % (r["backend"], r["device"]) for r in mld["results"]} |
                     {"OpenMM %s: %s" % (r["platform"], r["device"]) for r in omm})
    lines += ["", "Devices: " + "; ".join(devices) + ".", "",
              "Reproduce: `make bench` (fits `out/model.json` if missing, runs `mld bench --backend all "
              "--cp2k Data/cp2k-water64-xtb-300K --json`, then `Benchmarks/openmm_water.py` in `.venv`, "
              "then this report). See docs/performance.md.", ""]
    text = "\n".join(lines)
    if out:
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, out)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
