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
# Build function: $(call build,SRCDIR,BUILDDIR,CONFIGURE-FLAGS)
# getbuildinfo.o is rebuilt every time, so that sys.version names the patch
# level of the tree even when only shared modules changed.
build = mkdir -p $(2) && cd $(2) && \
	{ [ -f Makefile ] || $(TOP)/$(1)/configure -q $(3) >configure.log 2>&1 || \
	  { tail -20 configure.log; exit 1; }; } && \
	rm -f Modules/getbuildinfo.o && \
	$(MAKE) -s -j$(JOBS) >make.log 2>&1 || { tail -40 make.log; exit 1; }

.PHONY: all deps debug release baseline baseline-debug baseline-release test test-all \
	bench bench-report docs install asan test-asan stress patches check-patches \
	clean distclean

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

test: debug
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

patches:
	@tools/export-patches $(SRC) patches

check-patches:
	@tools/check-patches

clean:
	rm -rf build python

distclean: clean
	rm -rf $(SRC) $(BASE_SRC) downloads
