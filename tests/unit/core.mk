# Unit tests of the daemon core and the data model.

check_PROGRAMS += tests/unit/test_timerq
tests_unit_test_timerq_SOURCES = tests/unit/test_timerq.c
tests_unit_test_timerq_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_timerq_LDADD = gatewayd/libgwbase.la $(TEST_LIBS)
TESTS += tests/unit/test_timerq

check_PROGRAMS += tests/unit/test_transform
tests_unit_test_transform_SOURCES = tests/unit/test_transform.c
tests_unit_test_transform_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_transform_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS)
TESTS += tests/unit/test_transform

check_PROGRAMS += tests/unit/test_model
tests_unit_test_model_SOURCES = tests/unit/test_model.c $(WIPE_CHECK_SRC)
tests_unit_test_model_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_model_LDFLAGS = $(WIPE_CHECK_WRAP)
tests_unit_test_model_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_model

check_PROGRAMS += tests/unit/test_fw_pkg
tests_unit_test_fw_pkg_SOURCES = tests/unit/test_fw_pkg.c tests/fw_image.h
tests_unit_test_fw_pkg_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_unit_test_fw_pkg_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS) $(GNUTLS_LIBS)
TESTS += tests/unit/test_fw_pkg

check_PROGRAMS += tests/unit/test_firmware
tests_unit_test_firmware_SOURCES = tests/unit/test_firmware.c tests/fw_image.h
tests_unit_test_firmware_CFLAGS = $(TEST_CFLAGS) $(GNUTLS_CFLAGS)
tests_unit_test_firmware_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS) $(GNUTLS_LIBS)
TESTS += tests/unit/test_firmware

check_PROGRAMS += tests/unit/test_device
tests_unit_test_device_SOURCES = tests/unit/test_device.c
tests_unit_test_device_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_device_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS)
TESTS += tests/unit/test_device
EXTRA_DIST += tests/fixtures/device/mapping.conf

# Server names resolved off the loop thread (issue 16, item 12a).
check_PROGRAMS += tests/unit/test_resolver
tests_unit_test_resolver_SOURCES = tests/unit/test_resolver.c
tests_unit_test_resolver_CFLAGS = $(TEST_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_resolver_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS) -lpthread
TESTS += tests/unit/test_resolver

check_PROGRAMS += tests/unit/test_log
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_log_LDADD = gatewayd/libgwbase.la $(TEST_LIBS)
TESTS += tests/unit/test_log

check_PROGRAMS += tests/unit/test_bootstrap
tests_unit_test_bootstrap_SOURCES = tests/unit/test_bootstrap.c
tests_unit_test_bootstrap_CFLAGS = $(TEST_CFLAGS) $(COAP_CFLAGS)
tests_unit_test_bootstrap_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_bootstrap

check_PROGRAMS += tests/unit/test_client
tests_unit_test_client_SOURCES = tests/unit/test_client.c
tests_unit_test_client_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_client_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS)
TESTS += tests/unit/test_client

check_PROGRAMS += tests/unit/test_acl
tests_unit_test_acl_SOURCES = tests/unit/test_acl.c
tests_unit_test_acl_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_acl_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_acl

check_PROGRAMS += tests/unit/test_block1
tests_unit_test_block1_SOURCES = tests/unit/test_block1.c
tests_unit_test_block1_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_block1_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_block1
check_PROGRAMS += tests/unit/test_ctl
tests_unit_test_ctl_SOURCES = tests/unit/test_ctl.c
tests_unit_test_ctl_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ctl_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS)
TESTS += tests/unit/test_ctl

# The firmware command hook (issue 11) on a real loop, with scripts.
check_PROGRAMS += tests/unit/test_fw_hook
tests_unit_test_fw_hook_SOURCES = tests/unit/test_fw_hook.c
tests_unit_test_fw_hook_CFLAGS = $(TEST_CFLAGS) $(SYSTEMD_CFLAGS)
tests_unit_test_fw_hook_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS)
tests_unit_test_fw_hook_LDFLAGS = -Wl,--wrap=pidfd_open
TESTS += tests/unit/test_fw_hook
