/* The "modbus" adapter: Modbus TCP and RTU slaves as gatewayd devices.
 *
 * Everything here runs on the loop thread.  Bus I/O runs on one worker
 * thread per physical bus (mb_bus.c); the device's poll cycle is planned once
 * (mb_plan.c) and values are decoded with mb_codec.c.  The device owns its
 * poll cycle (key `interval`) and reports every value; reads from the daemon
 * (points with `poll`) join the next cycle instead of costing requests of
 * their own.  Users' documentation, with every key: README.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd/adapter.h"
#include "mb_bus.h"
#include "mb_codec.h"
#include "mb_fw.h"
#include "mb_plan.h"

struct mb_adapter {
	const struct gwd_host *host;
	struct mb_bus *buses;
	/* Buses no device uses any more whose worker is still in a
	 * transaction: freed once it is over, at the latest by fini. */
	struct mb_bus *retired;
};

struct mb_point {
	char *name;
	enum mb_table table;
	uint16_t addr;
	struct mb_format fmt;
	bool readback;
	bool warned; /* a decode or exception problem was logged */
	/* An execute point (key execute_value): executing it writes exec_value;
	 * it is never read. */
	bool exec;
	struct gwd_value exec_value;
};

/* A read or write op waiting for its answer. */
struct mb_waiter {
	struct mb_waiter *next;
	struct gwd_op *op;
	gwd_channel_t ch;
	int status; /* for ops failed at once */
	struct mb_job *job; /* writes: the job carrying the op */
};

struct mb_dev {
	struct mb_adapter *ad;
	const struct gwd_host *host;
	struct gwd_device *dev;
	struct mb_bus *bus;

	/* config */
	uint8_t unit;
	uint32_t timeout_ms;
	uint64_t interval_ms;
	bool swap_bytes, swap_words;
	struct mb_limits lim;
	bool one_based, write_multiple;
	bool identify;
	unsigned down_after;
	uint64_t backoff_max_ms;

	struct mb_point *pt;
	size_t n_pt, cap_pt;
	struct mb_span *spans;
	struct mb_plan plan;
	struct mb_barrier *bar;
	size_t n_bar;
	bool planned;

	bool started;
	uint64_t gen; /* bumped at stop: jobs of an older generation are stale */
	struct gwd_timer *cycle_timer, *defer_timer;
	uint64_t next_cycle;
	bool cycle_busy;
	struct mb_waiter *waiting;   /* reads for the next cycle */
	struct mb_waiter *in_cycle;  /* reads riding the cycle in flight */
	struct mb_waiter *fail_now;  /* ops to fail from the defer timer */
	struct mb_waiter *writes;    /* writes in flight */

	/* health */
	unsigned failures;
	bool down;
	bool fail_logged;
	uint64_t backoff_ms;
	uint64_t last_ok_ms;
	uint64_t n_timeouts, n_crc, n_exceptions;
	bool identified;
	unsigned ident_tries;
	uint64_t rng;

	/* firmware delivery (README.md, "Firmware updates") */
	struct mb_fw_cfg fwc;
	struct {
		enum {
			FW_IDLE,    /* no update */
			FW_WAITING, /* fw_open waits for the bus's turn (max_updates) */
			FW_OPEN,    /* fw_open on the bus */
			FW_READY,   /* open, no op in flight */
			FW_WRITE, FW_CLOSE, FW_APPLY,
		} phase;
		/* Within an op: 0 its first job; 1 polling the status (after
		 * apply: waiting for the reboot, probing); 2 reading the
		 * version (apply). */
		int stage;
		struct gwd_op *op;
		uint64_t seq;    /* jobs of another update are stale */
		bool holds;      /* holds one of the bus's update turns */
		bool closed;     /* fw_close succeeded */
		/* fw_recover: find out how an apply the daemon did not see end
		 * (as apply's wait for the reboot), expecting this version. */
		bool recovering;
		char expect[64];
		uint64_t size, written;
		uint32_t crc32;  /* of the bytes written so far */
		uint64_t deadline;
		unsigned tries;
		struct gwd_timer *timer;
		struct mb_dev *next_waiting;
		/* The chunk on the bus, kept for a retry. */
		uint8_t chunk[256];
		size_t chunk_len;
	} fw;
};

/* ---- helpers ------------------------------------------------------------------ */

static const char *exc_name(int code)
{
	switch (code) {
	case 1:
		return "illegal function";
	case 2:
		return "illegal data address";
	case 3:
		return "illegal data value";
	case 4:
		return "slave device failure";
	case 5:
		return "acknowledge";
	case 6:
		return "slave device busy";
	case 10:
		return "gateway path unavailable";
	case 11:
		return "gateway target failed to respond";
	default:
		return "exception";
	}
}

/* ---- adapter ------------------------------------------------------------------ */

static int mb_init(const struct gwd_host *host, void **adapter_ctx)
{
	struct mb_adapter *ad;

	if (GWD_HOST_REQUIRE(host, fw_progress))
		return -EPROTO;
	ad = calloc(1, sizeof(*ad));
	if (!ad)
		return -ENOMEM;
	ad->host = host;
	*adapter_ctx = ad;
	return 0;
}

static void mb_fini(void *adapter_ctx)
{
	struct mb_adapter *ad = adapter_ctx;

	/* Devices release their buses; anything left was never freed.  A
	 * retired worker must be over before the adapter is unloaded. */
	while (ad->buses) {
		struct mb_bus *b = ad->buses;

		ad->buses = b->next;
		mb_bus_free(b);
	}
	while (ad->retired) {
		struct mb_bus *b = ad->retired;

		ad->retired = b->next;
		mb_bus_free(b);
	}
	free(ad);
}

/* ---- configuration -------------------------------------------------------------- */

/* Bus keys, from the bus group, else from the device itself. */
/* "19200 baud, 8E1, RS-232" */
static void line_describe(const struct mb_bus_params *p, char *buf, size_t len)
{
	snprintf(buf, len, "%d baud, %d%c%d, %s", p->baud, p->data_bits, p->parity, p->stop_bits,
		 p->rs485 ? "RS-485" : "RS-232");
}

/* A serial port has one line setting: a second device asking for another
 * would silently get the first one's.  Reported at both devices' groups,
 * so that both file:line are named. */
static int line_conflict(struct mb_adapter *ad, struct gwd_device *dev, const struct gwd_cfg *node,
			 const struct mb_bus *b, const struct mb_bus_params *p)
{
	const struct gwd_host *h = ad->host;
	const struct mb_bus_params *q = &b->p;
	const char *key = NULL, *other = NULL, *self = NULL;
	char mine[64], theirs[64];

	if (!p->rtu)
		return 0;
	if (p->baud != q->baud)
		key = "baud";
	else if (p->parity != q->parity)
		key = "parity";
	else if (p->data_bits != q->data_bits)
		key = "data_bits";
	else if (p->stop_bits != q->stop_bits)
		key = "stop_bits";
	else if (p->rs485 != q->rs485)
		key = "rs485";
	else
		return 0;
	if (h->device_name && b->cfg_dev)
		other = h->device_name(b->cfg_dev);
	if (h->device_name && dev)
		self = h->device_name(dev);
	line_describe(p, mine, sizeof(mine));
	line_describe(q, theirs, sizeof(theirs));
	h->cfg_error(node, key,
		     "serial port %s is also used by device \"%s\" with %s; found %s: one port "
		     "has one line setting",
		     q->serial, other ? other : "?", theirs, mine);
	if (b->cfg_node)
		h->cfg_error(b->cfg_node, key,
			     "serial port %s is also used by device \"%s\" with %s: one port has "
			     "one line setting",
			     q->serial, self ? self : "?", mine);
	return -EINVAL;
}

static int bus_config(struct mb_adapter *ad, struct gwd_device *dev, const struct gwd_cfg *node,
		      struct mb_bus **out)
{
	const struct gwd_host *h = ad->host;
	const char *host = NULL, *serial = NULL, *parity = "even", *rts = "none";
	int64_t port = 502, baud = 19200, data_bits = 8, stop_bits = 1, rts_delay = -1;
	double gap = 0.0, cdelay = 0.0;
	int64_t max_updates = 1;
	bool rs485 = false;
	struct mb_bus_params p = {0};
	char key[512];
	int err = 0;

