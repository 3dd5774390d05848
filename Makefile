# poolshim - pre-allocated object pools and an LD_PRELOAD malloc shim.
#   make             libpool.a, libpoolshim.so, the tools, examples, tests and helpers
#   make demo        the main job: a legacy program with and without the shim
#   make check       unit tests (Check) and the shim's helper programs
#   make debug       -O0 -g, assertions and POOL_DEBUG checks, in build-debug/
#   make check-debug | check-asan | check-tsan | check-programs | fuzz | bench
#   make install | uninstall   (PREFIX DESTDIR BINDIR LIBDIR SHIMDIR INCLUDEDIR MANDIR)
# Any variable can be set on the command line: CC, CFLAGS, LDFLAGS, BUILD, ...
CC       := $(if $(filter default,$(origin CC)),gcc,$(CC))# make's own default is cc
CXX      := $(if $(filter default,$(origin CXX)),g++,$(CXX))
CFLAGS   ?= -O2 -g
CXXFLAGS ?= $(CFLAGS)
ASSERTS  ?= -DNDEBUG
BUILD    ?= build
FUZZ_CC  ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
VERSION  := $(shell cat VERSION)
MAJOR     = $(firstword $(subst ., ,$(VERSION)))

# Every compiler run takes these: flags are defined here only.
WARN      = -Wall -Wextra -Werror
CPPALL    = -I. -I$(BUILD)/include -MMD -MP $(ASSERTS) $(CPPFLAGS)
C_FLAGS   = -std=gnu11 $(WARN) -fPIC -fvisibility=hidden $(CPPALL) $(CFLAGS)
CXX_FLAGS = $(WARN) $(CPPALL) $(CXXFLAGS)
DEBUG_VARS = BUILD=build-debug CFLAGS="-O0 -g" ASSERTS=-DPOOL_DEBUG
ASAN_VARS  = BUILD=build-asan ASSERTS= CFLAGS="-O1 -g -fsanitize=address,undefined \
             -fno-sanitize-recover=all -fno-omit-frame-pointer"
TSAN_VARS  = BUILD=build-tsan ASSERTS= CFLAGS="-O1 -g -fsanitize=thread"
FUZZ_VARS  = BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) ASSERTS=-DPOOL_DEBUG CFLAGS="-g -O1 -fno-omit-frame-pointer \
             -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
CHECK_LIBS = $(shell pkg-config --cflags --libs check 2>/dev/null)

POOL_SRC  = $(wildcard pool/*.c)
SHIM_SRC  = $(wildcard shim/*.c)
SHIM_CORE = $(wildcard shim/config*.c shim/lat*.c shim/live_read.c) shim/limits.c# no interposing: unit-tested and fuzzed directly
TESTS     = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TESTLIB   = $(call obj,$(filter-out tests/test_%.c,$(wildcard tests/*.c)))# main() and the shared parts
HELPERS   = $(patsubst tests/helpers/%,$(BUILD)/helpers/%, \
              $(basename $(wildcard tests/helpers/*.c tests/helpers/*.cc)))
PROGRAMS  = $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c bench/*.c demo/*.c tools/*.c))
FUZZ_SRC  = $(wildcard fuzz/fuzz_*.c)
FUZZERS   = $(FUZZ_SRC:%.c=$(BUILD)/%)
obj       = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
# the whole shim, nothing exported: the harness calls shim_* (test_faults, fuzz_routing)
NOEXP     = $(patsubst %.c,$(BUILD)/noexp/%.o,$(POOL_SRC) $(SHIM_SRC))
VERSION_H = $(BUILD)/include/pool/version.h
# the installed headers
PUBLIC_H  = pool/pool.h pool/classes.h $(VERSION_H)
# what a link takes from its prerequisites (the .d files add headers)
INPUTS    = $(filter %.c %.o %.a,$^)

all: $(BUILD)/libpool.a $(BUILD)/libpool.so $(BUILD)/libpoolshim.so $(PROGRAMS) $(HELPERS)

# VERSION holds the one version number, MAJOR.MINOR.PATCH
$(VERSION_H): VERSION pool/version.h.in
	@mkdir -p $(@D)
	@echo '$(VERSION)' | grep -Eqx '[0-9]+\.[0-9]{1,2}\.[0-9]{1,2}' || \
	  { echo "VERSION: '$(VERSION)' is not MAJOR.MINOR.PATCH (minor, patch < 100)" >&2; exit 1; }
	set -- $(subst ., ,$(VERSION)); sed -e 's/@VERSION@/$(VERSION)/' -e "s/@MAJOR@/$$1/" \
	  -e "s/@MINOR@/$$2/" -e "s/@PATCH@/$$3/" pool/version.h.in > $@

$(BUILD)/obj/%.o: %.c | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) -c $< -o $@
$(BUILD)/noexp/%.o: %.c | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) -DSHIM_NO_EXPORTS -c $< -o $@
$(BUILD)/dso/%.o: %.c | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) -fvisibility=default -fno-semantic-interposition -c $< -o $@

$(BUILD)/libpool.a: $(call obj,$(POOL_SRC))
	$(AR) rcs $@ $^
$(BUILD)/libshimcore.a: $(call obj,$(SHIM_CORE))
	$(AR) rcs $@ $^
$(BUILD)/libpoolshim.so: $(call obj,$(POOL_SRC) $(SHIM_SRC)) shim/exports.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $(call obj,$(POOL_SRC) $(SHIM_SRC)) \
	  -Wl,-soname,libpoolshim.so.$(MAJOR) -Wl,--version-script=shim/exports.map \
	  -Wl,-z,now -ldl -lpthread
# the shared libpool exports what its installed headers declare, nothing else
$(BUILD)/libpool.map: $(PUBLIC_H)
	{ echo '{ global:'; sed -n '/^static/d; s/^[a-z][^(;=]*[ *]\(pool_[a-z0-9_]*\)(.*/  \1;/p' \
	  $(PUBLIC_H); echo '  local: *; };'; } > $@
