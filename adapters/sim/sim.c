/* The "sim" adapter: simulated devices for demos, tests and benchmarks.
 *
 * Every value is deterministic: a time-driven channel's value is a function
 * of (seed, channel name, milliseconds since device_start on host->now_ms),
 * so a test with a fake clock gets exact numbers.  The model lives in
 * sim_model.c; this file is the glue to the host.  Users' documentation:
 * adapters/sim/README.md.
 *
 * Device keys (all optional):
 *   seed            int     default: a hash of the device's name
 *   fail            string  "none" (default), "timeout", "error", "silent"
 *   fail_after      int     ops (read/write/execute) that succeed before
 *                           failures start; default 0
 *   fail_for        int     ops that fail before the device recovers;
 *                           default 0 = forever
 *   fail_delay      float   seconds before a "timeout" op completes with
 *                           -ETIMEDOUT; default 1.0
 *   report_interval float   seconds between unsolicited reports of every
 *                           channel; default 0 = none
 *   report_delay    float   seconds after device_start before the report
 *                           grid starts; default 0
 *
 * Point keys (read only where they apply, so that a key with no effect is
 * reported as unknown):
 *   waveform  string  required: constant, sine, sawtooth, square,
 *                     random_walk, counter, output, execute
 *   type      string  reported value type: double (default), int, bool,
 *                     string (all but execute)
 *   base      float   constant value; centre of sine/sawtooth/square and
 *                     start of random_walk and counter; default 0
 *   amplitude float   sine/sawtooth/square peak; random_walk bound
 *                     (0 = unbounded); default 1
 *   period    float   seconds: a wave's cycle (default 60), or the time
 *                     between random_walk/counter steps (default 1)
 *   step      float   random_walk max step (default 0.1), counter
 *                     increment (default 1)
 *   initial   (type)  output's value before any write; default 0 / false / ""
 *   target    string  execute: channel of an EARLIER counter or output point
 *   action    string  execute: reset (default), toggle, increment
 *
 * Firmware slot (ABI 1.5 fw_* ops), with `firmware = true` (the fw_* keys
 * are read only then):
 *   fw_version      string  the version it runs at first; default "1.0.0"
 *   fw_chunk_size   int     bytes per fw_write; default 4096
 *   fw_max_size     int     largest package it takes; default 0 = any
 *   fw_reboot_time  float   seconds the "reboot" of fw_apply takes; default 2
 *   fw_mcuboot_only bool    takes MCUboot images only; default false
 *   fw_fail         string  none, refuse (-ENOTSUP at fw_open), busy
 *                           (-EBUSY), nospace (-ENOSPC), corrupt (a byte
 *                           flipped as stored: fw_close finds -EBADMSG),
 *                           apply (-EIO after the reboot), never (does not
 *                           come back)
 * The image goes to STATE_DIR/<device>.slot.sim as it is written, and the
 * version it runs to STATE_DIR/<device>.version.sim (kept across restarts,
 * for fw_recover).  While it "reboots", reports stop and reads wait.
 *
 * Ops never complete inside read/write/execute: results go through a queue
 * drained by one per-device timer armed at the earliest due time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd/adapter.h"
#include "sim_model.h"

#define NEVER UINT64_MAX

struct sim_adapter {
	const struct gwd_host *host;
	uint64_t n_devices; /* seeds devices when the host cannot name them */
};

struct sim_channel {
	char *name;
	enum sim_kind kind;
	enum sim_type type;
	struct sim_wave wave;
	struct sim_wave_state st;
	/* output: current and initial value; strings are owned here */
	struct gwd_value value, initial;
	/* execute */
	enum sim_action action;
	gwd_channel_t target;
};

struct sim_device;

/* An accepted op waiting for its completion. */
struct sim_pending {
	struct sim_pending *next;
	struct gwd_op *op;
	uint64_t due_ms; /* NEVER: only device_stop completes it */
	int status;
	bool has_value;       /* complete with value (reads) */
	bool report;          /* report value on report_ch first (writes, executes) */
	gwd_channel_t report_ch;
	struct gwd_value value; /* string bytes owned */
	/* Run just before completing (firmware: the reboot's end). */
	void (*before)(struct sim_device *d, struct sim_pending *p, int status);
	bool fw;              /* a firmware op (fw_abort takes it back) */
};

enum sim_fw_fail {
	FW_FAIL_NONE = 0,
	FW_FAIL_REFUSE,
	FW_FAIL_BUSY,
	FW_FAIL_NOSPACE,
	FW_FAIL_CORRUPT,
	FW_FAIL_APPLY,
	FW_FAIL_NEVER,
};

static const char *const fw_fail_names[] = {
	"none", "refuse", "busy", "nospace", "corrupt", "apply", "never",
};

struct sim_device {
	const struct gwd_host *host;
	struct gwd_device *dev;
	uint64_t seed;
	struct sim_fail fail;
	uint64_t fail_delay_ms;
	uint64_t report_ms; /* 0: no reports */
	uint64_t report_delay_ms; /* before the first report's period starts */

	struct sim_channel *ch;
	size_t n_ch, cap_ch;

	struct sim_pending *pending; /* sorted by due_ms, FIFO among equals */
	struct gwd_timer *op_timer;
	struct gwd_timer *report_timer;
	uint64_t report_due;

	/* The firmware slot. */
	bool fw_enabled;
	bool fw_mcuboot_only;
	enum sim_fw_fail fw_fail;
	uint32_t fw_chunk;
	uint64_t fw_max;
	uint64_t fw_reboot_ms;
	char fw_running[64];      /* the version it runs */
	char fw_next[64];         /* the package's, being installed */
	char *fw_slot_path, *fw_version_path;
	const char *fw_pkg_path;  /* the host's spool (borrowed during the update) */
	uint64_t fw_size;
	int fw_fd;                /* the slot being written */
	uint64_t reboot_until;    /* "rebooting" while now_ms < this */

