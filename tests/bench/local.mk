# Benchmarks (issue 6): "make bench", never part of "make check".  Included from
# tests/local.mk.  The programs are check programs so that "make check" still compiles
# them; "make bench BENCH_QUICK=1" is the short smoke run CI can afford.
check_PROGRAMS += tests/bench/bench-load-server tests/bench/bench-raw-notifier tests/bench/bench \
	tests/bench/bench-ble-source tests/bench/bench-ble-floor
tests_bench_bench_raw_notifier_SOURCES = tests/bench/raw_notifier.c
# ble_adverts_rate: the advert source (bluetoothd's stand-in) and the bare floor client.
tests_bench_bench_ble_source_SOURCES = tests/bench/ble_source.c
tests_bench_bench_ble_source_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
tests_bench_bench_ble_source_LDADD = $(SYSTEMD_LIBS)
tests_bench_bench_ble_floor_SOURCES = tests/bench/ble_floor.c
tests_bench_bench_ble_floor_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
tests_bench_bench_ble_floor_LDADD = adapters/ble/libbledecode.la $(SYSTEMD_LIBS) $(NETTLE_LIBS) -lm
tests_bench_bench_load_server_SOURCES = tests/bench/load_server.c
tests_bench_bench_load_server_CFLAGS = $(AM_CFLAGS) $(COAP_CFLAGS)
tests_bench_bench_load_server_LDADD = $(COAP_LIBS)
tests_bench_bench_SOURCES = tests/bench/bench.c \
	tests/integration/harness.c tests/integration/harness.h
tests_bench_bench_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_bench_bench_LDADD = $(JANSSON_LIBS) -lm
dist_noinst_SCRIPTS += tests/bench/run-benchmarks.sh
EXTRA_DIST += tests/bench/README.md

bench: all tests/bench/bench-load-server tests/bench/bench-raw-notifier tests/bench/bench \
		tests/bench/bench-ble-source tests/bench/bench-ble-floor \
		tests/lwm2m-server/lwm2m-test-server $(GPIO_BENCH_DEPS)
	BENCH_QUICK='$(BENCH_QUICK)' BENCH_ARGS='$(BENCH_ARGS)' \
	$(srcdir)/tests/bench/run-benchmarks.sh '$(abs_top_builddir)' '$(abs_top_srcdir)'
.PHONY: bench

include tests/bench/check.mk
