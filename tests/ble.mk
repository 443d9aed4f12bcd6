# tests/ble.mk: the BLE adapter's tests (issue 12).
# End to end on a private dbus-daemon with a BlueZ double (python3-dbusmock's
# bluez5 template, extended by bluez_mock.py), gatewayd and the test server.
if ENABLE_BLE
check_PROGRAMS += tests/integration/test_ble
tests_integration_test_ble_SOURCES = tests/integration/test_ble.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_ble_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_integration_test_ble_LDADD = $(JANSSON_LIBS) $(GNUTLS_LIBS) $(TEST_LIBS) -lm
TESTS += tests/integration/test_ble
endif
EXTRA_DIST += tests/integration/bluez_mock.py
