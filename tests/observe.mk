# Information reporting: attribute semantics (unit, fake clock) and
# observations end to end (integration).  Included from tests/local.mk.
check_PROGRAMS += tests/unit/test_observe
tests_unit_test_observe_SOURCES = tests/unit/test_observe.c
tests_unit_test_observe_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_observe_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_observe

check_PROGRAMS += tests/integration/test_observe
tests_integration_test_observe_SOURCES = tests/integration/test_observe.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_observe_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_observe_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_observe

# Send (POST /dp) and notification storing: the store (unit) and end to end.
check_PROGRAMS += tests/unit/test_store
tests_unit_test_store_SOURCES = tests/unit/test_store.c
tests_unit_test_store_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_store_LDADD = lwm2m/libgwlwm2m.la $(TEST_LIBS)
TESTS += tests/unit/test_store

check_PROGRAMS += tests/integration/test_send
tests_integration_test_send_SOURCES = tests/integration/test_send.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_send_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_send_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_send
