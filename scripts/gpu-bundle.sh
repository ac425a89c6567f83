#!/bin/sh
# Builds a folder that runs mld's GPU check on a machine without Swift: the mld binary built with
# the Swift runtime linked in (--static-swift-stdlib), every shared library `ldd` shows except the
# C runtime (the ocl-icd loader libOpenCL.so.1, LAPACK/BLAS, gfortran, lzma, libstdc++), the
# bundled CP2K data, the OpenMM benchmark, a fitted model and scripts/gpu-check.sh.
# On the GPU machine: `sh BUNDLE/gpu-check.sh` (it sets LD_LIBRARY_PATH itself).
# Usage: scripts/gpu-bundle.sh [BUNDLE_DIR]   (default gpu-bundle; an existing bundle is refreshed,
# any other non-empty folder is refused). Also writes BUNDLE_DIR.tar.xz, the folder in one file.
set -eu
bundle=${1:-gpu-bundle}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -e "$bundle" ] && [ ! -f "$bundle/.mld-gpu-bundle" ] && [ -n "$(ls -A "$bundle" 2>/dev/null)" ]; then
    echo "gpu-bundle: $bundle exists and is not an mld GPU bundle; choose another folder" >&2
    exit 1
fi
# Its own build folder, so the everyday build (and its tests) is not rebuilt with other flags.
swift build -c release --static-swift-stdlib --product mld --scratch-path .build-static
bin=$(swift build -c release --static-swift-stdlib --product mld --scratch-path .build-static --show-bin-path)/mld
mkdir -p "$bundle/lib" "$bundle/Benchmarks" "$bundle/Data"
touch "$bundle/.mld-gpu-bundle"
cp "$bin" "$bundle/mld"
# Without its debug information the binary is a fifth of the size (the bundle must travel).
command -v strip >/dev/null 2>&1 && strip "$bundle/mld"
# Every library the binary loads, except the C runtime and the dynamic loader, which every Linux
# machine has in a version the binary accepts.
ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$bundle/lib/"; done
cp -R Data/cp2k-water64-xtb-300K "$bundle/Data/"
cp Benchmarks/openmm_water.py Benchmarks/gpu_report.py "$bundle/Benchmarks/"
cp scripts/gpu-check.sh "$bundle/gpu-check.sh"
# The speed reference: the paper's model (selfish agents, distances only), as `make bench` fits it.
if [ ! -f "$bundle/model-distances.json" ]; then
    "$bundle/mld" fit --data Data/cp2k-water64-xtb-300K --angles none --out "$bundle/model-distances.json"
fi
# One file to carry (unpack with tar -xJf), written next to the folder it was made from.
tar -C "$(dirname "$bundle")" -cf - "$(basename "$bundle")" | xz -6 -T0 > "$bundle.tar.xz.tmp" && mv "$bundle.tar.xz.tmp" "$bundle.tar.xz"
echo "gpu-bundle: $bundle holds mld, $(ls "$bundle/lib" | wc -l) libraries, the data and the check ($(du -sh "$bundle" | cut -f1); $(du -h "$bundle.tar.xz" | cut -f1) as $bundle.tar.xz); run: sh $bundle/gpu-check.sh"
