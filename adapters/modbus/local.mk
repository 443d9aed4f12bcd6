# adapters/modbus/: Modbus RTU and TCP over libmodbus (issue 5, in progress).
if ENABLE_MODBUS
endif
