#include "log.h"

#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>

static int max_level = LOG_INFO;
static bool to_journal;

/* Per-device levels (gatewayctl log-level LEVEL NAME): a short table, set on
 * the loop thread and read by any thread under its lock.  Looked at only
 * while it holds something, and only for a message above the global level
 * or from a device with an entry. */
#define LOG_DEVICE_LEVELS 64

struct device_level {
	char name[64];
	int level;
};

static struct device_level dev_levels[LOG_DEVICE_LEVELS];
static int n_dev_levels;   /* read without the lock: only a hint */
static int max_dev_level = -1; /* the highest of dev_levels */
static pthread_mutex_t levels_lock = PTHREAD_MUTEX_INITIALIZER;

/* Rate limit: the same message (its text and device) at most once per
 * window; what was held back is counted and said with the next one.  A
 * small direct-mapped table keyed by a hash of the text: a collision only
 * means less suppression, never a message lost for good. */
#define RATELIMIT_WINDOW_S 10
#define RATELIMIT_SLOTS 256

struct ratelimit_slot {
	uint64_t hash; /* of device and text */
	uint64_t last; /* seconds on the monotonic clock */
	unsigned suppressed;
};

static struct ratelimit_slot slots[RATELIMIT_SLOTS];
/* Helper threads (the state file writer) log too. */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* True when the message may go out now; *held says how many were held back
 * since the last one that went out. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

static bool ratelimit_pass(const char *device, const char *msg, unsigned *held)
{
	uint64_t h = fnv1a(fnv1a(14695981039346656037u, device ? device : ""), msg);
	struct ratelimit_slot *s = &slots[h % RATELIMIT_SLOTS];
	uint64_t now = clock_now_ms() / 1000u;

	*held = 0;
	pthread_mutex_lock(&slots_lock);
	if (s->hash == h) {
		if (now - s->last < RATELIMIT_WINDOW_S) {
			s->suppressed++;
			pthread_mutex_unlock(&slots_lock);
			return false;
		}
		*held = s->suppressed;
	}
	s->hash = h;
	s->last = now;
	s->suppressed = 0;
	pthread_mutex_unlock(&slots_lock);
	return true;
}

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

int log_set_device_level(const char *device, int max_priority)
{
	int r = 0, i;

	if (strlen(device) >= sizeof(dev_levels[0].name))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&levels_lock);
	for (i = 0; i < n_dev_levels; i++)
		if (strcmp(dev_levels[i].name, device) == 0)
			break;
	if (max_priority < 0) {
		if (i < n_dev_levels) {
			dev_levels[i] = dev_levels[n_dev_levels - 1];
			__atomic_store_n(&n_dev_levels, n_dev_levels - 1, __ATOMIC_RELAXED);
		}
	} else if (i < n_dev_levels) {
		dev_levels[i].level = max_priority;
	} else if (n_dev_levels < LOG_DEVICE_LEVELS) {
		snprintf(dev_levels[i].name, sizeof(dev_levels[i].name), "%s", device);
		dev_levels[i].level = max_priority;
		__atomic_store_n(&n_dev_levels, n_dev_levels + 1, __ATOMIC_RELAXED);
	} else {
		r = -ENOSPC;
	}
	{
		int max = -1;
		for (i = 0; i < n_dev_levels; i++)
			if (dev_levels[i].level > max)
				max = dev_levels[i].level;
		__atomic_store_n(&max_dev_level, max, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&levels_lock);
	return r;
}

int log_get_device_level(const char *device)
{
	int level = -1;

	pthread_mutex_lock(&levels_lock);
	for (int i = 0; i < n_dev_levels; i++)
		if (strcmp(dev_levels[i].name, device) == 0)
			level = dev_levels[i].level;
	pthread_mutex_unlock(&levels_lock);
	return level;
}

/* The level in force for a message of this device. */
static bool level_passes(int priority, const char *device)
{
	int level;

	if (!device || !__atomic_load_n(&n_dev_levels, __ATOMIC_RELAXED))
		return priority <= max_level;
	level = log_get_device_level(device);
	return priority <= (level >= 0 ? level : max_level);
}

void log_vmsg(int priority, const char *device, const char *fmt, va_list ap)
{
	static const char *const names[] = {"emerg", "alert", "crit", "error",
					    "warning", "notice", "info", "debug"};
	char msg[1024];
	unsigned held;
	int len;

	if (priority > max_level && priority > __atomic_load_n(&max_dev_level, __ATOMIC_RELAXED))
		return;
	if (!level_passes(priority, device))
		return;
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Debug output is for a person watching: never held back. */
	if (priority < LOG_DEBUG && !ratelimit_pass(device, msg, &held))
		return;
	if (priority < LOG_DEBUG && held && len > 0 && (size_t)len < sizeof(msg))
		snprintf(msg + len, sizeof(msg) - (size_t)len,
			 " (%u similar message(s) held back)", held);
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
