/* Event output.  Every event is built as a JSON object first, so that demo
 * mode (human lines) and machine mode (JSON lines) can never disagree. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwm2m/codec.h"
#include "lwm2m/objdefs.h"
#include "output.h"

static bool human;

void out_init(bool human_mode)
{
	human = human_mode;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

json_t *out_event(const char *name)
{
	json_t *ev = json_object();
	if (ev)
		json_object_set_new(ev, "event", json_string(name));
	return ev;
}

json_t *out_string(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	if (j)
		return j;
	/* invalid UTF-8: keep the ASCII, mask the rest */
	char *copy = malloc(len + 1);
	if (!copy)
		return json_null();
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_stringn(copy, len);
	free(copy);
	return j ? j : json_null();
}

void out_error(const char *id, const char *ep, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *ev = out_event("error");
	if (!ev)
		return;
	json_object_set_new(ev, "id", id ? out_string(id, strlen(id)) : json_null());
	if (ep)
		json_object_set_new(ev, "ep", out_string(ep, strlen(ep)));
	json_object_set_new(ev, "msg", out_string(msg, strlen(msg)));
	out_emit(ev);
}

/* ---- payload decoding ---- */

static enum lwm_type lookup_type(const struct lwm_path *path, void *ud)
{
	const struct lwm_obj_def *o;
	const struct lwm_res_def *r;

	if (path->len < 3 || !(o = lwm_objdef_find(LWM_PATH_OID(path))))
		return LWM_T_NONE;
	r = lwm_resdef_find(o, LWM_PATH_RID(path));
	return r ? (enum lwm_type)r->type : LWM_T_NONE;
}

static json_t *hex_string(const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(len * 2 + 1);
	if (!s)
		return json_null();
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	json_t *j = json_stringn(s, len * 2);
	free(s);
	return j;
}

/* Short, stable names for the event stream (the DDF names have spaces). */
static const char *type_key(enum lwm_type t)
{
	static const char *const names[] = {
	    [LWM_T_NONE] = "none",	   [LWM_T_STRING] = "string", [LWM_T_INTEGER] = "integer",
	    [LWM_T_UNSIGNED] = "unsigned", [LWM_T_FLOAT] = "float",   [LWM_T_BOOLEAN] = "boolean",
	    [LWM_T_OPAQUE] = "opaque",	   [LWM_T_TIME] = "time",     [LWM_T_OBJLNK] = "objlnk",
	    [LWM_T_CORELNK] = "corelnk",
	};
	return (unsigned)t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "none";
}

static json_t *record_json(const struct lwm_record *r)
{
	char pbuf[40], tmp[32];
	const struct lwm_value *v = &r->value;
	json_t *o = json_object(), *val;

	if (!o)
		return NULL;
	if (lwm_path_format(&r->path, pbuf, sizeof(pbuf)) < 0)
		strcpy(pbuf, "?");
	json_object_set_new(o, "path", json_string(pbuf));
	json_object_set_new(o, "type", json_string(type_key(v->type)));
	switch (v->type) {
	case LWM_T_STRING:
	case LWM_T_CORELNK:
		val = out_string((const char *)v->v.bytes.ptr, v->v.bytes.len);
		break;
	case LWM_T_OPAQUE:
		val = hex_string(v->v.bytes.ptr, v->v.bytes.len);
		break;
	case LWM_T_INTEGER:
	case LWM_T_TIME:
		val = json_integer(v->v.i);
		break;
	case LWM_T_UNSIGNED:
		val = v->v.u <= INT64_MAX ? json_integer((json_int_t)v->v.u)
					  : json_real((double)v->v.u);
		break;
	case LWM_T_FLOAT:
		/* JSON has no NaN / infinity: keep them readable as text */
		if (isfinite(v->v.f)) {
			val = json_real(v->v.f);
		} else {
			lwm_fmt_double(v->v.f, tmp);
			json_object_set_new(o, "value_text", json_string(tmp));
			val = json_null();
		}
		break;
	case LWM_T_BOOLEAN:
		val = json_boolean(v->v.b);
		break;
	case LWM_T_OBJLNK:
		snprintf(tmp, sizeof(tmp), "%u:%u", v->v.lnk.oid, v->v.lnk.iid);
		val = json_string(tmp);
		break;
	default:
		val = json_null();
		break;
	}
	json_object_set_new(o, "value", val ? val : json_null());
	return o;
}

