# adapters/sysfs/: kernel sensors (IIO, hwmon, 1-Wire, thermal zones) through
# sysfs (issue 13).  No dependency beyond libc and pthreads.
if ENABLE_SYSFS
adapter_LTLIBRARIES += adapters/sysfs.la
adapters_sysfs_la_SOURCES = adapters/sysfs/sysfs.c \
	adapters/sysfs/sf_read.c adapters/sysfs/sf_read.h \
	adapters/common/gw_health.c adapters/common/gw_health.h \
	adapters/common/gw_cycle.c adapters/common/gw_cycle.h
adapters_sysfs_la_LDFLAGS = $(ADAPTER_LDFLAGS)
adapters_sysfs_la_LIBADD = -lpthread -lm
endif
EXTRA_DIST += adapters/sysfs/README.md config/sysfs-sensors.conf
