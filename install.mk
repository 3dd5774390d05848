# install.mk - `make install` and `make uninstall` (included by the Makefile).
PREFIX   ?= /usr/local
INSTALL  ?= install
# what `make install` puts under $(DESTDIR)$(PREFIX), for uninstall
INSTALLED = lib/libpoolshim.so lib/libpool.a lib/pkgconfig/libpool.pc \
            include/pool/pool.h include/pool/version.h include/pool/classes.h include/pool/depot.h \
            bin/poolshim bin/poolshim-recommend \
            share/man/man1/poolshim.1 share/man/man3/pool.3

# libpool.pc is written straight from its template: always this PREFIX
install: $(VERSION_H) $(BUILD)/libpool.a $(BUILD)/libpoolshim.so $(BUILD)/tools/poolshim-recommend
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/pool $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3
	$(INSTALL) -m 755 $(BUILD)/libpoolshim.so $(DESTDIR)$(PREFIX)/lib/
	$(INSTALL) -m 644 $(BUILD)/libpool.a $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' pool/libpool.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libpool.pc
	$(INSTALL) -m 644 pool/pool.h $(VERSION_H) pool/classes.h pool/depot.h $(DESTDIR)$(PREFIX)/include/pool/
	$(INSTALL) -m 755 $(BUILD)/tools/poolshim-recommend $(DESTDIR)$(PREFIX)/bin/
	sed 's|@VERSION@|$(VERSION)|' scripts/poolshim > $(DESTDIR)$(PREFIX)/bin/poolshim
	chmod 755 $(DESTDIR)$(PREFIX)/bin/poolshim
	$(INSTALL) -m 644 man/poolshim.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	$(INSTALL) -m 644 man/pool.3 $(DESTDIR)$(PREFIX)/share/man/man3/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
	-rmdir $(DESTDIR)$(PREFIX)/include/pool

.PHONY: install uninstall
