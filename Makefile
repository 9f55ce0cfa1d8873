# MedMesh: the two commands are `make run` and `make test`. See README.md.
SHELL := /bin/bash
PRESET ?= dev
JOBS ?= $(shell nproc)

.PHONY: run test test-asan build setup bench fmt lint fuzz clean

setup:
	@bash tools/setup.sh

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# Until the demo deployment lands, `run` shows the CLI and runs the crypto self-check.
run: build
	@./build/$(PRESET)/apps/medmesh --help
	@echo
	@./build/$(PRESET)/apps/medmesh selftest

test: build
	@ctest --preset $(PRESET)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer (valgrind tests excluded).
test-asan:
	@$(MAKE) --no-print-directory test PRESET=asan

bench: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target ntru_benchmark
	@./build/release/bench/ntru_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@bash tools/run_fuzzers.sh build/fuzz

fmt:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

lint: build
	@git ls-files 'src/*.cc' 'apps/*.cc' | xargs clang-tidy -p build/$(PRESET) --quiet

clean:
	rm -rf build
