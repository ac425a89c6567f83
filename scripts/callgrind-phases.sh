#!/bin/sh
# Instructions per atom-step of whole MD steps, per phase, from valgrind's callgrind: a count that
# does not depend on what else the machine runs, so a regression shows as a number.
#
# Usage: scripts/callgrind-phases.sh MLD MODEL.json [ATOMS] [STEPS]
#   MLD      the mld binary (e.g. .build/release/mld)
#   MODEL    a model file (mld fit --out)
#   ATOMS    192 k^3 atoms: the first frame of Data/cp2k-water64-xtb-300K tiled k x k x k (default 192)
#   STEPS    timed steps (default 200; the bench adds a fifth as warm-up)
#
# It runs `mld bench --backend cpu --repeats 1` on one core (taskset -c 0, so the backend uses one
# thread and every block runs where callgrind counts it), collecting only inside
# `Simulation.advance`, and splits the inclusive counts by function:
#   rebuild      NeighbourList.build
#   force        the backend's computeForces, less the rebuilds
#   thermostat   the thermostat's half steps (Thermostat.halfStep / the fused step's opening and
#                closing half steps)
#   integration  the rest of advance(): kicks, drift, checks, centre-of-mass removal, ledger
set -eu
MLD=${1:?usage: $0 MLD MODEL.json [ATOMS] [STEPS]}
MODEL=${2:?usage: $0 MLD MODEL.json [ATOMS] [STEPS]}
ATOMS=${3:-192}
STEPS=${4:-200}
DATA=${DATA:-Data/cp2k-water64-xtb-300K}
command -v valgrind >/dev/null || { echo "error: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "error: callgrind_annotate is missing (apt-get install valgrind)" >&2; exit 1; }
k=$(python3 -c "import sys; n=int(sys.argv[1]); k=round((n/192)**(1/3)); sys.exit('error: ATOMS must be 192 k^3') if 192*k**3!=n else print(k)" "$ATOMS")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$MLD" box --from "$DATA" --frame 0 --replicate "${k}x${k}x${k}" --out "$tmp/box.xyz" >/dev/null
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" --toggle-collect='*10SimulationC7advance*' \
  "$MLD" bench --model "$MODEL" --data "$tmp/box.xyz" --atoms "$ATOMS" --steps "$STEPS" --repeats 1 --backend cpu \
  >"$tmp/bench.txt" 2>"$tmp/valgrind.txt" || { cat "$tmp/valgrind.txt" >&2; exit 1; }
callgrind_annotate --inclusive=yes --threshold=100 "$tmp/cg.out" >"$tmp/annotated.txt" 2>/dev/null
[ -n "${KEEP:-}" ] && cp "$tmp/cg.out" "$KEEP"
python3 - "$tmp/annotated.txt" "$ATOMS" "$STEPS" "$MODEL" <<'EOF'
import re, sys
text, atoms, steps, model = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
total = int(re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
def inclusive(pattern):
    # The largest inclusive count among the functions whose name matches (one entry per symbol).
    best = 0
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if m and re.search(pattern, m.group(2)):
            best = max(best, int(m.group(1).replace(",", "")))
    return best
timed = steps + max(2, steps // 5)
per = lambda x: x / (atoms * timed)
force = inclusive(r"CPUBackendC13computeForces")
rebuild = inclusive(r"NeighbourListV5build")
thermo = inclusive(r"ThermostatO8halfStep") + inclusive(r"openingHalfStep") + inclusive(r"closingHalfStep")
print("model %s, %d atoms, %d steps (warm-up included), one thread" % (model, atoms, timed))
print("phase        instructions per atom-step")
for name, x in [("force", force - rebuild), ("rebuild", rebuild), ("thermostat", thermo),
                ("integration", total - force - thermo), ("whole step", total)]:
    print("%-12s %10.0f" % (name, per(x)))
EOF