	uint64_t t0;  /* now_ms at device_start */
	uint64_t ops; /* ops accepted so far: the failure schedule's clock */
	bool started;
	/* The host may free the device from inside a callback we made; the
	 * free then waits until we are out. */
	unsigned busy;
	bool doomed;
};

/* ---- values ------------------------------------------------------------------ */

static void value_clear(struct gwd_value *v)
{
	if (v->type == GWD_V_STRING || v->type == GWD_V_BYTES)
		free((void *)v->v.bytes.ptr);
	v->type = GWD_V_NONE;
}

/* dst = src, owning a copy of string bytes.  dst must be clear. */
static int value_copy(struct gwd_value *dst, const struct gwd_value *src)
{
	*dst = *src;
	if (src->type == GWD_V_STRING || src->type == GWD_V_BYTES) {
		char *p = malloc(src->v.bytes.len + 1);

		if (!p) {
			dst->type = GWD_V_NONE;
			return -ENOMEM;
		}
		if (src->v.bytes.len)
			memcpy(p, src->v.bytes.ptr, src->v.bytes.len);
		p[src->v.bytes.len] = '\0';
		dst->v.bytes.ptr = p;
	}
	return 0;
}

static struct gwd_value value_string(const char *s, size_t len)
{
	struct gwd_value v = {.type = GWD_V_STRING};

	v.v.bytes.ptr = s;
	v.v.bytes.len = len;
	return v;
}

/* A model number as the channel's type; strings go to buf. */
static struct gwd_value value_from_double(enum sim_type t, double x, char *buf, size_t len)
{
	switch (t) {
	case SIM_T_INT:
		if (!(x > (double)INT64_MIN)) /* also NaN */
			return gwd_value_int(INT64_MIN);
		if (x >= (double)INT64_MAX)
			return gwd_value_int(INT64_MAX);
		return gwd_value_int(llround(x));
	case SIM_T_BOOL:
		return gwd_value_bool(x > 0.0);
	case SIM_T_STRING: {
		int n = snprintf(buf, len, "%g", x);

		return value_string(buf, n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1);
	}
	case SIM_T_DOUBLE:
		break;
	}
	return gwd_value_double(x);
}

static bool value_number(const struct gwd_value *v, double *out)
{
	switch (v->type) {
	case GWD_V_BOOL:
		*out = v->v.b ? 1.0 : 0.0;
		return true;
	case GWD_V_INT:
		*out = (double)v->v.i;
		return true;
	case GWD_V_UINT:
		*out = (double)v->v.u;
		return true;
	case GWD_V_DOUBLE:
		*out = v->v.d;
		return true;
	default:
		return false;
	}
}

/* What a write stores into a channel of type t: numbers convert where no
 * information is lost; strings only go to strings.  Strings are copied. */
static int value_convert(enum sim_type t, const struct gwd_value *in, struct gwd_value *out)
{
	double x;

	switch (t) {
	case SIM_T_STRING:
		if (in->type != GWD_V_STRING)
			return -EINVAL;
		return value_copy(out, in);
	case SIM_T_BOOL:
		if (in->type == GWD_V_BOOL) {
			*out = *in;
			return 0;
		}
		if (!value_number(in, &x) || (x != 0.0 && x != 1.0))
			return -EINVAL;
		*out = gwd_value_bool(x == 1.0);
		return 0;
	case SIM_T_INT:
		if (in->type == GWD_V_INT) {
			*out = *in;
			return 0;
		}
		if (in->type == GWD_V_UINT) {
			if (in->v.u > (uint64_t)INT64_MAX)
				return -ERANGE;
			*out = gwd_value_int((int64_t)in->v.u);
			return 0;
		}
		if (!value_number(in, &x) || x != floor(x))
			return -EINVAL;
		if (x < -0x1p63 || x >= 0x1p63)
			return -ERANGE;
		*out = gwd_value_int((int64_t)x);
		return 0;
	case SIM_T_DOUBLE:
		if (!value_number(in, &x))
			return -EINVAL;
		*out = gwd_value_double(x);
		return 0;
	}
	return -EINVAL;
}

/* ---- channels ------------------------------------------------------------------ */

static struct sim_channel *channel_get(struct sim_device *d, gwd_channel_t ch)
{
	return ch < d->n_ch ? &d->ch[ch] : NULL;
}

static uint64_t device_time(const struct sim_device *d)
{
	uint64_t now = d->host->now_ms();

	return now > d->t0 ? now - d->t0 : 0;
}

/* A channel's current value; buf backs string values. */
static struct gwd_value channel_value(struct sim_device *d, struct sim_channel *c, char *buf,
				      size_t len)
{
	if (c->kind == SIM_OUTPUT)
		return c->value;
	return value_from_double(c->type, sim_wave_value(&c->wave, &c->st, device_time(d)), buf,
				 len);
}

/* ---- the pending queue ------------------------------------------------------------ */

static void pending_free(struct sim_pending *p)
{
	value_clear(&p->value);
	free(p);
}

static void op_timer_rearm(struct sim_device *d)
{
	if (!d->op_timer)
		return;
	if (d->started && d->pending && d->pending->due_ms != NEVER)
		d->host->timer_arm(d->op_timer, d->pending->due_ms);
	else
		d->host->timer_disarm(d->op_timer);
}

static void pending_push(struct sim_device *d, struct sim_pending *p)
{
	struct sim_pending **pp = &d->pending;

	while (*pp && (*pp)->due_ms <= p->due_ms)
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
	op_timer_rearm(d);
}

