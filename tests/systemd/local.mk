# tests/systemd/: the installed units pass `systemd-analyze verify`.

TESTS += tests/systemd/verify-units.sh
dist_noinst_SCRIPTS += tests/systemd/verify-units.sh

# A private DESTDIR with the daemon and the units, from automake's per-directory install
# targets (no recursive "make install" inside make check).
GW_UNITS_DESTDIR = $(abs_top_builddir)/tests/systemd/root
AM_TESTS_ENVIRONMENT += GW_UNITS_DESTDIR='$(GW_UNITS_DESTDIR)'; export GW_UNITS_DESTDIR; \
	sbindir='$(sbindir)'; export sbindir; \
	systemdsystemunitdir='$(systemdsystemunitdir)'; export systemdsystemunitdir;
check_DATA += tests/systemd/units.stamp
tests/systemd/units.stamp: $(systemdsystemunit_DATA) gatewayd/gatewayd$(EXEEXT)
	rm -rf '$(GW_UNITS_DESTDIR)'
	$(MAKE) $(AM_MAKEFLAGS) DESTDIR='$(GW_UNITS_DESTDIR)' install-sbinPROGRAMS \
		install-systemdsystemunitDATA
	@$(MKDIR_P) tests/systemd
	touch $@
CLEANFILES += tests/systemd/units.stamp
clean-local: clean-systemd-units
clean-systemd-units:
	rm -rf '$(GW_UNITS_DESTDIR)'
.PHONY: clean-systemd-units
