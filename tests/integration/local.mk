# Integration tests: the test LwM2M server and gatewayd on loopback.
check_PROGRAMS += tests/integration/test_e2e
tests_integration_test_e2e_SOURCES = tests/integration/test_e2e.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_e2e_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_e2e_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_e2e

check_PROGRAMS += tests/integration/test_malformed
tests_integration_test_malformed_SOURCES = tests/integration/test_malformed.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_malformed_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_malformed_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_malformed

check_PROGRAMS += tests/integration/test_daemon
tests_integration_test_daemon_SOURCES = tests/integration/test_daemon.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_daemon_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_daemon_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_daemon

check_PROGRAMS += tests/integration/test_ops
tests_integration_test_ops_SOURCES = tests/integration/test_ops.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_ops_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_ops_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_ops

check_PROGRAMS += tests/integration/test_bootstrap
tests_integration_test_bootstrap_SOURCES = tests/integration/test_bootstrap.c \
	tests/integration/creds.c tests/integration/creds.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_bootstrap_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_bootstrap_LDADD = $(JANSSON_LIBS) $(GNUTLS_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_bootstrap

check_PROGRAMS += tests/integration/test_multi
tests_integration_test_multi_SOURCES = tests/integration/test_multi.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_multi_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_multi_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_multi

check_PROGRAMS += tests/integration/test_reload
tests_integration_test_reload_SOURCES = tests/integration/test_reload.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_reload_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_reload_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_reload
check_PROGRAMS += tests/integration/test_ctl
tests_integration_test_ctl_SOURCES = tests/integration/test_ctl.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_ctl_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_ctl_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_ctl

# The firmware package downloader against Python's http.server and the test
# LwM2M server's --serve (issue 11).
check_PROGRAMS += tests/integration/test_fw_fetch
tests_integration_test_fw_fetch_SOURCES = tests/integration/test_fw_fetch.c \
	tests/integration/creds.c tests/integration/creds.h \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_fw_fetch_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_fw_fetch_LDADD = gatewayd/libgwdaemon.la $(JANSSON_LIBS) $(GNUTLS_LIBS) \
	$(TEST_LIBS)
TESTS += tests/integration/test_fw_fetch
dist_noinst_SCRIPTS += tests/integration/http_files.py

# Firmware forwarding (issue 11): Object 5, push to sim devices.
check_PROGRAMS += tests/integration/test_firmware
tests_integration_test_firmware_SOURCES = tests/integration/test_firmware.c \
	tests/integration/harness.c tests/integration/harness.h tests/fw_image.h
tests_integration_test_firmware_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_firmware_LDADD = $(JANSSON_LIBS) $(GNUTLS_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_firmware
