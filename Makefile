# The fork's build driver.  See README.rst.
#
#   make               bootstrap cpython/ from the pin + patches/, build ./python (debug)
#   make test          the module-init test suites under -R 3:3, our tests, the census
#   make test-all      the whole regrtest, compared with pristine 3.11.2's known failures
#   make release       optimized build in build/release
#   make baseline      pristine 3.11.2, debug and release, same flags
#   make bench         fork against baseline, release builds, side by side
#   make docs          the HTML documentation
#   make install       the optimized build, installed in PREFIX (default /usr/local)
#   make asan          an ASan+UBSan build of the fork in build/asan
#   make test-asan     the module-init suites and the census on build/asan
#   make stress        1000 subinterpreters from 4 threads (tests/test_stress.py)
#   make fuzz          libFuzzer over module definitions for FUZZ_TIME seconds
#   make patches       export the commits of cpython/ to patches/
#   make check-patches a fresh bootstrap reproduces patches/, and cpython/ holds nothing unexported

SHELL := /bin/bash
TOP := $(CURDIR)
SRC := cpython
BASE_SRC := baseline
JOBS ?= $(shell nproc)
DEBUG_FLAGS := --with-pydebug
RELEASE_FLAGS :=
# ASan (LeakSanitizer included) and UBSan; pymalloc off so that ASan sees
# every allocation.
ASAN_FLAGS := --with-pydebug --with-address-sanitizer \
	--with-undefined-behavior-sanitizer --without-pymalloc
ASAN_CC ?= clang
# Build function: $(call build,SRCDIR,BUILDDIR,CONFIGURE-FLAGS[,MAKE-TARGET])
# getbuildinfo.o is rebuilt every time, so that sys.version names the patch
# level of the tree even when only shared modules changed.
build = mkdir -p $(2) && cd $(2) && \
	{ [ -f Makefile ] || $(TOP)/$(1)/configure -q $(3) >configure.log 2>&1 || \
	  { tail -20 configure.log; exit 1; }; } && \
	rm -f Modules/getbuildinfo.o && \
	$(MAKE) -s -j$(JOBS) $(4) >make.log 2>&1 || { tail -40 make.log; exit 1; }

.PHONY: all deps debug release baseline baseline-debug baseline-release test test-all \
	bench bench-report docs install asan test-asan stress fuzz fuzz-replay \
	patches check-patches clean distclean

all: debug

deps:
	@tools/deps

$(SRC)/.git:
	@tools/deps
	tools/bootstrap $(SRC)

$(BASE_SRC)/.git:
	tools/bootstrap --pristine $(BASE_SRC)

debug: $(SRC)/.git
	@tools/deps
	@echo "building build/debug (log: build/debug/make.log)"
	@$(call build,$(SRC),build/debug,$(DEBUG_FLAGS))
	@printf '#!/bin/sh\n# The fork'"'"'s debug build (see README.rst).\nexec "$$(dirname "$$0")/build/debug/python" "$$@"\n' >python.tmp
	@chmod +x python.tmp && mv -f python.tmp python
	@./python -c 'import sys; print(sys.version)'

release: $(SRC)/.git
	@tools/deps
	@echo "building build/release (log: build/release/make.log)"
	@$(call build,$(SRC),build/release,$(RELEASE_FLAGS))

baseline: baseline-debug baseline-release

baseline-debug: $(BASE_SRC)/.git
	@tools/deps
	@echo "building build/baseline-debug"
	@$(call build,$(BASE_SRC),build/baseline-debug,$(DEBUG_FLAGS))

baseline-release: $(BASE_SRC)/.git
	@tools/deps
	@echo "building build/baseline-release"
	@$(call build,$(BASE_SRC),build/baseline-release,$(RELEASE_FLAGS))

asan: $(SRC)/.git
	@tools/deps libclang-rt-14-dev clang
	@echo "building build/asan"
	@# The build runs ./python (setup.py, regen): leaks there are not the test.
	@export ASAN_OPTIONS=detect_leaks=0 CC="$(ASAN_CC)"; $(call build,$(SRC),build/asan,$(ASAN_FLAGS))

# Any sanitizer report fails: ASan aborts, UBSan halts, LeakSanitizer makes
# the process exit non-zero.  Huge allocations that tests expect to fail
# return NULL (MemoryError) instead of aborting.  Suppressions: tests/*.supp.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	LSAN_OPTIONS=suppressions=$(TOP)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=suppressions=$(TOP)/tests/ubsan.supp:print_stacktrace=1:halt_on_error=1

test-asan: asan
	@$(SAN_ENV) build/asan/python tools/run-tests.py --asan

# The full stress run; `make test` runs a short one.
stress: debug
	@./python tests/test_stress.py --full

# The client tests build real extensions with the tools authors use; the
# install test loads Debian's compiled packages in the installed fork.
CLIENT_DEPS = g++ cython3 pybind11-dev python3-setuptools-whl
INSTALL_TEST_DEPS = python3-yaml python3-msgpack

test: debug fuzz-replay
	@tools/deps $(CLIENT_DEPS) $(INSTALL_TEST_DEPS)
	@./python tools/run-tests.py

test-all: debug
	@./python tools/run-tests.py --all

# Wall-clock rounds, then instruction counts; results in build/bench/*.json.
bench: release baseline-release
	@tools/deps valgrind
	build/release/python tools/bench.py
	build/release/python tools/bench.py --callgrind

# build/bench/report.md and ratios.png from the last `make bench`.
bench-report:
	@[ -f build/bench/wall.json ] || $(MAKE) bench
	@tools/deps gnuplot-nox
	build/release/python tools/bench.py --report

