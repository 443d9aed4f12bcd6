# gatewayd/: the daemon, its core library and the installed adapter SDK.

# Base services used by every layer: clock, logging, timer heap.
noinst_LTLIBRARIES += gatewayd/libgwbase.la
gatewayd_libgwbase_la_SOURCES = \
	gatewayd/clock.c gatewayd/clock.h \
	gatewayd/log.c gatewayd/log.h \
	gatewayd/timerq.c gatewayd/timerq.h \
	gatewayd/file.c gatewayd/file.h
gatewayd_libgwbase_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
gatewayd_libgwbase_la_LIBADD = $(SYSTEMD_LIBS)

# The daemon proper, minus main(), so tests can link it.
noinst_LTLIBRARIES += gatewayd/libgwdaemon.la
gatewayd_libgwdaemon_la_SOURCES = \
	gatewayd/config.c gatewayd/config.h \
	gatewayd/loader.c gatewayd/loader.h \
	gatewayd/loop.c gatewayd/loop.h \
	gatewayd/host.c gatewayd/host.h \
	gatewayd/device.c gatewayd/device.h \
	gatewayd/device_health.c gatewayd/device_health.h \
	gatewayd/transform.c gatewayd/transform.h \
	gatewayd/gateway.c gatewayd/gateway.h \
	gatewayd/resolver.c gatewayd/resolver.h \
	gatewayd/statefile.c gatewayd/statefile.h \
	gatewayd/ctl.c gatewayd/ctl.h \
	gatewayd/firmware.c gatewayd/firmware.h \
	gatewayd/fw_pkg.c gatewayd/fw_pkg.h \
	gatewayd/fw_fetch.c gatewayd/fw_fetch.h \
	gatewayd/fw_hook.c gatewayd/fw_hook.h
gatewayd_libgwdaemon_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) $(LIBCONFIG_CFLAGS) $(COAP_CFLAGS) \
	$(JANSSON_CFLAGS) $(GNUTLS_CFLAGS) $(LIBCURL_CFLAGS)
gatewayd_libgwdaemon_la_LIBADD = lwm2m/libgwlwm2m.la gatewayd/libgwbase.la \
	$(LIBCONFIG_LIBS) $(SYSTEMD_LIBS) $(COAP_LIBS) $(JANSSON_LIBS) $(GNUTLS_LIBS) $(LIBCURL_LIBS) \
	-lpthread

sbin_PROGRAMS += gatewayd/gatewayd
gatewayd_gatewayd_SOURCES = gatewayd/main.c
gatewayd_gatewayd_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS) $(LIBCONFIG_CFLAGS) $(COAP_CFLAGS)
gatewayd_gatewayd_LDADD = gatewayd/libgwdaemon.la
# Adapters must not link back into the daemon; keep its symbols private, but for one:
# libcoap's calls to these GnuTLS functions must land in lwm2m/dtls_poll.c (see there).
gatewayd_gatewayd_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--export-dynamic-symbol=gnutls_transport_set_pull_function \
	-Wl,--export-dynamic-symbol=gnutls_transport_set_pull_timeout_function

# The adapter SDK: one header and a pkg-config file.
gwincludedir = $(includedir)/gatewayd
gwinclude_HEADERS = gatewayd/include/gatewayd/adapter.h
pkgconfig_DATA += gatewayd/gatewayd-adapter.pc
EXTRA_DIST += gatewayd/gatewayd-adapter.pc.in
DISTCLEANFILES += gatewayd/gatewayd-adapter.pc

dist_man_MANS += gatewayd/gatewayd.8 gatewayd/gatewayctl.8

# gatewayctl: the control socket's client (gatewayctl(8)).
sbin_PROGRAMS += gatewayd/gatewayctl
gatewayd_gatewayctl_SOURCES = gatewayd/gatewayctl.c
gatewayd_gatewayctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
gatewayd_gatewayctl_LDADD = $(JANSSON_LIBS)
