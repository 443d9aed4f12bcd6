/* The gpio adapter's view of the GPIO character device: the few calls it
 * needs, behind one table, so that the libgpiod version in use is one file
 * (gpio_chip_v1.c: libgpiod 1.6, API v1) and tests link a fake chip
 * (tests/unit/gpio_chip_fake.c) instead.
 *
 * Exactly one backend is linked into a build of the adapter; it defines
 * gpio_backend.  Every call is non-blocking (ioctls on the chip's fd, reads
 * of an event fd the loop said is readable).  Errors are negative errnos:
 * -ENOENT for a missing chip or line, -EBUSY for a line another program
 * holds.
 */
#ifndef GPIO_CHIP_H
#define GPIO_CHIP_H

#include <stddef.h>
#include <stdint.h>

struct gpio_chip; /* an open chip; backend-defined */
struct gpio_line; /* a requested line; backend-defined */

enum gpio_bias {
	GPIO_BIAS_AS_IS = 0, /* leave the line's bias as the firmware set it */
	GPIO_BIAS_DISABLE,
	GPIO_BIAS_PULL_UP,
	GPIO_BIAS_PULL_DOWN,
};

/* One edge seen by the kernel.  Timestamps are on one monotonic clock of
 * the backend's; only differences between them are meaningful. */
struct gpio_event {
	uint64_t ts_ns;
	int level; /* the physical level after the edge: 1 rising, 0 falling */
};

struct gpio_backend {
	const char *name;
	/* spec: a path ("/dev/gpiochip0") when it starts with '/', else the
	 * chip's label ("pinctrl-bcm2711").  Taken by *out on success. */
	int (*chip_open)(const char *spec, struct gpio_chip **out);
	void (*chip_close)(struct gpio_chip *c);
	/* Offset of the line called name; -ENOENT when the chip has none. */
	int (*line_find)(struct gpio_chip *c, const char *name, unsigned *offset);
	unsigned (*num_lines)(struct gpio_chip *c);
	/* The consumer of a line another program holds, "" when unknown;
	 * borrowed until the next call. */
	const char *(*line_consumer)(struct gpio_chip *c, unsigned offset);
	/* An input with edge events on both edges; *event_fd (borrowed, valid
	 * until release) becomes readable when events wait. */
	int (*request_input)(struct gpio_chip *c, unsigned offset, const char *consumer,
			     enum gpio_bias bias, struct gpio_line **out, int *event_fd);
	/* An output driven at value (physical level) from the start. */
	int (*request_output)(struct gpio_chip *c, unsigned offset, const char *consumer,
			      int value, struct gpio_line **out);
	/* Up to max waiting events, oldest first: their count, 0 when none
	 * waits, or a negative errno. */
	int (*read_events)(struct gpio_line *l, struct gpio_event *ev, size_t max);
	/* Physical level 0/1, or a negative errno. */
	int (*get_value)(struct gpio_line *l);
	int (*set_value)(struct gpio_line *l, int value);
	void (*release)(struct gpio_line *l);
};

extern const struct gpio_backend gpio_backend;

#endif
