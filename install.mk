# install.mk - `make install` and `make uninstall` (included by the Makefile).
# Directories as the GNU coding standards name them, each settable; DESTDIR
# is put in front of every one (staged installs, packages). The headers go to
# INCLUDEDIR/poolshim/pool/: #include <pool/pool.h> with pkg-config's flags.
# scripts/install-tree does the work from a list of what goes where.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
# where libpoolshim.so goes: a preloaded library nothing links against may
# live in a directory of its own (the Debian package's LIBDIR/poolshim)
SHIMDIR    ?= $(LIBDIR)
# every name in pool(3)'s NAME section gets a page of its own: man pool_create
MAN3_NAMES  = $(shell sed -n '/^\.SH NAME/,/^\.SH/{/^\.SH/d;p}' man/pool.3 | tr '\n' ' ' | \
                sed 's/\\-.*//; s/,/ /g')
DIST        = $(BUILD)/dist
TOOLS       = $(addprefix $(BUILD)/tools/poolshim-,recommend check latency stat)
DIRS_BAD    = $(strip $(foreach v,PREFIX BINDIR LIBDIR SHIMDIR INCLUDEDIR MANDIR,$(if $(filter-out \
                1,$(words $($(v)))),$(v),$(if $(filter /%,$($(v))),,$(v)))))

# What goes where: "MODE FILE TARGET" (copy), "link TO TARGET" (symbolic link).
$(DIST)/install.list: FORCE
	$(if $(DIRS_BAD),@printf 'make: %s must be an absolute path without spaces\n' \
	  $(foreach v,$(DIRS_BAD),"$(v)=\"$($(v))\"") >&2; exit 1)
	$(if $(word 2,$(DESTDIR)),@echo 'make: DESTDIR="$(DESTDIR)" has spaces' >&2; exit 1)
	@mkdir -p $(DIST)/man3
	@sed -e 's|@VERSION@|$(VERSION)|' -e 's|@SHIMDIR@|$(SHIMDIR)|' scripts/poolshim > $(DIST)/poolshim
	@sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' pool/libpool.pc.in > $(DIST)/libpool.pc
	@for n in $(MAN3_NAMES); do echo '.so man3/pool.3' > $(DIST)/man3/$$n.3; done
	@{ echo 755 $(DIST)/poolshim $(BINDIR)/poolshim; \
	  for t in $(TOOLS); do echo 755 $$t $(BINDIR)/$${t##*/}; done; \
	  for l in poolshim:$(SHIMDIR) pool:$(LIBDIR); do d=$${l#*:} l=$${l%%:*}; \
	    echo 755 $(BUILD)/lib$$l.so $$d/lib$$l.so.$(VERSION); \
	    echo link lib$$l.so.$(VERSION) $$d/lib$$l.so.$(MAJOR); \
	    echo link lib$$l.so.$(MAJOR) $$d/lib$$l.so; done; \
	  echo 644 $(BUILD)/libpool.a $(LIBDIR)/libpool.a; \
	  echo 644 $(DIST)/libpool.pc $(LIBDIR)/pkgconfig/libpool.pc; \
	  for h in $(PUBLIC_H); do echo 644 $$h $(INCLUDEDIR)/poolshim/pool/$${h##*/}; done; \
	  echo 644 man/poolshim.1 $(MANDIR)/man1/poolshim.1; \
	  for t in $(TOOLS); do echo link poolshim.1 $(MANDIR)/man1/$${t##*/}.1; done; \
	  echo 644 man/pool.3 $(MANDIR)/man3/pool.3; \
	  for n in $(MAN3_NAMES); do echo 644 $(DIST)/man3/$$n.3 $(MANDIR)/man3/$$n.3; done; \
	} > $@

install: $(BUILD)/libpool.a $(BUILD)/libpool.so $(BUILD)/libpoolshim.so $(TOOLS) $(VERSION_H) \
         $(DIST)/install.list
	@scripts/install-tree install $(DIST)/install.list "$(DESTDIR)" "$(PREFIX)"
uninstall: $(DIST)/install.list
	@scripts/install-tree uninstall $(DIST)/install.list "$(DESTDIR)" "$(PREFIX)"

.PHONY: install uninstall FORCE
