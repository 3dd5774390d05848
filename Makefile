# poolshim's build: `make`, `make demo`, `make check`; the other targets are in .PHONY at the end
# (README: Testing). Any variable can be set on the command line: CC, CFLAGS, BUILD, PREFIX, ...
CC       := $(if $(filter default,$(origin CC)),gcc,$(CC))# make's own default is cc (CXX's is g++)
CFLAGS   ?= -O2 -g
CXXFLAGS ?= $(CFLAGS)
ASSERTS  ?= -DNDEBUG
BUILD    ?= build
FUZZ_CC  ?= clang
FUZZ_BUILD ?= build-fuzz
VERSION  := $(shell cat VERSION)
MAJOR     = $(firstword $(subst ., ,$(VERSION)))
MAKEFLAGS += --no-print-directory

# Every compiler run takes these: flags are defined here only.
WARN      = -Wall -Wextra -Werror
CPPALL    = -I. -I$(BUILD)/include -MMD -MP $(ASSERTS) $(CPPFLAGS)
C_FLAGS   = -std=gnu11 $(WARN) -fPIC -fvisibility=hidden $(CPPALL) $(CFLAGS)
CXX_FLAGS = $(WARN) $(CPPALL) $(CXXFLAGS)
SYSLIBS   = -ldl -lpthread -lm
CHECK_LIBS = $(shell pkg-config --cflags --libs check 2>/dev/null)
SAN        = -fno-sanitize-recover=all -fno-omit-frame-pointer
debug_VARS = BUILD=build-debug CFLAGS="-O0 -g" ASSERTS=-DPOOL_DEBUG
asan_VARS  = BUILD=build-asan ASSERTS= CFLAGS="-O1 -g -fsanitize=address,undefined $(SAN)"
tsan_VARS  = BUILD=build-tsan ASSERTS= CFLAGS="-O1 -g -fsanitize=thread"
fuzz_VARS  = BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) ASSERTS=-DPOOL_DEBUG \
             CFLAGS="-g -O1 -fsanitize=fuzzer-no-link,address,undefined $(SAN)"

POOL_SRC  = $(wildcard pool/*.c)
SHIM_SRC  = $(wildcard shim/*.c)
SHIM_CORE = $(wildcard shim/config*.c shim/lat*.c shim/live_read.c) shim/limits.c# no interposing: unit-tested and fuzzed directly
obj       = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
NOEXP     = $(patsubst %.c,$(BUILD)/noexp/%.o,$(POOL_SRC) $(SHIM_SRC))# nothing exported: callers use shim_*
REC_OBJ   = $(call obj,$(wildcard tools/recommend/*.c))# poolshim-recommend's parts, test_recommend's too
TOOL_OBJ  = $(call obj,$(wildcard tools/shared/*.c))# what every poolshim-* program shares
ARCHIVES  = $(BUILD)/libshimcore.a $(BUILD)/libpool.a
PROGRAMS  = $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c bench/*.c demo/*.c tools/*.c))
TESTS     = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TESTLIB   = $(call obj,$(filter-out tests/test_%.c,$(wildcard tests/*.c)))# main() and the shared parts
HELPERS   = $(patsubst tests/%,$(BUILD)/%,$(basename $(wildcard tests/helpers/*.c tests/helpers/*.cc)))
FUZZERS   = $(patsubst %.c,$(BUILD)/%,$(wildcard fuzz/fuzz_*.c))
VERSION_H = $(BUILD)/include/pool/version.h
PUBLIC_H  = pool/pool.h pool/classes.h $(VERSION_H)# the installed headers

all: $(BUILD)/libpool.a $(BUILD)/libpool.so $(BUILD)/libpoolshim.so $(PROGRAMS) $(HELPERS) \
     $(BUILD)/bench/libfloor.so

$(VERSION_H): VERSION pool/version.h.in
	@mkdir -p $(@D)
	@echo '$(VERSION)' | grep -Eqx '[0-9]+\.[0-9]{1,2}\.[0-9]{1,2}' || \
	  { echo "VERSION: '$(VERSION)' is not MAJOR.MINOR.PATCH (minor, patch < 100)" >&2; exit 1; }
	set -- $(subst ., ,$(VERSION)); sed -e 's/@VERSION@/$(VERSION)/' -e "s/@MAJOR@/$$1/" \
	  -e "s/@MINOR@/$$2/" -e "s/@PATCH@/$$3/" pool/version.h.in > $@

# $(call in_dir,COMMAND) makes $@'s directory first. compile and link take what one rule adds
# (FLAGS, LIBS); a link's inputs are its prerequisites in order, not the headers .d files add.
define in_dir
@mkdir -p $(@D)
$1
endef
compile   = $(call in_dir,$(CC) $(C_FLAGS) $1 -c $< -o $@)
link      = $(call in_dir,$(CC) $(C_FLAGS) $1 $(LDFLAGS) $(filter %.c %.o %.a,$^) -o $@ $2 $(SYSLIBS))
$(BUILD)/obj/%.o: %.c | $(VERSION_H) ; $(call compile)
$(BUILD)/noexp/%.o: %.c | $(VERSION_H) ; $(call compile,-DSHIM_NO_EXPORTS)
$(BUILD)/dso/%.o: %.c | $(VERSION_H) ; $(call compile,-fvisibility=default -fno-semantic-interposition)
$(BUILD)/%: %.c $(ARCHIVES) | $(VERSION_H) ; $(call link)
$(BUILD)/helpers/%: tests/helpers/%.c | $(VERSION_H) ; $(call link)
$(BUILD)/helpers/%: tests/helpers/%.cc | $(VERSION_H)
	$(call in_dir,$(CXX) $(CXX_FLAGS) $(LDFLAGS) $< -o $@ $(SYSLIBS))
$(BUILD)/tests/%: tests/%.c $(TESTLIB) $(ARCHIVES) | $(VERSION_H) ; $(call link,,$(CHECK_LIBS))
$(BUILD)/tests/test_faults: tests/test_faults.c $(TESTLIB) $(NOEXP) | $(VERSION_H)
	$(call link,-DSHIM_NO_EXPORTS,$(CHECK_LIBS))
$(FUZZERS): $(BUILD)/%: %.c | $(VERSION_H) ; $(call link,-DSHIM_NO_EXPORTS -fsanitize=fuzzer)
$(BUILD)/fuzz/fuzz_config: $(ARCHIVES)
$(BUILD)/fuzz/fuzz_routing: $(NOEXP)
$(BUILD)/tools/poolshim-recommend: tools/poolshim-recommend.c $(REC_OBJ) | $(VERSION_H) ; $(call link)
$(BUILD)/tests/test_recommend: $(REC_OBJ)
$(filter $(BUILD)/tools/%,$(PROGRAMS)): $(TOOL_OBJ)
$(BUILD)/helpers/hugepages: $(call obj,tests/hugeutil.c)

$(BUILD)/libpool.a: $(call obj,$(POOL_SRC))
$(BUILD)/libshimcore.a: $(call obj,$(SHIM_CORE))
$(ARCHIVES): ; $(AR) rcs $@ $^
# the shared libpool exports what its installed headers declare, nothing else
$(BUILD)/libpool.map: $(PUBLIC_H)
	{ echo '{ global:'; sed -n '/^static/d; s/^[a-z][^(;=]*[ *]\(pool_[a-z0-9_]*\)(.*/  \1;/p' \
	  $^; echo '  local: *; };'; } > $@
