# mld: set-up, build, the main job, tests and benchmarks.
# `make run` and `make test` install what they need on a fresh Debian machine with Swift.

SWIFT      ?= swift
BUILD      ?= release
DATA       ?= Data/cp2k-water64-xtb-300K
OUT        ?= out
MLD         = .build/$(BUILD)/mld

# Debian packages the project needs (headers and libraries for the system-library targets,
# the PoCL CPU OpenCL driver so the OpenCL backend runs without a GPU, gnuplot for figures).
DEB_PACKAGES = ocl-icd-opencl-dev opencl-headers pocl-opencl-icd liblapacke-dev liblzma-dev \
               gnuplot-nox clinfo xz-utils

.PHONY: all setup build run test bench bench-openmm figures clean

all: build

setup:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

build: setup
	$(SWIFT) build -c $(BUILD)

run: build
	mkdir -p $(OUT)
	$(MLD) fit --data $(DATA) --out $(OUT)/model.json
	rm -rf $(OUT)/run
	last=$$(sed -n 's/.*"trainFrames" *: *"\([0-9]*\)\.\.\([0-9]*\).*/\2/p' $(OUT)/model.json); \
	$(MLD) run --model $(OUT)/model.json --start $(DATA) --frame $$((last - 1)) --steps 2000 --backend cpu --out $(OUT)/run
	$(MLD) compare --reference $(DATA) --run $(OUT)/run --out $(OUT)/report $$(test -f $(OUT)/scan.csv && echo --scan $(OUT)/scan.csv)

# Tests run optimised (the fits and short MD runs on the real data need it); -enable-testing
# keeps @testable imports working in release mode.
test: setup
	$(SWIFT) build -c release -Xswiftc -enable-testing
	$(SWIFT) test -c release -Xswiftc -enable-testing

# The README's figures: the PNGs of the report that `make run` writes.
figures: run
	mkdir -p docs/figures && rm -f docs/figures/*.png && cp $(OUT)/report/*.png docs/figures/

clean:
	rm -rf .build $(OUT)
