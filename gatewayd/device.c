#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <time.h>

#include "clock.h"
#include "file.h"
#include "firmware.h"
#include "device_health.h"
#include "host.h"
#include "log.h"
#include "statefile.h"
#include "lwm2m/acl.h"
#include "lwm2m/bootstrap.h"
#include "lwm2m/codec.h"
#include "lwm2m/objdefs.h"
#include "lwm2m/security.h"
#include "transform.h"

/* IPSO sensor pattern: Sensor Value and the min/max measured beside it. */
#define IPSO_SENSOR_VALUE 5700
#define IPSO_MIN_MEASURED 5601
#define IPSO_MAX_MEASURED 5602
#define IPSO_SENSOR_UNITS 5701
#define IPSO_RESET_MIN_MAX 5605
#define IPSO_MIN_RANGE 5603
#define IPSO_MAX_RANGE 5604
#define IPSO_APPLICATION_TYPE 5750

/* Device resources the daemon itself maintains; a point may not map them. */
static bool daemon_owned(uint16_t oid, uint16_t rid)
{
	static const uint16_t device_rids[] = {0, 1, 2, 3, 11, 12, 13, 14, 15, 16};

	if (oid != 3)
		return false;
	for (size_t i = 0; i < sizeof(device_rids) / sizeof(device_rids[0]); i++)
		if (rid == device_rids[i])
			return true;
	return false;
}

struct gw_point {
	const struct cfg_point *cfg;
	gwd_channel_t ch;
	struct lwm_path path;
	enum lwm_type type;       /* the resource's type */
	bool has_min_max;         /* the object has Min/Max Measured Value */
	bool read_pending;
	bool readable;            /* the resource has R: poll it */
	bool first_read_done;     /* its first read completed or failed */
	bool warned;              /* a conversion problem was logged once */
	uint64_t next_poll_ms;
};

struct gwd_device {
	const struct cfg_device *cfg;
	const char *state_dir;    /* borrowed from the config */
	uint32_t store_count, store_bytes; /* the gateway's store bounds */
	struct gw_adapter *adapter;
	const struct gwd_adapter_ops *ops;
	void *actx;               /* the adapter's per-device state */
	struct gw_point *points;
	size_t n_points;
	/* The data model all the device's registrations serve, and one LwM2M
	 * client (registration) per server, clients[i] for dc->servers[i]. */
	struct lwm_model *model;
	struct lwm_client **clients;
	size_t n_clients;
	struct lwm_engine *engine;
	/* Bootstrap, when a bootstrap server is configured (NULL otherwise):
	 * it writes the accounts into the model and the clients are made
	 * from them. */
	struct lwm_bootstrap *bs;
	struct gw_timer bs_timer;  /* Bootstrap-Request Trigger, outside the handler */
	struct gw_timer poll_timer;
	/* Registration waits for the first readings (or READY_WAIT_MS), so
	 * that a server reading right after it finds values. */
	size_t first_reads_left;
	struct gw_timer ready_timer;
	bool started;
	unsigned failures;        /* consecutive failed operations */
	bool down;
	bool adapter_judges;      /* the adapter reports UP/DOWN itself (set_state) */
	size_t ops_in_flight;
	struct dev_health health; /* Error Code, stale points (device_health.c) */
	struct gw_timer reboot_timer; /* Execute /3/0/4, after its answer */
	/* device_retire: done(d, ud) once every De-register is answered, or
	 * when retire_timer (the deadline, then "now") fires. */
	bool retiring;
	struct gw_timer retire_timer;
	void (*retire_done)(struct gwd_device *d, void *ud);
	void *retire_ud;
	/* What the control socket shows (gatewayctl device, metrics). */
	struct device_counters ctr;
	int down_cause;           /* negative errno of the last failure */
	uint64_t last_reading_ms; /* clock_now_ms of the last value; 0: none yet */
	/* Object 5, when the adapter or a command hook can update the device,
	 * and the credentials its coaps:// pulls use. */
	struct fw_obj *fw;
	struct lwm_security *fw_security;
};

enum op_kind { OP_READ, OP_WRITE, OP_EXECUTE, OP_FW };

/* One server request, possibly spanning several points. */
struct op_batch {
	struct lwm_op *lop;
	unsigned pending;
	int status; /* the first failure */
};

struct gwd_op {
	struct gwd_device *dev;
	enum op_kind kind;
	size_t point;
	struct op_batch *batch;  /* OP_WRITE, OP_EXECUTE */
	struct lwm_value written; /* OP_WRITE of a number or boolean: kept on success */
};

const char *device_name(const struct gwd_device *d)
{
	return d->cfg->name;
}

const char *device_state_dir(const struct gwd_device *d)
{
	return d->state_dir;
}

struct lwm_client *device_client(struct gwd_device *d)
{
	return d->n_clients ? d->clients[0] : NULL;
}

size_t device_client_count(const struct gwd_device *d)
{
	return d->n_clients;
}

struct lwm_client *device_client_at(struct gwd_device *d, size_t i)
{
	return i < d->n_clients ? d->clients[i] : NULL;
}

struct lwm_model *device_model(struct gwd_device *d)
{
	return d->model;
}

/* A value in the model changed: observations are per server. */
static void values_changed(struct gwd_device *d, const struct lwm_path *p)
{
	for (size_t i = 0; i < d->n_clients; i++)
		lwm_client_values_changed(d->clients[i], p);
}

bool device_is_down(const struct gwd_device *d)
{
	return d->down;
}

bool device_is_started(const struct gwd_device *d)
{
	return d->started;
}

int device_down_cause(const struct gwd_device *d)
{
	return d->down_cause;
}

const char *device_adapter_name(const struct gwd_device *d)
{
	return loader_name(d->adapter);
}

int device_describe_plan(const struct gwd_device *d, char *buf, size_t len)
{
	if (!d->ops->describe_plan)
		return -ENOTSUP;
	return d->ops->describe_plan(d->actx, buf, len);
}

const struct cfg_device *device_config(const struct gwd_device *d)
{
	return d->cfg;
}

const struct device_counters *device_counters(const struct gwd_device *d)
{
	return &d->ctr;
}

uint64_t device_last_reading_ms(const struct gwd_device *d)
{
	return d->last_reading_ms;
}

static void ready_timeout(struct gw_timer *t, void *ud);
static void reboot_due(struct gw_timer *t, void *ud);
static void retire_due(struct gw_timer *t, void *ud);

/* Start the LwM2M registrations, once. */
static void register_client(struct gwd_device *d)
{
	gw_timer_disarm(&d->ready_timer);
	for (size_t i = 0; i < d->n_clients; i++)
		if (lwm_client_state(d->clients[i]) == LWM_CLIENT_IDLE)
			lwm_client_start(d->clients[i]);
}

size_t device_check_points(struct cfg *cfg, const struct cfg_device *dc)
{
	size_t errors = 0;

	for (size_t i = 0; i < dc->n_points; i++) {
		const struct cfg_point *p = &dc->points[i];
		const struct lwm_obj_def *o = lwm_objdef_find(p->oid);
		const struct lwm_res_def *r = o ? lwm_resdef_find(o, p->rid) : NULL;
		const config_setting_t *s = p->node.own;
		const config_setting_t *ps = s ? config_setting_get_member(s, "path") : NULL;

		if (!ps)
			ps = s;
		if (!o) {
			cfg_diag_add(cfg, ps, "object %u is not in the object table", p->oid);
			errors++;
		} else if (p->oid <= 2) {
			cfg_diag_add(cfg, ps, "object %u belongs to the LwM2M client and cannot be mapped",
				     p->oid);
			errors++;
		} else if (!r) {
			cfg_diag_add(cfg, ps, "object %u (%s) has no resource %u", p->oid, o->name,
				     p->rid);
			errors++;
		} else if (r->multiple) {
			cfg_diag_add(cfg, ps, "resource /%u/%u (%s) has multiple instances; "
				     "mapping a point to it is not supported yet", p->oid, p->rid, r->name);
			errors++;
		} else if (daemon_owned(p->oid, p->rid)) {
			cfg_diag_add(cfg, ps, "resource /3/0/%u (%s) is maintained by gatewayd; "
				     "set identity with the device's manufacturer/model/serial/"
				     "firmware_version keys", p->rid, r->name);
			errors++;
		} else if (p->units && !lwm_resdef_find(o, IPSO_SENSOR_UNITS)) {
			const config_setting_t *us = config_setting_get_member(s, "units");
			cfg_diag_add(cfg, us ? us : ps, "object %u (%s) has no Sensor Units resource (5701)",
				     p->oid, o->name);
			errors++;
		} else if (p->oid == 3 && !o->multiple && p->iid != 0) {
			cfg_diag_add(cfg, ps, "object 3 has the single instance 0");
			errors++;
		}
	}
	return errors;
}

