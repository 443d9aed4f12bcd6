# DTLS: credentials made at test time (GnuTLS), the test server on coaps.
check_PROGRAMS += tests/integration/test_dtls
tests_integration_test_dtls_SOURCES = tests/integration/test_dtls.c \
	tests/integration/creds.c tests/integration/creds.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_dtls_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_dtls_LDADD = $(JANSSON_LIBS) $(GNUTLS_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_dtls

# A lost DTLS session (server restart, NAT rebinding through udp-relay).
check_PROGRAMS += tests/integration/udp-relay
tests_integration_udp_relay_SOURCES = tests/integration/udp_relay.c
tests_integration_udp_relay_CFLAGS = $(TEST_CFLAGS)

check_PROGRAMS += tests/integration/test_dtls_recovery
tests_integration_test_dtls_recovery_SOURCES = tests/integration/test_dtls_recovery.c \
	tests/integration/creds.c tests/integration/creds.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_dtls_recovery_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_dtls_recovery_LDADD = $(JANSSON_LIBS) $(GNUTLS_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_dtls_recovery
