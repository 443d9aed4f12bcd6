# adapters/i2c/: chips without a kernel driver on /dev/i2c-N (issue 13).
# No dependency beyond the kernel's headers; the register codec is the
# modbus adapter's (pure code, no libmodbus).  The bus calls live behind
# i2c_bus.h: the plugin links the ioctl backend, the tests a fake
# (tests/i2c.mk).
I2C_CORE_SOURCES = adapters/i2c/i2c.c adapters/i2c/i2c_bus.h \
	adapters/i2c/i2c_chips.c adapters/i2c/i2c_chips.h \
	adapters/common/gw_health.c adapters/common/gw_health.h \
	adapters/common/gw_cycle.c adapters/common/gw_cycle.h \
	adapters/modbus/mb_codec.c adapters/modbus/mb_codec.h
if ENABLE_I2C
adapter_LTLIBRARIES += adapters/i2c.la
adapters_i2c_la_SOURCES = $(I2C_CORE_SOURCES) adapters/i2c/i2c_bus_linux.c
adapters_i2c_la_LDFLAGS = $(ADAPTER_LDFLAGS)
adapters_i2c_la_LIBADD = -lpthread -lm
endif
EXTRA_DIST += adapters/i2c/README.md
