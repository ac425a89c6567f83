#!/usr/bin/env python3
"""mld (CPU backend, several models) and OpenMM (CPU platform) on the same boxes, interleaved.

Usage: interleave.py --mld PATH --openmm-python PATH --atoms 192,1536,... --rounds R
                     --model LABEL=MODEL.json[:PRECISION] [--model ...] --json OUT.json

Every round runs, for every size in turn, `mld bench --backend cpu --repeats 1 --json` for each
model (PRECISION, double or mixed, is its --cpu-precision; double when left out) and then `Benchmarks/openmm_water.py --platforms CPU --repeats 1`, so that all of them see
the same machine load (the machine is shared; a run's rate moves with what else runs). The boxes
are the first frame of --data tiled k x k x k for both programs, and both time the same number of
MD steps per run at each size: --atom-steps / atoms, at least --min-steps and at most --max-steps
(so that both integrate the same stretch of time, with the neighbour-list builds it brings: a
98,304-atom run of 15 steps may hold no build at all). OUT.json holds every run:
engine ("mld" or "openmm"), label, atoms, round, atom-steps per wall second, atom-steps per
CPU-second (user + system, all threads of the process) and, for mld, the phase breakdown
(seconds per step: force, rebuild, integration, thermostat, other; extended XYZ seconds per frame).
Benchmarks/report.py turns it into BENCHMARKS.md's interleaved tables (medians over the rounds and
the ratios mld / OpenMM of each round).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit("error: %s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip().splitlines()[-1:] or ""))
    return p.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mld", default=".build/release/mld")
    p.add_argument("--openmm-python", default=".venv/bin/python")
    p.add_argument("--atoms", default="192,1536,12288,98304")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--model", action="append", required=True,
                   help="LABEL=MODEL.json[:PRECISION], PRECISION double (default) or mixed (repeatable)")
    p.add_argument("--data", default="Data/cp2k-water64-xtb-300K")
    p.add_argument("--json", required=True)
    p.add_argument("--atom-steps", type=float, default=1.5e6, help="atom-steps per timed run (atoms x steps)")
    p.add_argument("--min-steps", type=int, default=100, help="fewest MD steps per timed run")
    p.add_argument("--max-steps", type=int, default=2000, help="most MD steps per timed run")
    a = p.parse_args()
    sizes = [int(x) for x in a.atoms.split(",")]
    if a.atom_steps <= 0 or a.min_steps < 2 or a.max_steps < a.min_steps:
        sys.exit("error: need --atom-steps > 0 and 2 <= --min-steps <= --max-steps")

    def steps(n):
        return max(a.min_steps, min(a.max_steps, int(round(a.atom_steps / n))))
    models = []
    for m in a.model:
        if "=" not in m:
            sys.exit("error: --model must be LABEL=MODEL.json[:PRECISION], not '%s'" % m)
        label, model = m.split("=", 1)
        precision = "double"
        head, sep, tail = model.rpartition(":")
        if sep and tail in ("double", "mixed"):
            model, precision = head, tail
        models.append((label, model, precision))
    here = os.path.dirname(os.path.abspath(__file__))
    runs, machine = [], None
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        # The first frame once, so that every mld bench call starts from the same small file.
        frame = os.path.join(tmp, "frame.xyz")
        run([a.mld, "box", "--from", a.data, "--frame", "0", "--replicate", "1x1x1", "--out", frame])
        for r in range(a.rounds):
            for n in sizes:
                for label, model, precision in models:
                    out = json.loads(run([a.mld, "bench", "--model", model, "--backend", "cpu", "--atoms", str(n),
                                          "--cpu-precision", precision,
                                          "--repeats", "1", "--steps", str(steps(n)), "--data", frame, "--json"]))
                    machine = machine or out["machine"]
                    for res in out["results"]:
                        runs.append({"engine": "mld", "label": label, "model": model, "precision": precision,
                                     "atoms": res["atoms"],
                                     "round": r, "atom_steps_per_s": res["atomStepsPerSecond"]["median"],
                                     "cpu_atom_steps_per_s": res["atoms"] / res["cpuSecondsPerStep"],
                                     "steps": res["steps"], "rebuilds": res["neighbourRebuilds"],
                                     "phases": res.get("phases"), "device": res["device"]})
                    print("round %d, %d atoms, mld %s: %.3g atom-steps/s" % (r + 1, n, label, runs[-1]["atom_steps_per_s"]),
                          file=sys.stderr, flush=True)
                oj = os.path.join(tmp, "openmm.json")
                run([a.openmm_python, os.path.join(here, "openmm_water.py"), "--atoms", str(n), "--platforms", "CPU",
                     "--repeats", "1", "--steps", str(steps(n)), "--data", a.data, "--json", oj])
                for res in json.load(open(oj))["openmm"]:
                    runs.append({"engine": "openmm", "label": "OpenMM %s CPU" % res["version"], "atoms": res["atoms"],
                                 "round": r, "atom_steps_per_s": res["atom_steps_per_s"],
                                 "cpu_atom_steps_per_s": res["atoms"] / res["cpu_seconds_per_step"],
                                 "steps": res["steps"], "device": res["device"]})
                print("round %d, %d atoms, OpenMM: %.3g atom-steps/s" % (r + 1, n, runs[-1]["atom_steps_per_s"]),
                      file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    result = {"machine": machine, "rounds": a.rounds, "atoms": sizes, "models": [m[0] for m in models],
              "stepsPerRun": {str(n): steps(n) for n in sizes},
              "loadAverageAtEnd": load, "wallSeconds": time.time() - started, "runs": runs}
    tmpout = a.json + ".tmp"
    with open(tmpout, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmpout, a.json)


if __name__ == "__main__":
    main()