/* ---- values in -------------------------------------------------------------- */

static void health_changed(const struct lwm_path *p, void *ud)
{
	values_changed(ud, p);
}

static void mark_down(struct gwd_device *d, bool down)
{
	d->down = down;
	health_set_down(&d->health, down); /* Error Code 8 while down */
	for (size_t i = 0; i < d->n_clients; i++)
		lwm_client_set_available(d->clients[i], !down);
}

static void note_success(struct gwd_device *d)
{
	d->failures = 0;
	if (d->down && !d->adapter_judges) {
		mark_down(d, false);
		log_notice(device_name(d), "device answers again; error code cleared");
	}
}

static void note_failure(struct gwd_device *d, int err)
{
	d->failures++;
	d->ctr.errors++;
	if (err == -ETIMEDOUT)
		d->ctr.timeouts++;
	d->down_cause = err;
	health_failure(&d->health); /* reports again after Reset Error Code */
	if (!d->down && !d->adapter_judges && d->failures >= DEVICE_DOWN_AFTER) {
		mark_down(d, true);
		log_warn(device_name(d), "device down after %u failed operations (last: %s)",
			 d->failures, strerror(-err));
	}
}

void device_set_state(struct gwd_device *d, enum gwd_device_state state, int cause)
{
	bool down = state == GWD_STATE_DOWN;

	d->adapter_judges = true;
	if (down)
		d->down_cause = cause < 0 ? cause : -EIO;
	if (down == d->down)
		return;
	mark_down(d, down);
	if (down)
		log_warn(device_name(d), "device down (%s)", strerror(cause < 0 ? -cause : EIO));
	else
		log_notice(device_name(d), "device answers again; error code cleared");
}

void device_set_identity(struct gwd_device *d, enum gwd_identity field, const char *value)
{
	const struct cfg_device *dc = d->cfg;
	const char *configured[] = {dc->manufacturer, dc->model, dc->serial, dc->firmware_version};
	struct lwm_path p;
	struct lwm_value v = {.type = LWM_T_STRING};
	struct lwm_buf text;

	if ((unsigned)field > GWD_ID_FIRMWARE || !value || !d->model)
		return;
	if (field == GWD_ID_FIRMWARE && d->fw)
		firmware_version_reported(d->fw, value);
	/* The operator's word wins, but for the firmware of a device that
	 * Object 5 updates: that changes under the configuration's feet. */
	if (configured[field] && !(field == GWD_ID_FIRMWARE && d->fw))
		return;
	p = lwm_path_make(3, 3, 0, (uint16_t)field, 0);
	/* Device text: invalid UTF-8 becomes U+FFFD (see transform.h). */
	lwm_buf_init(&text, 0);
	if (lwm_utf8_repair((const uint8_t *)value, strlen(value), &text, &v.v.bytes.ptr,
			    &v.v.bytes.len) == 0 &&
	    lwm_model_set(d->model, &p, &v) == 1)
		log_info(device_name(d), "device reports %s \"%.*s\"",
			 (const char *[]){"manufacturer", "model", "serial number",
					  "firmware version"}[field],
			 (int)v.v.bytes.len, (const char *)v.v.bytes.ptr);
	lwm_buf_free(&text);
}

static void track_min_max(struct gwd_device *d, const struct gw_point *pt, double x)
{
	struct lwm_model *m = d->model;
	struct lwm_path pmin = pt->path, pmax = pt->path;
	const struct lwm_value *cur;
	struct lwm_value v = {.type = LWM_T_FLOAT};

	v.v.f = x;
	LWM_PATH_RID(&pmin) = IPSO_MIN_MEASURED;
	LWM_PATH_RID(&pmax) = IPSO_MAX_MEASURED;
	cur = lwm_model_get(m, &pmin);
	if ((!cur || cur->type != LWM_T_FLOAT || x < cur->v.f) && lwm_model_set(m, &pmin, &v) == 1)
		values_changed(d, &pmin); /* observers */
	cur = lwm_model_get(m, &pmax);
	if ((!cur || cur->type != LWM_T_FLOAT || x > cur->v.f) && lwm_model_set(m, &pmax, &v) == 1)
		values_changed(d, &pmax); /* observers */
}

static void apply_value(struct gwd_device *d, struct gw_point *pt, const struct gwd_value *raw)
{
	struct lwm_value v;
	struct lwm_buf text; /* allocates only to repair invalid UTF-8 */
	char strbuf[32];
	int r;

	if (!d->model)
		return;
	lwm_buf_init(&text, 0);
	r = transform_to_resource(pt->cfg, raw, pt->type, &v, strbuf, &text);
	if (r == 0)
		r = lwm_model_set(d->model, &pt->path, &v);
	lwm_buf_free(&text);
	if (r < 0) {
		if (!pt->warned) {
			char path[32];
			lwm_path_format(&pt->path, path, sizeof(path));
			log_warn(device_name(d), "channel %s: value not usable for %s (%s): %s",
				 pt->cfg->channel, path, lwm_type_name(pt->type), strerror(-r));
			pt->warned = true;
		}
		return;
	}
	pt->warned = false;
	d->last_reading_ms = clock_now_ms();
	health_fresh(&d->health, (size_t)(pt - d->points), clock_now_ms());
	if (r == 1)
		values_changed(d, &pt->path); /* observers */
	if (pt->has_min_max && v.type == LWM_T_FLOAT)
		track_min_max(d, pt, v.v.f);
}

void device_report(struct gwd_device *d, gwd_channel_t ch, const struct gwd_value *v)
{
	note_success(d);
	for (size_t i = 0; i < d->n_points; i++)
		if (d->points[i].ch == ch)
			apply_value(d, &d->points[i], v);
}

void device_report_error(struct gwd_device *d, gwd_channel_t ch, int err)
{
	note_failure(d, err < 0 ? err : -EIO);
}

/* ---- polling ---------------------------------------------------------------- */

/* Shortest sampling period an observation may ask for. */
#define POLL_MIN_MS 100

/* The point's poll period, shortened while an observation needs fresher
 * values than it gives; unobserved points keep their configured period. */
static uint64_t poll_period(struct gwd_device *d, const struct gw_point *pt)
{
	uint64_t ms = pt->cfg->poll_ms;
	uint32_t need = 0;

	/* The most demanding observation of any server. */
	for (size_t i = 0; i < d->n_clients; i++) {
		uint32_t n = lwm_client_sample_ms(d->clients[i], &pt->path);
		if (n && (!need || n < need))
			need = n;
	}

	if (need && need < POLL_MIN_MS)
		need = POLL_MIN_MS;
	if (ms && need && need < ms)
		ms = need;
	return ms;
}

static void schedule_poll(struct gwd_device *d)
{
	uint64_t next = UINT64_MAX;

	/* next_poll_ms is UINT64_MAX for a point read for the last time. */
	for (size_t i = 0; i < d->n_points; i++)
		if (d->points[i].readable && !d->points[i].read_pending &&
		    d->points[i].next_poll_ms < next)
			next = d->points[i].next_poll_ms;
	if (next == UINT64_MAX)
		gw_timer_disarm(&d->poll_timer);
	else
		gw_timer_arm(&d->poll_timer, next);
}

static void poll_due(struct gw_timer *t, void *ud)
{
	struct gwd_device *d = ud;
	uint64_t now = clock_now_ms();

	for (size_t i = 0; i < d->n_points && d->started; i++) {
		struct gw_point *pt = &d->points[i];
		struct gwd_op *op;
		int r;

		uint64_t period;

		if (pt->read_pending || pt->next_poll_ms > now || !pt->readable)
			continue;
		/* Without a poll period the point is read once, at start, and
		 * afterwards the adapter reports its changes. */
		period = poll_period(d, pt);
		pt->next_poll_ms = period ? now + period : UINT64_MAX;
		op = malloc(sizeof(*op));
		if (!op)
			continue;
		*op = (struct gwd_op){.dev = d, .kind = OP_READ, .point = i};
		pt->read_pending = true;
		d->ops_in_flight++;
		r = d->ops->read(d->actx, pt->ch, op);
		if (r < 0) {
			pt->read_pending = false;
			d->ops_in_flight--;
			free(op);
			note_failure(d, r);
		}
	}
	schedule_poll(d);
}