static void device_destroy(struct sim_device *d);

static void busy_enter(struct sim_device *d)
{
	d->busy++;
}

/* Returns false when the device was freed meanwhile: touch nothing then. */
static bool busy_leave(struct sim_device *d)
{
	if (--d->busy == 0 && d->doomed) {
		device_destroy(d);
		return false;
	}
	return true;
}

static void pending_finish(struct sim_device *d, struct sim_pending *p, int status)
{
	if (p->before)
		p->before(d, p, status);
	if (status == 0 && p->report)
		d->host->report(d->dev, p->report_ch, &p->value);
	d->host->complete(p->op, status, status == 0 && p->has_value ? &p->value : NULL);
	pending_free(p);
}

static void op_timer_fired(void *ud)
{
	struct sim_device *d = ud;
	uint64_t now = d->host->now_ms();

	busy_enter(d);
	/* complete() may start new ops or stop the device: re-read the head
	 * every time, and stop when the device went away. */
	while (!d->doomed && d->started && d->pending && d->pending->due_ms <= now) {
		struct sim_pending *p = d->pending;

		d->pending = p->next;
		pending_finish(d, p, p->status);
	}
	if (!d->doomed)
		op_timer_rearm(d);
	busy_leave(d);
}

/* Take an op: decide from the failure schedule whether and when it fails.
 * Returns true when the op fails (p is then fully set up). */
static bool schedule_failure(struct sim_device *d, struct sim_pending *p)
{
	uint64_t idx = d->ops++;
	uint64_t now = d->host->now_ms();

	p->due_ms = now;
	if (!sim_fail_hits(&d->fail, idx)) {
		if (d->fail.mode != SIM_FAIL_NONE && d->fail.count &&
		    idx == d->fail.after + d->fail.count)
			d->host->log(d->dev, GWD_LOG_NOTICE,
				     "simulated failure (%s) over after %" PRIu64 " failed ops",
				     sim_fail_name(d->fail.mode), d->fail.count);
		return false;
	}
	if (idx == d->fail.after)
		d->host->log(d->dev, GWD_LOG_NOTICE,
			     "simulating failure (%s) after %" PRIu64 " ops",
			     sim_fail_name(d->fail.mode), idx);
	switch (d->fail.mode) {
	case SIM_FAIL_TIMEOUT:
		p->status = -ETIMEDOUT;
		p->due_ms = now + d->fail_delay_ms;
		break;
	case SIM_FAIL_SILENT:
		p->status = -ECANCELED;
		p->due_ms = NEVER;
		break;
	case SIM_FAIL_ERROR:
	case SIM_FAIL_NONE:
		p->status = -EIO;
		break;
	}
	return true;
}

/* Common checks of read/write/execute; returns the channel or NULL with *err. */
static struct sim_channel *op_channel(struct sim_device *d, gwd_channel_t ch, int *err)
{
	struct sim_channel *c;

	if (!d->started) {
		*err = -ENOTCONN;
		return NULL;
	}
	c = channel_get(d, ch);
	if (!c) {
		*err = -ENOENT;
		return NULL;
	}
	return c;
}

/* ---- ops -------------------------------------------------------------------------- */

static int sim_init(const struct gwd_host *host, void **adapter_ctx)
{
	struct sim_adapter *ad;

	/* Everything up to fw_progress is used unconditionally. */
	if (GWD_HOST_REQUIRE(host, fw_progress))
		return -EPROTO;
	ad = calloc(1, sizeof(*ad));
	if (!ad)
		return -ENOMEM;
	ad->host = host;
	*adapter_ctx = ad;
	return 0;
}

static void sim_fini(void *adapter_ctx)
{
	free(adapter_ctx);
}

/* Range checks that keep going after an error, like gwd_cfg_read_*, so
 * that every error in a group is reported at once. */
static void check_min(const struct gwd_host *h, const struct gwd_cfg *n, const char *key,
		      double v, double min, bool inclusive, int *err)
{
	if (isnan(v) || v < min || (!inclusive && v == min))
		*err = h->cfg_error(n, key, "expected a number %s %g, found %g",
				    inclusive ? ">=" : ">", min, v);
}

/* ---- the firmware slot ------------------------------------------------------------- */

static void fw_free(struct sim_device *d)
{
	if (d->fw_fd >= 0)
		close(d->fw_fd);
	d->fw_fd = -1;
	free(d->fw_slot_path);
	free(d->fw_version_path);
	d->fw_slot_path = d->fw_version_path = NULL;
}