static bool is_text_format(int ct)
{
	return ct == LWM_FMT_TEXT || ct == LWM_FMT_LINK || ct == LWM_FMT_SENML_JSON ||
	       ct == LWM_FMT_SENML_ETCH_JSON || ct == LWM_FMT_LWM2M_JSON;
}

static bool printable(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return false;
	return true;
}

static const char *decode_strerror(int rc)
{
	switch (rc) {
	case -ENOTSUP:
		return "format not supported by the codec";
	case -EBADMSG:
		return "malformed payload";
	case -E2BIG:
		return "too many records or nested too deep";
	case -EINVAL:
		return "value does not fit the resource type";
	default:
		return strerror(-rc);
	}
}

void out_add_payload(json_t *ev, const char *base_path, int ct, const uint8_t *p, size_t len)
{
	struct lwm_path base;
	size_t plen = strcspn(base_path, "?");

	if (ct >= 0)
		json_object_set_new(ev, "ct", json_integer(ct));
	json_object_set_new(ev, "payload_hex", hex_string(p, len));
	if (len && (is_text_format(ct) || ct < 0) && printable(p, len)) {
		json_t *t = json_stringn((const char *)p, len);
		if (t)
			json_object_set_new(ev, "payload_text", t);
	}
	/* link-format is shown as text; nothing to decode when no payload */
	if (ct < 0 || ct == LWM_FMT_LINK || len == 0)
		return;
	if (lwm_path_parse(base_path, plen, &base) < 0) {
		json_object_set_new(ev, "decode_error",
				    json_string("request path is not an LwM2M path"));
		return;
	}
	if (!lwm_format_can_decode((uint16_t)ct)) {
		json_object_set_new(ev, "decode_error", json_string(decode_strerror(-ENOTSUP)));
		return;
	}
	/* grow until the payload fits: payloads are small, this is a test tool */
	for (size_t max = 64; max <= 65536; max *= 8) {
		struct lwm_record *recs = calloc(max, sizeof(*recs));
		struct lwm_buf scratch;
		size_t n = 0;
		if (!recs) {
			json_object_set_new(ev, "decode_error", json_string("out of memory"));
			return;
		}
		/* escaped strings and base64 values are decoded into scratch */
		lwm_buf_init(&scratch, 0);
		int rc = lwm_decode_ex((uint16_t)ct, &base, p, len, lookup_type, NULL, recs, max,
				       &n, &scratch);
		if (rc == -E2BIG && max < 65536) {
			lwm_buf_free(&scratch);
			free(recs);
			continue;
		}
		if (rc < 0) {
			json_object_set_new(ev, "decode_error", json_string(decode_strerror(rc)));
		} else {
			json_t *arr = json_array();
			for (size_t i = 0; i < n; i++)
				json_array_append_new(arr, record_json(&recs[i]));
			json_object_set_new(ev, "records", arr);
		}
		lwm_buf_free(&scratch);
		free(recs);
		return;
	}
}

/* ---- human rendering (demo mode) ---- */

static const char *sget(json_t *ev, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(ev, key));
	return s ? s : dflt;
}

static void print_value(FILE *f, json_t *rec)
{
	json_t *v = json_object_get(rec, "value");
	const char *type = sget(rec, "type", "");

	if (json_is_real(v)) {
		/* a person wants 21.624, not 21.624042363164364 */
		fprintf(f, "%.6g", json_real_value(v));
	} else if (json_is_integer(v)) {
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_boolean(v)) {
		fputs(json_is_true(v) ? "true" : "false", f);
	} else if (json_is_string(v)) {
		size_t n = json_string_length(v);
		/* a firmware image would flood the terminal */
		if (!strcmp(type, "opaque") && n > 64)
			fprintf(f, "0x%.64s... (%zu bytes)", json_string_value(v), n / 2);
		else if (!strcmp(type, "opaque"))
			fprintf(f, "0x%s", json_string_value(v));
		else
			fputs(json_string_value(v), f);
	} else {
		fputs(sget(rec, "value_text", "-"), f);
	}
}