# Sphinx from Debian (5.3; the docs of 3.11.2 build with it without a warning),
# warnings are errors.  Output: cpython/Doc/build/html, linked as build/docs.
docs: $(SRC)/.git
	@tools/deps python3-sphinx python3-docs-theme
	$(MAKE) -C $(SRC)/Doc html SPHINXBUILD=/usr/bin/sphinx-build SPHINXERRORHANDLING=-W
	@mkdir -p build && ln -sfn ../$(SRC)/Doc/build/html build/docs
	@echo "docs: build/docs/index.html"

# make install [PREFIX=DIR] [DESTDIR=STAGING]: CPython's own `make install` of
# an optimized build (the release build's flags) configured with
# --prefix=PREFIX, so that getpath and sysconfig (include and library
# directories, python3.11-config, python3.pc) name the directory the files go
# to.  One build directory per prefix: build/install/PREFIX.
PREFIX ?= /usr/local
INSTALL_BUILD = build/install$(PREFIX)

install: $(SRC)/.git
	@tools/deps
	@case "$(PREFIX)" in /*) ;; *) echo "PREFIX must be an absolute path" >&2; exit 1;; esac
	@echo "building $(INSTALL_BUILD) (log: $(INSTALL_BUILD)/make.log)"
	@$(call build,$(SRC),$(INSTALL_BUILD),$(RELEASE_FLAGS) --prefix=$(PREFIX))
	@echo "installing in $(DESTDIR)$(PREFIX) (log: $(INSTALL_BUILD)/install.log)"
	@$(MAKE) -C $(INSTALL_BUILD) -j1 install DESTDIR=$(DESTDIR) >$(INSTALL_BUILD)/install.log 2>&1 || \
		{ tail -40 $(INSTALL_BUILD)/install.log; exit 1; }
	@echo "installed: $(DESTDIR)$(PREFIX)/bin/python3.11"

# `make fuzz`: libFuzzer over module definitions (tests/fuzz/, see
# tests/fuzz/moddef.c) for FUZZ_TIME seconds, in a build of its own, with
# ASan and UBSan, and the module machinery of libpython instrumented for
# coverage (-fsanitize=fuzzer-no-link, the files of tests/fuzz/coverage.txt)
# so that the fuzzer is guided by its branches, not only by the harness's.
# Only libpython's static library is built there.  New inputs that add
# coverage are merged into tests/fuzz/corpus, crashes are written to
# tests/fuzz/crashes: commit both.  An input uses at most 24 bytes (see
# tests/fuzz/moddef.c): -max_len=32 from the start (-len_control=0).
FUZZ_TIME ?= 600
FUZZ_CC ?= clang-14
FUZZ_FLAGS := $(ASAN_FLAGS)
FUZZ_SANITIZE := -fsanitize=fuzzer,address,undefined
LIBPYTHON := libpython3.11d.a
# UBSan reports are crashes; LeakSanitizer runs when the fuzzer exits (see
# check_leaks_at_exit() in tests/fuzz/moddef.c).
FUZZ_RUN := UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	build/fuzz/fuzz-moddef -detect_leaks=0
# $(call fuzz_harness,LIBDIR,OUTDIR,CC,FLAGS): link tests/fuzz/moddef.c
# against LIBDIR's static libpython into OUTDIR/fuzz-moddef, and build the
# extension module its imports load, OUTDIR/fuzzmod.so.
fuzz_harness = mkdir -p $(2) && \
	$(3) -shared -fPIC -o $(2)/fuzzmod.so tests/fuzz/fuzzmod.c && \
	$(3) -g -O1 -Wall $(4) -I$(SRC)/Include -I$(1) -rdynamic \
	    -DFUZZ_STDLIB='"$(TOP)/$(SRC)/Lib"' \
	    -DFUZZ_MODULE='"$(TOP)/$(2)/fuzzmod.so"' \
	    -o $(2)/fuzz-moddef tests/fuzz/moddef.c $(1)/$(LIBPYTHON) \
	    $$(sed -n 's/^\(LIBS\|LIBM\|LIBC\)=//p' $(1)/Makefile)

fuzz: $(SRC)/.git
	@tools/deps clang-14 libfuzzer-14-dev libclang-rt-14-dev
	@echo "building build/fuzz (log: build/fuzz/make.log)"
	@export CC="$(FUZZ_CC)" CFLAGS="-fsanitize=fuzzer-no-link \
	    -fsanitize-coverage-allowlist=$(TOP)/tests/fuzz/coverage.txt" && \
	    $(call build,$(SRC),build/fuzz,$(FUZZ_FLAGS),$(LIBPYTHON))
	@$(call fuzz_harness,build/fuzz,build/fuzz,$(FUZZ_CC),$(FUZZ_SANITIZE))
	@rm -rf build/fuzz/new && mkdir -p build/fuzz/new tests/fuzz/crashes
	$(FUZZ_RUN) -max_total_time=$(FUZZ_TIME) -timeout=60 \
	    -max_len=32 -len_control=0 -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/crashes/ \
	    build/fuzz/new tests/fuzz/corpus
	$(FUZZ_RUN) -merge=1 tests/fuzz/corpus build/fuzz/new

# The replay of tests/fuzz/ (corpus and crashes) run by `make test`: the same
# harness without libFuzzer, against the debug build.
fuzz-replay: debug
	@$(call fuzz_harness,build/debug,build/fuzz-replay,$(CC),-DFUZZ_REPLAY)

patches:
	@tools/export-patches $(SRC) patches

check-patches:
	@tools/check-patches

clean:
	rm -rf build python

distclean: clean
	rm -rf $(SRC) $(BASE_SRC) downloads
