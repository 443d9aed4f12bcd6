/* The Device Management operations beyond Read and Discover: Write (replace
 * and partial update), Execute, Write-Attributes, Create and Delete.
 *
 * A request that touches the device itself (a mapped point) is handed to the
 * device layer, which may take its time: the request is then registered
 * with libcoap as asynchronous (the server gets an empty ACK at once) and
 * answered by a separate response when the device is done, or with 5.04
 * when it takes longer than the engine's operation timeout.  The loop never waits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "client_internal.h"
#include "codec.h"
#include "gatewayd/clock.h"
#include "gatewayd/log.h"

/* Records one Write may carry. */
#define LWM_WRITE_MAX_RECORDS 256

/* ---- status -> CoAP code ---------------------------------------------------- */

static unsigned code_of(int status, unsigned success)
{
	switch (status) {
	case 0:
		return success;
	case -ERANGE:
	case -EINVAL:
	case -EBADMSG:
		return 400;
	case -EACCES:
		return 401;
	case -ENOENT:
		return 404;
	case -EPERM:
	case -ENOTSUP:
		return 405;
	case -E2BIG:
		return 413;
	case -ETIMEDOUT:
		return 504;
	case -EHOSTDOWN:
	case -ENODEV:
	case -ECANCELED:
		return 503;
	default:
		return 500;
	}
}

/* ---- pending operations ---------------------------------------------------------- */

static void op_free_if_finished(struct lwm_op *op)
{
	if (!op->device_done || !op->answered)
		return;
	free(op->local);
	lwm_buf_free(&op->local_bytes);
	free(op);
}

