#!/usr/bin/env bash
# The stability protocol of a learned model: 10 ps (20,000 steps of 0.5 fs) with the default
# thermostat from three test-block starts of the bundled 300 K data (frames the fit never saw)
# and one start from the independent 400 K run, thermostatted at 330 K. A run passes if it never
# blows up and every O-H bond (each H to its nearest O) stays within 0.85-1.15 Å.
#
# usage: scripts/stability.sh MODEL OUT_DIR [STEPS] [extra mld run options...]
# Prints one line per run and a last line "stable N/4"; exits 0.
set -uo pipefail
model=$1; out=$2; steps=${3:-20000}; shift $(( $# < 3 ? $# : 3 ))
mld=${MLD:-.build/release/mld}
d300=Data/cp2k-water64-xtb-300K; d400=Data/cp2k-water64-xtb-400K
mkdir -p "$out"
starts=("$d300 760 300" "$d300 830 300" "$d300 899 300" "$d400 -1 330")
for i in "${!starts[@]}"; do
  read -r data frame temp <<<"${starts[$i]}"
  dir="$out/start$i"
  [ -e "$dir" ] && { echo "$dir exists: remove it first" >&2; exit 1; }
  "$mld" run --model "$model" --start "$data" --frame="$frame" --temperature "$temp" --steps "$steps" \
    --every 20 --backend cpu --quiet --out "$dir" "$@" >"$dir.log" 2>&1
done
python3 - "$out" "$steps" <<'PY'
import json, sys, os
out, steps = sys.argv[1], int(sys.argv[2])
passed = 0
for i in range(4):
    d = os.path.join(out, f"start{i}")
    try:
        r = json.load(open(os.path.join(d, "run.json")))
    except Exception as e:
        print(f"start{i}: no run.json ({e})"); continue
    s = r.get("summary", {})
    done = r.get("stepsDone", 0)
    lo, hi = s.get("minOHBond", float("nan")), s.get("maxOHBond", float("nan"))
    ok = r.get("status") == "completed" and done >= steps and 0.85 <= lo and hi <= 1.15
    passed += ok
    print(f"start{i} {r['start']['source']}:{r['start']['frame']} status {r.get('status')} steps {done} "
          f"T {s.get('meanTemperature', 0):.1f}±{s.get('temperatureStd', 0):.1f} K "
          f"O-H {s.get('meanOHBond', 0):.4f}±{s.get('stdOHBond', 0):.4f} [{lo:.3f}, {hi:.3f}] Å "
          f"{'pass' if ok else 'FAIL'}")
print(f"stable {passed}/4")
PY