static void fw_config(struct sim_device *d, const struct gwd_cfg *device, int *err)
{
	const struct gwd_host *h = d->host;
	const char *version = "1.0.0", *fail = "none", *name, *dir;
	int64_t chunk = 4096, max = 0;
	double reboot = 2.0;
	bool on = false;
	size_t i;

	if (h->cfg_bool(device, "firmware", &on) == -EINVAL)
		*err = -EINVAL;
	if (!on)
		return;
	d->fw_enabled = true;
	gwd_cfg_read_string(h, device, "fw_version", &version, err);
	gwd_cfg_read_int(h, device, "fw_chunk_size", &chunk, err);
	gwd_cfg_read_int(h, device, "fw_max_size", &max, err);
	gwd_cfg_read_double(h, device, "fw_reboot_time", &reboot, err);
	gwd_cfg_read_bool(h, device, "fw_mcuboot_only", &d->fw_mcuboot_only, err);
	gwd_cfg_read_string(h, device, "fw_fail", &fail, err);
	if (chunk < 16 || chunk > 65536)
		*err = h->cfg_error(device, "fw_chunk_size", "expected 16..65536 bytes, found %" PRId64,
				    chunk);
	if (max < 0)
		*err = h->cfg_error(device, "fw_max_size", "expected a size >= 0, found %" PRId64,
				    max);
	check_min(h, device, "fw_reboot_time", reboot, 0.0, true, err);
	if (strlen(version) >= sizeof(d->fw_running))
		*err = h->cfg_error(device, "fw_version", "longer than %zu bytes",
				    sizeof(d->fw_running) - 1);
	for (i = 0; i < sizeof(fw_fail_names) / sizeof(fw_fail_names[0]); i++)
		if (strcmp(fail, fw_fail_names[i]) == 0)
			break;
	if (i == sizeof(fw_fail_names) / sizeof(fw_fail_names[0]))
		*err = h->cfg_error(device, "fw_fail",
				    "expected none, refuse, busy, nospace, corrupt, apply or never, "
				    "found \"%s\"", fail);
	d->fw_fail = (enum sim_fw_fail)i;
	d->fw_chunk = (uint32_t)chunk;
	d->fw_max = (uint64_t)max;
	d->fw_reboot_ms = gwd_ms_of(reboot);
	snprintf(d->fw_running, sizeof(d->fw_running), "%s", version);
	/* Where the slot and the running version live. */
	if (!GWD_HOST_HAS(h, state_dir) || !GWD_HOST_HAS(h, device_name) ||
	    !GWD_HOST_HAS(h, set_identity) ||
	    !(dir = h->state_dir(d->dev)) || !(name = h->device_name(d->dev))) {
		*err = h->cfg_error(device, "firmware", "needs a host with a state directory");
		return;
	}
	if (asprintf(&d->fw_slot_path, "%s/%s.slot.sim", dir, name) < 0)
		d->fw_slot_path = NULL;
	if (asprintf(&d->fw_version_path, "%s/%s.version.sim", dir, name) < 0)
		d->fw_version_path = NULL;
	if (!d->fw_slot_path || !d->fw_version_path)
		*err = -ENOMEM;
}

/* The version it runs: what the last update installed, else fw_version. */
static void fw_load_version(struct sim_device *d)
{
	FILE *f = fopen(d->fw_version_path, "re");
	char buf[64];

	if (f) {
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = '\0';
			if (buf[0])
				snprintf(d->fw_running, sizeof(d->fw_running), "%s", buf);
		}
		fclose(f);
	}
}

static void fw_save_version(struct sim_device *d, const char *v)
{
	FILE *f = fopen(d->fw_version_path, "we");

	if (!f) {
		d->host->log(d->dev, GWD_LOG_ERR, "cannot write %s", d->fw_version_path);
		return;
	}
	fprintf(f, "%s\n", v);
	fclose(f);
}

static int fw_caps(void *device_ctx, struct gwd_fw_caps *caps)
{
	struct sim_device *d = device_ctx;

	if (!d->fw_enabled)
		return -ENOTSUP;
	caps->chunk_size = d->fw_chunk;
	caps->max_size = d->fw_max;
	/* The reboot, and room for the host's own turn. */
	caps->apply_timeout_ms = (uint32_t)(d->fw_reboot_ms + 10000 > UINT32_MAX
						    ? UINT32_MAX : d->fw_reboot_ms + 10000);
	caps->flags = GWD_FW_CAP_REPORTS_VERSION | (d->fw_mcuboot_only ? GWD_FW_CAP_MCUBOOT_ONLY : 0);
	return 0;
}

/* Queue a firmware op's completion. */
static int fw_queue(struct sim_device *d, struct gwd_op *op, int status, uint64_t due,
		    void (*before)(struct sim_device *, struct sim_pending *, int))
{
	struct sim_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->op = op;
	p->status = status;
	p->due_ms = due;
	p->before = before;
	p->fw = true;
	pending_push(d, p);
	return 0;
}

