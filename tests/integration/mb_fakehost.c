/* The fake host of the modbus adapter's tests (test_modbus_adapter,
 * test_modbus_fw): config from key/value tables, a poll() loop with fd
 * watches and timers on the monotonic clock, and a record of what the
 * adapter told the host. */
#include "mb_fakehost.h"
#include "harness.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

static struct kv *kv_find(const struct gwd_cfg *n, const char *key)
{
	for (struct kv *k = n->kv; k->type != KV_END; k++)
		if (strcmp(k->key, key) == 0)
			return k;
	return NULL;
}

static int f_cfg_int(const struct gwd_cfg *n, const char *key, int64_t *out)
{
	struct kv *k = kv_find(n, key);

	if (!k)
		return -ENOENT;
	if (k->type != KV_INT)
		return -EINVAL;
	*out = k->i;
	return 0;
}

static int f_cfg_double(const struct gwd_cfg *n, const char *key, double *out)
{
	struct kv *k = kv_find(n, key);

	if (!k)
		return -ENOENT;
	if (k->type != KV_DOUBLE && k->type != KV_INT)
		return -EINVAL;
	*out = k->type == KV_INT ? (double)k->i : k->d;
	return 0;
}

static int f_cfg_bool(const struct gwd_cfg *n, const char *key, bool *out)
{
	struct kv *k = kv_find(n, key);

	if (!k)
		return -ENOENT;
	if (k->type != KV_BOOL)
		return -EINVAL;
	*out = k->b;
	return 0;
}

static int f_cfg_string(const struct gwd_cfg *n, const char *key, const char **out)
{
	struct kv *k = kv_find(n, key);

	if (!k)
		return -ENOENT;
	if (k->type != KV_STRING)
		return -EINVAL;
	*out = k->s;
	return 0;
}

static int f_cfg_error(const struct gwd_cfg *n, const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("config error at %s: ", key ? key : "(group)");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return -EINVAL;
}

/* ---- fake loop: one fd watch, a few timers ------------------------------------------ */

struct gwd_watch watches[4];
struct gwd_timer timers[16];