static void op_unlink(struct lwm_op *op)
{
	struct lwm_op **pp;

	if (!op->client)
		return;
	for (pp = &op->client->ops_pending; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	op->next = NULL;
}

static void op_trigger(struct lwm_op *op)
{
	if (op->answered || !op->async)
		return;
	coap_async_trigger(op->async);
	if (op->client)
		lwm_engine_kick(op->client->engine);
}

static void op_timeout(struct gw_timer *t, void *ud)
{
	struct lwm_op *op = ud;

	if (op->device_done)
		return;
	op->status = -ETIMEDOUT;
	if (op->client)
		log_warn(op->client->name, "device did not finish the operation in %.1f s",
			 op->client->engine->op_timeout_ms / 1000.0);
	op_trigger(op);
}

void lwm_op_complete(struct lwm_op *op, int status)
{
	if (op->device_done)
		return;
	op->device_done = true;
	if (!op->answered && op->status == 0)
		op->status = status;
	if (op->answered)
		op_free_if_finished(op);
	else
		op_trigger(op);
}

static struct lwm_op *op_new(struct lwm_client *c, coap_session_t *s, const struct lwm_path *p)
{
	struct lwm_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->client = c;
	op->session = s;
	op->success_code = 204;
	op->path = *p;
	lwm_buf_init(&op->local_bytes, 0);
	gw_timer_init(&op->timeout, c->engine->timers, op_timeout, op);
	return op;
}

/* Hand the op to libcoap as a deferred response.  On failure the caller
 * answers at once (the device still completes the op later). */
static int op_defer(struct lwm_op *op, const coap_pdu_t *req)
{
	op->async = coap_register_async(op->session, req, 0);
	if (!op->async)
		return -ENOMEM;
	coap_async_set_app_data(op->async, op);
	op->next = op->client->ops_pending;
	op->client->ops_pending = op;
	gw_timer_arm(&op->timeout, clock_now_ms() + op->client->engine->op_timeout_ms);
	return 0;
}

static void apply_local(struct lwm_client *c, const struct lwm_record *recs, size_t n,
			bool replace);
static void finish_or_defer(struct lwm_op *op, int r, const coap_pdu_t *req, coap_pdu_t *resp,
			    bool replace);

bool lwm_ops_resume(coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp)
{
	coap_async_t *async = coap_find_async(s, coap_pdu_get_token(req));
	struct lwm_op *op;

	if (!async)
		return false;
	op = coap_async_get_app_data(async);
	if (!op)
		return false;
	/* A retransmitted request while the device still works: libcoap
	 * acknowledges it again; the answer comes later. */
	if (!op->device_done && op->status == 0)
		return true;
	if (op->status == 0 && op->client)
		apply_local(op->client, op->local, op->n_local, false);
	lwm_respond_code(resp, code_of(op->status, op->success_code));
	gw_timer_disarm(&op->timeout);
	op_unlink(op);
	/* libcoap frees the async itself when this handler returns. */
	coap_async_set_app_data(async, NULL);
	op->async = NULL;
	op->answered = true;
	op_free_if_finished(op);
	return true;
}

void lwm_ops_abandon_all(struct lwm_client *c)
{
	while (c->ops_pending) {
		struct lwm_op *op = c->ops_pending;
		c->ops_pending = op->next;
		gw_timer_disarm(&op->timeout);
		if (op->async)
			coap_free_async(op->session, op->async);
		op->async = NULL;
		op->client = NULL;
		op->answered = true;
		op_free_if_finished(op);
	}
}

/* ---- Write -------------------------------------------------------------------- */

static enum lwm_type type_lookup(const struct lwm_path *p, void *ud)
{
	const struct lwm_obj_def *o = lwm_objdef_find(LWM_PATH_OID(p));
	const struct lwm_res_def *r = o ? lwm_resdef_find(o, LWM_PATH_RID(p)) : NULL;

	return r ? (enum lwm_type)r->type : LWM_T_NONE;
}

static bool device_owns(struct lwm_client *c, const struct lwm_path *p)
{
	struct lwm_path res = lwm_path_make(3, LWM_PATH_OID(p), LWM_PATH_IID(p), LWM_PATH_RID(p), 0);

	return c->ops && c->ops->owns && c->ops->owns(c, &res, c->ud);
}

/* The LwM2M layer's own writable resources, and what a write to them means. */
static void after_local_write(struct lwm_client *c, const struct lwm_record *r)
{
	if (c->ops && c->ops->stored)
		c->ops->stored(c, &r->path, &r->value, c->ud);
	if (LWM_PATH_OID(&r->path) == 3 && LWM_PATH_RID(&r->path) == 13) {
		/* Current Time: keep the server's idea of now as an offset, for
		 * every server of the device (they share the Device object). */
		int64_t off = r->value.v.i - clock_wall_s();
		for (struct lwm_client *o = c->engine->clients; o; o = o->next)
			if (o->model == c->model)
				o->time_offset = off;
		return;
	}
	if (LWM_PATH_OID(&r->path) == 2) {
		/* Access Control changed: what each server may see, so its
		 * registration's object list, may have changed too. */
		for (struct lwm_client *o = c->engine->clients; o; o = o->next)
			if (o->model == c->model) {
				o->links_changed = true;
				lwm_client_update_now(o);
			}
		return;
	}
	if (LWM_PATH_OID(&r->path) != 1)
		return;
	/* /1/x belongs to the registration with server instance x, which need
	 * not be the writer's own (a server with the rights may write it). */
	c = lwm_client_sibling_by_server_iid(c, LWM_PATH_IID(&r->path));
	if (!c)
		return;
	if (LWM_PATH_RID(&r->path) == 1 && r->value.v.i >= 0 && r->value.v.i <= UINT32_MAX) {
		/* 0 (validated: 1.2 only) is infinite: no more Updates. */
		c->lifetime = (uint32_t)r->value.v.i;
		c->lifetime_changed = true;
		/* Tell the server now rather than at the next scheduled Update. */
		lwm_client_update_now(c);
	}
}

static void apply_local(struct lwm_client *c, const struct lwm_record *recs, size_t n,
			bool replace)
{
	for (size_t i = 0; i < n; i++) {
		const struct lwm_record *r = &recs[i];
		if (replace && r->path.len == 4) {
			struct lwm_path res = r->path;
			res.len = 3;
			/* Replacing a multiple resource drops the instances not written;
			 * clear once, before its first written instance. */
			if (i == 0 || lwm_path_cmp(&recs[i - 1].path, &r->path) > 0 ||
			    !lwm_path_starts_with(&recs[i - 1].path, &res))
				lwm_model_clear_instances(c->model, &res);
		}
		if (lwm_model_set(c->model, &r->path, &r->value) == 1)
			lwm_model_changed(c, &r->path); /* every server's observers */
		after_local_write(c, r);
	}
}

/* Is every record writable and well typed?  Returns a CoAP code, 0 if so. */
/* A Lifetime of 0 (infinite) for Server instance iid: only when that
 * instance's registration speaks LwM2M 1.2. */
static bool lifetime_zero_ok(struct lwm_client *c, uint16_t iid)
{
	struct lwm_client *t = lwm_client_sibling_by_server_iid(c, iid);

	return lwm_lifetime_zero_ok((t ? t : c)->version);
}

static unsigned validate_write(struct lwm_client *c, const struct lwm_path *base,
			       const struct lwm_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct lwm_record *r = &recs[i];
		const struct lwm_obj_def *o = lwm_objdef_find(LWM_PATH_OID(&r->path));
		const struct lwm_res_def *d = o ? lwm_resdef_find(o, LWM_PATH_RID(&r->path)) : NULL;
		struct lwm_path res = r->path;
		int err;

		res.len = 3;
		if (r->path.len < 3 || !lwm_path_starts_with(&r->path, base))
			return 400; /* the payload addresses something else */
		if (!d)
			return 404;
		if (!(d->ops & LWM_OP_W))
			return 405;
		if (!lwm_model_exists(c->model, &res))
			return 404;
		if (r->path.len == 4 && !d->multiple)
			return 400;
		err = lwm_model_check(c->model, &r->path, &r->value);
		if (err == -ENOENT)
			return 404;
		if (err < 0)
			return 400;
		if (LWM_PATH_OID(&r->path) == 1 && LWM_PATH_RID(&r->path) == 1 &&
		    (r->value.v.i < 0 ||
		     (r->value.v.i == 0 && !lifetime_zero_ok(c, LWM_PATH_IID(&r->path)))))
			return 400; /* a lifetime below zero; 0 (infinite) is 1.2's */
	}
	return 0;
}