	gwd_cfg_read_string(h, node, "host", &host, &err);
	gwd_cfg_read_string(h, node, "serial", &serial, &err);
	gwd_cfg_read_double(h, node, "frame_gap", &gap, &err);
	gwd_cfg_read_double(h, node, "connect_delay", &cdelay, &err);
	gwd_cfg_check_range(h, node, "frame_gap", gap, 0, 10, &err);
	gwd_cfg_check_range(h, node, "connect_delay", cdelay, 0, 60, &err);
	gwd_cfg_read_int(h, node, "max_updates", &max_updates, &err);
	gwd_cfg_check_range(h, node, "max_updates", (double)max_updates, 1, 255, &err);
	if (host && serial)
		return h->cfg_error(node, "serial", "set either host (Modbus TCP) or serial "
				    "(Modbus RTU), not both");
	if (!host && !serial) {
		if (err == 0)
			h->cfg_error(node, NULL, "a Modbus device needs host (TCP) or serial (RTU), "
				     "on its bus or on itself");
		return -EINVAL;
	}
	if (host) {
		gwd_cfg_read_int(h, node, "port", &port, &err);
		gwd_cfg_check_range(h, node, "port", (double)port, 1, 65535, &err);
	} else {
		gwd_cfg_read_int(h, node, "baud", &baud, &err);
		gwd_cfg_read_string(h, node, "parity", &parity, &err);
		gwd_cfg_read_int(h, node, "data_bits", &data_bits, &err);
		gwd_cfg_read_int(h, node, "stop_bits", &stop_bits, &err);
		gwd_cfg_read_bool(h, node, "rs485", &rs485, &err);
		gwd_cfg_read_string(h, node, "rts", &rts, &err);
		gwd_cfg_read_int(h, node, "rts_delay", &rts_delay, &err);
		gwd_cfg_check_range(h, node, "baud", (double)baud, 50, 4000000, &err);
		gwd_cfg_check_range(h, node, "data_bits", (double)data_bits, 5, 8, &err);
		gwd_cfg_check_range(h, node, "stop_bits", (double)stop_bits, 1, 2, &err);
		if (rts_delay != -1)
			gwd_cfg_check_range(h, node, "rts_delay", (double)rts_delay, 0, 1000000, &err);
		if (strcmp(parity, "none") == 0)
			p.parity = 'N';
		else if (strcmp(parity, "even") == 0)
			p.parity = 'E';
		else if (strcmp(parity, "odd") == 0)
			p.parity = 'O';
		else
			err = h->cfg_error(node, "parity",
					   "expected \"none\", \"even\" or \"odd\", found \"%s\"",
					   parity);
		if (strcmp(rts, "none") == 0)
			p.rts = 0;
		else if (strcmp(rts, "up") == 0)
			p.rts = 1;
		else if (strcmp(rts, "down") == 0)
			p.rts = 2;
		else
			err = h->cfg_error(node, "rts",
					   "expected \"none\", \"up\" or \"down\", found \"%s\"", rts);
	}
	if (err < 0)
		return -EINVAL;
	if (host)
		snprintf(key, sizeof(key), "tcp %s:%" PRId64, host, port);
	else
		snprintf(key, sizeof(key), "rtu %s", serial);
	p.rtu = serial != NULL;
	p.baud = (int)baud;
	p.data_bits = (int)data_bits;
	p.stop_bits = (int)stop_bits;
	p.rs485 = rs485;
	p.rts_delay_us = (int)rts_delay;
	p.gap_ms = (uint32_t)gwd_ms_of(gap);
	p.connect_delay_ms = (uint32_t)gwd_ms_of(cdelay);
	/* One scheduler per physical bus: devices naming the same endpoint or
	 * port share it, whether or not they share a bus group. */
	for (struct mb_bus *b = ad->buses; b; b = b->next)
		if (strcmp(b->key, key) == 0) {
			if (line_conflict(ad, dev, node, b, &p) < 0)
				return -EINVAL;
			b->refs++;
			*out = b;
			return 0;
		}
	if (host) {
		char port_s[16];

		snprintf(port_s, sizeof(port_s), "%" PRId64, port);
		p.host = strdup(host);
		p.port = strdup(port_s);
		if (!p.host || !p.port) {
			free(p.host);
			free(p.port);
			return -ENOMEM;
		}
	} else if (!(p.serial = strdup(serial))) {
		return -ENOMEM;
	}
	{
		struct mb_bus *b;
		int r = mb_bus_new(key, &p, &b);

		if (r < 0)
			return r;
		b->refs = 1;
		b->max_updates = (unsigned)max_updates;
		b->cfg_node = node;
		b->cfg_dev = dev;
		b->next = ad->buses;
		ad->buses = b;
		*out = b;
	}
	return 0;
}

/* Free the retired buses whose transaction is over. */
static void reap_retired(struct mb_adapter *ad)
{
	struct mb_bus **pp = &ad->retired;

	while (*pp) {
		struct mb_bus *b = *pp;

		if (mb_bus_idle(b)) {
			*pp = b->next;
			mb_bus_free(b); /* the worker is leaving: a short join */
		} else {
			pp = &b->next;
		}
	}
}

