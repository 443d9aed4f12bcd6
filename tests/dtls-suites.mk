# The cipher suites LwM2M requires, against GnuTLS's gnutls-serv (gnutls-bin).
check_PROGRAMS += tests/integration/test_dtls_suites
tests_integration_test_dtls_suites_SOURCES = tests/integration/test_dtls_suites.c \
	tests/integration/creds.c tests/integration/creds.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_dtls_suites_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_dtls_suites_LDADD = $(JANSSON_LIBS) $(GNUTLS_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_dtls_suites
