# tests/modbus.mk: the modbus adapter's tests (issue 5).
if ENABLE_MODBUS
# The codec and the planner are pure: compiled straight into their tests.
check_PROGRAMS += tests/unit/test_modbus_codec
tests_unit_test_modbus_codec_SOURCES = tests/unit/test_modbus_codec.c \
	adapters/modbus/mb_codec.c adapters/modbus/mb_codec.h
tests_unit_test_modbus_codec_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_modbus_codec_LDADD = $(TEST_LIBS) -lm
TESTS += tests/unit/test_modbus_codec

check_PROGRAMS += tests/unit/test_modbus_plan
tests_unit_test_modbus_plan_SOURCES = tests/unit/test_modbus_plan.c \
	adapters/modbus/mb_plan.c adapters/modbus/mb_plan.h \
	adapters/modbus/mb_codec.c adapters/modbus/mb_codec.h
tests_unit_test_modbus_plan_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_modbus_plan_LDADD = $(TEST_LIBS) -lm
TESTS += tests/unit/test_modbus_plan

check_PROGRAMS += tests/unit/test_modbus_fw
tests_unit_test_modbus_fw_SOURCES = tests/unit/test_modbus_fw.c \
	adapters/modbus/mb_fw.c adapters/modbus/mb_fw.h
tests_unit_test_modbus_fw_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_modbus_fw_LDADD = $(TEST_LIBS) -lm
TESTS += tests/unit/test_modbus_fw

# A real libmodbus slave (TCP on loopback, RTU on a pty), started by PID.
check_PROGRAMS += tests/integration/modbus_slave
tests_integration_modbus_slave_SOURCES = tests/integration/modbus_slave.c
tests_integration_modbus_slave_CFLAGS = $(AM_CFLAGS) $(MODBUS_CFLAGS)
tests_integration_modbus_slave_LDADD = $(MODBUS_LIBS)

check_PROGRAMS += tests/integration/test_modbus
tests_integration_test_modbus_SOURCES = tests/integration/test_modbus.c \
	tests/integration/harness.c tests/integration/harness.h
tests_integration_test_modbus_CFLAGS = $(TEST_CFLAGS)
tests_integration_test_modbus_LDADD = $(JANSSON_LIBS) $(TEST_LIBS) -lm
TESTS += tests/integration/test_modbus
endif

# The adapter's sources compiled into a test that drives them through a
# fake host (writes are not routed from LwM2M yet).
if ENABLE_MODBUS
check_PROGRAMS += tests/integration/test_modbus_adapter
tests_integration_test_modbus_adapter_SOURCES = tests/integration/test_modbus_adapter.c \
	tests/integration/mb_fakehost.c tests/integration/mb_fakehost.h \
	tests/integration/harness.c tests/integration/harness.h \
	adapters/modbus/modbus.c adapters/modbus/mb_bus.c adapters/modbus/mb_bus.h \
	adapters/modbus/mb_codec.c adapters/modbus/mb_codec.h \
	adapters/modbus/mb_fw.c adapters/modbus/mb_fw.h \
	adapters/modbus/mb_plan.c adapters/modbus/mb_plan.h
tests_integration_test_modbus_adapter_CFLAGS = $(TEST_CFLAGS) $(MODBUS_CFLAGS)
tests_integration_test_modbus_adapter_LDADD = $(JANSSON_LIBS) $(TEST_LIBS) $(MODBUS_LIBS) \
	-lpthread -lm
TESTS += tests/integration/test_modbus_adapter

# Firmware delivery (issue 11): the adapter's fw ops against the slave's
# FC 0x15/0x14 and register window, a neighbour polled on the same bus.
check_PROGRAMS += tests/integration/test_modbus_fw
tests_integration_test_modbus_fw_SOURCES = tests/integration/test_modbus_fw.c \
	tests/integration/mb_fakehost.c tests/integration/mb_fakehost.h \
	tests/integration/harness.c tests/integration/harness.h \
	adapters/modbus/modbus.c adapters/modbus/mb_bus.c adapters/modbus/mb_bus.h \
	adapters/modbus/mb_codec.c adapters/modbus/mb_codec.h \
	adapters/modbus/mb_fw.c adapters/modbus/mb_fw.h \
	adapters/modbus/mb_plan.c adapters/modbus/mb_plan.h
tests_integration_test_modbus_fw_CFLAGS = $(TEST_CFLAGS) $(MODBUS_CFLAGS)
tests_integration_test_modbus_fw_LDADD = $(JANSSON_LIBS) $(TEST_LIBS) $(MODBUS_LIBS) \
	-lpthread -lm
TESTS += tests/integration/test_modbus_fw
endif
