# adapters/ble/: the Bluetooth LE adapter (issue 12).

# --- advert decoders --------------------------------------------------------
# Pure functions (no BlueZ, no D-Bus, no allocation) in a convenience
# library that the adapter module links and the unit tests link alone.
noinst_LTLIBRARIES += adapters/ble/libbledecode.la
adapters_ble_libbledecode_la_SOURCES = adapters/ble/ble_decode.h \
	adapters/ble/decode_util.c adapters/ble/decode_util.h \
	adapters/ble/decode_bthome.c adapters/ble/decode_pvvx.c \
	adapters/ble/decode_ruuvi.c adapters/ble/decode_generic.c \
	adapters/ble/smp.c adapters/ble/smp.h
adapters_ble_libbledecode_la_CFLAGS = $(AM_CFLAGS) $(NETTLE_CFLAGS)
adapters_ble_libbledecode_la_LIBADD = $(NETTLE_LIBS) -lm

check_PROGRAMS += tests/unit/test_ble_decode
tests_unit_test_ble_decode_SOURCES = tests/unit/test_ble_decode.c
tests_unit_test_ble_decode_CFLAGS = $(TEST_CFLAGS) $(NETTLE_CFLAGS)
tests_unit_test_ble_decode_LDADD = adapters/ble/libbledecode.la $(NETTLE_LIBS) $(TEST_LIBS) -lm
TESTS += tests/unit/test_ble_decode

check_PROGRAMS += tests/unit/test_ble_smp
tests_unit_test_ble_smp_SOURCES = tests/unit/test_ble_smp.c
tests_unit_test_ble_smp_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_ble_smp_LDADD = adapters/ble/libbledecode.la $(NETTLE_LIBS) $(TEST_LIBS) -lm
TESTS += tests/unit/test_ble_smp

EXTRA_DIST += adapters/ble/README.md
# --- end of advert decoders -------------------------------------------------

# --- the adapter plugin -----------------------------------------------------
# sd-bus comes from libsystemd, which the daemon links already; the decoders
# from the library above.
if ENABLE_BLE
adapter_LTLIBRARIES += adapters/ble.la
adapters_ble_la_SOURCES = adapters/ble/ble.c adapters/ble/ble_decode.h
adapters_ble_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
adapters_ble_la_LDFLAGS = $(ADAPTER_LDFLAGS)
adapters_ble_la_LIBADD = adapters/ble/libbledecode.la $(SYSTEMD_LIBS) -lm
endif
EXTRA_DIST += config/ble-sensors.conf
# --- end of the adapter plugin ------------------------------------------------