/* Keep copies of the local records (their bytes may live in the request). */
static int keep_local(struct lwm_op *op, const struct lwm_record *recs, size_t n)
{
	size_t bytes = 0;

	for (size_t i = 0; i < n; i++)
		if (recs[i].value.type == LWM_T_STRING || recs[i].value.type == LWM_T_OPAQUE ||
		    recs[i].value.type == LWM_T_CORELNK)
			bytes += recs[i].value.v.bytes.len;
	op->local = calloc(n ? n : 1, sizeof(*op->local));
	if (!op->local || lwm_buf_reserve(&op->local_bytes, bytes + 1) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		op->local[i] = recs[i];
		if (recs[i].value.type == LWM_T_STRING || recs[i].value.type == LWM_T_OPAQUE ||
		    recs[i].value.type == LWM_T_CORELNK) {
			size_t at = op->local_bytes.len;
			lwm_buf_append(&op->local_bytes, recs[i].value.v.bytes.ptr,
				       recs[i].value.v.bytes.len);
			op->local[i].value.v.bytes.ptr = op->local_bytes.data + at;
		}
	}
	op->n_local = n;
	return op->local_bytes.err;
}

/* Validate and carry out decoded records addressed under base. */
static void write_records(struct lwm_client *c, coap_session_t *s, const coap_pdu_t *req,
			  coap_pdu_t *resp, const struct lwm_path *base,
			  const struct lwm_record *recs, size_t n, bool replace)
{
	struct lwm_record *dev, *loc;
	size_t n_dev = 0, n_loc = 0;
	unsigned code = n ? validate_write(c, base, recs, n) : 400;
	struct lwm_op *op;
	int r;

	if (code)
		return lwm_respond_code(resp, code);
	/* Split: records for the device, records for the LwM2M layer.  The
	 * arrays are carved from one allocation in the records' order. */
	dev = calloc(2 * n, sizeof(*dev));
	if (!dev)
		return lwm_respond_code(resp, 500);
	loc = dev + n;
	for (size_t i = 0; i < n; i++) {
		if (device_owns(c, &recs[i].path))
			dev[n_dev++] = recs[i];
		else
			loc[n_loc++] = recs[i];
	}
	if (n_dev == 0) {
		apply_local(c, loc, n_loc, replace);
		lwm_respond_code(resp, 204);
		free(dev);
		return;
	}
	op = op_new(c, s, base);
	if (!op || keep_local(op, loc, n_loc) < 0) {
		if (op) {
			op->device_done = op->answered = true;
			op_free_if_finished(op);
		}
		lwm_respond_code(resp, 500);
		free(dev);
		return;
	}
	r = c->ops->write(c, dev, n_dev, op, c->ud);
	finish_or_defer(op, r, req, resp, replace);
	free(dev);
}

