#!/bin/sh
# Instructions per atom-step of whole MD steps, per phase, from valgrind's callgrind: a count that
# does not depend on what else the machine runs, so a regression shows as a number.
#
# Usage: scripts/callgrind-phases.sh MLD MODEL.json [ATOMS] [STEPS]
#   MLD      the mld binary (e.g. .build/release/mld)
#   MODEL    a model file (mld fit --out)
#   ATOMS    192 k^3 atoms: the first frame of $DATA (default Data/cp2k-water64-xtb-300K) tiled
#            k x k x k (default 192)
#   STEPS    timed steps of the shorter run, at least 50 (default 200): the bench then times 50
#            force evaluations alone after either run, and they cancel
# PRECISION=mixed counts the CPU backend's mixed precision (`--cpu-precision`; default double).
#
# It runs `mld bench --backend cpu --repeats 1` under callgrind twice, with STEPS and 2 x STEPS
# timed steps (the bench adds a fifth as warm-up), counting every thread, and takes the
# difference: what the two runs share (loading, building the box and the backend, the timed force
# evaluations alone) cancels, and what is left is 1.2 x STEPS whole MD steps. Phases, from the
# same difference of inclusive counts of the functions that run them:
#   rebuild      NeighbourList.build
#   thermostat   the thermostat's half steps (Thermostat.halfStep, or the fused step's opening
#                and closing half steps)
#   integration  the rest of Simulation.advance on the calling thread (kicks, drift, checks,
#                centre-of-mass removal, ledger) less the backend's computeForces
#   force        the rest: the force evaluation on every thread
set -eu
MLD=${1:?usage: $0 MLD MODEL.json [ATOMS] [STEPS]}
MODEL=${2:?usage: $0 MLD MODEL.json [ATOMS] [STEPS]}
ATOMS=${3:-192}
STEPS=${4:-200}
DATA=${DATA:-Data/cp2k-water64-xtb-300K}
PRECISION=${PRECISION:-double}
[ "$STEPS" -ge 50 ] || { echo "error: STEPS must be at least 50 (got $STEPS)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "error: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "error: callgrind_annotate is missing (apt-get install valgrind)" >&2; exit 1; }
k=$(python3 -c "import sys; n=int(sys.argv[1]); k=round((n/192)**(1/3)); sys.exit('error: ATOMS must be 192 k^3') if 192*k**3!=n else print(k)" "$ATOMS")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$MLD" box --from "$DATA" --frame 0 --replicate "${k}x${k}x${k}" --out "$tmp/box.xyz" >/dev/null
# Workers that watch for the next pass, and a caller that watches for their blocks, would add
# instructions that depend on how valgrind (one thread at a time) interleaves the threads: here
# they sleep and yield instead (`WorkerPool`).
export MLD_WORKER_WATCH_US=0
for n in "$STEPS" $((2 * STEPS)); do
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$n" \
    "$MLD" bench --model "$MODEL" --data "$tmp/box.xyz" --atoms "$ATOMS" --steps "$n" --repeats 1 --backend cpu \
    --cpu-precision "$PRECISION" \
    >"$tmp/bench.$n" 2>"$tmp/valgrind.$n" || { cat "$tmp/valgrind.$n" >&2; exit 1; }
  callgrind_annotate --inclusive=yes --threshold=100 "$tmp/cg.$n" >"$tmp/annotated.$n" 2>/dev/null
done
python3 - "$tmp/annotated.$STEPS" "$tmp/annotated.$((2 * STEPS))" "$ATOMS" "$STEPS" "$MODEL ($PRECISION)" <<'EOF'
import re, sys
short, long_, atoms, steps, model = open(sys.argv[1]).read(), open(sys.argv[2]).read(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def counts(text):
    total = int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
    def inclusive(pattern):
        # The largest inclusive count among the functions whose name matches.
        best = 0
        for line in text.splitlines():
            m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
            if m and re.search(pattern, m.group(2)):
                best = max(best, int(m.group(1).replace(",", "")))
        return best
    advance = inclusive(r"10SimulationC7advanceyyKF \[")
    forces = inclusive(r"CPUBackendC13computeForces9positions")
    rebuild = inclusive(r"NeighbourListV5build")
    thermo = inclusive(r"ThermostatO8halfStep") + inclusive(r"15openingHalfStep\S*F \[") + inclusive(r"15closingHalfStep\S*F \[")
    return dict(total=total, rebuild=rebuild, thermostat=thermo, integration=advance - forces - thermo)
a, b = counts(short), counts(long_)
md = 2 * steps + max(2, 2 * steps // 5) - (steps + max(2, steps // 5))
d = {k: (b[k] - a[k]) / (atoms * md) for k in a}
d["force"] = d["total"] - d["rebuild"] - d["thermostat"] - d["integration"]
print("model %s, %d atoms, %d MD steps (difference of two runs), every thread" % (model, atoms, md))
print("phase        instructions per atom-step")
for name in ["force", "rebuild", "thermostat", "integration", "total"]:
    print("%-12s %10.0f" % ("whole step" if name == "total" else name, d[name]))
EOF
