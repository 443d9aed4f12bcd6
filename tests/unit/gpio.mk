# tests/unit/gpio.mk: the gpio adapter through the fake chip of
# tests/fixtures/gpio (its sources compiled straight into the test, as
# test_sim does with sim's), and through a real gpio-sim chip where the
# kernel has one (skipped otherwise).
if ENABLE_GPIO
check_PROGRAMS += tests/unit/test_gpio
tests_unit_test_gpio_SOURCES = tests/unit/test_gpio.c adapters/gpio/gpio.c \
	adapters/gpio/gpio_chip.h tests/fixtures/gpio/gpio_chip_fake.c \
	tests/fixtures/gpio/gpio_chip_fake.h
tests_unit_test_gpio_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_gpio_LDADD = $(TEST_LIBS) -lpthread
TESTS += tests/unit/test_gpio
endif