/* The request's body (Block1 reassembled by block1.c) and its format. */
static unsigned request_body(struct lwm_client *c, const coap_pdu_t *req, uint16_t *format,
			     const uint8_t **data, size_t *len)
{
	uint32_t cf;

	if (lwm_request_uint_option(req, COAP_OPTION_CONTENT_FORMAT, &cf) < 0)
		return 400;
	if (cf > UINT16_MAX || !lwm_format_can_decode((uint16_t)cf))
		return 415;
	*format = (uint16_t)cf;
	lwm_request_data(c->engine, req, data, len);
	return 0;
}

void lwm_ops_write(struct lwm_client *c, coap_session_t *s, const coap_pdu_t *req,
		   coap_pdu_t *resp, const struct lwm_path *p, bool replace)
{
	struct lwm_record recs[LWM_WRITE_MAX_RECORDS];
	struct lwm_buf scratch;
	const uint8_t *data;
	size_t len, n = 0;
	uint16_t fmt;
	unsigned code;
	int r;

	if (p->len < 2)
		return lwm_respond_code(resp, 405);
	if (LWM_PATH_OID(p) == 0)
		return lwm_respond_code(resp, 401);
	/* A new instance of an existing multiple resource may be written. */
	if (!lwm_model_exists(c->model, &(struct lwm_path){
		    .len = p->len < 3 ? p->len : 3, .id = {p->id[0], p->id[1], p->id[2]}}))
		return lwm_respond_code(resp, 404);
	if (!lwm_client_may(c, p, LWM_ACL_WRITE))
		return lwm_respond_code(resp, 401);
	/* A Write to one resource instance replaces that instance only. */
	if (p->len == 4)
		replace = false;
	code = request_body(c, req, &fmt, &data, &len);
	if (code)
		return lwm_respond_code(resp, code);
	lwm_buf_init(&scratch, 64 * 1024);
	r = lwm_decode_ex(fmt, p, data, len, type_lookup, NULL, recs, LWM_WRITE_MAX_RECORDS, &n,
			  &scratch);
	if (r < 0)
		lwm_respond_code(resp, r == -E2BIG ? 413 : r == -ENOTSUP ? 415 : 400);
	else
		write_records(c, s, req, resp, p, recs, n, replace);
	lwm_buf_free(&scratch);
}

/* ---- composite operations ----------------------------------------------------- */

static int record_cmp(const void *a, const void *b)
{
	return lwm_path_cmp(&((const struct lwm_record *)a)->path,
			    &((const struct lwm_record *)b)->path);
}