static int fw_open(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	uint64_t now = d->host->now_ms();
	int status = 0;

	if (!d->started)
		return -ENOTCONN;
	switch (d->fw_fail) {
	case FW_FAIL_REFUSE:
		status = -ENOTSUP;
		break;
	case FW_FAIL_BUSY:
		status = -EBUSY;
		break;
	case FW_FAIL_NOSPACE:
		status = -ENOSPC;
		break;
	default:
		if (d->fw_mcuboot_only && info->format != GWD_FW_FMT_MCUBOOT)
			status = -ENOTSUP;
		break;
	}
	if (status == 0) {
		/* Erase the slot. */
		if (d->fw_fd >= 0)
			close(d->fw_fd);
		d->fw_fd = open(d->fw_slot_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (d->fw_fd < 0)
			status = -EIO;
		snprintf(d->fw_next, sizeof(d->fw_next), "%s", info->version ? info->version : "");
		d->fw_pkg_path = info->path;
		d->fw_size = info->size;
		d->host->log(d->dev, GWD_LOG_INFO, "firmware slot open for %" PRIu64 " bytes (%s)",
			     info->size, d->fw_next[0] ? d->fw_next : "no version");
	}
	return fw_queue(d, op, status, now, NULL);
}

static int fw_write(void *device_ctx, uint64_t offset, const void *data, size_t len,
		    struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	const uint8_t *p = data;
	uint64_t start = offset;
	int status = 0;

	if (d->fw_fd < 0)
		return -EBADF;
	while (len && status == 0) {
		ssize_t n = pwrite(d->fw_fd, p, len, (off_t)offset);
		if (n < 0 && errno != EINTR)
			status = errno == ENOSPC ? -ENOSPC : -EIO;
		if (n > 0) {
			p += n;
			offset += (uint64_t)n;
			len -= (size_t)n;
		}
	}
	/* Failure injection: the slot keeps one byte wrong. */
	if (status == 0 && d->fw_fail == FW_FAIL_CORRUPT && start == 0 && offset > 0) {
		uint8_t b = 0;
		if (pread(d->fw_fd, &b, 1, 0) == 1) {
			b ^= 0x5a;
			if (pwrite(d->fw_fd, &b, 1, 0) != 1)
				status = -EIO;
		}
	}
	return fw_queue(d, op, status, d->host->now_ms(), NULL);
}

/* The device checks what it stored against the package. */
static int fw_verify(struct sim_device *d)
{
	uint8_t a[4096], b[4096];
	int fd = open(d->fw_pkg_path, O_RDONLY | O_CLOEXEC);
	uint64_t off = 0;
	int r = 0;

	if (fd < 0)
		return -EIO;
	while (r == 0 && off < d->fw_size) {
		size_t n = d->fw_size - off < sizeof(a) ? (size_t)(d->fw_size - off) : sizeof(a);
		if (pread(fd, a, n, (off_t)off) != (ssize_t)n ||
		    pread(d->fw_fd, b, n, (off_t)off) != (ssize_t)n)
			r = -EBADMSG; /* short: not what was sent */
		else if (memcmp(a, b, n) != 0)
			r = -EBADMSG;
		off += n;
	}
	close(fd);
	return r;
}

static int fw_close(void *device_ctx, struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	int status;

	if (d->fw_fd < 0)
		return -EBADF;
	status = fw_verify(d);
	if (status < 0)
		d->host->log(d->dev, GWD_LOG_WARNING, "firmware image check failed");
	return fw_queue(d, op, status, d->host->now_ms(), NULL);
}

/* The end of the reboot: the device runs the new image (or the old). */
static void fw_booted(struct sim_device *d, struct sim_pending *p, int status)
{
	if (status == 0 && d->fw_next[0]) {
		snprintf(d->fw_running, sizeof(d->fw_running), "%s", d->fw_next);
		d->host->log(d->dev, GWD_LOG_NOTICE, "rebooted into firmware %s", d->fw_running);
	} else if (status != -ECANCELED) {
		d->host->log(d->dev, GWD_LOG_WARNING, "rebooted into the old firmware %s",
			     d->fw_running);
	}
	if (status == 0)
		d->host->set_identity(d->dev, GWD_ID_FIRMWARE, d->fw_running);
}

static int fw_apply(void *device_ctx, struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	uint64_t now = d->host->now_ms();
	uint64_t due = d->fw_fail == FW_FAIL_NEVER ? NEVER : now + d->fw_reboot_ms;
	int status = d->fw_fail == FW_FAIL_APPLY ? -EIO : 0;

	if (d->fw_fd < 0)
		return -EBADF;
	close(d->fw_fd);
	d->fw_fd = -1;
	/* Installed: it boots the new image from now on (a restart of the
	 * daemon meanwhile finds it so through fw_recover). */
	if (status == 0 && d->fw_fail != FW_FAIL_NEVER && d->fw_next[0])
		fw_save_version(d, d->fw_next);
	d->reboot_until = due;
	d->host->fw_progress(d->dev, 0);
	return fw_queue(d, op, status, due, fw_booted);
}

static void fw_abort(void *device_ctx)
{
	struct sim_device *d = device_ctx;

	busy_enter(d);
	for (struct sim_pending **pp = &d->pending; *pp;) {
		struct sim_pending *p = *pp;
		if (!p->fw) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		pending_finish(d, p, -ECANCELED);
	}
	if (d->fw_fd >= 0)
		close(d->fw_fd);
	d->fw_fd = -1;
	if (d->fw_slot_path)
		unlink(d->fw_slot_path);
	if (!d->doomed)
		op_timer_rearm(d);
	busy_leave(d);
}

static int fw_recover(void *device_ctx, const struct gwd_fw_info *info, struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	bool runs = info->version && strcmp(info->version, d->fw_running) == 0;

	if (d->fw_fail == FW_FAIL_NEVER)
		return fw_queue(d, op, 0, NEVER, NULL);
	return fw_queue(d, op, runs ? 0 : -EIO, d->host->now_ms(), NULL);
}

static int sim_device_new(void *adapter_ctx, struct gwd_device *dev,
			  const struct gwd_cfg *device, const struct gwd_cfg *bus,
			  void **device_ctx)
{
	struct sim_adapter *ad = adapter_ctx;
	const struct gwd_host *h = ad->host;
	struct sim_device *d;
	const char *fail = "none";
	int64_t seed = 0, after = 0, count = 0;
	double delay = 1.0, interval = 0.0, report_delay = 0.0;
	int err = 0, r;

	ad->n_devices++;
	r = h->cfg_int(device, "seed", &seed);
	if (r == 0) {
		/* used as given */
	} else if (r != -ENOENT) {
		err = -EINVAL;
	} else if (GWD_HOST_HAS(h, device_name) && h->device_name(dev)) {
		seed = (int64_t)sim_hash_str(h->device_name(dev));
	} else {
		seed = (int64_t)sim_mix64(ad->n_devices);
	}
	gwd_cfg_read_string(h, device, "fail", &fail, &err);
	gwd_cfg_read_int(h, device, "fail_after", &after, &err);
	gwd_cfg_read_int(h, device, "fail_for", &count, &err);
	gwd_cfg_read_double(h, device, "fail_delay", &delay, &err);
	gwd_cfg_read_double(h, device, "report_interval", &interval, &err);
	gwd_cfg_read_double(h, device, "report_delay", &report_delay, &err);

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->host = h;
	d->dev = dev;
	d->seed = (uint64_t)seed;
	if (sim_fail_parse(fail, &d->fail.mode) < 0)
		err = h->cfg_error(device, "fail",
				   "expected \"none\", \"timeout\", \"error\" or \"silent\", "
				   "found \"%s\"",
				   fail);
	if (after < 0)
		err = h->cfg_error(device, "fail_after", "expected a count >= 0, found %" PRId64,
				   after);
	if (count < 0)
		err = h->cfg_error(device, "fail_for", "expected a count >= 0, found %" PRId64,
				   count);
	check_min(h, device, "fail_delay", delay, 0.0, true, &err);
	check_min(h, device, "report_interval", interval, 0.0, true, &err);
	check_min(h, device, "report_delay", report_delay, 0.0, true, &err);
	d->fw_fd = -1;
	fw_config(d, device, &err);
	if (err < 0) {
		fw_free(d);
		free(d);
		return -EINVAL;
	}
	d->fail.after = (uint64_t)after;
	d->fail.count = (uint64_t)count;
	d->fail_delay_ms = (uint64_t)llround(delay * 1000.0);
	d->report_ms = (uint64_t)llround(interval * 1000.0);
	if (interval > 0.0 && d->report_ms == 0)
		d->report_ms = 1;
	d->report_delay_ms = (uint64_t)llround(report_delay * 1000.0);
	*device_ctx = d;
	return 0;
}

/* Keys of a time-driven point. */
static void wave_config(const struct gwd_host *h, const struct gwd_cfg *point,
			struct sim_channel *c, int *err)
{
	struct sim_wave *w = &c->wave;
	bool periodic = c->kind == SIM_SINE || c->kind == SIM_SAWTOOTH || c->kind == SIM_SQUARE;

	w->kind = c->kind;
	w->base = 0.0;
	w->amplitude = 1.0;
	w->period_s = sim_default_period(c->kind);
	w->step = sim_default_step(c->kind);
	gwd_cfg_read_double(h, point, "base", &w->base, err);
	if (periodic || c->kind == SIM_RANDOM_WALK)
		gwd_cfg_read_double(h, point, "amplitude", &w->amplitude, err);
	if (c->kind != SIM_CONSTANT) {
		gwd_cfg_read_double(h, point, "period", &w->period_s, err);
		check_min(h, point, "period", w->period_s, 0.0, false, err);
	}
	if (c->kind == SIM_RANDOM_WALK || c->kind == SIM_COUNTER)
		gwd_cfg_read_double(h, point, "step", &w->step, err);
	if (c->kind == SIM_RANDOM_WALK) {
		check_min(h, point, "step", w->step, 0.0, true, err);
		check_min(h, point, "amplitude", w->amplitude, 0.0, true, err);
	}
}

/* The `initial` key of an output point, in its type. */
static void output_config(const struct gwd_host *h, const struct gwd_cfg *point,
			  struct sim_channel *c, int *err)
{
	struct gwd_value v = gwd_value_double(0.0);
	const char *s = "";
	int64_t i = 0;
	double x = 0.0;
	bool b = false;

	switch (c->type) {
	case SIM_T_DOUBLE:
		gwd_cfg_read_double(h, point, "initial", &x, err);
		v = gwd_value_double(x);
		break;
	case SIM_T_INT:
		gwd_cfg_read_int(h, point, "initial", &i, err);
		v = gwd_value_int(i);
		break;
	case SIM_T_BOOL:
		if (h->cfg_bool(point, "initial", &b) == -EINVAL)
			*err = -EINVAL;
		v = gwd_value_bool(b);
		break;
	case SIM_T_STRING:
		gwd_cfg_read_string(h, point, "initial", &s, err);
		v = value_string(s, strlen(s));
		break;
	}
	if (value_copy(&c->initial, &v) < 0 || value_copy(&c->value, &v) < 0)
		*err = -ENOMEM;
}

static struct sim_channel *channel_find(struct sim_device *d, const char *name)
{
	for (size_t i = 0; i < d->n_ch; i++)
		if (strcmp(d->ch[i].name, name) == 0)
			return &d->ch[i];
	return NULL;
}

/* The `target` and `action` keys of an execute point. */
static void execute_config(struct sim_device *d, const struct gwd_cfg *point,
			   struct sim_channel *c, int *err)
{
	const struct gwd_host *h = d->host;
	const char *target = NULL, *action = "reset";
	struct sim_channel *t;
	bool ok;

	gwd_cfg_read_string(h, point, "target", &target, err);
	gwd_cfg_read_string(h, point, "action", &action, err);
	if (sim_action_parse(action, &c->action) < 0) {
		*err = h->cfg_error(point, "action",
				    "expected \"reset\", \"toggle\" or \"increment\", found \"%s\"",
				    action);
		return;
	}
	if (!target) {
		if (*err == 0)
			*err = h->cfg_error(point, "target",
					    "an execute point needs the channel of an earlier "
					    "counter or output point");
		return;
	}
	t = channel_find(d, target);
	if (!t) {
		*err = h->cfg_error(point, "target",
				    "no earlier point of this device has channel \"%s\"", target);
		return;
	}
	switch (c->action) {
	case SIM_RESET:
		ok = t->kind == SIM_COUNTER || t->kind == SIM_OUTPUT;
		break;
	case SIM_TOGGLE:
		ok = t->kind == SIM_OUTPUT && t->type == SIM_T_BOOL;
		break;
	case SIM_INCREMENT:
		ok = t->kind == SIM_COUNTER ||
		     (t->kind == SIM_OUTPUT && (t->type == SIM_T_INT || t->type == SIM_T_DOUBLE));
		break;
	default:
		ok = false;
	}
	if (!ok) {
		*err = h->cfg_error(point, "target", "action %s cannot act on \"%s\" (%s, %s)",
				    sim_action_name(c->action), target, sim_kind_name(t->kind),
				    sim_type_name(t->type));
		return;
	}
	c->target = (gwd_channel_t)(t - d->ch);
}

static void channel_clear(struct sim_channel *c)
{
	free(c->name);
	value_clear(&c->value);
	value_clear(&c->initial);
}

static int sim_channel_new(void *device_ctx, const char *channel, const struct gwd_cfg *point,
			   gwd_channel_t *out)
{
	struct sim_device *d = device_ctx;
	const struct gwd_host *h = d->host;
	const char *waveform = NULL, *type = "double";
	struct sim_channel c = {0};
	int err = 0;

	if (d->n_ch == d->cap_ch) {
		size_t cap = d->cap_ch ? d->cap_ch * 2 : 2; /* most devices have few */
		struct sim_channel *v = realloc(d->ch, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->ch = v;
		d->cap_ch = cap;
	}
	if (d->n_ch >= GWD_CHANNEL_ALL)
		return -ENOSPC;

	gwd_cfg_read_string(h, point, "waveform", &waveform, &err);
	if (!waveform) {
		if (err == 0)
			err = h->cfg_error(point, "waveform",
					   "required: constant, sine, sawtooth, square, "
					   "random_walk, counter, output or execute");
		return -EINVAL;
	}
	if (sim_kind_parse(waveform, &c.kind) < 0)
		return h->cfg_error(point, "waveform",
				    "expected constant, sine, sawtooth, square, random_walk, "
				    "counter, output or execute, found \"%s\"",
				    waveform);
	if (c.kind != SIM_EXECUTE) {
		gwd_cfg_read_string(h, point, "type", &type, &err);
		if (sim_type_parse(type, &c.type) < 0)
			err = h->cfg_error(point, "type",
					   "expected \"double\", \"int\", \"bool\" or \"string\", "
					   "found \"%s\"",
					   type);
	}
	c.name = strdup(channel);
	if (!c.name)
		return -ENOMEM;
	if (sim_kind_is_wave(c.kind)) {
		wave_config(h, point, &c, &err);
		c.wave.seed = sim_channel_seed(d->seed, channel);
	} else if (c.kind == SIM_OUTPUT) {
		output_config(h, point, &c, &err);
	} else {
		execute_config(d, point, &c, &err);
	}
	if (err < 0) {
		channel_clear(&c);
		return err == -ENOMEM ? err : -EINVAL;
	}
	d->ch[d->n_ch] = c;
	*out = (gwd_channel_t)d->n_ch++;
	return 0;
}

static bool rebooting(const struct sim_device *d)
{
	return d->reboot_until && d->host->now_ms() < d->reboot_until;
}

static void report_all(struct sim_device *d)
{
	char buf[32];

	if (rebooting(d))
		return; /* a rebooting device says nothing */
	if (sim_fail_hits(&d->fail, d->ops)) {
		/* A failing device: say so instead (a silent one says nothing). */
		if (d->fail.mode == SIM_FAIL_ERROR)
			d->host->report_error(d->dev, GWD_CHANNEL_ALL, -EIO);
		else if (d->fail.mode == SIM_FAIL_TIMEOUT)
			d->host->report_error(d->dev, GWD_CHANNEL_ALL, -ETIMEDOUT);
		return;
	}
	for (size_t i = 0; i < d->n_ch && !d->doomed && d->started; i++) {
		struct sim_channel *c = &d->ch[i];
		struct gwd_value v;

		if (c->kind == SIM_EXECUTE)
			continue;
		v = channel_value(d, c, buf, sizeof(buf));
		d->host->report(d->dev, (gwd_channel_t)i, &v);
	}
}

static void report_timer_fired(void *ud)
{
	struct sim_device *d = ud;
	uint64_t now = d->host->now_ms();

	busy_enter(d);
	report_all(d);
	if (!d->doomed && d->started) {
		/* Keep to the original grid; skip periods we were too late for. */
		d->report_due += d->report_ms;
		if (d->report_due <= now)
			d->report_due += ((now - d->report_due) / d->report_ms + 1) * d->report_ms;
		d->host->timer_arm(d->report_timer, d->report_due);
	}
	busy_leave(d);
}

static int sim_device_start(void *device_ctx)
{
	struct sim_device *d = device_ctx;
	const struct gwd_host *h = d->host;
	int r;

	if (d->started)
		return -EALREADY;
	if (!d->op_timer) {
		r = h->timer_new(op_timer_fired, d, &d->op_timer);
		if (r < 0)
			return r;
	}
	if (d->report_ms && !d->report_timer) {
		r = h->timer_new(report_timer_fired, d, &d->report_timer);
		if (r < 0)
			return r;
	}
	d->t0 = h->now_ms();
	for (size_t i = 0; i < d->n_ch; i++)
		sim_wave_state_reset(&d->ch[i].st);
	d->started = true;
	if (d->fw_enabled) {
		fw_load_version(d);
		h->set_identity(d->dev, GWD_ID_FIRMWARE, d->fw_running);
	}
	if (d->report_timer) {
		/* A delay holds the values still, e.g. while a benchmark's server
		 * sets its observations up. */
		d->report_due = d->t0 + d->report_delay_ms + d->report_ms;
		h->timer_arm(d->report_timer, d->report_due);
	}
	return 0;
}

static void sim_device_stop(void *device_ctx)
{
	struct sim_device *d = device_ctx;

	if (!d->started)
		return;
	d->started = false;
	if (d->op_timer)
		d->host->timer_disarm(d->op_timer);
	if (d->report_timer)
		d->host->timer_disarm(d->report_timer);
	busy_enter(d);
	/* Ops started from inside complete() are refused: we are stopped. */
	while (!d->doomed && d->pending) {
		struct sim_pending *p = d->pending;

		d->pending = p->next;
		pending_finish(d, p, -ECANCELED);
	}
	busy_leave(d);
}

static void device_destroy(struct sim_device *d)
{
	const struct gwd_host *h = d->host;

	/* Ops still pending here were never stopped: drop them. */
	while (d->pending) {
		struct sim_pending *p = d->pending;

		d->pending = p->next;
		pending_free(p);
	}
	if (d->op_timer)
		h->timer_free(d->op_timer);
	if (d->report_timer)
		h->timer_free(d->report_timer);
	for (size_t i = 0; i < d->n_ch; i++)
		channel_clear(&d->ch[i]);
	free(d->ch);
	fw_free(d);
	free(d);
}

static void sim_device_free(void *device_ctx)
{
	struct sim_device *d = device_ctx;

	if (!d)
		return;
	if (d->busy) {
		d->doomed = true;
		return;
	}
	device_destroy(d);
}

static int sim_read(void *device_ctx, gwd_channel_t ch, struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	struct sim_channel *c;
	struct sim_pending *p;
	struct gwd_value v;
	char buf[32];
	int err;

	c = op_channel(d, ch, &err);
	if (!c)
		return err;
	if (c->kind == SIM_EXECUTE)
		return -EOPNOTSUPP;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->op = op;
	if (!schedule_failure(d, p)) {
		/* The value as sampled now, whenever the completion runs. */
		v = channel_value(d, c, buf, sizeof(buf));
		if (value_copy(&p->value, &v) < 0) {
			free(p);
			return -ENOMEM;
		}
		p->has_value = true;
	}
	/* A rebooting device answers once it is back. */
	if (rebooting(d) && p->due_ms < d->reboot_until)
		p->due_ms = d->reboot_until;
	pending_push(d, p);
	return 0;
}

static int sim_write(void *device_ctx, gwd_channel_t ch, const struct gwd_value *v,
		     struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	struct sim_channel *c;
	struct sim_pending *p;
	struct gwd_value nv = {0};
	int err;

	c = op_channel(d, ch, &err);
	if (!c)
		return err;
	if (c->kind != SIM_OUTPUT)
		return -EOPNOTSUPP;
	/* A value of the wrong kind is the caller's error, not the device's. */
	err = value_convert(c->type, v, &nv);
	if (err < 0)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p) {
		value_clear(&nv);
		return -ENOMEM;
	}
	p->op = op;
	if (!schedule_failure(d, p)) {
		if (value_copy(&p->value, &nv) < 0) {
			value_clear(&nv);
			free(p);
			return -ENOMEM;
		}
		/* Takes effect now: a read issued next sees it. */
		value_clear(&c->value);
		c->value = nv;
		nv.type = GWD_V_NONE;
		p->report = true;
		p->report_ch = ch;
	}
	value_clear(&nv);
	pending_push(d, p);
	return 0;
}

/* Apply an execute channel's action; returns the target. */
static gwd_channel_t execute_action(struct sim_device *d, const struct sim_channel *c)
{
	struct sim_channel *t = &d->ch[c->target];

	switch (c->action) {
	case SIM_RESET:
		if (t->kind == SIM_COUNTER) {
			sim_counter_reset(&t->st, device_time(d));
		} else {
			struct gwd_value copy;

			if (value_copy(&copy, &t->initial) == 0) {
				value_clear(&t->value);
				t->value = copy;
			}
		}
		break;
	case SIM_TOGGLE:
		t->value.v.b = !t->value.v.b;
		break;
	case SIM_INCREMENT:
		if (t->kind == SIM_COUNTER)
			sim_counter_increment(&t->wave, &t->st);
		else if (t->value.type == GWD_V_INT)
			t->value.v.i++;
		else
			t->value.v.d += 1.0;
		break;
	}
	return c->target;
}

static int sim_execute(void *device_ctx, gwd_channel_t ch, const void *args, size_t len,
		       struct gwd_op *op)
{
	struct sim_device *d = device_ctx;
	struct sim_channel *c, *t;
	struct sim_pending *p;
	struct gwd_value v;
	char buf[32];
	int err;

	c = op_channel(d, ch, &err);
	if (!c)
		return err;
	if (c->kind != SIM_EXECUTE)
		return -EOPNOTSUPP;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->op = op;
	if (!schedule_failure(d, p)) {
		p->report_ch = execute_action(d, c);
		t = &d->ch[p->report_ch];
		v = channel_value(d, t, buf, sizeof(buf));
		p->report = value_copy(&p->value, &v) == 0;
	}
	pending_push(d, p);
	return 0;
}

static const struct gwd_adapter_ops sim_ops = {
	.size = sizeof(struct gwd_adapter_ops),
	.init = sim_init,
	.fini = sim_fini,
	.device_new = sim_device_new,
	.channel_new = sim_channel_new,
	.device_start = sim_device_start,
	.device_stop = sim_device_stop,
	.device_free = sim_device_free,
	.read = sim_read,
	.write = sim_write,
	.execute = sim_execute,
	.fw_open = fw_open,
	.fw_write = fw_write,
	.fw_close = fw_close,
	.fw_apply = fw_apply,
	.fw_abort = fw_abort,
	.fw_caps = fw_caps,
	.fw_recover = fw_recover,
};

GWD_ADAPTER_DEFINE("sim", "0.1.0", &sim_ops);