static void batch_done_one(struct op_batch *b, int status)
{
	if (status < 0 && b->status == 0)
		b->status = status;
	if (--b->pending == 0) {
		lwm_op_complete(b->lop, b->status);
		free(b);
	}
}

/* Failures that say the device is unwell (not that it refused). */
static bool is_device_failure(int status)
{
	return status == -ETIMEDOUT || status == -EIO || status == -EPROTO ||
	       status == -EHOSTDOWN || status == -ENODEV;
}

void device_complete(struct gwd_op *op, int status, const struct gwd_value *v)
{
	struct gwd_device *d = op->dev;

	d->ops_in_flight--;
	/* Failures that are not the device's (a refusal) count as errors
	 * here; note_failure counts those that are. */
	if (status < 0 && status != -ECANCELED && !(op->kind == OP_READ || is_device_failure(status)))
		d->ctr.errors++;
	switch (op->kind) {
	case OP_FW:
		if (d->fw)
			firmware_op_done(d->fw, status);
		break;
	case OP_WRITE:
		d->ctr.writes++;
		if (status == 0) {
			note_success(d);
			/* Write-through: the server reads back what it wrote until
			 * the device reports otherwise. */
			if (op->written.type != LWM_T_NONE && d->model) {
				struct gw_point *pt = &d->points[op->point];
				health_fresh(&d->health, op->point, clock_now_ms());
				if (lwm_model_set(d->model, &pt->path, &op->written) == 1)
					values_changed(d, &pt->path);
			}
		} else if (is_device_failure(status)) {
			note_failure(d, status);
		}
		batch_done_one(op->batch, status);
		break;
	case OP_EXECUTE:
		d->ctr.executes++;
		if (status == 0)
			note_success(d);
		else if (is_device_failure(status))
			note_failure(d, status);
		batch_done_one(op->batch, status);
		break;
	case OP_READ: {
		struct gw_point *pt = &d->points[op->point];
		pt->read_pending = false;
		d->ctr.reads++;
		if (status == 0 && v) {
			note_success(d);
			apply_value(d, pt, v);
		} else if (status != -ECANCELED) {
			note_failure(d, status < 0 ? status : -EIO);
		}
		if (!pt->first_read_done) {
			pt->first_read_done = true;
			if (d->first_reads_left && --d->first_reads_left == 0)
				register_client(d);
		}
		if (d->started)
			schedule_poll(d);
		break;
	}
	}
	free(op);
}

/* ---- server operations routed to the device ------------------------------------ */

static struct gw_point *point_at(struct gwd_device *d, const struct lwm_path *p)
{
	for (size_t i = 0; i < d->n_points; i++)
		if (p->len == 3 && lwm_path_cmp(&d->points[i].path, p) == 0)
			return &d->points[i];
	return NULL;
}

/* The instance's Sensor Value point when it keeps min/max measured. */
static struct gw_point *min_max_point(struct gwd_device *d, const struct lwm_path *p)
{
	struct lwm_path sv = *p;

	LWM_PATH_RID(&sv) = IPSO_SENSOR_VALUE;
	sv.len = 3;
	struct gw_point *pt = point_at(d, &sv);
	return pt && pt->has_min_max ? pt : NULL;
}

/* Object 3's executables the gateway carries out itself, unless a point
 * maps one to the device (Reboot to a device that can reboot). */
static bool device_obj3_executable(const struct lwm_path *p)
{
	return p->len == 3 && LWM_PATH_OID(p) == 3 && LWM_PATH_IID(p) == 0 &&
	       (LWM_PATH_RID(p) == 4 || LWM_PATH_RID(p) == 12);
}

static bool client_owns(struct lwm_client *c, const struct lwm_path *p, void *ud)
{
	struct gwd_device *d = ud;

	if (point_at(d, p) || device_obj3_executable(p))
		return true;
	if (d->fw && firmware_owns(d->fw, p))
		return true;
	return LWM_PATH_RID(p) == IPSO_RESET_MIN_MAX && min_max_point(d, p);
}

static int start_batch(struct gwd_device *d, struct op_batch *b, struct gwd_op *op, int r)
{
	if (r < 0) {
		d->ops_in_flight--;
		free(op);
		if (b->status == 0)
			b->status = r;
		b->pending--;
	}
	return r;
}

static int client_write(struct lwm_client *c, const struct lwm_record *recs, size_t n,
			struct lwm_op *lop, void *ud)
{
	struct gwd_device *d = ud;
	struct gwd_value raw[64];
	struct op_batch *b;
	int r;

