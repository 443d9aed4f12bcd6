/* An adapter built out of tree, against nothing but the installed SDK
 * (see build-and-load.sh).  One channel, "greeting", reads "hello". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gatewayd/adapter.h>

static const struct gwd_host *host;

struct hello_dev {
	struct gwd_timer *timer;
	struct gwd_op *pending; /* one read at a time */
};

static int hello_init(const struct gwd_host *h, void **ctx)
{
	host = h;
	*ctx = NULL;
	return 0;
}

static void hello_fire(void *ud)
{
	struct hello_dev *d = ud;
	struct gwd_op *op = d->pending;
	struct gwd_value v = {.type = GWD_V_STRING};

	d->pending = NULL;
	v.v.bytes.ptr = "hello";
	v.v.bytes.len = 5;
	if (op)
		host->complete(op, 0, &v);
}

static int hello_device_new(void *ctx, struct gwd_device *dev, const struct gwd_cfg *device,
			    const struct gwd_cfg *bus, void **dctx)
{
	struct hello_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	*dctx = d;
	return 0;
}

static int hello_channel_new(void *dctx, const char *channel, const struct gwd_cfg *point,
			     gwd_channel_t *out)
{
	if (strcmp(channel, "greeting") != 0)
		return host->cfg_error(point, NULL, "unknown channel \"%s\"", channel);
	*out = 0;
	return 0;
}

static int hello_device_start(void *dctx)
{
	struct hello_dev *d = dctx;

	return host->timer_new(hello_fire, d, &d->timer);
}

static void hello_device_stop(void *dctx)
{
	struct hello_dev *d = dctx;

	if (d->timer) {
		host->timer_free(d->timer);
		d->timer = NULL;
	}
	if (d->pending) {
		host->complete(d->pending, -ECANCELED, NULL);
		d->pending = NULL;
	}
}

static void hello_device_free(void *dctx)
{
	free(dctx);
}

static int hello_read(void *dctx, gwd_channel_t ch, struct gwd_op *op)
{
	struct hello_dev *d = dctx;

	if (d->pending)
		return -EBUSY;
	d->pending = op;
	host->timer_arm(d->timer, host->now_ms()); /* complete later, not in here */
	return 0;
}

static const struct gwd_adapter_ops hello_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.init = hello_init,
	.device_new = hello_device_new,
	.channel_new = hello_channel_new,
	.device_start = hello_device_start,
	.device_stop = hello_device_stop,
	.device_free = hello_device_free,
	.read = hello_read,
};

GWD_ADAPTER_DEFINE("hello", "1.0", &hello_ops);
