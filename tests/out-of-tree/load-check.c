/* load-check DIR NAME: load DIR/NAME.so with the daemon's loader and a
 * minimal host, then unload it.  Exit 0 when it loaded; the loader's own
 * log line says why when it did not. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "gatewayd/loader.h"

static void host_log(struct gwd_device *dev, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void host_log(struct gwd_device *dev, int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int no_int(const struct gwd_cfg *n, const char *key, int64_t *out)
{
	return -ENOENT;
}

static int no_double(const struct gwd_cfg *n, const char *key, double *out)
{
	return -ENOENT;
}

static int no_bool(const struct gwd_cfg *n, const char *key, bool *out)
{
	return -ENOENT;
}

static int no_string(const struct gwd_cfg *n, const char *key, const char **out)
{
	return -ENOENT;
}

static int cfg_err(const struct gwd_cfg *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_err(const struct gwd_cfg *n, const char *key, const char *fmt, ...)
{
	return -EINVAL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Services this check never needs to run: present but refusing. */
static int no_timer(void (*cb)(void *ud), void *ud, struct gwd_timer **out)
{
	return -ENOTSUP;
}

static const struct gwd_host host = {
	.size = sizeof(struct gwd_host),
	.abi_major = GWD_ADAPTER_ABI_MAJOR,
	.abi_minor = GWD_ADAPTER_ABI_MINOR,
	.log = host_log,
	.cfg_int = no_int,
	.cfg_double = no_double,
	.cfg_bool = no_bool,
	.cfg_string = no_string,
	.cfg_error = cfg_err,
	.timer_new = no_timer,
	.now_ms = now_ms,
};

int main(int argc, char **argv)
{
	struct gw_adapter *a;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DIR NAME\n", argv[0]);
		return 2;
	}
	r = loader_open(argv[1], argv[2], &host, &a);
	if (r < 0)
		return 1;
	printf("%s %s\n", loader_name(a), loader_version(a));
	loader_close(a);
	return 0;
}
