# tests/unit/loader.mk: the adapter loader and the sim adapter.

# Fixture adapters for test_loader: libtool modules built for make check
# only, never installed, all landing in tests/fixtures/adapters/.libs/.
# -rpath makes libtool build a shared module from check_LTLIBRARIES.
FIXTURE_ADAPTER_LDFLAGS = -module -avoid-version -shared -rpath /nowhere -Wl,--no-undefined
check_LTLIBRARIES += \
	tests/fixtures/adapters/good.la \
	tests/fixtures/adapters/major2.la \
	tests/fixtures/adapters/minor99.la \
	tests/fixtures/adapters/nosym.la \
	tests/fixtures/adapters/badname.la \
	tests/fixtures/adapters/noread.la \
	tests/fixtures/adapters/tinyops.la \
	tests/fixtures/adapters/nullver.la \
	tests/fixtures/adapters/initfail.la \
	tests/fixtures/adapters/poster.la \
	tests/fixtures/adapters/finder.la
EXTRA_DIST += tests/fixtures/adapters/fixture.h

tests_fixtures_adapters_good_la_SOURCES = tests/fixtures/adapters/good.c
tests_fixtures_adapters_good_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_major2_la_SOURCES = tests/fixtures/adapters/major2.c
tests_fixtures_adapters_major2_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_minor99_la_SOURCES = tests/fixtures/adapters/minor99.c
tests_fixtures_adapters_minor99_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_nosym_la_SOURCES = tests/fixtures/adapters/nosym.c
tests_fixtures_adapters_nosym_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_badname_la_SOURCES = tests/fixtures/adapters/badname.c
tests_fixtures_adapters_badname_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_noread_la_SOURCES = tests/fixtures/adapters/noread.c
tests_fixtures_adapters_noread_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_tinyops_la_SOURCES = tests/fixtures/adapters/tinyops.c
tests_fixtures_adapters_tinyops_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_nullver_la_SOURCES = tests/fixtures/adapters/nullver.c
tests_fixtures_adapters_nullver_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_initfail_la_SOURCES = tests/fixtures/adapters/initfail.c
tests_fixtures_adapters_initfail_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_poster_la_SOURCES = tests/fixtures/adapters/poster.c
tests_fixtures_adapters_poster_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)
tests_fixtures_adapters_poster_la_LIBADD = -lpthread
# Proposes devices (ABI 1.3 propose_device); used by test_reload.
tests_fixtures_adapters_finder_la_SOURCES = tests/fixtures/adapters/finder.c
tests_fixtures_adapters_finder_la_LDFLAGS = $(FIXTURE_ADAPTER_LDFLAGS)

# Posts from an adapter's worker thread outliving their device or adapter.
check_PROGRAMS += tests/unit/test_posts
tests_unit_test_posts_SOURCES = tests/unit/test_posts.c
tests_unit_test_posts_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_posts_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS) -ldl
TESTS += tests/unit/test_posts
EXTRA_DIST += tests/fixtures/device/poster.conf

check_PROGRAMS += tests/unit/test_loader
tests_unit_test_loader_SOURCES = tests/unit/test_loader.c
tests_unit_test_loader_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_loader_LDADD = gatewayd/libgwdaemon.la $(TEST_LIBS)
TESTS += tests/unit/test_loader
AM_TESTS_ENVIRONMENT += GW_FIXTURE_ADAPTER_DIR='$(abs_top_builddir)/tests/fixtures/adapters/.libs'; export GW_FIXTURE_ADAPTER_DIR;

# The sim adapter's sources compiled straight into the test, which drives
# them through a fake host (the exported descriptor is just a global here).
check_PROGRAMS += tests/unit/test_sim
tests_unit_test_sim_SOURCES = tests/unit/test_sim.c adapters/sim/sim.c adapters/sim/sim_model.c \
	adapters/sim/sim_model.h
tests_unit_test_sim_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_sim_LDADD = $(TEST_LIBS) -lm
TESTS += tests/unit/test_sim
