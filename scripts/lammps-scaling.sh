#!/bin/sh
# Strong and weak scaling of mld lammps: atom-steps/s and LAMMPS's timing breakdown
# (Pair/Comm/Modify/Other, average seconds over ranks and % of the loop) for each ranks x threads
# layout on tiled water boxes. Prints one Markdown table.
#
# usage: scripts/lammps-scaling.sh MODEL "ATOMS_TILING..." "RANKSxTHREADS..." STEPS [MLD]
#   scripts/lammps-scaling.sh out/model-distances.json "98304:8 786432:16" "1x1 1x2 2x1" "20 10"
# ATOMS:K tiles the first CP2K frame KxKxK (192 K^3 atoms); STEPS pairs with the sizes.
set -eu
model=$1; sizes=$2; layouts=$3; steps=$4; mld=${5:-.build/release/mld}
work=$(mktemp -d /tmp/mld-lammps-scaling.XXXXXX)
echo "| atoms | ranks x threads | steps | loop s | atom-steps/s | Pair s (%) | Comm s (%) | Modify s (%) | Other s (%) |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
i=0
for size in $sizes; do
  i=$((i + 1))
  n=$(echo "$steps" | cut -d' ' -f$i)
  atoms=${size%%:*}; k=${size##*:}
  data=$work/water-$atoms.data
  "$mld" box --from Data/cp2k-water64-xtb-300K --frame 0 --replicate ${k}x${k}x${k} --format lammps-data --out "$data" >/dev/null
  for layout in $layouts; do
    ranks=${layout%%x*}; threads=${layout##*x}
    out=$work/run-$atoms-$layout.txt
    mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$mld" lammps --model "$model" --threads "$threads" \
      --input Examples/lammps/in.water --var data="$data" --var steps="$n" > "$out"
    awk -v atoms="$atoms" -v layout="$layout" '
      /^Loop time of/ { loop = $4; steps = $9 }
      /^(Pair|Comm|Modify|Other) *\|/ {
        # Section | min | avg | max | %varavg | %total  (Other: | | avg | | | %total)
        n = split($0, f, "|"); avg = f[3]; pct = f[n]; gsub(/ /, "", avg); gsub(/ /, "", pct)
        t[$1] = sprintf("%.3g (%s)", avg, pct)
      }
      END { printf "| %d | %s | %d | %.3g | %.3g | %s | %s | %s | %s |\n", atoms, layout, steps, loop, atoms * steps / loop, t["Pair"], t["Comm"], t["Modify"], t["Other"] }
    ' "$out"
  done
done
rm -rf "$work"
