# mld: set-up, build, the main job, tests and benchmarks.
# `make run` and `make test` install what they need on a fresh Debian machine with Swift.

SWIFT      ?= swift
BUILD      ?= release
DATA       ?= Data/cp2k-water64-xtb-300K
DATA_HOT   ?= Data/cp2k-water64-xtb-400K
OUT        ?= out
MLD         = .build/$(BUILD)/mld

# Target CPU of every build here. The CPU backend's force loops are SIMD over neighbours (four
# doubles per instruction with AVX, two with the x86-64 baseline's SSE2), so on an x86-64 machine
# whose /proc/cpuinfo lists AVX2 and FMA the builds target that level (haswell: x86-64-v3);
# elsewhere, or with CPU=baseline, the portable baseline. The binaries run on the machine that
# built them (the GPU bundle, built by scripts/gpu-bundle.sh, stays baseline). FMA=1 (the
# default with haswell) also fuses a*b+c in the angular force loops (-D MLD_FMA); set FMA=0 for a
# target CPU without fused multiply-add.
CPU ?= $(shell [ "$$(uname -m)" = x86_64 ] && grep -qw avx2 /proc/cpuinfo 2>/dev/null && \
              grep -qw fma /proc/cpuinfo 2>/dev/null && echo haswell || echo baseline)
FMA ?= $(if $(filter haswell,$(CPU)),1,0)
ARCH_FLAGS = $(if $(filter baseline,$(CPU)),,-Xswiftc -target-cpu -Xswiftc $(CPU)) \
             $(if $(filter 1,$(FMA)),-Xswiftc -DMLD_FMA)

# Debian packages the project needs (headers and libraries for the system-library targets:
# OpenCL, LAPACKE, liblzma for .xz inputs, libnetcdf for trajectory.nc;
# the PoCL CPU OpenCL driver so the OpenCL backend runs without a GPU, gnuplot for figures;
# LAMMPS and Open MPI for mld lammps, which loads liblammps at run time).
DEB_PACKAGES = ocl-icd-opencl-dev opencl-headers pocl-opencl-icd liblapacke-dev liblzma-dev libnetcdf-dev \
               gnuplot-nox clinfo xz-utils liblammps-dev lammps openmpi-bin

.PHONY: all setup build run test fuzz bench bench-openmm bench-openmm-venv figures clean gpu-check gpu-bundle

all: build

setup:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

# The OpenCL kernels are embedded in the binary (Sources/MLDOpenCL/EmbeddedKernels.swift).
.PHONY: kernels
kernels:
	scripts/embed-kernels.sh

build: setup kernels
	$(SWIFT) build -c $(BUILD) $(ARCH_FLAGS)

# The main job: the paper's selfish agents (default invariants) and the conservative counterpart
# (nearest distances + 12 angular sums, which conserve energy; trained on the 400 K run too, without
# which it finds false energy wells), each fitted on the bundled data, run
# for 1 ps from the first test-block frame (never seen by the fits) and compared with CP2K;
# $(OUT)/index.html puts both beside the reference.
run: build
	mkdir -p $(OUT)
	$(MLD) fit --data $(DATA) --out $(OUT)/model.json
	$(MLD) fit --data $(DATA) --train-data $(DATA_HOT) --agents conservative --angles sums --out $(OUT)/model-conservative.json
	$(MLD) fit --data $(DATA) --angles none --scan neighbours=1:12 --scan-out $(OUT)/scan.csv
	last=$$(sed -n 's/.*"trainFrames" *: *"\([0-9]*\)\.\.\([0-9]*\).*/\2/p' $(OUT)/model.json); \
	$(MLD) run --model $(OUT)/model.json --start $(DATA) --frame $$last --steps 2000 --every 2 --backend cpu --out $(OUT)/run --force && \
	$(MLD) run --model $(OUT)/model-conservative.json --start $(DATA) --frame $$last --steps 2000 --every 2 --backend cpu \
	  --no-massive --tau 100 --out $(OUT)/run-conservative --force
	$(MLD) compare --reference $(DATA) --run $(OUT)/run --out $(OUT)/report --scan $(OUT)/scan.csv
	$(MLD) compare --reference $(DATA) --run $(OUT)/run-conservative --out $(OUT)/report-conservative
	python3 scripts/side-by-side.py $(OUT) "selfish (paper)=$(OUT)/report" "conservative=$(OUT)/report-conservative"
	cat $(OUT)/summary.md

