# Fuzz targets, one per decoder (libFuzzer): `make fuzz` builds them with
# clang straight from the sources (not through libtool: libFuzzer needs
# every object instrumented) and runs each for FUZZ_SECONDS seconds from
# the seed corpus in tests/fuzz/corpus/<target>/.  CI: make fuzz FUZZ_SECONDS=10.
# New inputs libFuzzer finds go to tests/fuzz/work/<target>/ in the build
# tree; crash reproducers to tests/fuzz/crash-* (then: tests/fuzz/fuzz_X FILE).
CLANG = clang
FUZZ_SECONDS = 20
FUZZ_TARGETS = text tlv senml_json senml_cbor cbor lwm2m_json lwm2m_cbor senml_paths
FUZZ_SRC_LIST = lwm2m/lwm_types.c lwm2m/codec.c lwm2m/codec_text.c lwm2m/codec_tlv.c \
	lwm2m/codec_senml_json.c lwm2m/codec_senml_cbor.c lwm2m/codec_cbor.c \
	lwm2m/codec_lwm2m_json.c lwm2m/codec_lwm2m_cbor.c lwm2m/codec_link.c lwm2m/senml.c \
	lwm2m/cbor_io.c
FUZZ_HDR_LIST = lwm2m/lwm_types.h lwm2m/codec.h lwm2m/senml.h lwm2m/cbor_io.h \
	tests/fuzz/fuzz_common.h tests/fuzz/fuzz_single.h
FUZZ_CFLAGS = -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -D_GNU_SOURCE -I$(top_srcdir) $(JANSSON_CFLAGS) \
	$(LIBCBOR_CFLAGS)
FUZZ_LIBS = $(JANSSON_LIBS) $(LIBCBOR_LIBS) -lm
FUZZ_BINS = $(FUZZ_TARGETS:%=tests/fuzz/fuzz_%)

# The BLE advert decoders (adapters/ble/), one target each: their own
# sources, and nettle for BTHome's AES-CCM.
FUZZ_BLE_TARGETS = ble_bthome ble_atc_pvvx ble_ruuvi ble_generic
FUZZ_BLE_SRC_LIST = adapters/ble/decode_util.c adapters/ble/decode_bthome.c \
	adapters/ble/decode_pvvx.c adapters/ble/decode_ruuvi.c adapters/ble/decode_generic.c
FUZZ_BLE_HDR_LIST = adapters/ble/ble_decode.h adapters/ble/decode_util.h tests/fuzz/fuzz_ble.h
FUZZ_BLE_BINS = $(FUZZ_BLE_TARGETS:%=tests/fuzz/fuzz_%)
FUZZ_ALL_TARGETS = $(FUZZ_TARGETS) $(FUZZ_BLE_TARGETS)

$(FUZZ_BINS): tests/fuzz/fuzz_%: $(srcdir)/tests/fuzz/fuzz_%.c \
		$(FUZZ_SRC_LIST:%=$(srcdir)/%) $(FUZZ_HDR_LIST:%=$(srcdir)/%)
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(srcdir)/tests/fuzz/fuzz_$*.c \
		$(FUZZ_SRC_LIST:%=$(srcdir)/%) $(FUZZ_LIBS)

$(FUZZ_BLE_BINS): tests/fuzz/fuzz_%: $(srcdir)/tests/fuzz/fuzz_%.c \
		$(FUZZ_BLE_SRC_LIST:%=$(srcdir)/%) $(FUZZ_BLE_HDR_LIST:%=$(srcdir)/%)
	@$(MKDIR_P) tests/fuzz
	$(AM_V_CC)$(CLANG) $(FUZZ_CFLAGS) $(NETTLE_CFLAGS) -o $@ $(srcdir)/tests/fuzz/fuzz_$*.c \
		$(FUZZ_BLE_SRC_LIST:%=$(srcdir)/%) $(NETTLE_LIBS) -lm

fuzz: $(FUZZ_BINS) $(FUZZ_BLE_BINS)
	@set -e; for t in $(FUZZ_ALL_TARGETS); do \
	  $(MKDIR_P) tests/fuzz/work/$$t; \
	  echo "== fuzz_$$t ($(FUZZ_SECONDS)s)"; \
	  tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=tests/fuzz/crash-$$t- \
	    tests/fuzz/work/$$t $(srcdir)/tests/fuzz/corpus/$$t 2>tests/fuzz/fuzz_$$t.log \
	    || { tail -n 60 tests/fuzz/fuzz_$$t.log; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|Done [0-9]+ runs' \
	    tests/fuzz/fuzz_$$t.log || true; \
	done
.PHONY: fuzz

clean-fuzz:
	rm -rf $(FUZZ_BINS) $(FUZZ_BLE_BINS) tests/fuzz/work tests/fuzz/*.log tests/fuzz/crash-*
.PHONY: clean-fuzz

EXTRA_DIST += $(FUZZ_ALL_TARGETS:%=tests/fuzz/fuzz_%.c) tests/fuzz/fuzz_common.h \
	tests/fuzz/fuzz_single.h tests/fuzz/fuzz_ble.h tests/fuzz/corpus