/* Read-Composite: FETCH with a SenML path list, answered in SenML. */
void lwm_ops_read_composite(struct lwm_client *c, coap_session_t *s, coap_resource_t *res,
			    const coap_pdu_t *req, const coap_string_t *query, coap_pdu_t *resp)
{
	struct lwm_path paths[64];
	struct lwm_record *all = NULL;
	size_t n_paths = 0, n_all = 0, cap = 0, len;
	const uint8_t *data;
	struct lwm_buf out;
	uint16_t fmt;
	uint32_t accept;
	unsigned code = request_body(c, req, &fmt, &data, &len);
	bool denied = false;
	int r;

	if (code)
		return lwm_respond_code(resp, code);
	if (lwm_request_uint_option(req, COAP_OPTION_ACCEPT, &accept) < 0)
		accept = fmt == LWM_FMT_SENML_ETCH_CBOR || fmt == LWM_FMT_SENML_CBOR
				 ? LWM_FMT_SENML_CBOR : LWM_FMT_SENML_JSON;
	if (accept != LWM_FMT_SENML_JSON && accept != LWM_FMT_SENML_CBOR &&
	    accept != LWM_FMT_LWM2M_CBOR)
		return lwm_respond_code(resp, 406);
	r = lwm_senml_paths_decode(fmt, data, len, paths, sizeof(paths) / sizeof(paths[0]),
				   &n_paths);
	if (r < 0)
		return lwm_respond_code(resp, r == -ENOTSUP ? 415 : r == -E2BIG ? 413 : 400);
	for (size_t i = 0; i < n_paths; i++) {
		const struct lwm_record *recs;
		size_t n;
		if (paths[i].len > 0 && LWM_PATH_OID(&paths[i]) == 0) {
			free(all);
			return lwm_respond_code(resp, 401);
		}
		/* Paths that do not exist, hold no value yet, or that this
		 * server may not read (Access Control) are left out. */
		r = paths[i].len ? lwm_client_read(c, &paths[i], &recs, &n) : -ENOENT;
		denied |= r == -EACCES;
		if (r < 0)
			continue;
		if (c->unavailable && LWM_PATH_OID(&paths[i]) >= 8)
			continue;
		if (n_all + n > cap) {
			size_t ncap = (n_all + n) * 2;
			struct lwm_record *na = realloc(all, ncap * sizeof(*na));
			if (!na) {
				free(all);
				return lwm_respond_code(resp, 500);
			}
			all = na;
			cap = ncap;
		}
		memcpy(all + n_all, recs, n * sizeof(*recs));
		n_all += n;
	}
	if (n_all == 0) {
		free(all);
		return lwm_respond_code(resp, denied ? 401 : 404);
	}
	/* The answer is in path order, each path once. */
	qsort(all, n_all, sizeof(*all), record_cmp);
	{
		size_t w = 0;
		for (size_t i = 0; i < n_all; i++)
			if (w == 0 || lwm_path_cmp(&all[w - 1].path, &all[i].path) != 0)
				all[w++] = all[i];
		n_all = w;
	}
	lwm_buf_init(&out, 256 * 1024);
	{
		struct lwm_path root = {0};
		r = lwm_encode((uint16_t)accept, &root, all, n_all, &out);
	}
	free(all);
	if (r < 0) {
		lwm_buf_free(&out);
		return lwm_respond_code(resp, r == -E2BIG ? 413 : 500);
	}
	lwm_observe_option(c, resp);
	lwm_respond_body(res, s, req, resp, query, 205, (uint16_t)accept, &out);
	lwm_buf_free(&out);
}