SHARED    = $(CC) $(CFLAGS) $(LDFLAGS) -shared -o $@ $(filter %.o,$^) -Wl,-soname,$(@F).$(MAJOR) \
            -Wl,--version-script=$(filter %.map,$^)
$(BUILD)/libpool.so: $(POOL_SRC:%.c=$(BUILD)/dso/%.o) $(BUILD)/libpool.map ; $(SHARED) -Wl,--no-undefined $(SYSLIBS)
$(BUILD)/libpoolshim.so: $(call obj,$(POOL_SRC) $(SHIM_SRC)) shim/exports.map ; $(SHARED) -Wl,-z,now $(SYSLIBS)
# the benchmark's preloaded floor (bench/floor/floor.c): not installed, not a product
$(BUILD)/bench/libfloor.so: bench/floor/floor.c ; $(call in_dir,$(CC) $(C_FLAGS) $(LDFLAGS) -shared $< -o $@ -ldl)

check-deps: ; @{ pkg-config --exists check && command -v systemd-analyze >/dev/null; } || scripts/install-deps check
# the runner is never preloaded: test_shim execs helpers under LD_PRELOAD
check: check-deps
	@$(MAKE) all $(TESTS)
	@scripts/run-tests $(BUILD) $(TESTS)
debug: ; @$(MAKE) $(debug_VARS) all
check-debug: ; @$(MAKE) $(debug_VARS) check
# test_faults copies min(usable, n) bytes of 0-byte blocks, which TSan's own
# allocator (the real one there) reports as a read of freed memory: ASan only
tsan_SUITES = test_pool test_classes test_config test_latency
asan_SUITES = $(tsan_SUITES) test_faults test_mem
asan_RUN    = CK_TIMEOUT_MULTIPLIER=10
tsan_RUN    = CK_TIMEOUT_MULTIPLIER=20 TSAN_OPTIONS=halt_on_error=1
check-asan check-tsan: check-%: check-deps
	@$(MAKE) $($*_VARS) $($*_SUITES:%=build-$*/tests/%)
	@$($*_RUN) scripts/run-tests build-$* $($*_SUITES:%=build-$*/tests/%)
fuzzers:
	@scripts/install-deps fuzz
	@$(MAKE) $(fuzz_VARS) $(patsubst $(BUILD)/%,$(FUZZ_BUILD)/%,$(FUZZERS))
fuzz: ; @scripts/fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)
demo: all ; @scripts/demo $(BUILD)
bench: all ; @scripts/bench $(BUILD)
bench-smoke: all ; @scripts/bench --smoke $(BUILD)
check-programs: all ; @scripts/install-deps programs && scripts/run-programs $(BUILD)
clean: ; rm -rf build build-debug build-asan build-tsan build-fuzz

include install.mk
.PHONY: all check check-deps debug check-debug check-asan check-tsan fuzzers fuzz demo \
        bench bench-smoke check-programs clean
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
