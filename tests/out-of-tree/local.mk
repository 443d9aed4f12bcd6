# tests/out-of-tree/: an adapter built against the INSTALLED SDK (header and
# pkg-config file only), then loaded by the daemon's loader.

check_PROGRAMS += tests/out-of-tree/load-check
tests_out_of_tree_load_check_SOURCES = tests/out-of-tree/load-check.c
tests_out_of_tree_load_check_LDADD = gatewayd/libgwdaemon.la
TESTS += tests/out-of-tree/build-and-load.sh
dist_noinst_SCRIPTS += tests/out-of-tree/build-and-load.sh
EXTRA_DIST += tests/out-of-tree/hello.c

# A private DESTDIR with just the SDK, from automake's per-directory install
# targets: fast, and no recursive "make install" inside make check.
GW_SDK_DESTDIR = $(abs_top_builddir)/tests/out-of-tree/sdk
AM_TESTS_ENVIRONMENT += GW_SDK_DESTDIR='$(GW_SDK_DESTDIR)'; export GW_SDK_DESTDIR;
check_DATA += tests/out-of-tree/sdk.stamp
tests/out-of-tree/sdk.stamp: $(gwinclude_HEADERS) gatewayd/gatewayd-adapter.pc
	rm -rf '$(GW_SDK_DESTDIR)'
	$(MAKE) $(AM_MAKEFLAGS) DESTDIR='$(GW_SDK_DESTDIR)' install-gwincludeHEADERS install-pkgconfigDATA
	@$(MKDIR_P) tests/out-of-tree
	touch $@
CLEANFILES += tests/out-of-tree/sdk.stamp
clean-local: clean-out-of-tree-sdk
clean-out-of-tree-sdk:
	rm -rf '$(GW_SDK_DESTDIR)'
.PHONY: clean-out-of-tree-sdk
