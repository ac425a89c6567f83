#!/bin/sh
# The GPU check: lists the OpenCL devices, checks the OpenCL backend against the CPU backend on
# the first GPU, times `mld bench` (cpu, opencl with host steps, opencl with device-resident
# steps) on the CP2K frame tiled k x k x k (192 k^3 atoms, k = 1, 2, 4, 8, 16, 32, as memory
# allows), times OpenMM's CUDA and OpenCL platforms on the same boxes where `import openmm`
# works, and writes BENCHMARKS-GPU.md. Without an OpenCL GPU it says so in one line and exits 0.
#
# Runs in two places:
#   - the repository (`make gpu-check`): MLD=.build/release/mld, parity by `swift test`;
#   - a bundle from scripts/gpu-bundle.sh on a machine without Swift (`sh BUNDLE/gpu-check.sh`):
#     the mld next to this script with its libraries in lib/, parity by `mld eval` and `mld run`.
# Environment: MLD (the binary), MODEL (default model-distances.json next to the binary, or
# out/model-distances.json), OUT (default gpu-check-out), REPORT (default BENCHMARKS-GPU.md),
# SIZES (default 192,1536,12288,98304,786432,6291456), CPU_SIZES (default up to 98304),
# STEP_TIMEOUT (seconds per bench call, default 300), ALLOW_CPU=1 (take a CPU OpenCL device when
# there is no GPU: a dry run of the script on PoCL).
set -u
here=$(cd "$(dirname "$0")" && pwd)
if [ -x "$here/mld" ]; then root=$here; else root=$(cd "$here/.." && pwd); fi
MLD=${MLD:-$root/mld}
[ -x "$MLD" ] || MLD=$root/.build/release/mld
OUT=${OUT:-$root/gpu-check-out}
REPORT=${REPORT:-$root/BENCHMARKS-GPU.md}
SIZES=${SIZES:-192,1536,12288,98304,786432,6291456}
CPU_SIZES=${CPU_SIZES:-192,1536,12288,98304}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
DATA=$root/Data/cp2k-water64-xtb-300K
if [ -d "$root/lib" ]; then LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; export LD_LIBRARY_PATH; fi
mkdir -p "$OUT"

# The ocl-icd loader finds drivers through /etc/OpenCL/vendors/*.icd; an NVIDIA driver installed
# without its ICD file is reached through a vendors folder of our own.
if [ -z "${OCL_ICD_VENDORS:-}" ] && ! grep -qs libnvidia-opencl /etc/OpenCL/vendors/*.icd \
   && { ldconfig -p 2>/dev/null | grep -q libnvidia-opencl.so.1 || ls /usr/lib*/*/libnvidia-opencl.so.1 >/dev/null 2>&1; }; then
    mkdir -p "$OUT/vendors"
    echo libnvidia-opencl.so.1 > "$OUT/vendors/nvidia.icd"
    OCL_ICD_VENDORS=$OUT/vendors; export OCL_ICD_VENDORS
fi

"$MLD" devices > "$OUT/devices.txt" 2>&1 || { echo "gpu-check: $MLD devices failed: $(head -1 "$OUT/devices.txt")" >&2; exit 1; }
kind=GPU
# ALLOW_CPU=1 runs the whole check on a CPU OpenCL device (PoCL): a dry run of this script.
[ "${ALLOW_CPU:-0}" = 1 ] && kind='GPU|CPU'
gpu=$(awk -F'|' -v kind="$kind" '$3 ~ kind { sub(/^\[/, "", $1); sub(/\].*/, "", $1); print $1; exit }' "$OUT/devices.txt")
if [ -z "$gpu" ]; then
    echo "gpu-check: no OpenCL GPU on this machine ($(tr '\n' ' ' < "$OUT/devices.txt" | cut -c1-160)); nothing to check"
    exit 0
fi
echo "gpu-check: devices"; cat "$OUT/devices.txt"
echo "gpu-check: using device $gpu"
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia-smi.csv" 2>&1

