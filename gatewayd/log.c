#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>
#include <stdlib.h>

static int max_level = LOG_INFO;
static bool to_journal;

static bool stderr_is_journal(void)
{
	/* systemd sets JOURNAL_STREAM to "dev:ino" of the stream it connected. */
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(enum log_target target, int max_priority)
{
	max_level = max_priority;
	to_journal = target == LOG_TARGET_JOURNAL ||
		     (target == LOG_TARGET_AUTO && stderr_is_journal());
}

void log_set_level(int max_priority)
{
	max_level = max_priority;
}

int log_get_level(void)
{
	return max_level;
}

void log_vmsg(int priority, const char *device, const char *fmt, va_list ap)
{
	static const char *const names[] = {"emerg", "alert", "crit", "error",
					    "warning", "notice", "info", "debug"};
	char msg[1024];

	if (priority > max_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (to_journal) {
		if (device)
			sd_journal_send("MESSAGE=%s: %s", device, msg, "PRIORITY=%d", priority,
					"GATEWAYD_DEVICE=%s", device, "SYSLOG_IDENTIFIER=gatewayd",
					NULL);
		else
			sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priority,
					"SYSLOG_IDENTIFIER=gatewayd", NULL);
		return;
	}
	if (device)
		fprintf(stderr, "gatewayd[%s] %s: %s\n", names[priority & 7], device, msg);
	else
		fprintf(stderr, "gatewayd[%s] %s\n", names[priority & 7], msg);
}

void log_msg(int priority, const char *device, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(priority, device, fmt, ap);
	va_end(ap);
}