/* Write-Composite: iPATCH with SenML records anywhere in the data model. */
void lwm_ops_write_composite(struct lwm_client *c, coap_session_t *s, const coap_pdu_t *req,
			     coap_pdu_t *resp)
{
	struct lwm_record recs[LWM_WRITE_MAX_RECORDS];
	struct lwm_path root = {0};
	struct lwm_buf scratch;
	const uint8_t *data;
	size_t len, n = 0;
	uint16_t fmt;
	unsigned code = request_body(c, req, &fmt, &data, &len);
	int r;

	if (code)
		return lwm_respond_code(resp, code);
	if (fmt != LWM_FMT_SENML_JSON && fmt != LWM_FMT_SENML_CBOR &&
	    fmt != LWM_FMT_SENML_ETCH_JSON && fmt != LWM_FMT_SENML_ETCH_CBOR)
		return lwm_respond_code(resp, 415);
	lwm_buf_init(&scratch, 64 * 1024);
	r = lwm_decode_ex(fmt, &root, data, len, type_lookup, NULL, recs, LWM_WRITE_MAX_RECORDS,
			  &n, &scratch);
	if (r < 0) {
		lwm_respond_code(resp, r == -E2BIG ? 413 : 400);
	} else {
		/* Every record's instance must be writable by this server,
		 * also for a record that adds a resource instance (as Write
		 * checks): nothing is written otherwise. */
		for (size_t i = 0; i < n; i++) {
			const struct lwm_path *rp = &recs[i].path;
			struct lwm_path inst =
				lwm_path_make(2, LWM_PATH_OID(rp), LWM_PATH_IID(rp), 0, 0);
			if (LWM_PATH_OID(rp) == 0 ||
			    (rp->len >= 2 && !lwm_client_may(c, &inst, LWM_ACL_WRITE))) {
				lwm_buf_free(&scratch);
				return lwm_respond_code(resp, 401);
			}
		}
		write_records(c, s, req, resp, &root, recs, n, false);
	}
	lwm_buf_free(&scratch);
}

/* After the device callback: answer now (refused, or done at once), or
 * defer the answer until lwm_op_complete. */
static void finish_or_defer(struct lwm_op *op, int r, const coap_pdu_t *req, coap_pdu_t *resp,
			    bool replace)
{
	if (r == LWM_OP_PENDING && op_defer(op, req) == 0)
		return; /* libcoap sends the empty ACK; the answer follows */
	if (r == LWM_OP_PENDING) {
		/* Could not defer: answer 5.00 now; the device still finishes. */
		op->answered = true;
		lwm_respond_code(resp, 500);
		op_free_if_finished(op);
		return;
	}
	op->device_done = op->answered = true;
	if (r == LWM_OP_DONE && op->client)
		apply_local(op->client, op->local, op->n_local, replace);
	lwm_respond_code(resp, code_of(r < 0 ? r : 0, op->success_code));
	op_free_if_finished(op);
}

/* ---- Execute -------------------------------------------------------------------- */

void lwm_ops_execute(struct lwm_client *c, coap_session_t *s, const coap_pdu_t *req,
		     coap_pdu_t *resp, const struct lwm_path *p)
{
	const struct lwm_obj_def *o = lwm_objdef_find(LWM_PATH_OID(p));
	const struct lwm_res_def *d = o ? lwm_resdef_find(o, LWM_PATH_RID(p)) : NULL;
	const uint8_t *args = NULL;
	size_t len = 0;
	struct lwm_op *op;
	int r;

	if (LWM_PATH_OID(p) == 0)
		return lwm_respond_code(resp, 401);
	if (!d || !lwm_model_exists(c->model, p))
		return lwm_respond_code(resp, 404);
	if (!lwm_client_may(c, p, LWM_ACL_EXECUTE))
		return lwm_respond_code(resp, 401);
	if (!(d->ops & LWM_OP_E))
		return lwm_respond_code(resp, 405);
	lwm_request_data(c->engine, req, &args, &len);

	/* The Server object's executables belong to the LwM2M layer, to the
	 * registration of that Server instance. */
	if (LWM_PATH_OID(p) == 1) {
		struct lwm_client *target = lwm_client_sibling_by_server_iid(c, LWM_PATH_IID(p));
		if (!target)
			return lwm_respond_code(resp, 404);
		c = target;
		if (LWM_PATH_RID(p) == 8) { /* Registration Update Trigger */
			lwm_respond_code(resp, 204);
			lwm_client_update_now(c);
			return;
		}
		if (LWM_PATH_RID(p) == 4) { /* Disable */
			struct lwm_path dt = lwm_path_make(3, 1, LWM_PATH_IID(p), 5, 0);
			const struct lwm_value *v = lwm_model_get(c->model, &dt);
			lwm_respond_code(resp, 204);
			/* 86400 s only when the Disable Timeout is not set; 0 is
			 * 0 s: de-register, then register again at once. */
			lwm_client_disable(c, v && v->v.i >= 0
						      ? (uint32_t)(v->v.i > UINT32_MAX ? UINT32_MAX
										 : v->v.i)
						      : 86400);
			return;
		}
		if (LWM_PATH_RID(p) == 9 && c->ops && c->ops->bootstrap_requested) {
			/* Bootstrap-Request Trigger: the device layer bootstraps again. */
			lwm_respond_code(resp, 204);
			c->ops->bootstrap_requested(c, c->ud);
			return;
		}
		return lwm_respond_code(resp, 405);
	}
	if (!device_owns(c, p))
		return lwm_respond_code(resp, 405);
	op = op_new(c, s, p);
	if (!op)
		return lwm_respond_code(resp, 500);
	r = c->ops->execute(c, p, args, len, op, c->ud);
	finish_or_defer(op, r, req, resp, false);
}