static void bus_release(struct mb_adapter *ad, struct mb_bus *b, struct gwd_device *dev)
{
	if (b && b->cfg_dev == dev) {
		b->cfg_dev = NULL;
		b->cfg_node = NULL;
	}
	if (!b || --b->refs)
		return;
	if (b->watch)
		ad->host->unwatch_fd(b->watch);
	for (struct mb_bus **pp = &ad->buses; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	reap_retired(ad);
	/* A transaction in flight may last the device's whole timeout: the
	 * loop does not wait for it. */
	if (mb_bus_quit(b)) {
		mb_bus_free(b);
		return;
	}
	b->next = ad->retired;
	ad->retired = b;
}

/* `quirks`: a comma-separated list of the device's deviations. */
static int quirks_parse(struct mb_dev *d, const struct gwd_cfg *node, const char *s)
{
	const char *p = s;
	int err = 0;

	while (*p) {
		size_t n = strcspn(p, ", ");

		if (n == 0) {
			p++;
			continue;
		}
		if (n == 9 && strncmp(p, "one_based", n) == 0)
			d->one_based = true;
		else if (n == 14 && strncmp(p, "single_request", n) == 0)
			d->lim.single = true;
		else if (n == 14 && strncmp(p, "write_multiple", n) == 0)
			d->write_multiple = true;
		else if (n == 11 && strncmp(p, "no_identify", n) == 0)
			d->identify = false;
		else
			err = d->host->cfg_error(node, "quirks",
						 "unknown quirk \"%.*s\" (known: one_based, "
						 "single_request, write_multiple, no_identify)",
						 (int)n, p);
		p += n;
	}
	return err;
}

static void dev_destroy(struct mb_dev *d);

static int mb_device_new(void *adapter_ctx, struct gwd_device *dev, const struct gwd_cfg *device,
			 const struct gwd_cfg *bus, void **device_ctx)
{
	struct mb_adapter *ad = adapter_ctx;
	const struct gwd_host *h = ad->host;
	struct mb_dev *d = calloc(1, sizeof(*d));
	int64_t unit = 1, max_regs = 125, max_bits = 2000, fill = 8, down_after = 3;
	double timeout = 1.0, interval = 0.0, backoff_max = 60.0;
	const char *order = "ABCD", *quirks = "";
	int err = 0, r;

	if (!d)
		return -ENOMEM;
	d->ad = ad;
	d->host = h;
	d->dev = dev;
	d->identify = true;
	gwd_cfg_read_int(h, device, "unit", &unit, &err);
	gwd_cfg_read_double(h, device, "timeout", &timeout, &err);
	gwd_cfg_read_double(h, device, "interval", &interval, &err);
	gwd_cfg_read_string(h, device, "byte_order", &order, &err);
	gwd_cfg_read_int(h, device, "max_registers", &max_regs, &err);
	gwd_cfg_read_int(h, device, "max_bits", &max_bits, &err);
	gwd_cfg_read_int(h, device, "fill", &fill, &err);
	gwd_cfg_read_int(h, device, "down_after", &down_after, &err);
	gwd_cfg_read_double(h, device, "backoff_max", &backoff_max, &err);
	gwd_cfg_read_bool(h, device, "identify", &d->identify, &err);
	gwd_cfg_read_string(h, device, "quirks", &quirks, &err);
	gwd_cfg_check_range(h, device, "unit", (double)unit, 0, 255, &err);
	gwd_cfg_check_range(h, device, "timeout", timeout, 0.01, 60, &err);
	gwd_cfg_check_range(h, device, "interval", interval, 0, 86400, &err);
	gwd_cfg_check_range(h, device, "max_registers", (double)max_regs, 1, 125, &err);
	gwd_cfg_check_range(h, device, "max_bits", (double)max_bits, 1, 2000, &err);
	gwd_cfg_check_range(h, device, "fill", (double)fill, 0, 125, &err);
	gwd_cfg_check_range(h, device, "down_after", (double)down_after, 1, 1000, &err);
	gwd_cfg_check_range(h, device, "backoff_max", backoff_max, 1, 86400, &err);
	if (mb_order_parse(order, &d->swap_bytes, &d->swap_words) < 0)
		err = h->cfg_error(device, "byte_order",
				   "expected ABCD, DCBA, BADC or CDAB (or ABCDEFGH, HGFEDCBA, "
				   "BADCFEHG, GHEFCDAB), found \"%s\"",
				   order);
	if (quirks_parse(d, device, quirks) < 0)
		err = -EINVAL;
	mb_fw_config(h, device, &d->fwc, &err);
	r = bus_config(ad, dev, bus ? bus : device, &d->bus);
	if (r < 0)
		err = r;
	if (err < 0) {
		dev_destroy(d);
		return err == -ENOMEM ? err : -EINVAL;
	}
	d->unit = (uint8_t)unit;
	d->timeout_ms = (uint32_t)gwd_ms_of(timeout);
	d->interval_ms = gwd_ms_of(interval);
	d->lim.max_regs = (uint16_t)max_regs;
	d->lim.max_bits = (uint16_t)max_bits;
	d->lim.fill = (uint16_t)fill;
	d->down_after = (unsigned)down_after;
	d->backoff_max_ms = gwd_ms_of(backoff_max);
	d->rng = 0x9e3779b97f4a7c15ULL ^ (uintptr_t)d;
	*device_ctx = d;
	return 0;
}

/* execute_value: the value an Execute of the point writes (a device's
 * Reboot or reset command, declared by its profile).  Only for a coil or
 * holding register point, and checked against its type now. */
static void exec_config(struct mb_dev *d, const struct gwd_cfg *point, struct mb_point *p,
			int *err)
{
	const struct gwd_host *h = d->host;
	uint16_t scratch[125];
	double v;
	int r = h->cfg_double(point, "execute_value", &v);

	if (r == -ENOENT)
		return;
	if (r < 0) {
		*err = -EINVAL;
		return;
	}
	if (!mb_table_is_writable(p->table)) {
		*err = h->cfg_error(point, "execute_value", "only a coil or holding register "
				    "point can be executed (table is \"%s\")", mb_table_name(p->table));
		return;
	}
	p->exec_value = p->fmt.type == MB_T_BOOL ? gwd_value_bool(v != 0) : gwd_value_double(v);
	if ((p->fmt.type == MB_T_BOOL && v != 0 && v != 1) ||
	    (p->fmt.type != MB_T_STRING && mb_encode(&p->fmt, &p->exec_value, scratch) < 0) ||
	    p->fmt.type == MB_T_STRING) {
		*err = h->cfg_error(point, "execute_value", "%g is not a value of type %s", v,
				    mb_type_name(p->fmt.type));
		return;
	}
	p->exec = true;
}

static int mb_channel_new(void *device_ctx, const char *channel, const struct gwd_cfg *point,
			  gwd_channel_t *out)
{
	struct mb_dev *d = device_ctx;
	const struct gwd_host *h = d->host;
	const char *table = "holding", *type = NULL, *order = NULL;
	int64_t addr = -1, bit = 0, length = 1, frac = 8;
	struct mb_point p = {0};
	int err = 0;

	if (d->n_pt == d->cap_pt) {
		size_t cap = d->cap_pt ? 2 * d->cap_pt : 8;
		struct mb_point *v = realloc(d->pt, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->pt = v;
		d->cap_pt = cap;
	}
	gwd_cfg_read_string(h, point, "table", &table, &err);
	gwd_cfg_read_int(h, point, "address", &addr, &err);
	if (mb_table_parse(table, &p.table) < 0)
		return h->cfg_error(point, "table", "expected \"coil\", \"discrete\", \"holding\" "
				    "or \"input\", found \"%s\"", table);
	if (addr == -1 && err == 0)
		return h->cfg_error(point, "address", "required: the register or bit address");
	gwd_cfg_check_range(h, point, "address", (double)addr, d->one_based ? 1 : 0,
		    d->one_based ? 65536 : 65535, &err);
	if (mb_table_is_bits(p.table)) {
		p.fmt.type = MB_T_BOOL;
	} else {
		gwd_cfg_read_string(h, point, "type", &type, &err);
		gwd_cfg_read_string(h, point, "byte_order", &order, &err);
		if (!type)
			type = "uint16";
		if (mb_type_parse(type, &p.fmt.type) < 0 || p.fmt.type == MB_T_BOOL)
			return h->cfg_error(point, "type", "unknown register type \"%s\"", type);
		p.fmt.swap_bytes = d->swap_bytes;
		p.fmt.swap_words = d->swap_words;
		if (order && mb_order_parse(order, &p.fmt.swap_bytes, &p.fmt.swap_words) < 0)
			err = h->cfg_error(point, "byte_order", "expected ABCD, DCBA, BADC or CDAB "
					   "(or the 8-letter forms), found \"%s\"", order);
		if (p.fmt.type == MB_T_BIT) {
			gwd_cfg_read_int(h, point, "bit", &bit, &err);
			gwd_cfg_check_range(h, point, "bit", (double)bit, 0, 15, &err);
			p.fmt.bit = (uint8_t)bit;
		} else if (p.fmt.type == MB_T_STRING) {
			gwd_cfg_read_int(h, point, "length", &length, &err);
			gwd_cfg_check_range(h, point, "length", (double)length, 1, 125, &err);
			p.fmt.len = (uint16_t)length;
		} else if (p.fmt.type == MB_T_FIXED16 || p.fmt.type == MB_T_FIXED32) {
			gwd_cfg_read_int(h, point, "fraction_bits", &frac, &err);
			gwd_cfg_check_range(h, point, "fraction_bits", (double)frac, 0,
				    p.fmt.type == MB_T_FIXED16 ? 15 : 31, &err);
			p.fmt.frac = (uint8_t)frac;
		}
	}
	if (mb_table_is_writable(p.table))
		gwd_cfg_read_bool(h, point, "readback", &p.readback, &err);
	exec_config(d, point, &p, &err);
	if (err < 0)
		return -EINVAL;
	if (!mb_table_is_bits(p.table) && mb_format_regs(&p.fmt) > d->lim.max_regs)
		return h->cfg_error(point, p.fmt.type == MB_T_STRING ? "length" : "type",
				    "%u registers do not fit in one request (max_registers = %u)",
				    mb_format_regs(&p.fmt), d->lim.max_regs);
	if (p.table == MB_HOLDING && mb_format_regs(&p.fmt) > 123)
		return h->cfg_error(point, "length", "a holding string is written in one "
				    "request: at most 123 registers");
	p.addr = (uint16_t)(addr - (d->one_based ? 1 : 0));
	if ((uint32_t)p.addr + mb_format_regs(&p.fmt) > 0x10000)
		return h->cfg_error(point, "address", "the value runs past register 65535");
	p.name = strdup(channel);
	if (!p.name)
		return -ENOMEM;
	d->pt[d->n_pt] = p;
	*out = (gwd_channel_t)d->n_pt++;
	return 0;
}

/* ---- the plan ---------------------------------------------------------------- */

static int replan(struct mb_dev *d)
{
	struct mb_plan p;
	size_t bad = 0;
	int r;

	r = mb_plan_build(d->spans, d->n_pt, &d->lim, d->bar, d->n_bar, &p, &bad);
	if (r < 0)
		return r;
	mb_plan_clear(&d->plan);
	d->plan = p;
	return 0;
}

static void log_plan(struct mb_dev *d, const char *why)
{
	char line[1024];
	size_t len = 0;

	for (size_t i = 0; i < d->plan.n_req && len < sizeof(line) - 64; i++) {
		char one[64];

		mb_req_format(&d->plan.req[i], one, sizeof(one));
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s", i ? ", " : "", one);
	}
	if (len >= sizeof(line) - 64 && d->plan.n_req)
		snprintf(line + len, sizeof(line) - len, ", ...");
	d->host->log(d->dev, GWD_LOG_INFO, "plan%s: %zu request%s per cycle for %zu point%s: %s",
		     why, d->plan.n_req, d->plan.n_req == 1 ? "" : "s", d->n_pt,
		     d->n_pt == 1 ? "" : "s", d->plan.n_req ? line : "(none)");
}

/* gatewayctl plan: one line per request of a poll cycle, with the points it holds,
 * then the points that are never read (executes). */
static int mb_describe_plan(void *device_ctx, char *buf, size_t len)
{
	struct mb_dev *d = device_ctx;
	size_t n = 0;

#define PUT(...) (n += (size_t)snprintf(n < len ? buf + n : NULL, n < len ? len - n : 0, __VA_ARGS__))
	if (!d->planned)
		return -EAGAIN;
	if (len)
		buf[0] = '\0';
	for (size_t r = 0; r < d->plan.n_req; r++) {
		char one[64];
		bool first = true;

		mb_req_format(&d->plan.req[r], one, sizeof(one));
		PUT("%s:", one);
		for (size_t i = 0; i < d->n_pt; i++)
			if (d->plan.point_req[i] == r) {
				PUT("%s%s", first ? " " : ", ", d->pt[i].name);
				first = false;
			}
		PUT("\n");
	}
	for (size_t i = 0; i < d->n_pt; i++)
		if (d->plan.point_req[i] == MB_PLAN_UNREAD)
			PUT("never read: %s\n", d->pt[i].name);
#undef PUT
	return (int)n;
}

static int plan_device(struct mb_dev *d)
{
	int r;

	if (d->planned)
		return 0;
	d->spans = calloc(d->n_pt ? d->n_pt : 1, sizeof(*d->spans));
	if (!d->spans)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_pt; i++)
		d->spans[i] = (struct mb_span){d->unit, d->pt[i].table, d->pt[i].addr,
					       d->pt[i].exec ? 0 /* not read */
							     : (uint16_t)mb_format_regs(&d->pt[i].fmt)};
	r = replan(d);
	if (r == -E2BIG)
		d->host->log(d->dev, GWD_LOG_ERR, "a point is larger than max_registers");
	if (r < 0)
		return r;
	d->planned = true;
	log_plan(d, "");
	return 0;
}

/* ---- ops completion --------------------------------------------------------------- */

static void waiter_push(struct mb_waiter **list, struct mb_waiter *w)
{
	w->next = *list;
	*list = w;
}

static void complete_list(struct mb_dev *d, struct mb_waiter **list, int status)
{
	while (*list) {
		struct mb_waiter *w = *list;

		*list = w->next;
		if (w->job)
			w->job->op = NULL;
		d->host->complete(w->op, status ? status : w->status, NULL);
		free(w);
	}
}

static void arm_defer(struct mb_dev *d)
{
	d->host->timer_arm(d->defer_timer, d->host->now_ms());
}

/* ---- health ------------------------------------------------------------------- */

static void set_state(struct mb_dev *d, bool down, int cause)
{
	if (GWD_HOST_HAS(d->host, set_state))
		d->host->set_state(d->dev, down ? GWD_STATE_DOWN : GWD_STATE_UP, cause);
}

static void schedule_cycle(struct mb_dev *d);
static bool fw_updating(const struct mb_dev *d);
static void mb_fw_abort(void *device_ctx);

static void note_ok(struct mb_dev *d)
{
	d->last_ok_ms = d->host->now_ms();
	d->failures = 0;
	d->backoff_ms = 0;
	if (d->down) {
		d->down = false;
		set_state(d, false, 0);
		d->host->log(d->dev, GWD_LOG_NOTICE,
			     "unit %u answers again: device up (%" PRIu64 " timeouts, %" PRIu64
			     " CRC errors, %" PRIu64 " exceptions so far)",
			     d->unit, d->n_timeouts, d->n_crc, d->n_exceptions);
	} else if (d->fail_logged) {
		d->host->log(d->dev, GWD_LOG_NOTICE, "unit %u answers again", d->unit);
	}
	d->fail_logged = false;
}

static void note_failure(struct mb_dev *d, int err, const char *what)
{
	d->failures++;
	if (!d->fail_logged) {
		d->host->log(d->dev, GWD_LOG_WARNING, "unit %u: %s: %s", d->unit, what,
			     strerror(-err));
		d->fail_logged = true;
	}
	if (!d->down && d->failures >= d->down_after) {
		d->down = true;
		set_state(d, true, err);
		d->host->log(d->dev, GWD_LOG_WARNING,
			     "unit %u down after %u failed cycles (last: %s); retrying with "
			     "backoff up to %" PRIu64 " s",
			     d->unit, d->failures, strerror(-err), d->backoff_max_ms / 1000);
	}
	if (d->down) {
		/* Capped exponential backoff, with jitter so that devices that
		 * failed together do not retry together. */
		uint64_t base = d->backoff_ms ? 2 * d->backoff_ms : 1000;

		d->backoff_ms = base < d->backoff_max_ms ? base : d->backoff_max_ms;
	}
}

/* ---- cycles -------------------------------------------------------------------- */

static struct mb_job *job_new(struct mb_dev *d, enum mb_job_kind kind)
{
	struct mb_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->kind = kind;
	j->owner = d;
	j->gen = d->gen;
	j->unit = d->unit;
	j->timeout_ms = d->timeout_ms;
	return j;
}

static bool waiting_for(const struct mb_waiter *list, const struct mb_dev *d, uint32_t req)
{
	for (; list; list = list->next)
		if (d->plan.point_req[list->ch] == req)
			return true;
	return false;
}

/* Queue one cycle: every request (interval cycles), the requests the waiting
 * reads need, or only the first one (a probe of a device that is down). */
static void start_cycle(struct mb_dev *d, bool all, bool probe)
{
	struct mb_job *j;
	size_t n = 0;

	if (d->cycle_busy || !d->plan.n_req)
		return;
	j = job_new(d, MB_JOB_CYCLE);
	if (j)
		j->req = calloc(d->plan.n_req, sizeof(*j->req));
	if (!j || !j->req) {
		mb_job_free(j);
		complete_list(d, &d->waiting, -ENOMEM);
		return;
	}
	for (uint32_t i = 0; i < d->plan.n_req; i++) {
		if (probe ? i != 0 : !all && !waiting_for(d->waiting, d, i))
			continue;
		j->req[n] = (struct mb_jreq){.table = d->plan.req[i].table,
					     .addr = d->plan.req[i].addr,
					     .count = d->plan.req[i].count,
					     .plan_idx = i};
		n++;
	}
	j->n_req = n;
	j->probe = probe;
	/* Reads waiting now ride this cycle. */
	while (d->waiting) {
		struct mb_waiter *w = d->waiting;

		d->waiting = w->next;
		waiter_push(&d->in_cycle, w);
	}
	d->cycle_busy = true;
	mb_bus_submit(d->bus, j);
}

static void finish_waiters(struct mb_dev *d, uint32_t req, int status, const struct gwd_value *v,
			   gwd_channel_t ch, bool by_channel)
{
	struct mb_waiter **pp = &d->in_cycle;

	while (*pp) {
		struct mb_waiter *w = *pp;

		if (by_channel ? w->ch == ch : d->plan.point_req[w->ch] == req) {
			*pp = w->next;
			d->host->complete(w->op, status, status == 0 ? v : NULL);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void deliver(struct mb_dev *d, const struct mb_jreq *q)
{
	for (size_t c = 0; c < d->n_pt; c++) {
		struct mb_point *p = &d->pt[c];
		struct gwd_value v;
		char buf[2 * 125 + 1];
		int r;

		if (d->plan.point_req[c] != q->plan_idx)
			continue;
		r = mb_decode(&p->fmt, q->data + (p->addr - q->addr), &v, buf, sizeof(buf));
		if (r < 0) {
			if (!p->warned)
				d->host->log(d->dev, GWD_LOG_WARNING,
					     "channel %s: %s at %s %u is not a valid %s value",
					     p->name, "register image", mb_table_name(p->table),
					     p->addr, mb_type_name(p->fmt.type));
			p->warned = true;
			d->host->report_error(d->dev, (gwd_channel_t)c, -EBADMSG);
			finish_waiters(d, 0, -EBADMSG, NULL, (gwd_channel_t)c, true);
			continue;
		}
		if (p->warned)
			d->host->log(d->dev, GWD_LOG_NOTICE, "channel %s: valid again", p->name);
		p->warned = false;
		d->host->report(d->dev, (gwd_channel_t)c, &v);
		finish_waiters(d, 0, 0, &v, (gwd_channel_t)c, true);
	}
}

static void queue_ident(struct mb_dev *d)
{
	struct mb_job *j;

	if (!d->identify || d->identified || d->ident_tries >= 3 ||
	    !GWD_HOST_HAS(d->host, set_identity) || fw_updating(d))
		return;
	j = job_new(d, MB_JOB_IDENT);
	if (!j)
		return;
	d->ident_tries++;
	d->identified = true; /* until the answer says otherwise */
	mb_bus_submit(d->bus, j);
}

static void cycle_done(struct mb_dev *d, struct mb_job *j)
{
	bool answered = false, resplit = false;
	int last_err = 0;
	char what[96] = "";

	d->cycle_busy = false;
	d->n_timeouts += j->timeouts;
	d->n_crc += j->crc_errors;
	d->n_exceptions += j->exceptions;
	for (size_t i = 0; i < j->n_req; i++) {
		const struct mb_jreq *q = &j->req[i];
		struct mb_barrier b;
		char rq[64];

		mb_req_format(&d->plan.req[q->plan_idx], rq, sizeof(rq));
		if (q->status == 0) {
			answered = true;
			deliver(d, q);
			continue;
		}
		if (q->status == -EREMOTEIO) {
			answered = true;
			if (q->exc == 2 &&
			    mb_plan_split(&d->plan, q->plan_idx, d->spans, d->n_pt, &b) == 0) {
				struct mb_barrier *nb =
					realloc(d->bar, (d->n_bar + 1) * sizeof(*nb));

				if (nb) {
					d->bar = nb;
					d->bar[d->n_bar++] = b;
					d->host->log(d->dev, GWD_LOG_NOTICE,
						     "%s answered illegal data address: split "
						     "before %u from now on",
						     rq, b.addr);
					resplit = true;
					continue;
				}
			}
			/* One point the device refuses: that point's error only. */
			for (size_t c = 0; c < d->n_pt; c++) {
				if (d->plan.point_req[c] != q->plan_idx)
					continue;
				if (!d->pt[c].warned)
					d->host->log(d->dev, GWD_LOG_WARNING,
						     "channel %s: %s answered exception %d (%s)",
						     d->pt[c].name, rq, q->exc, exc_name(q->exc));
				d->pt[c].warned = true;
				d->host->report_error(d->dev, (gwd_channel_t)c, -EREMOTEIO);
			}
			finish_waiters(d, q->plan_idx, -EREMOTEIO, NULL, 0, false);
			continue;
		}
		if (!last_err) {
			last_err = q->status;
			snprintf(what, sizeof(what), "%s failed", rq);
		}
		if (resplit)
			continue;
		finish_waiters(d, q->plan_idx, q->status, NULL, 0, false);
	}
	if (resplit) {
		/* The reads of the split request wait for the next cycle. */
		while (d->in_cycle) {
			struct mb_waiter *w = d->in_cycle;

			d->in_cycle = w->next;
			waiter_push(&d->waiting, w);
		}
		if (replan(d) == 0)
			log_plan(d, " (after split)");
	}
	/* Reads whose request was not in this cycle (none, normally). */
	while (d->in_cycle) {
		struct mb_waiter *w = d->in_cycle;

		d->in_cycle = w->next;
		waiter_push(&d->waiting, w);
	}
	if (answered) {
		note_ok(d);
		queue_ident(d);
	} else if (last_err) {
		note_failure(d, last_err, what);
	}
	if (d->waiting)
		arm_defer(d);
	if (resplit && d->interval_ms && !d->down)
		start_cycle(d, true, false);
	schedule_cycle(d);
}

static void write_done(struct mb_dev *d, struct mb_job *j)
{
	struct mb_point *p = &d->pt[j->point];
	struct gwd_value v;
	char buf[2 * 125 + 1];

	d->n_timeouts += j->timeouts;
	d->n_crc += j->crc_errors;
	d->n_exceptions += j->exceptions;
	if (j->status == 0) {
		note_ok(d);
		if (mb_decode(&p->fmt, j->regs, &v, buf, sizeof(buf)) == 0)
			d->host->report(d->dev, j->point, &v);
	} else if (j->status == -EREMOTEIO) {
		d->host->log(d->dev, GWD_LOG_WARNING, "channel %s: write refused: exception %d (%s)",
			     p->name, j->exc, exc_name(j->exc));
	} else if (j->status != -EINVAL && j->status != -ERANGE) {
		char what[64];

		snprintf(what, sizeof(what), "write of channel %s", p->name);
		note_failure(d, j->status, what);
	}
	for (struct mb_waiter **pp = &d->writes; *pp; pp = &(*pp)->next)
		if ((*pp)->job == j) {
			struct mb_waiter *w = *pp;

			*pp = w->next;
			d->host->complete(w->op, j->status, NULL);
			free(w);
			break;
		}
}

static void ident_done(struct mb_dev *d, struct mb_job *j)
{
	static const enum gwd_identity fields[3] = {GWD_ID_MANUFACTURER, GWD_ID_MODEL,
						    GWD_ID_FIRMWARE};

	if (j->status == -EREMOTEIO) {
		d->host->log(d->dev, GWD_LOG_INFO,
			     "no device identification (FC 43/14: exception %d, %s)", j->exc,
			     exc_name(j->exc));
		return;
	}
	if (j->status < 0) {
		d->identified = false; /* try again after the next good cycle */
		d->host->log(d->dev, GWD_LOG_DEBUG, "device identification failed: %s",
			     strerror(-j->status));
		return;
	}
	for (int i = 0; i < 3; i++)
		if (j->ident[i] && j->ident[i][0])
			d->host->set_identity(d->dev, fields[i], j->ident[i]);
}

/* ---- firmware delivery ------------------------------------------------------------
 *
 * An update holds one of the bus's update turns (bus key max_updates) from
 * fw_open until it ends; a device whose bus has none free waits in line.
 * Each op is one job (one bus turn: a chunk, a status read, a command) at a
 * time, queued behind the other devices' requests, so that a neighbour
 * waits for at most one chunk.  Polling pauses while the device holds its
 * turn.  A failed op ends the update as fw_abort does (the device is polled
 * again); the host starts over with fw_open. */

static bool fw_updating(const struct mb_dev *d)
{
	return d->fw.holds || d->fw.recovering;
}

static struct mb_job *fw_job(struct mb_dev *d, enum mb_job_kind kind)
{
	struct mb_job *j = job_new(d, kind);

	if (!j)
		return NULL;
	j->fw = calloc(1, sizeof(*j->fw));
	if (!j->fw) {
		mb_job_free(j);
		return NULL;
	}
	j->fw->seq = d->fw.seq;
	j->multiple = d->write_multiple;
	return j;
}

static struct mb_fwstep *fw_step(struct mb_job *j, enum mb_fw_op op, uint16_t addr,
				 uint16_t count)
{
	struct mb_fwstep *s = &j->fw->step[j->fw->n_step++];

	s->op = op;
	s->addr = addr;
	s->count = count;
	return s;
}

/* A 32-bit value in two registers, high word first. */
static void fw_put32(struct mb_job *j, int32_t reg, uint32_t v)
{
	struct mb_fwstep *s = fw_step(j, MB_FW_WRITE, (uint16_t)reg, 2);

	s->regs[0] = (uint16_t)(v >> 16);
	s->regs[1] = (uint16_t)v;
}

static void fw_put16(struct mb_job *j, uint16_t reg, uint16_t v)
{
	fw_step(j, MB_FW_WRITE, reg, 1)->regs[0] = v;
}

static void fw_read_status(struct mb_dev *d, struct mb_job *j)
{
	fw_step(j, MB_FW_READ, d->fwc.status_reg, 1);
}

static void fw_grant(struct mb_bus *b);

/* The update is over (done, failed or aborted): give the bus turn to the
 * next device in line; polling goes on by itself (the cycle timer kept
 * its grid). */
static void fw_end(struct mb_dev *d)
{
	bool held = d->fw.holds;

	d->fw.phase = FW_IDLE;
	d->fw.op = NULL;
	d->fw.holds = false;
	d->fw.recovering = false;
	d->fw.closed = false;
	d->fw.seq++;
	if (d->fw.timer)
		d->host->timer_disarm(d->fw.timer);
	if (!held)
		return;
	mb_bus_update_count(d->bus, -1);
	{
		struct mb_bus_fw_stats st = mb_bus_fw_stats(d->bus, true);

		d->host->log(d->dev, GWD_LOG_INFO,
			     "firmware: %" PRIu64 " bus turns; %" PRIu64 " requests of other "
			     "devices meanwhile, waiting behind at most %" PRIu64 " turn(s), %" PRIu64
			     " ms (longest turn %" PRIu64 " ms)",
			     st.turns, st.shared_jobs, st.max_turns_waited, st.max_wait_ms,
			     st.max_turn_ms);
	}
	fw_grant(d->bus);
}

/* Finish the op in flight (from a job or a timer, never inside the op). */
static void fw_complete(struct mb_dev *d, int status)
{
	struct gwd_op *op = d->fw.op;

	d->fw.op = NULL;
	d->fw.stage = 0;
	if (status < 0 || d->fw.phase == FW_APPLY)
		fw_end(d);
	else
		d->fw.phase = FW_READY;
	if (op)
		d->host->complete(op, status, NULL);
}

static void fw_fail(struct mb_dev *d, int status, const char *what, int exc)
{
	if (status == -EREMOTEIO || exc)
		d->host->log(d->dev, GWD_LOG_WARNING,
			     "firmware update failed: %s: exception %d (%s)", what, exc,
			     exc_name(exc));
	else
		d->host->log(d->dev, GWD_LOG_WARNING, "firmware update failed: %s: %s", what,
			     strerror(-status));
	fw_complete(d, status == -EREMOTEIO ? -EIO : status);
}

static int fw_submit(struct mb_dev *d, struct mb_job *j)
{
	if (!j)
		return -ENOMEM;
	mb_bus_submit(d->bus, j);
	return 0;
}

static int fw_submit_status(struct mb_dev *d)
{
	struct mb_job *j = fw_job(d, MB_JOB_FW);

	if (j)
		fw_read_status(d, j);
	return fw_submit(d, j);
}

/* The chunk d->fw.chunk at d->fw.written, in one job. */
static int fw_submit_chunk(struct mb_dev *d)
{
	const struct mb_fw_cfg *c = &d->fwc;
	struct mb_job *j = fw_job(d, MB_JOB_FW);
	uint64_t off = d->fw.written;
	size_t len = d->fw.chunk_len;

	if (!j)
		return -ENOMEM;
	if (c->transport == MB_FW_FILE_RECORD) {
		struct mb_fwjob *f = j->fw;
		int r = mb_fw_file_pdus(c, off, d->fw.chunk, len, f->wr, &f->wr_len, f->rd,
					&f->rd_len, f->rd_answer, &f->rd_answer_len);

		if (r < 0) {
			mb_job_free(j);
			return r;
		}
		if (!c->readback)
			f->rd_len = 0;
		fw_step(j, MB_FW_FILE, 0, 0);
	} else {
		struct mb_fwstep *s = fw_step(j, MB_FW_WRITE, c->window, 0);

		s->count = (uint16_t)mb_fw_bytes_to_regs(d->fw.chunk, len, s->regs);
		fw_put32(j, c->offset_reg, (uint32_t)off);
		fw_put16(j, (uint16_t)c->length_reg, (uint16_t)len);
		if (c->crc == MB_FW_CRC_CHUNK16)
			fw_put16(j, (uint16_t)c->crc_reg, mb_fw_crc16(d->fw.chunk, len));
		fw_put16(j, c->command_reg, c->chunk_value);
		fw_read_status(d, j);
		d->fw.deadline = d->host->now_ms() + c->status_timeout_ms;
	}
	return fw_submit(d, j);
}

/* Take the turn: check that the device answers and is not busy. */
static int fw_begin(struct mb_dev *d)
{
	int r;

	d->fw.holds = true;
	d->fw.phase = FW_OPEN;
	d->fw.stage = 0;
	mb_bus_update_count(d->bus, +1);
	mb_bus_fw_stats(d->bus, true);
	r = fw_submit_status(d);
	if (r < 0) {
		d->fw.holds = false;
		d->fw.phase = FW_IDLE;
		mb_bus_update_count(d->bus, -1);
	}
	return r;
}

/* Give free update turns to the devices waiting for one, in order. */
static void fw_grant(struct mb_bus *b)
{
	while (b->fw_waiting && b->updates < b->max_updates) {
		struct mb_dev *d = b->fw_waiting;

		b->fw_waiting = d->fw.next_waiting;
		d->fw.next_waiting = NULL;
		d->host->log(d->dev, GWD_LOG_INFO, "firmware: the bus is free, starting");
		if (fw_begin(d) < 0)
			fw_fail(d, -ENOMEM, "starting", 0);
	}
}

static void fw_unqueue(struct mb_dev *d)
{
	for (struct mb_dev **pp = (struct mb_dev **)&d->bus->fw_waiting; *pp;
	     pp = &(*pp)->fw.next_waiting)
		if (*pp == d) {
			*pp = d->fw.next_waiting;
			d->fw.next_waiting = NULL;
			return;
		}
}

/* What a failed firmware job means for the update. */
static int fw_status_of(const struct mb_job *j)
{
	const struct mb_fwjob *f = j->fw;

	if (f->mismatch)
		return -EBADMSG;
	switch (j->status) {
	case -EREMOTEIO:
		/* A record number the device has no room for. */
		return f->step[f->failed].op == MB_FW_FILE && j->exc == 2 ? -ENOSPC : -EIO;
	case -ETIMEDOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

static bool fw_transient(const struct mb_job *j)
{
	return !j->fw->mismatch && j->status != -EREMOTEIO;
}

/* Poll the status again after fw_status_interval, or give up. */
static void fw_poll_later(struct mb_dev *d, const char *what)
{
	uint64_t now = d->host->now_ms();

	if (now >= d->fw.deadline) {
		fw_fail(d, -ETIMEDOUT, what, 0);
		return;
	}
	d->fw.stage = 1;
	d->host->timer_arm(d->fw.timer, now + d->fwc.status_interval_ms);
}

/* The status register after a chunk or the commit. */
static void fw_status_seen(struct mb_dev *d, uint16_t v)
{
	const struct mb_fw_cfg *c = &d->fwc;
	const char *what = d->fw.phase == FW_WRITE ? "chunk" : "commit";
	char msg[96];

	if (v == c->status_done) {
		if (d->fw.phase == FW_WRITE) {
			d->fw.crc32 = mb_fw_crc32(d->fw.crc32, d->fw.chunk, d->fw.chunk_len);
			d->fw.written += d->fw.chunk_len;
		} else {
			d->fw.closed = true;
		}
		fw_complete(d, 0);
		return;
	}
	if (v == c->status_busy || v == c->status_idle) {
		fw_poll_later(d, d->fw.phase == FW_WRITE ? "the chunk stays busy"
							 : "the commit stays busy");
		return;
	}
	/* The device refused what it was given: its check failed. */
	snprintf(msg, sizeof(msg), "%s at offset %" PRIu64 ": status %u", what, d->fw.written, v);
	fw_fail(d, -EBADMSG, msg, 0);
}

static void fw_version_seen(struct mb_dev *d, const char *v)
{
	if (v && *v && GWD_HOST_HAS(d->host, set_identity))
		d->host->set_identity(d->dev, GWD_ID_FIRMWARE, v);
	d->host->log(d->dev, GWD_LOG_NOTICE, "firmware: the device runs version %s",
		     v && *v ? v : "(unknown)");
	/* Recovering: the device must run the package's version (when both
	 * are known); it may have rolled back. */
	if (d->fw.recovering && d->fw.expect[0] && v && *v && strcmp(v, d->fw.expect) != 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "it runs %s, not the package's %s", v, d->fw.expect);
		fw_fail(d, -EIO, msg, 0);
		return;
	}
	fw_complete(d, 0);
}

static int fw_submit_version(struct mb_dev *d)
{
	struct mb_job *j;

	if (d->fwc.version_reg >= 0) {
		j = fw_job(d, MB_JOB_FW);
		if (j)
			fw_step(j, MB_FW_READ, (uint16_t)d->fwc.version_reg, d->fwc.version_regs);
	} else {
		j = fw_job(d, MB_JOB_IDENT);
	}
	d->fw.stage = 2;
	return fw_submit(d, j);
}

static void fw_job_done(struct mb_dev *d, struct mb_job *j)
{
	const struct mb_fw_cfg *c = &d->fwc;
	const struct mb_fwjob *f = j->fw;
	const struct mb_fwstep *last = &f->step[f->n_step ? f->n_step - 1 : 0];
	uint64_t now = d->host->now_ms();
	int r;

	if (f->seq != d->fw.seq || !d->fw.op)
		return; /* an aborted update's */
	d->n_timeouts += j->timeouts;
	d->n_crc += j->crc_errors;
	d->n_exceptions += j->exceptions;
	switch (d->fw.phase) {
	case FW_OPEN:
		if (j->status < 0) {
			fw_fail(d, fw_status_of(j), d->fw.stage ? "writing the image size"
								 : "reading the status register",
				j->exc);
			return;
		}
		if (d->fw.stage == 0 && f->step[0].regs[0] == c->status_busy) {
			fw_fail(d, -EBUSY, "the device is busy", 0);
			return;
		}
		if (d->fw.stage == 0 && c->size_reg >= 0) {
			struct mb_job *k = fw_job(d, MB_JOB_FW);

			if (k)
				fw_put32(k, c->size_reg, (uint32_t)d->fw.size);
			d->fw.stage = 1;
			if (fw_submit(d, k) < 0)
				fw_fail(d, -ENOMEM, "starting", 0);
			return;
		}
		fw_complete(d, 0);
		return;
	case FW_WRITE:
	case FW_CLOSE:
		if (j->status < 0) {
			if (d->fw.stage == 1 && fw_transient(j)) {
				/* A status read that got no answer: ask again. */
				fw_poll_later(d, "no status");
				return;
			}
			if (d->fw.phase == FW_WRITE && d->fw.stage == 0 && fw_transient(j) &&
			    d->fw.tries < c->retries) {
				d->fw.tries++;
				if (fw_submit_chunk(d) < 0)
					fw_fail(d, -ENOMEM, "retrying a chunk", 0);
				return;
			}
			fw_fail(d, fw_status_of(j),
				d->fw.phase == FW_CLOSE ? "commit" : "writing a chunk", j->exc);
			return;
		}
		if (c->transport == MB_FW_FILE_RECORD && d->fw.phase == FW_WRITE) {
			fw_status_seen(d, c->status_done);
			return;
		}
		fw_status_seen(d, last->regs[0]);
		return;
	case FW_APPLY:
		if (d->fw.stage == 0) {
			if (j->status < 0) {
				fw_fail(d, fw_status_of(j), "apply command", j->exc);
				return;
			}
			/* Rebooting: no question before fw_reboot_time. */
			d->fw.stage = 1;
			d->host->timer_arm(d->fw.timer, now + c->reboot_ms);
			return;
		}
		if (d->fw.stage == 2 && j->status == -EREMOTEIO) {
			/* Back and done, but no version to read: not a failure of
			 * the update. */
			d->host->log(d->dev, GWD_LOG_WARNING,
				     "firmware: the version read answered exception %d (%s)",
				     j->exc, exc_name(j->exc));
			fw_version_seen(d, NULL);
			return;
		}
		if (j->status < 0 || (d->fw.stage == 1 && last->regs[0] == c->status_busy)) {
			/* Not back yet (no answer, or booting). */
			if (now >= d->fw.deadline) {
				fw_fail(d, -ETIMEDOUT, "the device did not come back", 0);
				return;
			}
			d->host->timer_arm(d->fw.timer, now + c->status_interval_ms);
			return;
		}
		if (d->fw.stage == 1) {
			if (last->regs[0] != c->status_done && last->regs[0] != c->status_idle) {
				char msg[64];

				snprintf(msg, sizeof(msg), "after the reboot: status %u",
					 last->regs[0]);
				fw_fail(d, -EIO, msg, 0);
				return;
			}
			r = fw_submit_version(d);
			if (r < 0)
				fw_fail(d, r, "reading the version", 0);
			return;
		}
		if (j->kind == MB_JOB_IDENT) {
			fw_version_seen(d, j->ident[2]);
		} else {
			char v[80];

			mb_fw_version_text(c, last->regs, v, sizeof(v));
			fw_version_seen(d, v);
		}
		return;
	default:
		return;
	}
}

static void on_fw_timer(void *ud)
{
	struct mb_dev *d = ud;
	int r = 0;

	if (!d->fw.op)
		return;
	if (d->fw.phase == FW_APPLY && d->fw.stage == 2)
		r = fw_submit_version(d);
	else if (d->fw.phase == FW_WRITE || d->fw.phase == FW_CLOSE || d->fw.phase == FW_APPLY)
		r = fw_submit_status(d);
	if (r < 0)
		fw_fail(d, r, "polling the status", 0);
}

/* The bus says jobs are done: hand each to its device. */
static void on_bus_done(int fd, uint32_t revents, void *ud)
{
	struct mb_job *list = mb_bus_take_done(ud);

	while (list) {
		struct mb_job *j = list;
		struct mb_dev *d = j->owner;

		list = j->next;
		/* A forgotten job's device is gone (mb_bus_forget). */
		if (d && d->started && j->gen == d->gen && j->fw) {
			fw_job_done(d, j);
		} else if (d && d->started && j->gen == d->gen) {
			switch (j->kind) {
			case MB_JOB_CYCLE:
				cycle_done(d, j);
				break;
			case MB_JOB_WRITE:
				write_done(d, j);
				break;
			case MB_JOB_IDENT:
				ident_done(d, j);
				break;
			case MB_JOB_FW:
				break;
			}
		}
		mb_job_free(j);
	}
}

/* ---- timers -------------------------------------------------------------------- */

static void schedule_cycle(struct mb_dev *d)
{
	uint64_t now = d->host->now_ms();

	if (!d->started)
		return;
	if (d->down) {
		uint64_t b = d->backoff_ms ? d->backoff_ms : 1000;
		uint64_t jitter = b / 4 ? gwd_jitter_next(&d->rng) % (b / 4 + 1) : 0;

		d->next_cycle = now + b - b / 8 + jitter;
		d->host->timer_arm(d->cycle_timer, d->next_cycle);
		return;
	}
	if (!d->interval_ms) {
		d->host->timer_disarm(d->cycle_timer);
		return;
	}
	/* Keep to the grid; skip slots already missed. */
	if (d->next_cycle <= now)
		d->next_cycle += ((now - d->next_cycle) / d->interval_ms + 1) * d->interval_ms;
	d->host->timer_arm(d->cycle_timer, d->next_cycle);
}

static void on_cycle_timer(void *ud)
{
	struct mb_dev *d = ud;

	if (!d->started)
		return;
	if (fw_updating(d))
		; /* polling pauses; the grid goes on */
	else if (d->down)
		start_cycle(d, false, true);
	else
		start_cycle(d, true, false);
	schedule_cycle(d);
}

static void on_defer_timer(void *ud)
{
	struct mb_dev *d = ud;

	complete_list(d, &d->fail_now, 0);
	if (!d->started)
		return;
	if (d->down) {
		/* A device that is down answers at once instead of hanging. */
		complete_list(d, &d->waiting, -EHOSTDOWN);
		return;
	}
	if (fw_updating(d)) {
		/* Reads that arrived before the update began. */
		complete_list(d, &d->waiting, -ECANCELED);
		return;
	}
	if (d->waiting)
		start_cycle(d, false, false);
}

/* ---- device life cycle ------------------------------------------------------------- */

static int mb_device_start(void *device_ctx)
{
	struct mb_dev *d = device_ctx;
	const struct gwd_host *h = d->host;
	int r;

	if (d->started)
		return -EALREADY;
	r = plan_device(d);
	if (r < 0)
		return r;
	if (!d->cycle_timer && (r = h->timer_new(on_cycle_timer, d, &d->cycle_timer)) < 0)
		return r;
	if (!d->defer_timer && (r = h->timer_new(on_defer_timer, d, &d->defer_timer)) < 0)
		return r;
	r = mb_bus_start(d->bus);
	if (r < 0)
		return r;
	if (!d->bus->watch &&
	    (r = h->watch_fd(d->bus->efd, GWD_EV_IN, on_bus_done, d->bus, &d->bus->watch)) < 0)
		return r;
	d->started = true;
	d->cycle_busy = false;
	d->next_cycle = h->now_ms();
	if (d->interval_ms)
		h->timer_arm(d->cycle_timer, d->next_cycle);
	return 0;
}

static void mb_device_stop(void *device_ctx)
{
	struct mb_dev *d = device_ctx;

	if (!d->started)
		return;
	/* An update does not outlive the device's I/O. */
	mb_fw_abort(d);
	d->started = false;
	d->gen++;
	d->cycle_busy = false;
	d->host->timer_disarm(d->cycle_timer);
	d->host->timer_disarm(d->defer_timer);
	complete_list(d, &d->fail_now, -ECANCELED);
	complete_list(d, &d->waiting, -ECANCELED);
	complete_list(d, &d->in_cycle, -ECANCELED);
	complete_list(d, &d->writes, -ECANCELED);
}

static void dev_destroy(struct mb_dev *d)
{
	const struct gwd_host *h = d->host;

	if (d->bus) {
		mb_bus_forget(d->bus, d);
		bus_release(d->ad, d->bus, d->dev);
	}
	if (d->cycle_timer)
		h->timer_free(d->cycle_timer);
	if (d->defer_timer)
		h->timer_free(d->defer_timer);
	if (d->fw.timer)
		h->timer_free(d->fw.timer);
	for (size_t i = 0; i < d->n_pt; i++)
		free(d->pt[i].name);
	free(d->pt);
	free(d->spans);
	free(d->bar);
	mb_plan_clear(&d->plan);
	free(d);
}

static void mb_device_free(void *device_ctx)
{
	struct mb_dev *d = device_ctx;

	if (!d)
		return;
	mb_device_stop(d);
	dev_destroy(d);
}

/* ---- channel ops ------------------------------------------------------------------ */

static int mb_read(void *device_ctx, gwd_channel_t ch, struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;
	struct mb_waiter *w;

	if (!d->started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	if (d->pt[ch].exec)
		return -EPERM; /* a command, not a value */
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->op = op;
	w->ch = ch;
	if (d->down || fw_updating(d)) {
		/* Down, or being updated: answered at once (-ECANCELED: 5.03,
		 * and no failure of the device). */
		w->status = d->down ? -EHOSTDOWN : -ECANCELED;
		waiter_push(&d->fail_now, w);
	} else {
		/* Reads arriving together (the daemon polls all due points in
		 * one pass) share one cycle: it starts from the defer timer. */
		waiter_push(&d->waiting, w);
	}
	arm_defer(d);
	return 0;
}

static int write_value(struct mb_dev *d, gwd_channel_t ch, const struct gwd_value *v,
		       struct gwd_op *op);

static int mb_write(void *device_ctx, gwd_channel_t ch, const struct gwd_value *v,
		    struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;

	if (!d->started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	if (d->pt[ch].exec)
		return -EPERM; /* executed, not written */
	return write_value(d, ch, v, op);
}

static int write_value(struct mb_dev *d, gwd_channel_t ch, const struct gwd_value *v,
		       struct gwd_op *op)
{
	struct mb_point *p = &d->pt[ch];
	struct mb_waiter *w;
	struct mb_job *j;
	uint16_t scratch[125] = {0};
	int r;

	if (!mb_table_is_writable(p->table))
		return -EPERM;
	/* A value the point cannot hold is the caller's error: refuse it now. */
	r = mb_encode(&p->fmt, v, scratch);
	if (r < 0)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->op = op;
	w->ch = ch;
	if (d->down || fw_updating(d)) {
		w->status = d->down ? -EHOSTDOWN : -ECANCELED;
		waiter_push(&d->fail_now, w);
		arm_defer(d);
		return 0;
	}
	j = job_new(d, MB_JOB_WRITE);
	if (!j) {
		free(w);
		return -ENOMEM;
	}
	j->op = op;
	j->point = ch;
	j->table = p->table;
	j->addr = p->addr;
	j->fmt = p->fmt;
	j->value = *v;
	if (v->type == GWD_V_STRING || v->type == GWD_V_BYTES) {
		char *copy = malloc(v->v.bytes.len + 1);

		if (!copy) {
			free(j);
			free(w);
			return -ENOMEM;
		}
		memcpy(copy, v->v.bytes.ptr, v->v.bytes.len);
		copy[v->v.bytes.len] = '\0';
		j->value.v.bytes.ptr = copy;
	}
	j->multiple = d->write_multiple;
	j->readback = p->readback && !p->exec;
	w->job = j;
	waiter_push(&d->writes, w);
	mb_bus_submit(d->bus, j);
	return 0;
}

/* An execute point writes its execute_value (arguments are not used). */
static int mb_execute(void *device_ctx, gwd_channel_t ch, const void *args, size_t len,
		      struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;

	if (!d->started)
		return -ENOTCONN;
	if (ch >= d->n_pt)
		return -ENOENT;
	if (!d->pt[ch].exec)
		return -EOPNOTSUPP;
	return write_value(d, ch, &d->pt[ch].exec_value, op);
}

/* ---- firmware ops ------------------------------------------------------------------ */

static int mb_fw_caps(void *device_ctx, struct gwd_fw_caps *caps)
{
	struct mb_dev *d = device_ctx;
	const struct mb_fw_cfg *c = &d->fwc;

	if (c->transport == MB_FW_NONE)
		return -ENOTSUP;
#define CAPS_HAS(m) (offsetof(struct gwd_fw_caps, m) + sizeof(caps->m) <= caps->size)
	if (CAPS_HAS(chunk_size))
		caps->chunk_size = mb_fw_chunk_size(c);
	if (CAPS_HAS(max_size))
		caps->max_size = c->max_size;
	/* The adapter gives up first: its own deadline, plus the last probe
	 * and version read in flight. */
	if (CAPS_HAS(apply_timeout_ms))
		caps->apply_timeout_ms = c->apply_timeout_ms + c->status_interval_ms +
					 2 * d->timeout_ms + 1000;
	if (CAPS_HAS(flags))
		caps->flags = c->version_reg >= 0 || d->identify ? GWD_FW_CAP_REPORTS_VERSION : 0;
#undef CAPS_HAS
	return 0;
}

static int mb_fw_open(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;
	const struct mb_fw_cfg *c = &d->fwc;
	uint64_t rec, records;

	if (c->transport == MB_FW_NONE)
		return -ENOTSUP;
	if (!d->started)
		return -ENOTCONN;
	if (d->fw.phase != FW_IDLE)
		return -EBUSY;
	if (!info || !info->size)
		return -EINVAL;
	if (c->max_size && info->size > c->max_size)
		return -ENOSPC;
	/* Room to address it: files of records, or a 32-bit offset. */
	if (c->transport == MB_FW_FILE_RECORD) {
		rec = c->record_regs * 2u;
		records = (info->size + rec - 1) / rec;
		if (c->file + (records - 1) / c->file_records > 65535)
			return -ENOSPC;
	} else if (info->size > UINT32_MAX) {
		return -ENOSPC;
	}
	if (!d->fw.timer && d->host->timer_new(on_fw_timer, d, &d->fw.timer) < 0)
		return -ENOMEM;
	d->fw.size = info->size;
	d->fw.written = 0;
	d->fw.crc32 = 0;
	d->fw.closed = false;
	d->fw.op = op;
	if (d->bus->updates >= d->bus->max_updates) {
		struct mb_dev **pp = (struct mb_dev **)&d->bus->fw_waiting;

		while (*pp)
			pp = &(*pp)->fw.next_waiting;
		*pp = d;
		d->fw.phase = FW_WAITING;
		d->host->log(d->dev, GWD_LOG_INFO,
			     "firmware: waiting for the bus (max_updates = %u running)",
			     d->bus->max_updates);
		return 0;
	}
	if (fw_begin(d) < 0) {
		d->fw.op = NULL;
		return -ENOMEM;
	}
	d->host->log(d->dev, GWD_LOG_INFO, "firmware: updating (%" PRIu64 " bytes, %s)",
		     info->size, c->transport == MB_FW_FILE_RECORD ? "file records"
								    : "register window");
	return 0;
}

static int mb_fw_write(void *device_ctx, uint64_t offset, const void *data, size_t len,
		       struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;
	uint32_t chunk = mb_fw_chunk_size(&d->fwc);
	int r;

	if (d->fw.phase != FW_READY || d->fw.closed)
		return d->fw.phase == FW_IDLE ? -ENOTCONN : -EBUSY;
	/* In order, whole chunks but the last. */
	if (offset != d->fw.written || !len || len > chunk || offset + len > d->fw.size ||
	    (len < chunk && offset + len != d->fw.size))
		return -EINVAL;
	memcpy(d->fw.chunk, data, len);
	d->fw.chunk_len = len;
	d->fw.tries = 0;
	d->fw.phase = FW_WRITE;
	d->fw.stage = 0;
	r = fw_submit_chunk(d);
	if (r < 0) {
		d->fw.phase = FW_READY;
		return r;
	}
	d->fw.op = op;
	return 0;
}

static int mb_fw_close(void *device_ctx, struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;
	const struct mb_fw_cfg *c = &d->fwc;
	struct mb_job *j;

	if (d->fw.phase != FW_READY || d->fw.closed)
		return d->fw.phase == FW_IDLE ? -ENOTCONN : -EBUSY;
	if (d->fw.written != d->fw.size)
		return -EINVAL;
	j = fw_job(d, MB_JOB_FW);
	if (!j)
		return -ENOMEM;
	if (c->transport == MB_FW_REGISTER_WINDOW && c->crc == MB_FW_CRC_IMAGE32)
		fw_put32(j, c->crc_reg, d->fw.crc32);
	fw_put16(j, c->command_reg, c->commit_value);
	fw_read_status(d, j);
	d->fw.phase = FW_CLOSE;
	d->fw.stage = 0;
	d->fw.deadline = d->host->now_ms() + c->status_timeout_ms;
	d->fw.op = op;
	mb_bus_submit(d->bus, j);
	return 0;
}

static int mb_fw_apply(void *device_ctx, struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;
	struct mb_job *j;

	if (d->fw.phase != FW_READY || !d->fw.closed)
		return d->fw.phase == FW_IDLE ? -ENOTCONN : -EBUSY;
	j = fw_job(d, MB_JOB_FW);
	if (!j)
		return -ENOMEM;
	fw_put16(j, d->fwc.command_reg, d->fwc.apply_value);
	j->fw->step[0].lenient = true;
	d->fw.phase = FW_APPLY;
	d->fw.stage = 0;
	d->fw.deadline = d->host->now_ms() + d->fwc.apply_timeout_ms;
	d->fw.op = op;
	mb_bus_submit(d->bus, j);
	return 0;
}

/* The daemon stopped during an apply: wait for the device as fw_apply does
 * after its command (status probes until fw_apply_timeout, then the
 * version), and compare the version with the package's.  Polling pauses
 * meanwhile; no update turn of the bus is taken (no image is sent). */
static int mb_fw_recover(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	struct mb_dev *d = device_ctx;
	uint64_t now = d->host->now_ms();

	if (d->fwc.transport == MB_FW_NONE)
		return -ENOTSUP;
	if (!d->started)
		return -ENOTCONN;
	if (d->fw.phase != FW_IDLE)
		return -EBUSY;
	if (!d->fw.timer && d->host->timer_new(on_fw_timer, d, &d->fw.timer) < 0)
		return -ENOMEM;
	snprintf(d->fw.expect, sizeof(d->fw.expect), "%s", info && info->version ? info->version : "");
	d->fw.recovering = true;
	d->fw.phase = FW_APPLY;
	d->fw.stage = 1;
	d->fw.deadline = now + d->fwc.apply_timeout_ms;
	d->fw.op = op;
	d->host->timer_arm(d->fw.timer, now);
	return 0;
}

/* Cancel: the op in flight completes now with -ECANCELED, the jobs still
 * queued are dropped (one on the wire comes back and is ignored), polling
 * resumes.  The device keeps what it received; a new update starts over. */
static void mb_fw_abort(void *device_ctx)
{
	struct mb_dev *d = device_ctx;
	struct gwd_op *op = d->fw.op;

	if (d->fw.phase == FW_IDLE)
		return;
	if (d->fw.phase == FW_WAITING)
		fw_unqueue(d);
	mb_bus_forget_kind(d->bus, d, MB_JOB_FW);
	if (d->fw.phase == FW_APPLY)
		mb_bus_forget_kind(d->bus, d, MB_JOB_IDENT);
	d->fw.op = NULL;
	d->host->log(d->dev, GWD_LOG_NOTICE, "firmware: update cancelled at %" PRIu64 " of %" PRIu64
		     " bytes", d->fw.written, d->fw.size);
	fw_end(d);
	if (op)
		d->host->complete(op, -ECANCELED, NULL);
}

static const struct gwd_adapter_ops mb_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.init = mb_init,
	.fini = mb_fini,
	.device_new = mb_device_new,
	.channel_new = mb_channel_new,
	.device_start = mb_device_start,
	.device_stop = mb_device_stop,
	.device_free = mb_device_free,
	.read = mb_read,
	.write = mb_write,
	.execute = mb_execute,
	.describe_plan = mb_describe_plan,
	.fw_open = mb_fw_open,
	.fw_write = mb_fw_write,
	.fw_close = mb_fw_close,
	.fw_apply = mb_fw_apply,
	.fw_abort = mb_fw_abort,
	.fw_caps = mb_fw_caps,
	.fw_recover = mb_fw_recover,
};

GWD_ADAPTER_DEFINE("modbus", "0.1.0", &mb_ops);
