# The bundled test LwM2M server: built by plain "make" too, for the demo.
noinst_PROGRAMS += tests/lwm2m-server/lwm2m-test-server
tests_lwm2m_server_lwm2m_test_server_SOURCES = \
	tests/lwm2m-server/main.c \
	tests/lwm2m-server/server.c tests/lwm2m-server/server.h \
	tests/lwm2m-server/commands.c tests/lwm2m-server/commands.h \
	tests/lwm2m-server/output.c tests/lwm2m-server/output.h \
	tests/lwm2m-server/links.c tests/lwm2m-server/links.h \
	tests/lwm2m-server/send.c tests/lwm2m-server/send.h
tests_lwm2m_server_lwm2m_test_server_CFLAGS = $(AM_CFLAGS) $(COAP_CFLAGS) $(JANSSON_CFLAGS) $(LIBCBOR_CFLAGS)
tests_lwm2m_server_lwm2m_test_server_LDADD = lwm2m/libgwlwm2m.la $(COAP_LIBS) $(JANSSON_LIBS) $(LIBCBOR_LIBS)
EXTRA_DIST += tests/lwm2m-server/README.md
