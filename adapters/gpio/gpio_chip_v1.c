/* The gpio adapter's chip backend on libgpiod 1.6 (API v1, as Debian 12 and
 * Raspberry Pi OS bookworm ship it).  The only file that includes gpiod.h:
 * a port to libgpiod v2 replaces this file and nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <stdlib.h>

#include "gpio_chip.h"

struct gpio_line {
	struct gpiod_line *line;
};

static int v1_chip_open(const char *spec, struct gpio_chip **out)
{
	struct gpiod_chip *c;

	errno = 0;
	c = spec[0] == '/' ? gpiod_chip_open(spec) : gpiod_chip_open_by_label(spec);
	if (!c)
		return errno ? -errno : -ENOENT;
	*out = (struct gpio_chip *)c;
	return 0;
}

static void v1_chip_close(struct gpio_chip *c)
{
	gpiod_chip_close((struct gpiod_chip *)c);
}

static int v1_line_find(struct gpio_chip *c, const char *name, unsigned *offset)
{
	struct gpiod_line *l;

	errno = 0;
	l = gpiod_chip_find_line((struct gpiod_chip *)c, name);
	if (!l)
		return errno && errno != ENOENT ? -errno : -ENOENT;
	*offset = gpiod_line_offset(l);
	return 0;
}

static unsigned v1_num_lines(struct gpio_chip *c)
{
	return gpiod_chip_num_lines((struct gpiod_chip *)c);
}

static const char *v1_line_consumer(struct gpio_chip *c, unsigned offset)
{
	struct gpiod_line *l = gpiod_chip_get_line((struct gpiod_chip *)c, offset);
	const char *s;

	if (!l || gpiod_line_update(l) < 0)
		return "";
	s = gpiod_line_consumer(l);
	return s ? s : "";
}

static int bias_flags(enum gpio_bias bias)
{
	switch (bias) {
	case GPIO_BIAS_DISABLE:
		return GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
	case GPIO_BIAS_PULL_UP:
		return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
	case GPIO_BIAS_PULL_DOWN:
		return GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
	case GPIO_BIAS_AS_IS:
		break;
	}
	return 0;
}

static int request(struct gpio_chip *c, unsigned offset, const char *consumer, int type,
		   int flags, int value, struct gpio_line **out)
{
	struct gpiod_line_request_config rc = {.consumer = consumer, .request_type = type,
					       .flags = flags};
	struct gpiod_line *l = gpiod_chip_get_line((struct gpiod_chip *)c, offset);
	struct gpio_line *gl;

	if (!l)
		return -ENOENT;
	gl = calloc(1, sizeof(*gl));
	if (!gl)
		return -ENOMEM;
	errno = 0;
	if (gpiod_line_request(l, &rc, value) < 0) {
		int e = errno ? errno : EIO;

		free(gl);
		return -e;
	}
	gl->line = l;
	*out = gl;
	return 0;
}

static int v1_request_input(struct gpio_chip *c, unsigned offset, const char *consumer,
			    enum gpio_bias bias, struct gpio_line **out, int *event_fd)
{
	int r, fd, fl;

	r = request(c, offset, consumer, GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES, bias_flags(bias), 0, out);
	if (r < 0)
		return r;
	fd = gpiod_line_event_get_fd((*out)->line);
	/* The loop reads only when told the fd is readable; never wait. */
	fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		gpiod_line_release((*out)->line);
		free(*out);
		return -EIO;
	}
	*event_fd = fd;
	return 0;
}

static int v1_request_output(struct gpio_chip *c, unsigned offset, const char *consumer,
			     int value, struct gpio_line **out)
{
	return request(c, offset, consumer, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT, 0, value, out);
}

static int v1_read_events(struct gpio_line *l, struct gpio_event *ev, size_t max)
{
	struct gpiod_line_event buf[16];
	int n;

	if (max > 16)
		max = 16;
	errno = 0;
	n = gpiod_line_event_read_multiple(l->line, buf, (unsigned)max);
	if (n < 0)
		return errno == EAGAIN ? 0 : -(errno ? errno : EIO);
	for (int i = 0; i < n; i++) {
		ev[i].ts_ns = (uint64_t)buf[i].ts.tv_sec * 1000000000u + (uint64_t)buf[i].ts.tv_nsec;
		ev[i].level = buf[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
	}
	return n;
}

static int v1_get_value(struct gpio_line *l)
{
	int v;

	errno = 0;
	v = gpiod_line_get_value(l->line);
	return v < 0 ? -(errno ? errno : EIO) : v;
}

static int v1_set_value(struct gpio_line *l, int value)
{
	errno = 0;
	return gpiod_line_set_value(l->line, value) < 0 ? -(errno ? errno : EIO) : 0;
}

static void v1_release(struct gpio_line *l)
{
	gpiod_line_release(l->line);
	free(l);
}

const struct gpio_backend gpio_backend = {
	.name = "libgpiod v1",
	.chip_open = v1_chip_open,
	.chip_close = v1_chip_close,
	.line_find = v1_line_find,
	.num_lines = v1_num_lines,
	.line_consumer = v1_line_consumer,
	.request_input = v1_request_input,
	.request_output = v1_request_output,
	.read_events = v1_read_events,
	.get_value = v1_get_value,
	.set_value = v1_set_value,
	.release = v1_release,
};
