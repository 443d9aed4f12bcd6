# adapters/gpio/: GPIO lines through libgpiod 1.6 (issue 13).  The chip
# calls live behind gpio_chip.h; the plugin links the libgpiod v1 backend,
# the tests a fake chip (tests/unit/gpio.mk).
if ENABLE_GPIO
adapter_LTLIBRARIES += adapters/gpio.la
adapters_gpio_la_SOURCES = adapters/gpio/gpio.c adapters/gpio/gpio_chip.h \
	adapters/gpio/gpio_chip_v1.c
adapters_gpio_la_CFLAGS = $(AM_CFLAGS) $(GPIO_CFLAGS)
adapters_gpio_la_LDFLAGS = $(ADAPTER_LDFLAGS)
adapters_gpio_la_LIBADD = $(GPIO_LIBS)
endif
EXTRA_DIST += adapters/gpio/README.md config/raspberry-pi.conf
