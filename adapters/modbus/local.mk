# adapters/modbus/: Modbus RTU and TCP over libmodbus (issue 5).
if ENABLE_MODBUS
adapter_LTLIBRARIES += adapters/modbus.la
adapters_modbus_la_SOURCES = adapters/modbus/modbus.c \
	adapters/modbus/mb_bus.c adapters/modbus/mb_bus.h \
	adapters/modbus/mb_codec.c adapters/modbus/mb_codec.h \
	adapters/modbus/mb_fw.c adapters/modbus/mb_fw.h \
	adapters/modbus/mb_plan.c adapters/modbus/mb_plan.h
adapters_modbus_la_CFLAGS = $(AM_CFLAGS) $(MODBUS_CFLAGS)
adapters_modbus_la_LDFLAGS = $(ADAPTER_LDFLAGS)
adapters_modbus_la_LIBADD = $(MODBUS_LIBS) -lpthread -lm
endif
EXTRA_DIST += adapters/modbus/README.md config/modbus-energy-meter.conf \
	config/modbus-thermostat.conf
