# poolshim - pre-allocated object pools and an LD_PRELOAD malloc shim.
#   make            libpool.a, libpoolshim.so, the example, tests and helpers
#   make demo       the main job: a legacy program with and without the shim
#   make check      unit tests (Check) and the shim's helper programs
#   make check-asan / check-tsan / check-programs / fuzz / bench / install
CC       ?= gcc
CXX      ?= g++
CFLAGS   ?= -O2 -g
WARN      = -std=gnu11 -Wall -Wextra -Werror
BUILD    ?= build
PREFIX   ?= /usr/local
FUZZ_SECONDS ?= 30
ALL_CFLAGS = $(WARN) -fPIC -fvisibility=hidden -I. $(CFLAGS)

POOL_SRC  = $(wildcard pool/*.c)
SHIM_SRC  = $(wildcard shim/*.c)
# shim modules that do not interpose anything: unit-tested and fuzzed directly
SHIM_CORE = $(wildcard shim/config*.c)
TESTS     = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
HELPERS   = $(patsubst tests/helpers/%.c,$(BUILD)/helpers/%,$(wildcard tests/helpers/*.c)) \
            $(patsubst tests/helpers/%.cc,$(BUILD)/helpers/%,$(wildcard tests/helpers/*.cc))
PROGRAMS  = $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c bench/*.c demo/*.c tools/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

all: $(BUILD)/libpool.a $(BUILD)/libpoolshim.so $(PROGRAMS) $(HELPERS)

$(BUILD)/obj/%.o: %.c $(wildcard pool/*.h shim/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libpool.a: $(call obj,$(POOL_SRC))
	$(AR) rcs $@ $^

$(BUILD)/libshimcore.a: $(call obj,$(SHIM_CORE))
	$(AR) rcs $@ $^

$(BUILD)/libpoolshim.so: $(call obj,$(POOL_SRC) $(SHIM_SRC)) shim/exports.map
	$(CC) -shared -o $@ $(call obj,$(POOL_SRC) $(SHIM_SRC)) \
	  -Wl,--version-script=shim/exports.map -Wl,-z,now -ldl -lpthread

$(BUILD)/%: %.c $(BUILD)/libpool.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(BUILD)/libpool.a -lpthread -lm

$(BUILD)/helpers/%: tests/helpers/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< -o $@ -lpthread -ldl

$(BUILD)/helpers/%: tests/helpers/%.cc
	@mkdir -p $(@D)
	$(CXX) -O2 -g -Wall -Wextra -Werror -I. $< -o $@ -lpthread

CHECK_FLAGS = $(shell pkg-config --cflags --libs check 2>/dev/null)
$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(BUILD)/libpool.a $(BUILD)/libshimcore.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(BUILD)/libshimcore.a $(BUILD)/libpool.a $(CHECK_FLAGS) -lpthread -lm

# the whole shim linked in, nothing exported: the cases call shim_* directly
$(BUILD)/tests/test_faults: tests/test_faults.c $(POOL_SRC) $(SHIM_SRC) $(wildcard pool/*.h shim/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DSHIM_NO_EXPORTS $< $(POOL_SRC) $(SHIM_SRC) -o $@ $(CHECK_FLAGS) -ldl -lpthread -lm

check-deps:
	@pkg-config --exists check || scripts/install-deps check

# the runner is never preloaded: test_shim execs helpers under LD_PRELOAD
check: check-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(TESTS)
	@scripts/run-tests $(BUILD) $(TESTS)

# test_faults copies min(usable, n) bytes of 0-byte blocks, which TSan's own
# allocator (the real one there) reports as a read of freed memory: ASan only
TSAN_SUITES = test_pool test_classes test_config
ASAN_SUITES = $(TSAN_SUITES) test_faults
check-asan: check-deps
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  $(addprefix build-asan/tests/,$(ASAN_SUITES))
	@CK_TIMEOUT_MULTIPLIER=10 scripts/run-tests build-asan $(addprefix build-asan/tests/,$(ASAN_SUITES))

check-tsan: check-deps
	@$(MAKE) --no-print-directory BUILD=build-tsan CFLAGS="-O1 -g -fsanitize=thread" \
	  $(addprefix build-tsan/tests/,$(TSAN_SUITES))
	@CK_TIMEOUT_MULTIPLIER=20 TSAN_OPTIONS=halt_on_error=1 \
	  scripts/run-tests build-tsan $(addprefix build-tsan/tests/,$(TSAN_SUITES))

demo: all
	@scripts/demo $(BUILD)

bench: all
	@scripts/bench $(BUILD)

bench-smoke: all
	@scripts/bench --smoke $(BUILD)

check-programs: all
	@scripts/install-deps programs
	@scripts/run-programs $(BUILD)

fuzz: all
	@scripts/fuzz $(BUILD) $(FUZZ_SECONDS)

VERSION  := $(shell cat VERSION)
INSTALL  ?= install
# what `make install` puts under $(DESTDIR)$(PREFIX), for uninstall
INSTALLED = lib/libpoolshim.so lib/libpool.a lib/pkgconfig/libpool.pc \
            include/pool/pool.h include/pool/classes.h include/pool/depot.h \
            bin/poolshim bin/poolshim-recommend \
            share/man/man1/poolshim.1 share/man/man3/pool.3

# libpool.pc is written straight from its template: always this PREFIX
install: $(BUILD)/libpool.a $(BUILD)/libpoolshim.so $(BUILD)/tools/poolshim-recommend
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/pool $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	$(INSTALL) -m 755 $(BUILD)/libpoolshim.so $(DESTDIR)$(PREFIX)/lib/
	$(INSTALL) -m 644 $(BUILD)/libpool.a $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' pool/libpool.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libpool.pc
	$(INSTALL) -m 644 pool/pool.h pool/classes.h pool/depot.h $(DESTDIR)$(PREFIX)/include/pool/
	$(INSTALL) -m 755 $(BUILD)/tools/poolshim-recommend $(DESTDIR)$(PREFIX)/bin/
	sed 's|@VERSION@|$(VERSION)|' scripts/poolshim > $(DESTDIR)$(PREFIX)/bin/poolshim
	chmod 755 $(DESTDIR)$(PREFIX)/bin/poolshim
	$(INSTALL) -m 644 man/poolshim.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	$(INSTALL) -m 644 man/pool.3 $(DESTDIR)$(PREFIX)/share/man/man3/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	-rmdir $(DESTDIR)$(PREFIX)/include/pool

clean:
	rm -rf build build-asan build-tsan build-fuzz

.PHONY: all check check-deps check-asan check-tsan demo bench bench-smoke \
        check-programs fuzz install uninstall clean
