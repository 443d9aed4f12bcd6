# Configuration loader tests (gatewayd/config.c) and their fixtures.
check_PROGRAMS += tests/unit/test_config
tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_config_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS)
TESTS += tests/unit/test_config
EXTRA_DIST += \
	tests/fixtures/config/good.conf \
	tests/fixtures/config/good-profiles.inc \
	tests/fixtures/config/minimal.conf \
	tests/fixtures/config/good-control.conf \
	tests/fixtures/config/bad-control.conf \
	tests/fixtures/config/bad-control2.conf \
	tests/fixtures/config/good-send.conf \
	tests/fixtures/config/bad-send.conf \
	tests/fixtures/config/good-stale.conf \
	tests/fixtures/config/bad-stale.conf \
	tests/fixtures/config/bad-syntax.conf \
	tests/fixtures/config/bad-unknown-key.conf \
	tests/fixtures/config/bad-type.conf \
	tests/fixtures/config/bad-range.conf \
	tests/fixtures/config/bad-credentials.conf \
	tests/fixtures/config/bad-access.conf \
	tests/fixtures/config/bad-sequence.conf \
	tests/fixtures/config/bad-path.conf \
	tests/fixtures/config/bad-dup-device.conf \
	tests/fixtures/config/bad-dup-endpoint.conf \
	tests/fixtures/config/bad-references.conf \
	tests/fixtures/config/bad-many.conf \
	tests/fixtures/config/bad-include.conf \
	tests/fixtures/config/bad-include.inc \
	tests/fixtures/config/bad-include-missing.conf \
	tests/fixtures/config/bad-empty.conf \
	tests/fixtures/config/good-bootstrap.conf \
	tests/fixtures/config/bad-bootstrap.conf