# Tests run optimised (the fits and short MD runs on the real data need it); -enable-testing
# keeps @testable imports working in release mode.
# MLD_REQUIRE_OPENCL=1 and MLD_REQUIRE_ASE=1: a missing OpenCL device (PoCL, from setup) or a
# python3 without ASE fails the tests instead of skipping them; MLD_REQUIRE_LAMMPS=1 does the same
# for mpirun and liblammps (the mld lammps tests run LAMMPS on 1 and 2 MPI ranks);
# MLD_REQUIRE_NETCDF_READER=1 for scipy, whose netcdf_file reads the trajectory.nc mld writes.
test: setup
	@python3 -c 'import ase' 2>/dev/null || python3 -m pip install --quiet ase || \
	  python3 -m pip install --quiet --user --break-system-packages ase || \
	  { echo "error: ASE could not be installed (python3 -m pip install ase); make test needs it" >&2; exit 1; }
	@python3 -c 'import ase' || { echo "error: python3 still cannot import ase after installing it" >&2; exit 1; }
	@python3 -c 'import scipy.io' 2>/dev/null || python3 -m pip install --quiet scipy || \
	  python3 -m pip install --quiet --user --break-system-packages scipy || \
	  { echo "error: scipy could not be installed (python3 -m pip install scipy); make test needs it" >&2; exit 1; }
	@python3 -c 'import scipy.io' || { echo "error: python3 still cannot import scipy after installing it" >&2; exit 1; }
	$(SWIFT) build -c release -Xswiftc -enable-testing $(ARCH_FLAGS)
	MLD_REQUIRE_OPENCL=1 MLD_REQUIRE_ASE=1 MLD_REQUIRE_LAMMPS=1 MLD_REQUIRE_NETCDF_READER=1 $(SWIFT) test -c release -Xswiftc -enable-testing $(ARCH_FLAGS)

# The mutation fuzzer (Tests/FuzzTests) over every reader and the command line: FUZZ_INPUTS inputs
# in all, split over FUZZ_JOBS processes with run seeds FUZZ_SEED, FUZZ_SEED+1, ...; `make test`
# runs 10,000 of them. A crash or a hang over 10 s stops a process with the input under way saved
# (its path is printed). Each process prints its progress and a final "fuzz long run" line.
FUZZ_INPUTS ?= 1000000
FUZZ_SEED   ?= 1
FUZZ_JOBS   ?= 1
FUZZ_BUNDLE  = .build/release/mldPackageTests.xctest
fuzz: setup
	$(SWIFT) build -c release -Xswiftc -enable-testing --build-tests $(ARCH_FLAGS)
	@start=$$(date +%s); pids=""; \
	for j in $$(seq 0 $$(( $(FUZZ_JOBS) - 1 ))); do \
	  MLD_FUZZ_INPUTS=$$(( $(FUZZ_INPUTS) / $(FUZZ_JOBS) )) MLD_FUZZ_SEED=$$(( $(FUZZ_SEED) + j )) \
	    $(FUZZ_BUNDLE) --testing-library swift-testing --filter 'FuzzTests.longRun' & pids="$$pids $$!"; \
	done; \
	status=0; for p in $$pids; do wait $$p || status=1; done; \
	echo "make fuzz: $(FUZZ_INPUTS) inputs in $(FUZZ_JOBS) process(es), exit status $$status, $$(( $$(date +%s) - start )) s"; \
	exit $$status