/* "Sensor Value = 21.53 Cel" (names and units from the object table) */
static void print_record(FILE *f, json_t *rec)
{
	const char *ps = sget(rec, "path", "");
	struct lwm_path p;
	const struct lwm_obj_def *o = NULL;
	const struct lwm_res_def *r = NULL;

	if (lwm_path_parse(ps, strlen(ps), &p) == 0 && p.len >= 3) {
		o = lwm_objdef_find(LWM_PATH_OID(&p));
		r = o ? lwm_resdef_find(o, LWM_PATH_RID(&p)) : NULL;
	}
	if (r)
		fputs(r->name, f);
	else
		fputs(ps, f);
	if (r && p.len == 4)
		fprintf(f, "[%u]", LWM_PATH_RIID(&p));
	fputs(" = ", f);
	print_value(f, rec);
	if (r && r->units && r->units[0])
		fprintf(f, " %s", r->units);
}

static void upper(char *d, const char *s, size_t size)
{
	size_t i;
	for (i = 0; s[i] && i + 1 < size; i++)
		d[i] = (char)toupper((unsigned char)s[i]);
	d[i] = '\0';
}

static void render_response(FILE *f, json_t *ev, bool notify)
{
	json_t *recs = json_object_get(ev, "records");
	char op[24];
	size_t n = json_array_size(recs);

	upper(op, notify ? "notify" : sget(ev, "op", "?"), sizeof(op));
	fprintf(f, "[server] %s %s %s  ->  %s", op, sget(ev, "ep", "?"), sget(ev, "path", "?"),
		sget(ev, "code", "?"));
	if (notify)
		fprintf(f, "  #%" JSON_INTEGER_FORMAT,
			json_integer_value(json_object_get(ev, "seq")));
	if (n > 0 && n <= 4) {
		for (size_t i = 0; i < n; i++) {
			fputs(i ? "   " : "  ", f);
			print_record(f, json_array_get(recs, i));
		}
		fputc('\n', f);
	} else if (n > 4) {
		fputc('\n', f);
		for (size_t i = 0; i < n; i++) {
			fputs("             ", f);
			print_record(f, json_array_get(recs, i));
			fputc('\n', f);
		}
	} else {
		const char *t = sget(ev, "payload_text", NULL);
		const char *de = sget(ev, "decode_error", NULL);
		if (de)
			fprintf(f, "  (cannot decode: %s)", de);
		if (t)
			fprintf(f, "  %s", t);
		fputc('\n', f);
	}
}

/* A Send: each record with the wall-clock time it was taken. */
static void render_send(FILE *f, json_t *ev)
{
	json_t *recs = json_object_get(ev, "records");
	json_int_t ct = json_integer_value(json_object_get(ev, "ct"));

	fprintf(f, "[server] SEND %s  (%zu record(s), %s)  ->  %s\n", sget(ev, "ep", "?"),
		json_array_size(recs), ct == 112 ? "SenML CBOR" : ct == 110 ? "SenML JSON" : "?",
		sget(ev, "code", "?"));
	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *rec = json_array_get(recs, i);
		time_t t = (time_t)json_number_value(json_object_get(rec, "time"));
		struct tm tm;
		char when[16] = "";
		if (t > 0 && localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(f, "             %s  %-14s ", when, sget(rec, "path", "?"));
		print_record(f, rec);
		fputc('\n', f);
	}
	if (json_object_get(ev, "decode_error"))
		fprintf(f, "             (cannot decode: %s)\n", sget(ev, "decode_error", "?"));
}

static bool has_instance(json_t *objs, const char *obj)
{
	size_t n = strlen(obj);

	for (size_t i = 0; i < json_array_size(objs); i++) {
		const char *s = json_string_value(json_array_get(objs, i));
		if (!strncmp(s, obj, n) && s[n] == '/')
			return true;
	}
	return false;
}

static void render_objects(FILE *f, json_t *ev)
{
	json_t *objs = json_object_get(ev, "objects");

	if (!json_array_size(objs))
		return;
	fputs("  objects:", f);
	for (size_t i = 0; i < json_array_size(objs); i++) {
		const char *s = json_string_value(json_array_get(objs, i));
		if (!strchr(s + 1, '/') && has_instance(objs, s))
			continue; /* </3303> next to </3303/0> says nothing new */
		fprintf(f, " %s", s);
	}
}

