# DTLS: credentials made at test time (GnuTLS), the test server on coaps.
check_PROGRAMS += tests/integration/test_dtls
tests_integration_test_dtls_SOURCES = tests/integration/test_dtls.c \
	tests/integration/creds.c tests/integration/creds.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_dtls_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_dtls_LDADD = $(JANSSON_LIBS) $(GNUTLS_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_dtls
