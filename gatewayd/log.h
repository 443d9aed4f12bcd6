/* Logging to stderr or journald, with the device's name in each line. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_AUTO = 0, /* journald when stderr is connected to it, else stderr */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
};

void log_setup(enum log_target target, int max_priority);
void log_set_level(int max_priority);
int log_get_level(void);
/* A device's own level, which wins over the global one for its messages
 * (max_priority < 0: remove it).  0, -ENOSPC (64 devices have one) or
 * -ENAMETOOLONG.  Thread-safe. */
int log_set_device_level(const char *device, int max_priority);
/* The device's own level, or -1 when it follows the global one. */
int log_get_device_level(const char *device);

/* device may be NULL.  Lines are "<device>: message" on stderr; under
 * journald the device also goes into the GATEWAYD_DEVICE field. */
void log_msg(int priority, const char *device, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(int priority, const char *device, const char *fmt, va_list ap);

#define log_err(dev, ...) log_msg(LOG_ERR, dev, __VA_ARGS__)
#define log_warn(dev, ...) log_msg(LOG_WARNING, dev, __VA_ARGS__)
#define log_notice(dev, ...) log_msg(LOG_NOTICE, dev, __VA_ARGS__)
#define log_info(dev, ...) log_msg(LOG_INFO, dev, __VA_ARGS__)
#define log_debug(dev, ...) log_msg(LOG_DEBUG, dev, __VA_ARGS__)

#endif
