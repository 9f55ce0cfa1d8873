# MedMesh: the two commands are `make run` and `make test`. See README.md.
SHELL := /bin/bash
PRESET ?= dev
JOBS ?= $(shell nproc)

.PHONY: run test test-asan soak build setup bench fmt lint fuzz clean

setup:
	@bash tools/setup.sh

build: setup
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# The demo deployment: one cloud, three cloudlets, a dozen simulated wearables on embedded
# SQLite under DEMO_DIR (kept between runs: starting again resumes). Ctrl-C stops it cleanly.
DEMO_DIR ?= demo-data
PORT_BASE ?= 8080
run: build
	@./build/$(PRESET)/apps/medmesh demo --data-dir $(DEMO_DIR) --port-base $(PORT_BASE)

test: build
	@ctest --preset $(PRESET)

# Long fault runs, not part of `make test`: the crash tests with the cloud down for
# SOAK_CLOUD_DOWN_SECONDS (default 3 minutes) on both storage backends.
SOAK_CLOUD_DOWN_SECONDS ?= 180
soak: build
	@MEDMESH_CRASH_TEST_CLOUD_DOWN_SECONDS=$(SOAK_CLOUD_DOWN_SECONDS) \
	  ctest --preset $(PRESET) -R 'crash|postgres_cluster' --output-on-failure --timeout 1800

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer (valgrind tests excluded, and
# the browser tests, which test the UI's JavaScript and run in the dev suite).
test-asan:
	@$(MAKE) --no-print-directory test PRESET=asan

bench: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target ntru_benchmark ingest_benchmark abuse_benchmark api_benchmark ids_detector_benchmark payload_scoring_benchmark blocked_flood_benchmark ids_propagation_benchmark ntru_ops medmesh
	@./build/release/bench/ntru_benchmark --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
	@echo
	@sh tools/ntru_reference_callgrind.sh build/release
	@echo
	@./build/release/bench/ingest_benchmark
	@echo
	@./build/release/bench/abuse_benchmark
	@echo
	@./build/release/bench/api_benchmark
	@echo
	@./build/release/bench/ids_detector_benchmark --runs 200 --seed 1
	@echo
	@./build/release/bench/payload_scoring_benchmark
	@echo
	@./build/release/bench/blocked_flood_benchmark
	@echo
	@./build/release/bench/ids_propagation_benchmark --cloudlets 3 --trials 5
	@echo
	@./build/release/bench/ids_propagation_benchmark --cloudlets 20 --trials 5

fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@bash tools/run_fuzzers.sh build/fuzz

# C/C++ files of the repo, tracked or new (ignored files and files deleted on disk left out),
# NUL-separated.
CXX_FILES = git ls-files -z --cached --others --exclude-standard -- \
	  '*.cc' '*.h' '*.c' '*.cpp' '*.hpp' | \
	  while IFS= read -r -d '' f; do if [[ -f "$$f" ]]; then printf '%s\0' "$$f"; fi; done

# Formats every C/C++ file with .clang-format. `make fmt CHECK=1` only reports, and fails if a
# file is not formatted (for CI).
fmt: setup
	@$(CXX_FILES) | xargs -0 -r clang-format $(if $(CHECK),--dry-run --Werror,-i)

# clang-tidy (.clang-tidy) over every .cc file of the build, LINT_JOBS at a time. It needs only
# the configured build's compile_commands.json, not a finished build. Exits non-zero if
# clang-tidy fails on a file, i.e. on a compile error or a finding listed in WarningsAsErrors.
# The sed drops clang's "N warnings generated." lines (warnings in system headers, not shown).
LINT_JOBS ?= 2
# The build's flags come from g++; clang-tidy (clang) does not know some of its warning options
# (e.g. -Wno-tsan on the Asio code), which would otherwise be errors.
LINT_EXTRA = -extra-arg=-Wno-unknown-warning-option
LINT_EXTRA_CT = --extra-arg=-Wno-unknown-warning-option
lint: setup
	@cmake --preset $(PRESET) >/dev/null
	@set -o pipefail; \
	if command -v run-clang-tidy >/dev/null; then \
	  run-clang-tidy -p build/$(PRESET) -j $(LINT_JOBS) -quiet $(LINT_EXTRA) '/(src|apps|bench|tests)/.*\.cc$$'; \
	else \
	  $(CXX_FILES) | grep -z '\.cc$$' | \
	    xargs -0 -r -P $(LINT_JOBS) -n 4 clang-tidy -p build/$(PRESET) --quiet $(LINT_EXTRA_CT); \
	fi 2>&1 | sed -E 's/[0-9]+ warnings? generated\.$$//'

clean:
	rm -rf build