$(BUILD)/libpool.so: $(POOL_SRC:%.c=$(BUILD)/dso/%.o) $(BUILD)/libpool.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $(filter %.o,$^) -Wl,-soname,libpool.so.$(MAJOR) \
	  -Wl,--version-script=$(BUILD)/libpool.map -Wl,--no-undefined -lpthread

$(BUILD)/%: %.c $(BUILD)/libshimcore.a $(BUILD)/libpool.a | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $(LDFLAGS) $(INPUTS) -o $@ -lpthread -lm
$(BUILD)/helpers/%: tests/helpers/%.c | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $(LDFLAGS) $(INPUTS) -o $@ -lpthread -ldl
$(BUILD)/helpers/hugepages: $(call obj,tests/hugeutil.c)
$(BUILD)/helpers/%: tests/helpers/%.cc | $(VERSION_H)
	@mkdir -p $(@D)
	$(CXX) $(CXX_FLAGS) $(LDFLAGS) $< -o $@ -lpthread
$(BUILD)/tests/%: tests/%.c $(TESTLIB) $(BUILD)/libshimcore.a $(BUILD)/libpool.a | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $(LDFLAGS) $(INPUTS) -o $@ $(CHECK_LIBS) -lpthread -lm
$(BUILD)/tests/test_faults: tests/test_faults.c $(TESTLIB) $(NOEXP)
	$(CC) $(C_FLAGS) -DSHIM_NO_EXPORTS $(LDFLAGS) $(INPUTS) -o $@ $(CHECK_LIBS) -ldl -lpthread -lm
$(BUILD)/fuzz/fuzz_config: $(BUILD)/libshimcore.a $(BUILD)/libpool.a
$(BUILD)/fuzz/fuzz_routing: $(NOEXP)
$(FUZZERS): $(BUILD)/%: %.c
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) -DSHIM_NO_EXPORTS -fsanitize=fuzzer $(LDFLAGS) $(INPUTS) -o $@ -ldl -lpthread

# poolshim-recommend is its main and its parts, which test_recommend also links
REC_OBJ   = $(call obj,$(wildcard tools/recommend/*.c))
$(BUILD)/tools/poolshim-recommend: tools/poolshim-recommend.c $(REC_OBJ) | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $(LDFLAGS) $(INPUTS) -o $@ -lm
$(BUILD)/tests/test_recommend: $(REC_OBJ)
# poolshim-latency reads the timing mode's files with the shim's own code
$(BUILD)/tools/poolshim-latency: tools/poolshim-latency.c $(BUILD)/libshimcore.a $(BUILD)/libpool.a \
                                 | $(VERSION_H)
	@mkdir -p $(@D)
	$(CC) $(C_FLAGS) $(LDFLAGS) $(INPUTS) -o $@ -lm

check-deps:
	@{ pkg-config --exists check && command -v systemd-analyze >/dev/null; } || scripts/install-deps check

# the runner is never preloaded: test_shim execs helpers under LD_PRELOAD
check: check-deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@scripts/run-tests $(BUILD) $(TESTS)

debug:
	@$(MAKE) --no-print-directory $(DEBUG_VARS) all
check-debug:
	@$(MAKE) --no-print-directory $(DEBUG_VARS) check

# test_faults copies min(usable, n) bytes of 0-byte blocks, which TSan's own
# allocator (the real one there) reports as a read of freed memory: ASan only
TSAN_SUITES = test_pool test_classes test_config test_latency
ASAN_SUITES = $(TSAN_SUITES) test_faults test_mem
check-asan: check-deps
	@$(MAKE) --no-print-directory $(ASAN_VARS) $(ASAN_SUITES:%=build-asan/tests/%)
	@CK_TIMEOUT_MULTIPLIER=10 scripts/run-tests build-asan $(ASAN_SUITES:%=build-asan/tests/%)
check-tsan: check-deps
	@$(MAKE) --no-print-directory $(TSAN_VARS) $(TSAN_SUITES:%=build-tsan/tests/%)
	@CK_TIMEOUT_MULTIPLIER=20 TSAN_OPTIONS=halt_on_error=1 \
	  scripts/run-tests build-tsan $(TSAN_SUITES:%=build-tsan/tests/%)

# the libFuzzer targets, built with FUZZ_CC into FUZZ_BUILD/fuzz/ (scripts/fuzz runs them)
fuzzers:
	@scripts/install-deps fuzz
	@$(MAKE) --no-print-directory $(FUZZ_VARS) $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/%)
fuzz:
	@scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

demo: all
	@scripts/demo $(BUILD)
bench: all
	@scripts/bench $(BUILD)
bench-smoke: all
	@scripts/bench --smoke $(BUILD)
check-programs: all
	@scripts/install-deps programs
	@scripts/run-programs $(BUILD)

include install.mk

clean:
	rm -rf build build-debug build-asan build-tsan build-fuzz

.PHONY: all check check-deps debug check-debug check-asan check-tsan fuzzers fuzz demo \
        bench bench-smoke check-programs clean
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
