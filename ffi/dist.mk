# The C library as users get it; included from the main Makefile.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   libwsrt.so.<version> with its
#                  SONAME links, libwsrt.a, wsrt.h and wsrt.pc (prefix written
#                  in) under $(DESTDIR)$(PREFIX); debug info stripped
#   make uninstall [PREFIX=] [DESTDIR=]            removes exactly those files
#   make dist-c    dist/wsrt-<version>-linux-x86_64.tar.gz: the same tree under
#                  one top directory, with a relocatable wsrt.pc (prefix taken
#                  from where the .pc file sits), README.md and the licences
#   make test-packaging-c   installs both ways and builds a program against
#                  each with cargo and rustc out of PATH (tests/packaging/c)
PREFIX  ?= /usr/local
DESTDIR ?=
# What a program linked against libwsrt.a also needs, as
# `rustc --print native-static-libs` reports it for this crate on Linux;
# tests/packaging/c links statically with exactly this line.
WSRT_LIBS_PRIVATE := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
C_DIST_NAME := wsrt-$(VERSION)-linux-$(shell uname -m)
C_DIST_STAGE := $(BUILD)/dist-c/$(C_DIST_NAME)

.PHONY: install uninstall dist-c test-packaging-c

# install-tree DEST PC_PREFIX: the library, header and .pc under DEST.
define install-tree
	install -d $(1)/lib/pkgconfig $(1)/include
	install -m 755 $(LIBDIR)/libwsrt.so.$(VERSION) $(1)/lib/libwsrt.so.$(VERSION)
	strip --strip-unneeded $(1)/lib/libwsrt.so.$(VERSION)
	ln -sf libwsrt.so.$(VERSION) $(1)/lib/libwsrt.so.$(ABI_MAJOR)
	ln -sf libwsrt.so.$(ABI_MAJOR) $(1)/lib/libwsrt.so
	install -m 644 $(LIBDIR)/libwsrt.a $(1)/lib/libwsrt.a
	strip --strip-debug $(1)/lib/libwsrt.a
	install -m 644 include/wsrt.h $(1)/include/wsrt.h
	sed -e 's|@PREFIX@|$(2)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS_PRIVATE@|$(WSRT_LIBS_PRIVATE)|' ffi/wsrt.pc.in > $(1)/lib/pkgconfig/wsrt.pc
	chmod 644 $(1)/lib/pkgconfig/wsrt.pc
endef

install: lib
	$(call install-tree,$(DESTDIR)$(PREFIX),$(PREFIX))

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/lib/,libwsrt.so.$(VERSION) libwsrt.so.$(ABI_MAJOR) libwsrt.so libwsrt.a pkgconfig/wsrt.pc)
	rm -f $(DESTDIR)$(PREFIX)/include/wsrt.h

# ${pcfiledir} is pkg-config's (and pkgconf's) own variable: the tarball
# works wherever it is unpacked, with PKG_CONFIG_PATH pointing into it.
dist-c: lib
	rm -rf $(BUILD)/dist-c && mkdir -p dist
	$(call install-tree,$(C_DIST_STAGE),$${pcfiledir}/../..)
	install -m 644 ffi/README.md $(C_DIST_STAGE)/README.md
	install -m 644 LICENSE-MIT LICENSE-APACHE CHANGELOG.md $(C_DIST_STAGE)/
	tar -C $(BUILD)/dist-c --owner=0 --group=0 --numeric-owner --sort=name \
		-czf dist/$(C_DIST_NAME).tar.gz $(C_DIST_NAME)
	@ls -l dist/$(C_DIST_NAME).tar.gz

test-packaging-c: dist-c
	@tests/tools/venv.sh
	tests/packaging/c/run.sh dist/$(C_DIST_NAME).tar.gz
