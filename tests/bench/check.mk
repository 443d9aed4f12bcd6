# The registration pacing test (gateway.registration_rate): a make check test, kept here
# beside the benchmark that motivated it.  Included from tests/bench/local.mk.
check_PROGRAMS += tests/integration/test_pacing
tests_integration_test_pacing_SOURCES = tests/integration/test_pacing.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_pacing_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_pacing_LDADD = $(JANSSON_LIBS) $(TEST_LIBS)
TESTS += tests/integration/test_pacing