# The README's figures: the PNGs of the report that `make run` writes.
figures: run
	mkdir -p docs/figures/conservative && rm -f docs/figures/*.png docs/figures/conservative/*.png && \
	  cp $(OUT)/report/*.png docs/figures/ && cp $(OUT)/report-conservative/*.png docs/figures/conservative/

clean:
	rm -rf .build $(OUT)

# Benchmarks: mld (cpu, and opencl where a device exists) and OpenMM on the same tiled water boxes;
# BENCHMARKS.md gets one side-by-side table. BENCH_ATOMS are 192 k^3 (the CP2K frame tiled).
BENCH_ATOMS ?= 192,1536,12288,98304,786432
BENCH_MODEL ?= $(OUT)/model-distances.json
# The interleaved mld / OpenMM CPU comparison (Benchmarks/interleave.py): sizes and rounds.
BENCH_CPU_ATOMS ?= 192,1536,12288,98304
BENCH_ROUNDS    ?= 3
VENV        ?= .venv

# The speed reference is the paper's model (selfish, distances only); the cost of the default
# (angular) model and of conservative agents next to it, at 12,288 atoms, is appended.
bench: build
	mkdir -p $(OUT)
	test -f $(BENCH_MODEL) || $(MLD) fit --data $(DATA) --angles none --out $(BENCH_MODEL)
	test -f $(OUT)/model.json || $(MLD) fit --data $(DATA) --out $(OUT)/model.json
	test -f $(OUT)/model-conservative.json || \
	  $(MLD) fit --data $(DATA) --train-data $(DATA_HOT) --agents conservative --angles sums --out $(OUT)/model-conservative.json
	$(MAKE) bench-openmm-venv
	python3 Benchmarks/interleave.py --mld $(MLD) --openmm-python $(VENV)/bin/python --atoms $(BENCH_CPU_ATOMS) \
	  --rounds $(BENCH_ROUNDS) --model "distances=$(BENCH_MODEL)" --model "default=$(OUT)/model.json" \
	  --model "default mixed=$(OUT)/model.json:mixed" \
	  --data $(DATA) --json $(OUT)/bench-interleaved.json
	$(MLD) bench --model $(BENCH_MODEL) --backend all --atoms $(BENCH_ATOMS) --cp2k $(DATA) --json > $(OUT)/bench-mld.json
	$(MAKE) bench-openmm
	python3 Benchmarks/report.py $(OUT)/bench-mld.json $(OUT)/bench-openmm.json --interleaved $(OUT)/bench-interleaved.json --out BENCHMARKS.md
	python3 scripts/model-cost.py --mld $(MLD) --atoms 12288 --rounds 3 "distances (selfish; the paper's model)=$(BENCH_MODEL)" \
	  "default: distances + bend + 12 angular sums (selfish)=$(OUT)/model.json" \
	  "distances + 12 angular sums (conservative)=$(OUT)/model-conservative.json" > $(OUT)/model-cost.md
	printf '\n## The cost of the models\n\n' >> BENCHMARKS.md && cat $(OUT)/model-cost.md >> BENCHMARKS.md
	cat BENCHMARKS.md

bench-openmm-venv:
	test -x $(VENV)/bin/python || python3 -m venv $(VENV) || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && python3 -m venv $(VENV))
	$(VENV)/bin/python -c 'import openmm' 2>/dev/null || $(VENV)/bin/pip install openmm

bench-openmm: bench-openmm-venv
	mkdir -p $(OUT)
	$(VENV)/bin/python Benchmarks/openmm_water.py --atoms $(BENCH_ATOMS) --data $(DATA) --json $(OUT)/bench-openmm.json

# The GPU check (docs/opencl.md "On a GPU machine"): devices, the OpenCL parity suites, mld bench
# (cpu; opencl with host steps and with resident steps) and OpenMM CUDA/OpenCL on 192 k^3 atoms up
# to k = 32 as memory allows, written to BENCHMARKS-GPU.md. Without a GPU: one line, exit 0.
gpu-check:
	@if ! { command -v clinfo >/dev/null 2>&1 && clinfo --raw 2>/dev/null | grep -q CL_DEVICE_TYPE_GPU; } && \
	   ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then \
	  echo "gpu-check: no GPU on this machine (clinfo lists no OpenCL GPU, nvidia-smi none); nothing to check"; exit 0; fi; \
	$(MAKE) build && mkdir -p $(OUT) && \
	{ test -f $(BENCH_MODEL) || $(MLD) fit --data $(DATA) --angles none --out $(BENCH_MODEL); } && \
	MLD=$(MLD) MODEL=$(BENCH_MODEL) OUT=$(OUT)/gpu-check REPORT=BENCHMARKS-GPU.md sh scripts/gpu-check.sh

# A folder that runs the GPU check on a machine without Swift (scripts/gpu-bundle.sh).
gpu-bundle: setup kernels
	sh scripts/gpu-bundle.sh gpu-bundle