MODEL=${MODEL:-}
if [ -z "$MODEL" ]; then
    if [ -f "$root/model-distances.json" ]; then MODEL=$root/model-distances.json
    else MODEL=$OUT/model-distances.json; [ -f "$MODEL" ] || "$MLD" fit --data "$DATA" --angles none --out "$MODEL"; fi
fi

# Parity on the GPU.
parity=$OUT/parity.txt
: > "$parity"
if [ -f "$root/Package.swift" ] && command -v swift >/dev/null 2>&1; then
    MLD_REQUIRE_OPENCL=1 swift test -c release -Xswiftc -enable-testing \
        --filter 'BackendParityTests|AngularParityTests|OpenCLReferenceTests|OpenCLGPUFormTests|DeviceLimitsTests|ResidentDynamicsTests' \
        > "$OUT/parity-tests.log" 2>&1
    echo "swift test (OpenCL parity suites): exit $?" >> "$parity"
    grep -E '^(parity|resident|constant|float|bytes)' "$OUT/parity-tests.log" >> "$parity" || true
    grep -E 'Test run with|failed' "$OUT/parity-tests.log" | tail -3 >> "$parity" || true
else
    for p in single double; do
        for b in cpu opencl; do
            "$MLD" eval --model "$MODEL" --data "$DATA" --frames 720..900 --backend $b --device "$gpu" --precision $p --json \
                > "$OUT/eval-$b-$p.json" 2> "$OUT/eval-$b-$p.err"
        done
    done
    for mode in host resident; do
        flag=""; [ $mode = resident ] && flag=--resident
        "$MLD" run --model "$MODEL" --start "$DATA" --frame 599 --steps 100 --every 100 --backend opencl --device "$gpu" \
            --precision double --no-massive --out "$OUT/run-$mode" --force --quiet $flag > "$OUT/run-$mode.txt" 2>&1
    done
    if command -v python3 >/dev/null 2>&1; then
        python3 "$root/Benchmarks/gpu_report.py" --parity "$OUT" >> "$parity" 2>&1
    else
        echo "no python3: the eval and run outputs in $OUT are not compared" >> "$parity"
    fi
fi
cat "$parity"

# Speed: one bench call per backend and size, so a size the device cannot hold ends only itself.
run_bench() {   # backend size
    f="$OUT/bench-$1-$2.json"
    timeout "$STEP_TIMEOUT" "$MLD" bench --model "$MODEL" --data "$DATA" --backend "$1" --device "$gpu" --atoms "$2" \
        --cp2k "$DATA" --json --out "$f" --force > /dev/null 2> "$OUT/bench-$1-$2.err"
    rc=$?
    if [ $rc -ne 0 ]; then echo "gpu-check: $1 at $2 atoms: exit $rc, $(tail -1 "$OUT/bench-$1-$2.err")"; rm -f "$f"; return 1; fi
    echo "gpu-check: $1 at $2 atoms done"
}
for n in $(echo "$CPU_SIZES" | tr ',' ' '); do run_bench cpu "$n"; done
for b in opencl opencl-resident; do
    for n in $(echo "$SIZES" | tr ',' ' '); do run_bench "$b" "$n" || break; done
done

# OpenMM on the same boxes, where it is installed.
if command -v python3 >/dev/null 2>&1 && python3 -c 'import openmm' 2>/dev/null; then
    timeout "$((STEP_TIMEOUT * 4))" python3 "$root/Benchmarks/openmm_water.py" --platforms CUDA,OpenCL --atoms "$SIZES" \
        --data "$DATA" --json "$OUT/bench-openmm.json" > "$OUT/openmm.csv" 2> "$OUT/openmm.err" \
        || echo "gpu-check: OpenMM: $(tail -1 "$OUT/openmm.err")"
else
    echo "gpu-check: OpenMM not importable (python3 -c 'import openmm'); its columns stay empty"
fi

python3 "$root/Benchmarks/gpu_report.py" --out "$REPORT" --devices "$OUT/devices.txt" --parity "$parity" "$OUT"/bench-*.json \
    && echo "gpu-check: wrote $REPORT" && cat "$REPORT"
