# adapters/ble/: Bluetooth LE sensors through BlueZ over D-Bus (issue 12).

# ---- BLE adapter plugin (feat-bleadp) -------------------------------------
# sd-bus comes from libsystemd, which the daemon links already.  The advert
# decoders (ble_decode.h) are another branch's; until it is merged the plugin
# links the TEMPORARY adapters/ble/ble_decode_stub.c (BLE_DECODE_SRC): the
# merge replaces that variable with the real decoders.
if ENABLE_BLE
BLE_DECODE_SRC = adapters/ble/ble_decode_stub.c
adapter_LTLIBRARIES += adapters/ble.la
adapters_ble_la_SOURCES = adapters/ble/ble.c adapters/ble/ble_decode.h $(BLE_DECODE_SRC)
adapters_ble_la_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
adapters_ble_la_LDFLAGS = $(ADAPTER_LDFLAGS)
adapters_ble_la_LIBADD = $(SYSTEMD_LIBS) -lm
endif
EXTRA_DIST += adapters/ble/README.md config/ble-sensors.conf
# ---- end of the BLE adapter plugin block ----------------------------------
