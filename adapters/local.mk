# adapters/: one plugin per folder.  Every adapter is built as adapters/NAME.la
# so that all of them land in adapters/.libs/ in the build tree, which tests
# and the demo use as the adapter directory.
ADAPTER_LDFLAGS = -module -avoid-version -shared -Wl,--no-undefined

if ENABLE_SIM
adapter_LTLIBRARIES += adapters/sim.la
adapters_sim_la_SOURCES = adapters/sim/sim.c adapters/sim/sim_model.c adapters/sim/sim_model.h
adapters_sim_la_LDFLAGS = $(ADAPTER_LDFLAGS)
adapters_sim_la_LIBADD = -lm
endif
EXTRA_DIST += adapters/sim/README.md

include adapters/modbus/local.mk
include adapters/gpio/local.mk
include adapters/sysfs/local.mk
include adapters/i2c/local.mk
include adapters/ble/local.mk
