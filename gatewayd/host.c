#include "host.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "config.h"
#include "device.h"
#include "loader.h"
#include "log.h"

static struct gw_loop *bound_loop;
static int (*proposer)(void *ctx, const struct gwd_device_proposal *p);
static void *proposer_ctx;

void host_bind_loop(struct gw_loop *loop)
{
	bound_loop = loop;
}

void host_bind_proposer(int (*fn)(void *ctx, const struct gwd_device_proposal *p), void *ctx)
{
	proposer = fn;
	proposer_ctx = ctx;
}

static int host_propose_device(const struct gwd_device_proposal *p)
{
	if (!p || p->size < offsetof(struct gwd_device_proposal, n_settings) + sizeof(size_t))
		return -EINVAL;
	if (!proposer)
		return -ENOSYS;
	return proposer(proposer_ctx, p);
}

static void host_log(struct gwd_device *dev, int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(priority, dev ? device_name(dev) : NULL, fmt, ap);
	va_end(ap);
}

static int host_cfg_error(const struct gwd_cfg *node, const char *key, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfg_node_verror(node, key, fmt, ap);
	va_end(ap);
	return r;
}

static int host_watch_fd(int fd, uint32_t events, void (*cb)(int, uint32_t, void *), void *ud,
			 struct gwd_watch **out)
{
	if (!bound_loop)
		return -ENOTSUP;
	return loop_watch_fd(bound_loop, fd, events, cb, ud, (struct gw_watch **)out);
}

static int host_watch_set_events(struct gwd_watch *w, uint32_t events)
{
	return loop_watch_events((struct gw_watch *)w, events);
}

static void host_unwatch_fd(struct gwd_watch *w)
{
	loop_unwatch_fd((struct gw_watch *)w);
}

/* Adapter timers wrap our intrusive heap timers. */
struct gwd_timer {
	struct gw_timer t;
	void (*cb)(void *ud);
	void *ud;
};

static void host_timer_fire(struct gw_timer *t, void *ud)
{
	struct gwd_timer *ht = ud;

	ht->cb(ht->ud);
}

static int host_timer_new(void (*cb)(void *), void *ud, struct gwd_timer **out)
{
	struct gwd_timer *t;

	if (!bound_loop)
		return -ENOTSUP;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cb = cb;
	t->ud = ud;
	gw_timer_init(&t->t, loop_timers(bound_loop), host_timer_fire, t);
	*out = t;
	return 0;
}

static void host_timer_arm(struct gwd_timer *t, uint64_t due_ms)
{
	gw_timer_arm(&t->t, due_ms);
}

static void host_timer_disarm(struct gwd_timer *t)
{
	gw_timer_disarm(&t->t);
}

static void host_timer_free(struct gwd_timer *t)
{
	if (!t)
		return;
	gw_timer_disarm(&t->t);
	free(t);
}

static int host_post(void (*fn)(void *), void *ud)
{
	if (!bound_loop)
		return -ENOTSUP;
	return loop_post(bound_loop, fn, ud);
}

struct device_owner {
	const void *dev, *ctx;
};

static bool posted_for_device(void (*fn)(void *), void *ud, void *ctx)
{
	const struct device_owner *o = ctx;

	return ud && (ud == o->dev || ud == o->ctx);
}

void host_device_gone(const struct gwd_device *dev, const void *device_ctx)
{
	struct device_owner o = {dev, device_ctx};
	size_t n;

	if (!bound_loop)
		return;
	n = loop_drop_posts(bound_loop, posted_for_device, &o);
	if (n)
		log_debug(device_name(dev), "%zu call(s) its adapter posted dropped: the device "
			  "is gone", n);
}

static bool posted_by_adapter(void (*fn)(void *), void *ud, void *ctx)
{
	return loader_has_code(ctx, (const void *)fn);
}

void host_adapter_unloading(const struct gw_adapter *a)
{
	size_t n;

	if (!bound_loop)
		return;
	n = loop_drop_posts(bound_loop, posted_by_adapter, (void *)a);
	if (n)
		log_warn(NULL, "adapter %s: %zu posted call(s) dropped: it is being unloaded",
			 loader_name(a), n);
}

static void host_fw_progress(struct gwd_device *dev, unsigned percent)
{
	device_fw_progress(dev, percent);
}

static const struct gwd_host table = {
	.size = sizeof(struct gwd_host),
	.abi_major = GWD_ADAPTER_ABI_MAJOR,
	.abi_minor = GWD_ADAPTER_ABI_MINOR,
	.log = host_log,
	.cfg_int = cfg_node_int,
	.cfg_double = cfg_node_double,
	.cfg_bool = cfg_node_bool,
	.cfg_string = cfg_node_string,
	.cfg_error = host_cfg_error,
	.watch_fd = host_watch_fd,
	.unwatch_fd = host_unwatch_fd,
	.timer_new = host_timer_new,
	.timer_arm = host_timer_arm,
	.timer_disarm = host_timer_disarm,
	.timer_free = host_timer_free,
	.now_ms = clock_now_ms,
	.post = host_post,
	.report = device_report,
	.report_error = device_report_error,
	.complete = device_complete,
	.fw_progress = host_fw_progress,
	.device_name = device_name,
	.set_identity = device_set_identity,
	.set_state = device_set_state,
	.state_dir = device_state_dir,
	.propose_device = host_propose_device,
	.watch_set_events = host_watch_set_events,
};

const struct gwd_host *host_table(void)
{
	return &table;
}
