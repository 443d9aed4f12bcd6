# systemd/: unit, sysusers.d and tmpfiles.d snippets.
systemdsystemunit_DATA = systemd/gatewayd.service systemd/gatewayd@.service
CLEANFILES += systemd/gatewayd.service systemd/gatewayd@.service
EXTRA_DIST += systemd/gatewayd.service.in systemd/gatewayd@.service.in systemd/hardening.conf \
	systemd/gatewayd.sysusers systemd/gatewayd.tmpfiles
sysusersdir = $(prefix)/lib/sysusers.d
tmpfilesdir = $(prefix)/lib/tmpfiles.d
install-data-local:
	$(MKDIR_P) $(DESTDIR)$(sysusersdir) $(DESTDIR)$(tmpfilesdir)
	$(INSTALL_DATA) $(srcdir)/systemd/gatewayd.sysusers $(DESTDIR)$(sysusersdir)/gatewayd.conf
	$(INSTALL_DATA) $(srcdir)/systemd/gatewayd.tmpfiles $(DESTDIR)$(tmpfilesdir)/gatewayd.conf
uninstall-local:
	rm -f $(DESTDIR)$(sysusersdir)/gatewayd.conf $(DESTDIR)$(tmpfilesdir)/gatewayd.conf
# Both units take the same hardening block from systemd/hardening.conf.
systemd/gatewayd.service systemd/gatewayd@.service: systemd/%: systemd/%.in \
		systemd/hardening.conf Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    -e 's|@localstatedir[@]|$(localstatedir)|g' \
	    -e '/@HARDENING[@]/{' -e 'r $(srcdir)/systemd/hardening.conf' -e 'd' -e '}' \
	    $(srcdir)/systemd/$*.in > $@
