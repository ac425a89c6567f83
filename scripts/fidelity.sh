#!/usr/bin/env bash
# The fidelity study: {selfish, conservative} agents x {distances, the default invariants
# (distances + H1-H2 bend + 12 angular sums), distances + 12 angular sums trained with the 400 K
# run too} x {NVE, global Nose-Hoover tau 100 fs, per-agent Nose-Hoover tau 20 fs, CSVR tau 100 fs,
# Langevin friction 1/100 fs}, each 10 ps (20,000 steps of 0.5 fs) from the same test-block start
# (frame 760 of the bundled 300 K run, never seen by any fit), compared with CP2K by `mld compare`.
#
# usage: scripts/fidelity.sh OUT_DIR [STEPS]
# MODELS="conservative-sums400 ..." runs only those models (the table covers every run present), so
# two processes can share the study without touching each other's runs; THERMOSTATS="nve ..." the
# same for thermostats. The table gives each run's length (ps), so shorter runs stay visible as such.
# Writes OUT_DIR/models/*.json, OUT_DIR/<model>-<thermostat>/{run,report}, and OUT_DIR/fidelity.md
# (the table docs/dynamics.md quotes) and OUT_DIR/fidelity.json. Runs one simulation at a time.
set -uo pipefail
out=$1; steps=${2:-20000}
mld=${MLD:-.build/release/mld}
d300=Data/cp2k-water64-xtb-300K; d400=Data/cp2k-water64-xtb-400K
frame=760
mkdir -p "$out/models"

fit() { # name, options...
  local name=$1; shift
  [ -f "$out/models/$name.json" ] || "$mld" fit --data "$d300" --out "$out/models/$name.json" "$@" >"$out/models/$name.log" 2>&1 \
    || { echo "fit $name failed: $(tail -1 "$out/models/$name.log")" >&2; exit 1; }
}
fit selfish-distances --angles none
fit selfish-default
fit selfish-sums400 --angles sums --train-data "$d400"
fit conservative-distances --agents conservative --angles none
fit conservative-default --agents conservative
fit conservative-sums400 --agents conservative --angles sums --train-data "$d400"

thermostats=("nve|--thermostat none" "nh-global-100|--thermostat nose-hoover --no-massive --tau 100"
             "nh-massive-20|--thermostat nose-hoover --massive --tau 20" "csvr-100|--thermostat csvr --tau 100"
             "langevin-100|--thermostat langevin --tau 100")