uint64_t f_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void f_log(struct gwd_device *dev, int prio, const char *fmt, ...)
{
	va_list ap;

	printf("[%d] %s: ", prio, dev ? dev->name : "-");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int f_watch_fd(int fd, uint32_t events, void (*cb)(int, uint32_t, void *), void *ud,
		      struct gwd_watch **out)
{
	for (int i = 0; i < 4; i++)
		if (!watches[i].used) {
			watches[i] = (struct gwd_watch){fd, cb, ud, true};
			*out = &watches[i];
			return 0;
		}
	return -ENOSPC;
}

static void f_unwatch_fd(struct gwd_watch *w)
{
	w->used = false;
}

static int f_timer_new(void (*cb)(void *), void *ud, struct gwd_timer **out)
{
	for (int i = 0; i < 16; i++)
		if (!timers[i].used) {
			timers[i] = (struct gwd_timer){.cb = cb, .ud = ud, .used = true};
			*out = &timers[i];
			return 0;
		}
	return -ENOSPC;
}

static void f_timer_arm(struct gwd_timer *t, uint64_t due)
{
	t->due = due;
	t->armed = true;
}

static void f_timer_disarm(struct gwd_timer *t)
{
	t->armed = false;
}

static void f_timer_free(struct gwd_timer *t)
{
	t->used = t->armed = false;
}

static int f_post(void (*fn)(void *), void *ud)
{
	return -ENOSYS; /* the adapter must not need it */
}

/* What the adapter told the host. */
struct gwd_value last_value[16];
char last_str[16][64];
int reports[16];
int completions, last_status;
bool in_op; /* set while an op runs: complete() then is a re-entrancy bug */
int down_state = -1;
char identity[4][64];

void (*fh_report_hook)(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v);
int fw_progress_calls;

static void f_fw_progress(struct gwd_device *dev, unsigned percent)
{
	fw_progress_calls++;
}

static void f_report(struct gwd_device *dev, gwd_channel_t ch, const struct gwd_value *v)
{
	if (fh_report_hook)
		fh_report_hook(dev, ch, v);
	if (ch >= 16)
		return;
	last_value[ch] = *v;
	if (v->type == GWD_V_STRING) {
		snprintf(last_str[ch], sizeof(last_str[ch]), "%.*s", (int)v->v.bytes.len,
			 (const char *)v->v.bytes.ptr);
		last_value[ch].v.bytes.ptr = last_str[ch];
	}
	reports[ch]++;
}

static void f_report_error(struct gwd_device *dev, gwd_channel_t ch, int err)
{
}

struct gwd_op *completed_op[256];
int completed_status[256];

static void f_complete(struct gwd_op *op, int status, const struct gwd_value *v)
{
	assert_false(in_op);
	completed_op[completions % 256] = op;
	completed_status[completions % 256] = status;
	completions++;
	last_status = status;
}

static const char *f_device_name(const struct gwd_device *dev)
{
	return dev->name;
}

static void f_set_identity(struct gwd_device *dev, enum gwd_identity f, const char *v)
{
	snprintf(identity[f], sizeof(identity[f]), "%s", v);
}

static void f_set_state(struct gwd_device *dev, enum gwd_device_state s, int cause)
{
	down_state = s == GWD_STATE_DOWN;
}

const struct gwd_host fh_host = {
	.size = sizeof(struct gwd_host),
	.abi_major = GWD_ADAPTER_ABI_MAJOR,
	.abi_minor = GWD_ADAPTER_ABI_MINOR,
	.log = f_log,
	.cfg_int = f_cfg_int,
	.cfg_double = f_cfg_double,
	.cfg_bool = f_cfg_bool,
	.cfg_string = f_cfg_string,
	.cfg_error = f_cfg_error,
	.watch_fd = f_watch_fd,
	.unwatch_fd = f_unwatch_fd,
	.timer_new = f_timer_new,
	.timer_arm = f_timer_arm,
	.timer_disarm = f_timer_disarm,
	.timer_free = f_timer_free,
	.now_ms = f_now_ms,
	.post = f_post,
	.report = f_report,
	.report_error = f_report_error,
	.complete = f_complete,
	.fw_progress = f_fw_progress,
	.device_name = f_device_name,
	.set_identity = f_set_identity,
	.set_state = f_set_state,
};

/* Run the loop (fd watches and timers) until done(arg) or the deadline. */
bool run_until(bool (*done)(void *arg), void *arg, int timeout_ms)
{
	uint64_t deadline = f_now_ms() + (uint64_t)timeout_ms;

	while (!done(arg)) {
		uint64_t now = f_now_ms(), next = deadline;
		struct pollfd pfd[4];
		struct gwd_watch *ws[4];
		int nfd = 0;

		if (now >= deadline)
			return false;
		for (int i = 0; i < 16; i++)
			if (timers[i].used && timers[i].armed && timers[i].due < next)
				next = timers[i].due;
		for (int i = 0; i < 4; i++)
			if (watches[i].used) {
				pfd[nfd] = (struct pollfd){.fd = watches[i].fd, .events = POLLIN};
				ws[nfd++] = &watches[i];
			}
		poll(pfd, (nfds_t)nfd, next > now ? (int)(next - now) : 0);
		for (int i = 0; i < nfd; i++)
			if (pfd[i].revents && ws[i]->used)
				ws[i]->cb(ws[i]->fd, (uint32_t)pfd[i].revents, ws[i]->ud);
		now = f_now_ms();
		for (int i = 0; i < 16; i++)
			if (timers[i].used && timers[i].armed && timers[i].due <= now) {
				timers[i].armed = false;
				timers[i].cb(timers[i].ud);
			}
	}
	return true;
}

static bool enough_completions(void *arg)
{
	return completions >= *(int *)arg;
}

/* Run the loop until `completions` reaches n or the deadline passes. */
bool run_until_completions(int n, int timeout_ms)
{
	return run_until(enough_completions, &n, timeout_ms);
}

void fh_slave(struct proc *p, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	h_send(p, "%s\n", line);
	json_decref(h_wait_event(p, "ok", NULL, NULL, H_TIMEOUT_MS));
}