	if (n > sizeof(raw) / sizeof(raw[0]))
		return -E2BIG;
	/* Object 5 is the gateway's own (firmware.c), even while the device is down. */
	if (d->fw && n && firmware_owns(d->fw, &recs[0].path)) {
		for (size_t i = 1; i < n; i++)
			if (!firmware_owns(d->fw, &recs[i].path))
				return -EINVAL;
		return firmware_write(d->fw, recs, n, lop);
	}
	if (d->down)
		return -EHOSTDOWN;
	if (!d->ops->write)
		return -ENOTSUP;
	/* Validate every record before the device sees any of them. */
	for (size_t i = 0; i < n; i++) {
		struct gw_point *pt = point_at(d, &recs[i].path);
		if (!pt)
			return -ENOENT;
		r = transform_to_device(pt->cfg, &recs[i].value, &raw[i]);
		if (r < 0) {
			char path[32];
			lwm_path_format(&recs[i].path, path, sizeof(path));
			log_notice(device_name(d), "write to %s refused: %s", path,
				   r == -ERANGE ? "outside the point's min/max" : "not convertible");
			return r;
		}
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->lop = lop;
	b->pending = (unsigned)n + 1; /* +1 held while issuing */
	for (size_t i = 0; i < n; i++) {
		struct gw_point *pt = point_at(d, &recs[i].path);
		struct gwd_op *op = calloc(1, sizeof(*op));
		if (!op) {
			if (b->status == 0)
				b->status = -ENOMEM;
			b->pending--;
			continue;
		}
		*op = (struct gwd_op){.dev = d, .kind = OP_WRITE, .point = (size_t)(pt - d->points),
				      .batch = b};
		if (recs[i].value.type != LWM_T_STRING && recs[i].value.type != LWM_T_OPAQUE &&
		    recs[i].value.type != LWM_T_CORELNK)
			op->written = recs[i].value;
		d->ops_in_flight++;
		start_batch(d, b, op, d->ops->write(d->actx, pt->ch, &raw[i], op));
	}
	/* Drop the issuing hold: if everything failed at once, answer now. */
	if (--b->pending == 0) {
		r = b->status;
		free(b);
		return r < 0 ? r : LWM_OP_DONE;
	}
	return LWM_OP_PENDING;
}

static int device_obj3_execute(struct gwd_device *d, uint16_t rid)
{
	if (rid == 12) {
		health_reset_codes(&d->health, clock_now_ms());
		return LWM_OP_DONE;
	}
	/* Reboot: answered 2.04 first, carried out from the loop after. */
	log_notice(device_name(d), "reboot requested by the server");
	gw_timer_arm(&d->reboot_timer, clock_now_ms());
	return LWM_OP_DONE;
}

static int client_execute(struct lwm_client *c, const struct lwm_path *p, const uint8_t *args,
			  size_t len, struct lwm_op *lop, void *ud)
{
	struct gwd_device *d = ud;
	struct gw_point *pt;
	struct op_batch *b;
	struct gwd_op *op;

	if (LWM_PATH_RID(p) == IPSO_RESET_MIN_MAX && (pt = min_max_point(d, p))) {
		/* Generic IPSO behaviour: min and max start again from now. */
		const struct lwm_value *v = lwm_model_get(d->model, &pt->path);
		struct lwm_path pmin = pt->path, pmax = pt->path;
		LWM_PATH_RID(&pmin) = IPSO_MIN_MEASURED;
		LWM_PATH_RID(&pmax) = IPSO_MAX_MEASURED;
		if (v) {
			if (lwm_model_set(d->model, &pmin, v) == 1)
				values_changed(d, &pmin);
			if (lwm_model_set(d->model, &pmax, v) == 1)
				values_changed(d, &pmax);
		}
		return LWM_OP_DONE;
	}
	if (d->fw && firmware_owns(d->fw, p))
		return firmware_execute(d->fw, LWM_PATH_RID(p), lop);
	pt = point_at(d, p);
	if (!pt && device_obj3_executable(p))
		return device_obj3_execute(d, LWM_PATH_RID(p));
	if (!pt)
		return -ENOENT;
	if (d->down)
		return -EHOSTDOWN;
	if (!d->ops->execute)
		return -ENOTSUP;
	b = calloc(1, sizeof(*b));
	op = calloc(1, sizeof(*op));
	if (!b || !op) {
		free(b);
		free(op);
		return -ENOMEM;
	}
	*b = (struct op_batch){.lop = lop, .pending = 1};
	*op = (struct gwd_op){.dev = d, .kind = OP_EXECUTE, .point = (size_t)(pt - d->points),
			      .batch = b};
	d->ops_in_flight++;
	if (start_batch(d, b, op, d->ops->execute(d->actx, pt->ch, args, len, op)) < 0) {
		int r = b->status;
		free(b);
		return r;
	}
	return LWM_OP_PENDING;
}

/* Observations under p changed: a point they sample faster is read soon. */
static void client_sampling_changed(struct lwm_client *c, const struct lwm_path *p, void *ud)
{
	struct gwd_device *d = ud;
	uint64_t now = clock_now_ms();

	if (!d->started)
		return;
	for (size_t i = 0; i < d->n_points; i++) {
		struct gw_point *pt = &d->points[i];
		uint64_t period;
		if (!lwm_path_starts_with(&pt->path, p) && !lwm_path_starts_with(p, &pt->path))
			continue;
		period = poll_period(d, pt);
		if (period && pt->next_poll_ms > now + period)
			pt->next_poll_ms = now + period;
	}
	schedule_poll(d);
}

/* ---- what the server sets and a restart must keep ----------------------------- */

/* Application Type (IPSO 5750) values live in STATE_DIR/<device>.apptype,
 * one "oid/iid hex-of-value" line each, replaced atomically. */
static int apptype_file(const struct gwd_device *d, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.apptype", d->state_dir, device_name(d));

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* The file is written by the state file writer, off the loop thread (an
 * fsync may take long); writes in a burst coalesce. */
static void save_apptypes(struct gwd_device *d)
{
	struct lwm_model *m = d->model;
	char path[4096], *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (apptype_file(d, path, sizeof(path)) < 0)
		return;
	f = open_memstream(&buf, &len);
	if (!f) {
		log_warn(device_name(d), "cannot keep the application type: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < d->n_points; i++) {
		struct lwm_path p = d->points[i].path;
		const struct lwm_value *v;
		bool seen = false;
		LWM_PATH_RID(&p) = IPSO_APPLICATION_TYPE;
		/* Several points may share an instance: write it once. */
		for (size_t j = 0; j < i; j++)
			seen |= LWM_PATH_OID(&d->points[j].path) == LWM_PATH_OID(&p) &&
				LWM_PATH_IID(&d->points[j].path) == LWM_PATH_IID(&p);
		v = seen ? NULL : lwm_model_get(m, &p);
		if (!v || v->type != LWM_T_STRING)
			continue;
		fprintf(f, "%u/%u ", LWM_PATH_OID(&p), LWM_PATH_IID(&p));
		for (size_t k = 0; k < v->v.bytes.len; k++)
			fprintf(f, "%02x", v->v.bytes.ptr[k]);
		fputc('\n', f);
	}
	if (fclose(f) == 0)
		statefile_put(device_name(d), path, buf, len);
	else
		log_warn(device_name(d), "cannot keep the application type: %s", strerror(errno));
	free(buf);
}

/* Bounded: a line per instance, each at most "65534/65534 " and 2 x 540 hex
 * digits; a special file in its place is refused, not waited on. */
#define APPTYPE_FILE_MAX (1024 * 1024)

static void load_apptypes(struct gwd_device *d)
{
	struct lwm_model *m = d->model;
	char path[4096], err[4200], *text, *line, *next;
	unsigned lineno = 0, bad = 0, first_bad = 0;
	size_t len;
	int r;

	if (apptype_file(d, path, sizeof(path)) < 0)
		return;
	r = gw_file_read(path, APPTYPE_FILE_MAX, GW_FILE_NOFOLLOW, &text, &len, err, sizeof(err));
	if (r == -ENOENT)
		return; /* nothing kept yet */
	if (r < 0) {
		log_warn(device_name(d), "application types not restored: %s", err);
		return;
	}
	for (line = text; line < text + len; line = next) {
		unsigned oid, iid, byte;
		uint8_t val[540];
		size_t n = 0;
		int used = 0;
		char *hex;
		struct lwm_value v = {.type = LWM_T_STRING};

		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		lineno++;
		hex = strchr(line, ' ');
		if (!hex || sscanf(line, "%u/%u%n", &oid, &iid, &used) != 2 || line + used != hex ||
		    oid > 65534 || iid > 65534)
			goto corrupt;
		hex++;
		n = strlen(hex);
		if (n % 2 || n / 2 > sizeof(val) || strspn(hex, "0123456789abcdefABCDEF") != n)
			goto corrupt;
		n /= 2;
		for (size_t k = 0; k < n; k++) {
			sscanf(hex + 2 * k, "%2x", &byte);
			val[k] = (uint8_t)byte;
		}
		v.v.bytes.ptr = val;
		v.v.bytes.len = n;
		struct lwm_path p = lwm_path_make(3, (uint16_t)oid, (uint16_t)iid,
						  IPSO_APPLICATION_TYPE, 0);
		if (lwm_model_exists(m, &p))
			lwm_model_set(m, &p, &v);
		continue;
corrupt:
		/* Skip the line rather than fail the device, but say so. */
		if (!bad++)
			first_bad = lineno;
	}
	if (bad)
		log_warn(device_name(d), "%s: %u corrupt line(s) ignored, the first at line %u",
			 path, bad, first_bad);
	free(text);
}

static void client_stored(struct lwm_client *c, const struct lwm_path *p,
			  const struct lwm_value *v, void *ud)
{
	if (p->len == 3 && LWM_PATH_RID(p) == IPSO_APPLICATION_TYPE)
		save_apptypes(ud);
}

/* Every registration sequence with a server failed and its Bootstrap on
 * Registration Failure (/1/x/16) is set: bootstrap again, when there is a
 * bootstrap server.  May run inside libcoap's handler: a timer does it. */
static void client_registration_failed(struct lwm_client *c, void *ud)
{
	struct gwd_device *d = ud;

	if (!d->bs) {
		log_err(device_name(d), "registration with %s failed for good; it asks for "
			"bootstrap, but the device has no bootstrap server: the account stays "
			"failed until restart", lwm_client_server_uri(c));
		return;
	}
	/* bs_trigger -> lwm_bootstrap_start, which waits the bootstrap's back-off
	 * when this follows a bootstrap: a server refusing every Register
	 * cannot make the device bootstrap in a loop. */
	log_warn(device_name(d), "registration with %s failed for good: bootstrapping again",
		 lwm_client_server_uri(c));
	gw_timer_arm(&d->bs_timer, clock_now_ms());
}

/* A registration succeeded: the bootstrap's back-off starts afresh. */
static bool clients_quiet(const struct gwd_device *d)
{
	for (size_t i = 0; i < d->n_clients; i++)
		if (lwm_client_state(d->clients[i]) == LWM_CLIENT_DEREGISTERING)
			return false;
	return true;
}

static void client_state_changed(struct lwm_client *c, enum lwm_client_state s, void *ud)
{
	struct gwd_device *d = ud;

	if (s == LWM_CLIENT_REGISTERED && d->bs)
		lwm_bootstrap_registered(d->bs);
	/* This runs inside libcoap's handler for the session: the device
	 * goes from the timer, not from here. */
	if (d->retiring && clients_quiet(d))
		gw_timer_arm(&d->retire_timer, clock_now_ms());
}

/* A Block1 Write of /5/0/0 streams into the firmware spool. */
static struct lwm_block1_sink *client_body_sink(struct lwm_client *c, const struct lwm_path *p,
						uint16_t format, uint64_t size1, size_t *limit,
						void *ud)
{
	struct gwd_device *d = ud;

	if (!d->fw || LWM_PATH_OID(p) != 5 || LWM_PATH_IID(p) != 0 || LWM_PATH_RID(p) != 0)
		return NULL;
	return firmware_body_sink(d->fw, format, size1, limit);
}

static const struct lwm_client_ops client_ops = {
	.state_changed = client_state_changed,
	.registration_failed = client_registration_failed,
	.stored = client_stored,
	.owns = client_owns,
	.write = client_write,
	.execute = client_execute,
	.sampling_changed = client_sampling_changed,
	.body_sink = client_body_sink,
};

static void client_bootstrap_requested(struct lwm_client *c, void *ud)
{
	struct gwd_device *d = ud;

	log_notice(device_name(d), "bootstrap requested by %s (/1/%u/9)", lwm_client_server_uri(c),
		   lwm_client_server_iid(c));
	gw_timer_arm(&d->bs_timer, clock_now_ms());
}

/* A bootstrapped device's: the same, plus the Bootstrap-Request Trigger
 * and bootstrap on registration failure. */
static const struct lwm_client_ops client_ops_bs = {
	.state_changed = client_state_changed,
	.stored = client_stored,
	.owns = client_owns,
	.write = client_write,
	.execute = client_execute,
	.sampling_changed = client_sampling_changed,
	.bootstrap_requested = client_bootstrap_requested,
	.registration_failed = client_registration_failed,
	.body_sink = client_body_sink,
};

/* ---- life cycle ---------------------------------------------------------------- */

static int set_identity(struct lwm_model *m, uint16_t rid, const char *s)
{
	struct lwm_path p = lwm_path_make(3, 3, 0, rid, 0);
	struct lwm_value v = {.type = LWM_T_STRING};

	v.v.bytes.ptr = (const uint8_t *)s;
	v.v.bytes.len = strlen(s);
	return lwm_model_set(m, &p, &v);
}

/* Send (LwM2M 1.1+): the points the configuration has sent, each on its
 * own period and/or on change (a point's keys override the device's), to
 * every server of the device. */
static int configure_send(struct gwd_device *d)
{
	const struct cfg_device *dc = d->cfg;
	struct lwm_send_item *items;
	size_t n = 0;
	int r = 0;

	items = calloc(dc->n_points ? dc->n_points : 1, sizeof(*items));
	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < dc->n_points; i++) {
		const struct cfg_point *cp = &dc->points[i];
		struct lwm_send_item it = {
			.path = d->points[i].path,
			.period_ms = cp->has_send_period ? cp->send_period_ms : dc->send_period_ms,
			.on_change = cp->has_send_on_change ? cp->send_on_change : dc->send_on_change,
		};
		if (it.period_ms || it.on_change)
			items[n++] = it;
	}
	for (size_t i = 0; n && r == 0 && i < d->n_clients; i++) {
		r = lwm_client_send_config(d->clients[i], dc->send_format, items, n);
		if (strcmp(lwm_client_version(d->clients[i]), "1.0") == 0)
			log_warn(device_name(d), "Send configured but server %s speaks LwM2M 1.0, "
				 "which has no Send: nothing will be sent to it",
				 lwm_client_server_uri(d->clients[i]));
	}
	free(items);
	return r;
}

static int build_model(struct gwd_device *d)
{
	struct lwm_model *m = d->model;
	const struct cfg_device *dc = d->cfg;
	struct lwm_path p;
	struct lwm_value v = {.type = LWM_T_INTEGER};
	int r;

	/* Device /3/0: identity from the config, health, bindings. */
	r = lwm_model_add_instance(m, 3, 0);
	if (r < 0 && r != -EEXIST)
		return r;
	set_identity(m, 0, dc->manufacturer ? dc->manufacturer : "gatewayd");
	set_identity(m, 1, dc->model ? dc->model : loader_name(d->adapter));
	set_identity(m, 2, dc->serial ? dc->serial : dc->name);
	if (dc->firmware_version)
		set_identity(m, 3, dc->firmware_version);
	/* Reboot and Reset Error Code (the gateway's, unless a point maps
	 * Reboot to the device), executable. */
	p = lwm_path_make(3, 3, 0, 4, 0);
	lwm_model_add_resource(m, &p);
	p = lwm_path_make(3, 3, 0, 12, 0);
	lwm_model_add_resource(m, &p);
	/* Current Time (kept current by the LwM2M layer), UTC Offset, Timezone. */
	{
		time_t now = time(NULL);
		struct tm tm;
		char off[24];
		long gmtoff;
		const char *tz = getenv("TZ");
		localtime_r(&now, &tm);
		gmtoff = tm.tm_gmtoff;
		snprintf(off, sizeof(off), "%c%02ld:%02ld", gmtoff < 0 ? '-' : '+',
			 labs(gmtoff) / 3600, labs(gmtoff) % 3600 / 60);
		p = lwm_path_make(3, 3, 0, 13, 0);
		lwm_model_add_resource(m, &p);
		set_identity(m, 14, off);
		set_identity(m, 15, tz && *tz ? tz : tm.tm_zone ? tm.tm_zone : "UTC");
	}
	p = lwm_path_make(3, 3, 0, 16, 0);
	v.type = LWM_T_STRING;
	v.v.bytes.ptr = (const uint8_t *)"U";
	v.v.bytes.len = 1;
	lwm_model_set(m, &p, &v);

	for (size_t i = 0; i < d->n_points; i++) {
		struct gw_point *pt = &d->points[i];
		const struct lwm_obj_def *o = lwm_objdef_find(pt->path.id[0]);
		r = lwm_model_add_instance(m, LWM_PATH_OID(&pt->path), LWM_PATH_IID(&pt->path));
		if (r < 0 && r != -EEXIST)
			return r;
		r = lwm_model_add_resource(m, &pt->path);
		if (r < 0)
			return r;
		pt->type = lwm_resdef_find(o, LWM_PATH_RID(&pt->path))->type;
		pt->readable = lwm_resdef_find(o, LWM_PATH_RID(&pt->path))->ops & LWM_OP_R;
		if (pt->cfg->units && lwm_resdef_find(o, IPSO_SENSOR_UNITS)) {
			struct lwm_path up = pt->path;
			struct lwm_value uv = {.type = LWM_T_STRING};
			LWM_PATH_RID(&up) = IPSO_SENSOR_UNITS;
			uv.v.bytes.ptr = (const uint8_t *)pt->cfg->units;
			uv.v.bytes.len = strlen(pt->cfg->units);
			lwm_model_set(m, &up, &uv);
		}
		pt->has_min_max = LWM_PATH_RID(&pt->path) == IPSO_SENSOR_VALUE &&
				  lwm_resdef_find(o, IPSO_MIN_MEASURED) &&
				  lwm_resdef_find(o, IPSO_MAX_MEASURED);
		/* A sensor's configured limits are its measuring range. */
		if (!(lwm_resdef_find(o, LWM_PATH_RID(&pt->path))->ops & LWM_OP_W)) {
			struct lwm_path rp = pt->path;
			struct lwm_value rv = {.type = LWM_T_FLOAT};
			LWM_PATH_RID(&rp) = IPSO_MIN_RANGE;
			rv.v.f = pt->cfg->min;
			if (pt->cfg->has_min && lwm_resdef_find(o, IPSO_MIN_RANGE))
				lwm_model_set(m, &rp, &rv);
			LWM_PATH_RID(&rp) = IPSO_MAX_RANGE;
			rv.v.f = pt->cfg->max;
			if (pt->cfg->has_max && lwm_resdef_find(o, IPSO_MAX_RANGE))
				lwm_model_set(m, &rp, &rv);
		}
		/* Application Type: the server names the sensor; kept across restarts. */
		if (lwm_resdef_find(o, IPSO_APPLICATION_TYPE)) {
			struct lwm_path ap = pt->path;
			LWM_PATH_RID(&ap) = IPSO_APPLICATION_TYPE;
			if (!lwm_model_get(m, &ap)) {
				struct lwm_value empty = {.type = LWM_T_STRING};
				empty.v.bytes.ptr = (const uint8_t *)"";
				lwm_model_set(m, &ap, &empty);
			}
		}
		if (pt->has_min_max && lwm_resdef_find(o, IPSO_RESET_MIN_MAX)) {
			struct lwm_path rp = pt->path;
			LWM_PATH_RID(&rp) = IPSO_RESET_MIN_MAX;
			lwm_model_add_resource(m, &rp);
		}
	}
	load_apptypes(d);
	return 0;
}

/* Access Control (Object 2) for a device with several servers: one
 * instance per object instance of the device, filled from the config's
 * access list.  The default, when the list says nothing else, follows the
 * spec's owner rule: the device's first server is the Access Control
 * Owner of every instance and so has full rights there; every other
 * server may read (the ACL's default entry, key 0, is "R").  A second
 * server is usually a monitoring or analytics platform: it sees the data
 * but cannot drive outputs, execute or change settings until the operator
 * says so.  "R" rather than nothing, because a registration whose server
 * may see nothing is useless; "" in the config hides an object.  The
 * Server instances (/1) get none: each server has full rights on its own
 * account and none on the others' (acl.c).  With one server, access
 * control does not apply and no instance is made. */
static int access_rights(const struct cfg_device *dc, const struct cfg_server *srv,
			 uint16_t oid, unsigned *out)
{
	for (size_t i = 0; i < dc->n_access; i++) {
		const struct cfg_access *a = &dc->access[i];
		bool covers = a->n_objects == 0;
		if (a->server != srv)
			continue;
		for (size_t j = 0; j < a->n_objects; j++)
			covers |= a->objects[j] == oid;
		if (covers) {
			*out = a->rights;
			return 1;
		}
	}
	return 0;
}

static int build_acl(struct gwd_device *d)
{
	const struct cfg_device *dc = d->cfg;
	uint16_t owner, next = 0;
	int r;

	/* A bootstrapped device's Access Control comes from its bootstrap
	 * server (it has no configured servers). */
	if (d->n_clients < 2 || dc->n_servers == 0)
		return 0;
	owner = dc->servers[0]->short_id;
	/* Every instance of an object the device layer made (not 0, 1, 2). */
	for (int o = lwm_model_next_object(d->model, 2); o >= 0;
	     o = lwm_model_next_object(d->model, o)) {
		uint16_t oid = (uint16_t)o;
		int iid = -1;
		while ((iid = lwm_model_next_instance(d->model, oid, iid)) >= 0) {
			unsigned rights = LWM_ACL_READ;
			uint16_t ac = next++;
			r = lwm_acl_add(d->model, ac, oid, (uint16_t)iid, owner);
			access_rights(dc, NULL, oid, &rights); /* "*" */
			if (r == 0)
				r = lwm_acl_set(d->model, ac, 0, rights);
			for (size_t i = 0; r == 0 && i < dc->n_servers; i++)
				if (access_rights(dc, dc->servers[i], oid, &rights))
					r = lwm_acl_set(d->model, ac, dc->servers[i]->short_id, rights);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* The device's credentials for its server i.  The config loader checked
 * them already; files are read again here, so a file changed since is
 * reported with its name. */
static int load_security_for(const struct cfg_device *dc, const struct cfg_server *srv,
			     const struct cfg_credentials *cr, struct lwm_security **out)
{
	struct lwm_security_params p = cfg_security_params(srv, cr);
	char err[512];
	int r;

	*out = NULL;
	if (p.mode == LWM_SEC_NOSEC)
		return 0;
	r = lwm_security_load(&p, out, NULL, err, sizeof(err));
	if (r < 0)
		log_err(dc->name, "credentials for server %s: %s", srv->name, err);
	return r;
}

static int load_security(const struct cfg_device *dc, size_t i, struct lwm_security **out)
{
	return load_security_for(dc, dc->servers[i], &dc->server_credentials[i], out);
}

/* ---- bootstrap ------------------------------------------------------------------- */

static int bootstrap_file(const struct gwd_device *d, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s.bootstrap", d->state_dir, device_name(d));

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static void free_clients(struct gwd_device *d)
{
	for (size_t i = 0; i < d->n_clients; i++)
		lwm_client_free(d->clients[i]);
	d->n_clients = 0;
}

/* One client per bootstrapped account; the accounts stay in the model. */
static int clients_from_model(struct gwd_device *d)
{
	struct lwm_account acc[16];
	struct lwm_client **cl;
	struct lwm_reg_policy reg;
	/* Transmission and store settings: the bootstrap server's entry. */
	const struct cfg_server *srv = d->cfg->bootstrap;
	int n = lwm_bootstrap_accounts(d->model, srv->version, acc, 16);

	/* What the Server instance leaves out: gatewayd's retries, but one
	 * sequence and then bootstrap, as LwM2M has it: the bootstrap server
	 * is the way back for a device whose servers are gone. */
	lwm_reg_policy_defaults(&reg);
	reg.sequence_retries = 1;
	reg.bootstrap_on_failure = true;

	if (n <= 0)
		return -EINVAL;
	if (n > 16) {
		log_warn(device_name(d), "%d server accounts bootstrapped; using the first 16", n);
		n = 16;
	}
	cl = realloc(d->clients, (size_t)n * sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	d->clients = cl;
	for (int i = 0; i < n; i++) {
		struct lwm_security *sec = NULL;
		char err[512];
		int r = lwm_account_security(d->model, &acc[i], &sec, err, sizeof(err));
		if (r < 0) {
			log_err(device_name(d), "bootstrapped account for %s: %s", acc[i].uri, err);
			continue;
		}
		struct lwm_client_config cc = {
			.name = d->cfg->name,
			.endpoint = d->cfg->endpoint,
			.version = d->cfg->bootstrap->version,
			.security = sec,
			.model = d->model,
			.security_iid = acc[i].sec_iid,
			.server_iid = acc[i].srv_iid,
			.account_in_model = true,
			.reg = &reg,
			.store_count = srv->store_count ? srv->store_count : d->store_count,
			.store_bytes = srv->store_bytes ? srv->store_bytes : d->store_bytes,
			.ack_timeout_ms = srv->ack_timeout_ms,
			.max_retransmit_set = srv->max_retransmit >= 0,
			.max_retransmit = (uint16_t)(srv->max_retransmit >= 0 ? srv->max_retransmit : 0),
		};
		r = lwm_client_new(d->engine, &cc, &client_ops_bs, d, &d->clients[d->n_clients]);
		lwm_security_free(sec); /* the client keeps its own copy */
		if (r == 0)
			d->n_clients++;
	}
	if (!d->n_clients)
		return -EINVAL;
	return configure_send(d);
}

static void bootstrap_finished(struct lwm_bootstrap *b, void *ud)
{
	struct gwd_device *d = ud;

	/* Registrations before this bootstrap ended when it began. */
	free_clients(d);
	if (clients_from_model(d) < 0) {
		free_clients(d);
		lwm_bootstrap_retry(d->bs, "no bootstrapped account is usable");
		return;
	}
	/* Register now, or once the first readings are in. */
	if (d->started && d->first_reads_left == 0)
		register_client(d);
}

static const struct lwm_bootstrap_ops bootstrap_ops = {
	.finished = bootstrap_finished,
};

/* Bootstrap-Request Trigger: end the registrations, then bootstrap. */
static void bs_trigger(struct gw_timer *t, void *ud)
{
	struct gwd_device *d = ud;

	if (!d->bs || lwm_bootstrap_active(d->bs))
		return;
	for (size_t i = 0; i < d->n_clients; i++)
		lwm_client_stop(d->clients[i]);
	lwm_bootstrap_start(d->bs);
}

/* The bootstrap context on the device's model, and the saved accounts when
 * there are: a restart registers directly. */
static int bootstrap_create(struct gwd_device *d)
{
	const struct cfg_server *srv = d->cfg->bootstrap;
	struct lwm_security *sec = NULL;
	char file[4096], err[4400];
	int r;

	r = bootstrap_file(d, file, sizeof(file));
	if (r == 0)
		r = load_security_for(d->cfg, srv, &d->cfg->credentials, &sec);
	if (r < 0)
		return r;
	struct lwm_bootstrap_config bc = {
		.name = d->cfg->name,
		.endpoint = d->cfg->endpoint,
		.server_uri = srv->uri,
		.security = sec,
		.version = srv->version,
		.state_file = file,
		.finish_timeout_s = srv->finish_timeout_s,
	};
	r = lwm_bootstrap_new(d->engine, d->model, &bc, &bootstrap_ops, d, &d->bs);
	lwm_security_free(sec);
	if (r < 0)
		return r;
	r = lwm_bootstrap_restore(d->bs, err, sizeof(err));
	if (r == 0) {
		log_info(device_name(d), "bootstrapped before (%s): registering directly", file);
		if (clients_from_model(d) == 0)
			return 0;
		free_clients(d);
		lwm_bootstrap_clear(d->model);
	} else if (r == -ENOENT) {
		log_info(device_name(d), "not bootstrapped yet: bootstrap server %s", srv->uri);
	} else {
		log_err(device_name(d), "%s", err);
	}
	return 0; /* bootstraps at start */
}

/* Error Code and stale limits: the point's stale_after or stale_factor
 * (times its poll period), else the device's (config.h). */
static int device_health_init(struct gwd_device *d, struct timerq *timers)
{
	const struct cfg_device *dc = d->cfg;
	int r = health_init(&d->health, dc->name, d->model, timers, d->n_points, health_changed, d);

	for (size_t i = 0; r == 0 && i < d->n_points; i++) {
		const struct cfg_point *cp = d->points[i].cfg;
		const struct cfg_stale *st = cp->stale.has_stale_after || cp->stale.has_stale_factor
						     ? &cp->stale : &dc->stale;
		uint64_t limit = health_limit_ms(cp->poll_ms, st->stale_factor,
						 st->has_stale_after, st->stale_after_ms);
		health_point(&d->health, i, &d->points[i].path, limit);
	}
	return r;
}

/* ---- Object 5 (firmware.c) ------------------------------------------------------ */

static void fw_changed(void *ud, const struct lwm_path *p, bool event)
{
	struct gwd_device *d = ud;

	if (!event)
		return values_changed(d, p);
	for (size_t i = 0; i < d->n_clients; i++)
		lwm_client_values_changed_now(d->clients[i], p);
}

/* The version the device runs after an update: the device's word (or the
 * package's) replaces even a configured firmware_version. */
static void fw_set_version(void *ud, const char *version)
{
	struct gwd_device *d = ud;
	struct lwm_path p = lwm_path_make(3, 3, 0, GWD_ID_FIRMWARE, 0);
	struct lwm_value v = {.type = LWM_T_STRING};
	struct lwm_buf text;

	lwm_buf_init(&text, 0);
	if (lwm_utf8_repair((const uint8_t *)version, strlen(version), &text, &v.v.bytes.ptr,
			    &v.v.bytes.len) == 0 &&
	    lwm_model_set(d->model, &p, &v) == 1) {
		log_info(device_name(d), "firmware version now \"%.*s\"", (int)v.v.bytes.len,
			 (const char *)v.v.bytes.ptr);
		values_changed(d, &p);
	}
	lwm_buf_free(&text);
}

static struct gwd_op *fw_op_new(void *ud)
{
	struct gwd_device *d = ud;
	struct gwd_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	*op = (struct gwd_op){.dev = d, .kind = OP_FW};
	d->ops_in_flight++;
	return op;
}

static void fw_op_drop(void *ud, struct gwd_op *op)
{
	struct gwd_device *d = ud;

	d->ops_in_flight--;
	free(op);
}

/* The device's own keys as text, for firmware_command's substitutions. */
static const char *fw_lookup(void *ud, const char *key)
{
	struct gwd_device *d = ud;
	const char *s;

	return cfg_node_string(&d->cfg->node, key, &s) == 0 ? s : NULL;
}

struct fw_obj *device_firmware(const struct gwd_device *d)
{
	return d->fw;
}

void device_fw_progress(struct gwd_device *d, unsigned percent)
{
	if (d->fw)
		firmware_progress(d->fw, percent);
}

/* Object 5 for a device whose adapter (ABI 1.5, fw_caps 0) or a
 * configured firmware_command can update it; none for the others. */
static int firmware_create(struct gwd_device *d, const struct cfg *cfg, struct timerq *timers)
{
	const struct cfg_device *dc = d->cfg;
	struct fw_env env = {
		.name = dc->name,
		.endpoint = dc->endpoint,
		.state_dir = d->state_dir,
		.max_size = cfg->gateway.firmware_max_size ? cfg->gateway.firmware_max_size
							   : FW_MAX_SIZE_DEFAULT,
		.raw_sha256 = dc->has_firmware_sha256 ? dc->firmware_sha256 : NULL,
		.command = dc->firmware_command,
		.command_timeout_ms = dc->firmware_timeout_ms,
		.ops = d->ops,
		.actx = d->actx,
		.loop = firmware_loop(),
		.fetcher = firmware_fetcher(),
		.give_up_ms = cfg->gateway.firmware_give_up_ms,
		.ca_file = cfg->gateway.firmware_ca_file,
		.timers = timers,
		.model = d->model,
		.ud = d,
		.changed = fw_changed,
		.set_version = fw_set_version,
		.op_new = fw_op_new,
		.op_drop = fw_op_drop,
		.lookup = fw_lookup,
	};

	env.caps.size = sizeof(env.caps);
	/* loader_ops leaves fw_caps NULL for adapters built before 1.5. */
	if (d->ops->fw_caps && d->ops->fw_open && d->ops->fw_write && d->ops->fw_close &&
	    d->ops->fw_apply && d->ops->fw_caps(d->actx, &env.caps) == 0)
		env.adapter_updates = true;
	if (!env.adapter_updates && !env.command)
		return 0;
	/* A coaps:// package comes with the device's own credentials. */
	if (dc->n_servers && !dc->bootstrap && load_security(dc, 0, &d->fw_security) == 0)
		env.security = d->fw_security;
	return firmware_new(&env, &d->fw);
}

int device_create(const struct cfg *cfg, const struct cfg_device *dc, struct gw_adapter *adapter,
		  struct lwm_engine *engine, struct timerq *timers, struct gwd_device **out)
{
	struct gwd_device *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	d->cfg = dc;
	d->state_dir = cfg->gateway.state_dir;
	d->store_count = cfg->gateway.store_count;
	d->store_bytes = cfg->gateway.store_bytes;
	d->adapter = adapter;
	d->ops = loader_ops(adapter);
	d->n_points = dc->n_points;
	d->points = calloc(dc->n_points ? dc->n_points : 1, sizeof(*d->points));
	if (!d->points) {
		free(d);
		return -ENOMEM;
	}
	r = d->ops->device_new(loader_ctx(adapter), d, &dc->node, dc->bus ? &dc->bus->node : NULL,
			       &d->actx);
	if (r < 0) {
		free(d->points);
		free(d);
		return r;
	}
	for (size_t i = 0; i < dc->n_points; i++) {
		const struct cfg_point *cp = &dc->points[i];
		struct gw_point *pt = &d->points[i];
		int rc;
		pt->cfg = cp;
		pt->path = lwm_path_make(3, cp->oid, cp->iid, cp->rid, 0);
		rc = d->ops->channel_new(d->actx, cp->channel, &cp->node, &pt->ch);
		if (rc < 0 && r == 0)
			r = rc; /* keep going: every bad point gets its own error */
	}
	d->engine = engine;
	if (timers)
		gw_timer_init(&d->bs_timer, timers, bs_trigger, d);
	if (r == 0 && engine) {
		d->model = lwm_model_new();
		d->clients = calloc(dc->n_servers ? dc->n_servers : 1, sizeof(*d->clients));
		if (!d->model || !d->clients)
			r = -ENOMEM;
	}
	/* One registration per server; all of them serve the one model.  The
	 * account of servers[i] is Security /0/i and Server /1/i. */
	for (size_t i = 0; r == 0 && engine && i < dc->n_servers; i++) {
		const struct cfg_server *srv = dc->servers[i];
		struct lwm_security *sec = NULL;
		struct lwm_reg_policy reg = {
			.has_priority = srv->has_priority,
			.priority = srv->priority_order,
			.initial_delay_s = srv->initial_delay,
			.failure_block = srv->failure_block,
			.bootstrap_on_failure = srv->bootstrap_on_failure,
			.retry_count = srv->retry_count,
			.retry_timer_s = srv->retry_timer,
			.sequence_delay_s = srv->sequence_delay,
			.sequence_retries = srv->sequence_retry_count,
		};
		struct lwm_client_config cc = {
			.name = dc->name,
			.endpoint = dc->endpoint,
			.server_uri = srv->uri,
			.lifetime = srv->lifetime,
			.version = srv->version,
			.binding = srv->binding,
			.short_server_id = srv->short_id,
			.model = d->model,
			.security_iid = (uint16_t)i,
			.server_iid = (uint16_t)i,
			.reg = &reg,
			.no_storing = !srv->notification_storing,
			.store_count = srv->store_count ? srv->store_count : cfg->gateway.store_count,
			.store_bytes = srv->store_bytes ? srv->store_bytes : cfg->gateway.store_bytes,
			.mute_send = srv->mute_send,
			.ack_timeout_ms = srv->ack_timeout_ms,
			.max_retransmit_set = srv->max_retransmit >= 0,
			.max_retransmit = (uint16_t)(srv->max_retransmit >= 0 ? srv->max_retransmit : 0),
		};
		r = load_security(dc, i, &sec);
		cc.security = sec;
		if (r == 0)
			r = lwm_client_new(engine, &cc, &client_ops, d, &d->clients[d->n_clients]);
		if (r == 0)
			d->n_clients++;
		lwm_security_free(sec); /* the client keeps its own copy */
	}
	if (r == 0 && d->model)
		r = build_model(d);
	if (r == 0 && d->model && timers)
		r = firmware_create(d, cfg, timers);
	if (r == 0)
		r = device_health_init(d, timers); /* after /3/0 exists */
	if (r == 0 && d->model)
		r = build_acl(d);
	if (r == 0 && d->model)
		r = configure_send(d);
	/* Only a bootstrap server: the accounts come from it. */
	if (r == 0 && engine && dc->bootstrap)
		r = bootstrap_create(d);
	if (r < 0) {
		device_destroy(d);
		return r;
	}
	if (timers) {
		gw_timer_init(&d->poll_timer, timers, poll_due, d);
		gw_timer_init(&d->ready_timer, timers, ready_timeout, d);
		gw_timer_init(&d->reboot_timer, timers, reboot_due, d);
		gw_timer_init(&d->retire_timer, timers, retire_due, d);
	}
	*out = d;
	return 0;
}

/* Execute /3/0/4 Reboot of a device without a Reboot point: the gateway
 * restarts what it holds of the device, as a reboot would.  The adapter
 * stops the device (cancelling what is pending) and starts it again, every
 * point is read again, and each registration ends and is made again, as a
 * rebooted LwM2M device's would.  The down verdict and stale points stand
 * until the device's next answers say otherwise. */
static void reboot_due(struct gw_timer *t, void *ud)
{
	struct gwd_device *d = ud;
	uint64_t now = clock_now_ms();
	int r;

	if (!d->started)
		return;
	for (size_t i = 0; i < d->n_clients; i++)
		if (lwm_client_state(d->clients[i]) != LWM_CLIENT_IDLE)
			lwm_client_restart(d->clients[i]);
	gw_timer_disarm(&d->poll_timer);
	d->ops->device_stop(d->actx);
	r = d->ops->device_start(d->actx);
	if (r < 0) {
		log_err(device_name(d), "reboot: adapter could not start the device again: %s",
			strerror(-r));
		mark_down(d, true);
		return;
	}
	log_notice(device_name(d), "rebooted: adapter state and registrations restarted");
	for (size_t i = 0; i < d->n_points; i++)
		d->points[i].next_poll_ms = now;
	schedule_poll(d);
}

void device_prefetch(const struct gwd_device *d, int stage)
{
	/* Each stage loads what the previous one brought into the cache. */
	if (stage == 0) {
		__builtin_prefetch(d->cfg);
		__builtin_prefetch(d->clients);
		__builtin_prefetch(&d->last_reading_ms);
	} else {
		__builtin_prefetch(d->cfg->name);
		__builtin_prefetch(d->cfg->servers);
		if (d->n_clients)
			lwm_client_prefetch(d->clients[0]);
	}
}

int device_restart(struct gwd_device *d)
{
	if (!d->started || !d->reboot_timer.q)
		return -ENOTCONN;
	/* As Execute /3/0/4 does: from a timer, after the caller's answer. */
	log_notice(device_name(d), "restart requested through the control socket");
	return gw_timer_arm(&d->reboot_timer, clock_now_ms());
}

static void ready_timeout(struct gw_timer *t, void *ud)
{
	struct gwd_device *d = ud;

	if (d->first_reads_left)
		log_notice(device_name(d), "%zu point(s) not read yet; registering anyway",
			   d->first_reads_left);
	d->first_reads_left = 0;
	register_client(d);
}

int device_start(struct gwd_device *d)
{
	uint64_t now = clock_now_ms();
	int r;

	r = d->ops->device_start(d->actx);
	if (r < 0) {
		log_err(device_name(d), "adapter could not start the device: %s", strerror(-r));
		return r;
	}
	d->started = true;
	health_start(&d->health, now);
	/* Not bootstrapped: that comes first, registration follows it. */
	if (d->bs && d->n_clients == 0)
		lwm_bootstrap_start(d->bs);
	/* Read everything once right away, then on each point's period. */
	d->first_reads_left = 0;
	for (size_t i = 0; i < d->n_points; i++) {
		d->points[i].next_poll_ms = now;
		d->points[i].first_read_done = !d->points[i].readable;
		d->first_reads_left += d->points[i].readable;
	}
	schedule_poll(d);
	if (d->fw)
		firmware_start(d->fw);
	/* Register once the first readings are in (done, failed, or late). */
	if (d->first_reads_left == 0)
		register_client(d);
	else if (d->n_clients)
		gw_timer_arm(&d->ready_timer, now + READY_WAIT_MS);
	return 0;
}

void device_stop(struct gwd_device *d)
{
	if (!d->started)
		return;
	d->started = false;
	if (d->bs)
		lwm_bootstrap_stop(d->bs);
	gw_timer_disarm(&d->bs_timer);
	gw_timer_disarm(&d->poll_timer);
	gw_timer_disarm(&d->ready_timer);
	if (d->reboot_timer.q)
		gw_timer_disarm(&d->reboot_timer);
	health_stop(&d->health);
	if (d->fw)
		firmware_stop(d->fw); /* fw_abort first: device_stop follows */
	d->ops->device_stop(d->actx);
}

static void retire_due(struct gw_timer *t, void *ud)
{
	struct gwd_device *d = ud;

	if (!clients_quiet(d))
		log_warn(device_name(d), "removed without an answer to its De-register");
	d->retire_done(d, d->retire_ud);
}

void device_retire(struct gwd_device *d, uint32_t timeout_ms,
		   void (*done)(struct gwd_device *d, void *ud), void *ud)
{
	d->retiring = true;
	d->retire_done = done;
	d->retire_ud = ud;
	device_stop(d);
	/* A client never started, or not registered, stops at once. */
	for (size_t i = 0; i < d->n_clients; i++)
		lwm_client_stop(d->clients[i]);
	gw_timer_arm(&d->retire_timer, clock_now_ms() + (clients_quiet(d) ? 0 : timeout_ms));
}

void device_destroy(struct gwd_device *d)
{
	if (!d)
		return;
	d->retiring = false; /* freeing the clients below changes their state */
	if (d->retire_timer.q)
		gw_timer_disarm(&d->retire_timer);
	device_stop(d);
	firmware_free(d->fw);
	d->fw = NULL;
	lwm_security_free(d->fw_security);
	if (d->ops_in_flight)
		log_err(device_name(d), "adapter %s left %zu operation(s) uncompleted after stop",
			loader_name(d->adapter), d->ops_in_flight);
	if (d->actx)
		d->ops->device_free(d->actx);
	host_device_gone(d, d->actx); /* what its workers posted must not run now */
	if (d->bs_timer.q)
		gw_timer_disarm(&d->bs_timer);
	lwm_bootstrap_free(d->bs);
	/* The clients take their accounts out of the model; then it goes. */
	free_clients(d);
	free(d->clients);
	health_fini(&d->health);
	lwm_model_free(d->model);
	free(d->points);
	free(d);
}