static void render_human(FILE *f, json_t *ev)
{
	const char *e = sget(ev, "event", "");
	json_int_t lt = json_integer_value(json_object_get(ev, "lt"));

	if (!strcmp(e, "listening")) {
		fprintf(f, "[server] listening on %s:%" JSON_INTEGER_FORMAT "\n",
			sget(ev, "addr", "?"), json_integer_value(json_object_get(ev, "port")));
	} else if (!strcmp(e, "register")) {
		fprintf(f,
			"[server] REGISTERED  %s  (lifetime %" JSON_INTEGER_FORMAT
			" s, LwM2M %s, binding %s)",
			sget(ev, "ep", "?"), lt, sget(ev, "lwm2m", "?"), sget(ev, "b", "?"));
		render_objects(f, ev);
		fputc('\n', f);
	} else if (!strcmp(e, "update")) {
		fprintf(f, "[server] UPDATE      %s", sget(ev, "ep", "?"));
		if (json_object_get(ev, "lt"))
			fprintf(f, "  (lifetime %" JSON_INTEGER_FORMAT " s)", lt);
		render_objects(f, ev);
		fputc('\n', f);
	} else if (!strcmp(e, "deregister")) {
		fprintf(f, "[server] DEREGISTERED  %s\n", sget(ev, "ep", "?"));
	} else if (!strcmp(e, "expired")) {
		fprintf(f, "[server] EXPIRED  %s  (no update within its lifetime)\n",
			sget(ev, "ep", "?"));
	} else if (!strcmp(e, "rejected")) {
		fprintf(f, "[server] REJECTED %s from %s: %s %s\n", sget(ev, "op", "?"),
			sget(ev, "peer", "?"), sget(ev, "code", "?"), sget(ev, "msg", ""));
	} else if (!strcmp(e, "response")) {
		render_response(f, ev, false);
	} else if (!strcmp(e, "notify")) {
		render_response(f, ev, true);
	} else if (!strcmp(e, "send")) {
		render_send(f, ev);
	} else if (!strcmp(e, "error")) {
		fprintf(f, "[server] ERROR %s%s%s: %s\n", sget(ev, "id", ""),
			json_object_get(ev, "ep") ? " " : "", sget(ev, "ep", ""),
			sget(ev, "msg", "?"));
	} else if (!strcmp(e, "list")) {
		json_t *cl = json_object_get(ev, "clients");
		fprintf(f, "[server] %zu client(s)\n", json_array_size(cl));
		for (size_t i = 0; i < json_array_size(cl); i++) {
			json_t *c = json_array_get(cl, i);
			fprintf(f, "           %s  %s  lifetime %" JSON_INTEGER_FORMAT " s\n",
				sget(c, "ep", "?"), sget(c, "location", "?"),
				json_integer_value(json_object_get(c, "lt")));
		}
	} else {
		char *s = json_dumps(ev, JSON_COMPACT);
		fprintf(f, "[server] %s\n", s ? s : e);
		free(s);
	}
}

/* Significant digits the reals in j need to read back exactly; jansson
 * prints every real with one global precision (17 by default, which turns
 * 21.53 into 21.530000000000001). */
static int real_digits(json_t *j)
{
	int max = 0, d;

	if (json_is_real(j)) {
		double x = json_real_value(j);
		char buf[40];
		for (d = 1; d < 17; d++) {
			snprintf(buf, sizeof(buf), "%.*g", d, x);
			if (strtod(buf, NULL) == x)
				break;
		}
		return d;
	}
	if (json_is_object(j)) {
		for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it))
			if ((d = real_digits(json_object_iter_value(it))) > max)
				max = d;
	} else if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++)
			if ((d = real_digits(json_array_get(j, i))) > max)
				max = d;
	}
	return max;
}

void out_emit(json_t *ev)
{
	if (!ev)
		return;
	if (human) {
		render_human(stdout, ev);
	} else {
		int digits = real_digits(ev);
		char *s = json_dumps(ev, JSON_COMPACT | (digits ? JSON_REAL_PRECISION(digits) : 0));
		if (s) {
			fputs(s, stdout);
			fputc('\n', stdout);
			free(s);
		}
	}
	fflush(stdout);
	json_decref(ev);
}