all_models="selfish-distances selfish-default selfish-sums400 conservative-distances conservative-default conservative-sums400"
for model in ${MODELS:-$all_models}; do
  for t in "${thermostats[@]}"; do
    name=${t%%|*}; opts=${t#*|}
    [ -n "${THERMOSTATS:-}" ] && [[ " $THERMOSTATS " != *" $name "* ]] && continue
    dir="$out/$model-$name"
    [ -f "$dir/report/summary.json" ] || [ -f "$dir/failed" ] || [ -e "$dir/running" ] && continue
    rm -rf "$dir"; mkdir -p "$dir"; touch "$dir/running"
    # shellcheck disable=SC2086
    "$mld" run --model "$out/models/$model.json" --start "$d300" --frame $frame --steps "$steps" --every 5 \
      --backend cpu --quiet --out "$dir/run" $opts >"$dir/run.log" 2>&1
    "$mld" compare --reference "$d300" --run "$dir/run" --out "$dir/report" >"$dir/compare.log" 2>&1 || touch "$dir/failed"
    rm -f "$dir/run/trajectory.xyz" "$dir/run/checkpoint.bin" "$dir/running"
    echo "$model $name: $(tail -1 "$dir/run.log")"
  done
done

python3 - "$out" "$steps" <<'PY'
import csv, json, math, os, sys
out, steps = sys.argv[1], int(sys.argv[2])
models = ["selfish-distances", "selfish-default", "selfish-sums400",
          "conservative-distances", "conservative-default", "conservative-sums400"]
thermos = ["nve", "nh-global-100", "nh-massive-20", "csvr-100", "langevin-100"]
keys = ["mean_temperature_K", "temperature_std_K", "oh_bond_mean_A", "oh_bond_std_A", "oh_bond_min_A",
        "oh_bond_max_A", "hoh_angle_mean_deg", "hoh_angle_std_deg", "oo_rdf_peak_r_A", "oo_rdf_peak_height",
        "oh_stretch_peak_cm-1", "hoh_bend_peak_cm-1", "oh_stretch_temperature_K", "oh_bond_std_300K_A"]
rows, ref = [], None
for m in models:
    for t in thermos:
        d = os.path.join(out, f"{m}-{t}")
        r = {"model": m, "thermostat": t}
        try:
            run = json.load(open(os.path.join(d, "run", "run.json")))
        except Exception:
            r["status"] = "missing"; rows.append(r); continue
        r["status"] = run.get("status"); r["steps"] = run.get("stepsDone")
        r["atoms"] = n = run.get("atoms") or 192
        # NVE drift of conserved_eV: least-squares slope over the whole run, meV/atom/ps.
        try:
            tt, ee = [], []
            for row in csv.DictReader(open(os.path.join(d, "run", "thermo.csv"))):
                e = float(row["conserved_eV"])
                if math.isfinite(e):
                    tt.append(float(row["time_fs"]) / 1000); ee.append(e)
            r["ps"] = tt[-1]
            mt, me = sum(tt) / len(tt), sum(ee) / len(ee)
            slope = sum((a - mt) * (b - me) for a, b in zip(tt, ee)) / sum((a - mt) ** 2 for a in tt)
            r["drift_meV_per_atom_ps"] = slope * 1000 / n
        except Exception:
            pass
        try:
            s = json.load(open(os.path.join(d, "report", "summary.json")))
            ref = ref or {x["name"]: x.get("reference") for x in s["scalars"]}
            for x in s["scalars"]:
                if x["name"] in keys:
                    r[x["name"]] = x.get("learned")
        except Exception:
            pass
        rows.append(r)
json.dump({"steps": steps, "reference": ref, "runs": rows}, open(os.path.join(out, "fidelity.json"), "w"), indent=1)
canon = None
def f(x, p):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{p}f}"
lines = ["| agents | invariants | thermostat | status | ps | T (K) | T std (K) | drift (meV/atom/ps) | O-H (Å) | O-H std (Å) | O-H range (Å) | H-O-H (°) | H-O-H std (°) | g_OO peak (Å) | stretch / bend (cm⁻¹) | T_stretch (K) | O-H std at a 300 K stretch (Å) |",
         "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|"]
if ref:
    lines.append(f"| CP2K | | | | 0.45 | {f(ref['mean_temperature_K'],1)} | {f(ref['temperature_std_K'],1)} | | {f(ref['oh_bond_mean_A'],4)} | "
                 f"{f(ref['oh_bond_std_A'],4)} | {f(ref['oh_bond_min_A'],3)}-{f(ref['oh_bond_max_A'],3)} | {f(ref['hoh_angle_mean_deg'],1)} | "
                 f"{f(ref['hoh_angle_std_deg'],2)} | {f(ref['oo_rdf_peak_r_A'],3)} | {f(ref['oh_stretch_peak_cm-1'],0)} / {f(ref['hoh_bend_peak_cm-1'],0)} | "
                 f"{f(ref.get('oh_stretch_temperature_K'),1)} | {f(ref.get('oh_bond_std_300K_A'),4)} |")
for r in rows:
    a, inv = r["model"].split("-", 1)
    st = r.get("status", "-")
    if st and st.startswith("failed"):
        st = "blew up"
    ps = round(r.get("ps", 0), 2)
    lines.append(f"| {a} | {inv} | {r['thermostat']} | {st} | {ps:g} | {f(r.get('mean_temperature_K'),1)} | {f(r.get('temperature_std_K'),1)} | "
                 f"{f(r.get('drift_meV_per_atom_ps'),3) if r['thermostat']=='nve' else '-'} | {f(r.get('oh_bond_mean_A'),4)} | {f(r.get('oh_bond_std_A'),4)} | "
                 f"{f(r.get('oh_bond_min_A'),3)}-{f(r.get('oh_bond_max_A'),3)} | {f(r.get('hoh_angle_mean_deg'),1)} | {f(r.get('hoh_angle_std_deg'),2)} | "
                 f"{f(r.get('oo_rdf_peak_r_A'),3)} | {f(r.get('oh_stretch_peak_cm-1'),0)} / {f(r.get('hoh_bend_peak_cm-1'),0)} | "
                 f"{f(r.get('oh_stretch_temperature_K'),1)} | {f(r.get('oh_bond_std_300K_A'),4)} |")
open(os.path.join(out, "fidelity.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
