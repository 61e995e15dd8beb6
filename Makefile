# arca: two commands a newcomer needs, `make run` and `make test`; the rest
# is for people working on arca. Meson and Ninja do the building.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
CLOCK_BUILD ?= build-clock
FUZZ_TIME  ?= 60
FUZZ_LONG_SECONDS ?= 1200
# Every libFuzzer target (tests/fuzz/fuzz_<name>.c; meson.build says how each
# is built). build-fuzz, fuzz and fuzz-long all take this list.
FUZZ_TARGETS = fuzz_pack fuzz_tree fuzz_vaultcred fuzz_api fuzz_trees_cache fuzz_cache_index \
	fuzz_kit fuzz_agent_json fuzz_reply fuzz_cookie fuzz_range fuzz_sealed fuzz_totp \
	fuzz_chunk_cache fuzz_s3_xml fuzz_proxy


.PHONY: all bootstrap build build-asan build-fuzz build-clock run test soak fuzz fuzz-long bench \
	install clean

all: build

bootstrap:
	@scripts/bootstrap

# Normal build: the binaries people run and the end-to-end tests drive.
$(BUILD)/build.ninja:
	meson setup $(BUILD)
build: bootstrap $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Unit tests run under AddressSanitizer and UndefinedBehaviorSanitizer; this
# test build's service also takes an injected clock.
$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dtest_clock=true
build-asan: bootstrap $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Optimised, with the test clock: for bench/collect, which moves time.
$(CLOCK_BUILD)/build.ninja:
	meson setup $(CLOCK_BUILD) -Dtest_clock=true
build-clock: bootstrap $(CLOCK_BUILD)/build.ninja
	ninja -C $(CLOCK_BUILD)

# libFuzzer targets need clang; the core is instrumented for coverage.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
build-fuzz: bootstrap $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $(FUZZ_TARGETS)

# Start the vault service on its embedded defaults (data folder ./data).
run: build
	BUILD=$(abspath $(BUILD)) scripts/run

test: build build-asan build-fuzz
	scripts/run-tests --build $(BUILD) --asan $(ASAN_BUILD) --fuzz $(FUZZ_BUILD)

# Longer fuzzing: FUZZ_TIME seconds per target.
fuzz: build-fuzz
	scripts/run-tests --only fuzz --fuzz $(FUZZ_BUILD) --fuzz-seconds $(FUZZ_TIME)

# Long fuzzing: FUZZ_LONG_SECONDS per target (20 minutes by default), as many
# targets at once as there are processors. New inputs that reach new coverage
# are merged into tests/fuzz/corpus/<target>/; crash inputs are kept under
# tests/fuzz/regressions/<target>/, which `make test` replays.
fuzz-long: build-fuzz
	scripts/fuzz-long --fuzz $(FUZZ_BUILD) --seconds $(FUZZ_LONG_SECONDS) \
		$(patsubst fuzz_%,%,$(FUZZ_TARGETS))

# The quick benchmark; bench/backup and bench/collect (minutes each) compare
# with restic and BorgBackup on a 1 GiB corpus, and bench/compare (half an
# hour, as root) on a mixed 1.5 GiB one: see bench/ and docs/PERFORMANCE.md.
bench: build build-clock
	bench/core

# The randomized tests with many more rounds than `make test` runs: the
# collection suite (test_gc.py, test clock, sanitizer build) with
# SOAK_RUNS=200 rounds, then every `fault`-marked suite (kill points, full
# store, cut connections, ...) on the normal build with each suite's default
# rounds times SOAK_SCALE (ARCA_SOAK_SCALE; 10 by default). -s shows the
# counts each suite prints, and its seed (ARCA_SEED=N replays one).
SOAK_RUNS ?= 200
SOAK_SCALE ?= 10
soak: build build-asan
	ARCA_SOAK_RUNS=$(SOAK_RUNS) ARCA_BUILD=$(CURDIR)/$(ASAN_BUILD) \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	/usr/bin/python3 -m pytest -q -s tests/e2e/test_gc.py
	ARCA_SOAK_SCALE=$(SOAK_SCALE) ARCA_BUILD=$(CURDIR)/$(BUILD) \
	/usr/bin/python3 -m pytest -q -s -m fault tests/e2e

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(CLOCK_BUILD)