/* ---- Write-Attributes ------------------------------------------------------------- */

void lwm_ops_write_attributes(struct lwm_client *c, const coap_string_t *query,
			      coap_pdu_t *resp, const struct lwm_path *p)
{
	const struct lwm_attrs *cur;
	struct lwm_attrs a = {0};

	if (p->len == 0)
		return lwm_respond_code(resp, 405);
	if (LWM_PATH_OID(p) == 0)
		return lwm_respond_code(resp, 401);
	if (!lwm_model_exists(c->model, p))
		return lwm_respond_code(resp, 404);
	/* Write-Attributes goes with the Read right (Object 2's ACL bits). */
	if (!lwm_client_may(c, p, LWM_ACL_READ))
		return lwm_respond_code(resp, 401);
	cur = lwm_client_attrs(c, p);
	if (cur)
		a = *cur;
	if (lwm_attrs_apply_query(&a, (const char *)query->s, query->length, p->len,
				  lwm_attr_target(p) | lwm_attr_version(c->version)) < 0)
		return lwm_respond_code(resp, 400);
	if (lwm_client_attrs_put(c, p, &a) < 0)
		return lwm_respond_code(resp, 500);
	lwm_observe_attrs_changed(c, p); /* new periods for its observers */
	lwm_respond_code(resp, 204);
}

/* ---- Create and Delete --------------------------------------------------------------- */

/* Instances stand for parts of a physical device and are fixed by the
 * configuration: a server can neither add nor remove them. */
void lwm_ops_create(struct lwm_client *c, coap_pdu_t *resp, const struct lwm_path *p)
{
	if (LWM_PATH_OID(p) == 0)
		return lwm_respond_code(resp, 401);
	if (!lwm_objdef_find(LWM_PATH_OID(p)))
		return lwm_respond_code(resp, 404);
	if (!lwm_client_may(c, p, LWM_ACL_CREATE))
		return lwm_respond_code(resp, 401);
	lwm_respond_code(resp, 405);
}

void lwm_ops_delete(struct lwm_client *c, coap_pdu_t *resp, const struct lwm_path *p)
{
	if (p->len != 2)
		return lwm_respond_code(resp, 405);
	if (LWM_PATH_OID(p) == 0)
		return lwm_respond_code(resp, 401);
	if (!lwm_model_exists(c->model, p))
		return lwm_respond_code(resp, 404);
	if (!lwm_client_may(c, p, LWM_ACL_DELETE))
		return lwm_respond_code(resp, 401);
	lwm_respond_code(resp, 405);
}
