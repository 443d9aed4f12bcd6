/* Stdin commands: one per line, whitespace separated; the token after the
 * verb is the caller's request id, echoed in the matching event. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <coap3/coap.h>

#include "commands.h"
#include "lwm2m/codec.h"
#include "lwm2m/objdefs.h"
#include "output.h"
#include "server.h"

static const struct {
	const char *name;
	int num;
} formats[] = {
    {"text", LWM_FMT_TEXT},
    {"link", LWM_FMT_LINK},
    {"opaque", LWM_FMT_OPAQUE},
    {"cbor", LWM_FMT_CBOR},
    {"senml-json", LWM_FMT_SENML_JSON},
    {"senml-cbor", LWM_FMT_SENML_CBOR},
    {"senml-etch-json", LWM_FMT_SENML_ETCH_JSON},
    {"senml-etch-cbor", LWM_FMT_SENML_ETCH_CBOR},
    {"tlv", LWM_FMT_TLV},
    {"lwm2m-json", LWM_FMT_LWM2M_JSON},
    {"lwm2m-cbor", LWM_FMT_LWM2M_CBOR},
};

static const struct {
	const char *name;
	uint8_t code;
} methods[] = {
    {"GET", COAP_REQUEST_CODE_GET},	  {"POST", COAP_REQUEST_CODE_POST},
    {"PUT", COAP_REQUEST_CODE_PUT},	  {"DELETE", COAP_REQUEST_CODE_DELETE},
    {"FETCH", COAP_REQUEST_CODE_FETCH},	  {"PATCH", COAP_REQUEST_CODE_PATCH},
    {"IPATCH", COAP_REQUEST_CODE_IPATCH},
};

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int cmd_parse_format(const char *s)
{
	unsigned long v;

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcasecmp(s, formats[i].name))
			return formats[i].num;
	return parse_uint(s, 65535, &v) ? -1 : (int)v;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Next whitespace-separated token (NUL-terminated in place), or NULL. */
static char *next_tok(char **p)
{
	char *s = *p;

	while (*s && is_space(*s))
		s++;
	if (!*s) {
		*p = s;
		return NULL;
	}
	char *t = s;
	while (*s && !is_space(*s))
		s++;
	if (*s)
		*s++ = '\0';
	*p = s;
	return t;
}

/* The rest of the line without surrounding whitespace ("" when none). */
static char *rest(char **p)
{
	char *s = *p, *e;

	while (*s && is_space(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_space(e[-1]))
		*--e = '\0';
	*p = e;
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode hex in place; returns the byte count or -EINVAL. */
static long unhex(char *s)
{
	size_t n = strlen(s);
	uint8_t *o = (uint8_t *)s;

	if (n % 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		o[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static bool lwm_path_ok(const char *s, struct lwm_path *p)
{
	return s && s[0] == '/' && lwm_path_parse(s, strlen(s), p) == 0;
}

/* id ep path: the common prefix of the request commands. */
struct args {
	const char *id, *ep, *path;
	struct lwm_path lp;
};

static int common_args(const char *verb, char **p, struct args *a, bool lwm_path)
{
	a->id = next_tok(p);
	a->ep = next_tok(p);
	a->path = next_tok(p);
	if (!a->id || !a->ep || !a->path) {
		out_error(a->id, a->ep, "usage: %s ID EP PATH ...", verb);
		return -EINVAL;
	}
	if (lwm_path ? !lwm_path_ok(a->path, &a->lp) : a->path[0] != '/') {
		out_error(a->id, a->ep, "bad path '%s'", a->path);
		return -EINVAL;
	}
	return 0;
}

static void cmd_read(char *p, const char *verb, bool observe)
{
	struct args a;
	const char *fmt;
	int accept = -1;

	if (common_args(verb, &p, &a, true))
		return;
	if ((fmt = next_tok(&p)) && (accept = cmd_parse_format(fmt)) < 0) {
		out_error(a.id, a.ep, "unknown format '%s'", fmt);
		return;
	}
	if (next_tok(&p)) {
		out_error(a.id, a.ep, "too many arguments");
		return;
	}
	struct srv_req_spec sp = {
	    .id = a.id,
	    .ep = a.ep,
	    .op = verb,
	    .method = COAP_REQUEST_CODE_GET,
	    .path = a.path,
	    .accept = accept,
	    .ct = -1,
	    .observe = observe ? 0 : -1,
	};
	srv_request(&sp);
}

static void cmd_discover(char *p, const char *verb)
{
	struct args a;

	if (common_args(verb, &p, &a, true))
		return;
	if (next_tok(&p)) {
		out_error(a.id, a.ep, "too many arguments");
		return;
	}
	struct srv_req_spec sp = {
	    .id = a.id,
	    .ep = a.ep,
	    .op = verb,
	    .method = COAP_REQUEST_CODE_GET,
	    .path = a.path,
	    .accept = LWM_FMT_LINK,
	    .ct = -1,
	    .observe = -1,
	};
	srv_request(&sp);
}

static void cmd_cancel(char *p)
{
	struct args a;

	if (common_args("cancel", &p, &a, true))
		return;
	if (next_tok(&p)) {
		out_error(a.id, a.ep, "too many arguments");
		return;
	}
	srv_cancel(a.id, a.ep, a.path);
}

static void cmd_forget(char *p)
{
	struct args a;

	if (common_args("forget", &p, &a, true))
		return;
	if (next_tok(&p)) {
		out_error(a.id, a.ep, "too many arguments");
		return;
	}
	srv_forget(a.id, a.ep, a.path);
}

/* Encode VALUE (text form) as a single resource in format fmt. */
static int encode_value(const struct args *a, int fmt, const char *value, struct lwm_buf *out,
			struct lwm_buf *scratch)
{
	const struct lwm_obj_def *o = lwm_objdef_find(LWM_PATH_OID(&a->lp));
	const struct lwm_res_def *r = o ? lwm_resdef_find(o, LWM_PATH_RID(&a->lp)) : NULL;
	struct lwm_record rec;
	int rc;

	if (a->lp.len < 3) {
		out_error(a->id, a->ep, "%s writes need a resource path", a->path);
		return -EINVAL;
	}
	if (!r || r->type == LWM_T_NONE) {
		out_error(a->id, a->ep, "type of %s unknown; use raw", a->path);
		return -EINVAL;
	}
	/* opaque values come base64 encoded, decoded into scratch */
	rc = lwm_text_decode_ex(&a->lp, (const uint8_t *)value, strlen(value),
				(enum lwm_type)r->type, &rec, scratch);
	if (rc < 0) {
		out_error(a->id, a->ep, "'%s' is not a valid %s", value,
			  lwm_type_name((enum lwm_type)r->type));
		return rc;
	}
	rec.path = a->lp;
	rc = lwm_encode((uint16_t)fmt, &a->lp, &rec, 1, out);
	if (rc < 0)
		out_error(a->id, a->ep, "cannot encode the value in format %d (%s)", fmt,
			  rc == -ENOTSUP ? "not supported" : strerror(-rc));
	return rc;
}

static void cmd_write(char *p, const char *verb)
{
	struct args a;
	const char *fs;
	char *value;
	int fmt;
	struct lwm_buf buf, scratch;
	const uint8_t *payload;
	size_t len;

	if (common_args(verb, &p, &a, true))
		return;
	if (!(fs = next_tok(&p))) {
		out_error(a.id, a.ep, "usage: %s ID EP PATH FORMAT VALUE", verb);
		return;
	}
	if ((fmt = cmd_parse_format(fs)) < 0) {
		out_error(a.id, a.ep, "unknown format '%s'", fs);
		return;
	}
	value = rest(&p);
	lwm_buf_init(&buf, 0);
	lwm_buf_init(&scratch, 0);
	if (fmt == LWM_FMT_TEXT || fmt == LWM_FMT_LINK) {
		payload = (const uint8_t *)value;
		len = strlen(value);
	} else if (fmt == LWM_FMT_OPAQUE || a.lp.len < 3) {
		/* opaque, or a whole object or instance: the payload in hex */
		long n = unhex(value);
		if (n < 0) {
			out_error(a.id, a.ep, "opaque values are given in hex");
			lwm_buf_free(&buf);
			lwm_buf_free(&scratch);
			return;
		}
		payload = (const uint8_t *)value;
		len = (size_t)n;
	} else {
		if (encode_value(&a, fmt, value, &buf, &scratch) < 0) {
			lwm_buf_free(&buf);
			lwm_buf_free(&scratch);
			return;
		}
		payload = buf.data;
		len = buf.len;
	}
	struct srv_req_spec sp = {
	    .id = a.id,
	    .ep = a.ep,
	    .op = verb,
	    .method = COAP_REQUEST_CODE_PUT,
	    .path = a.path,
	    .accept = -1,
	    .ct = fmt,
	    .observe = -1,
	    .payload = payload,
	    .len = len,
	};
	srv_request(&sp);
	lwm_buf_free(&buf);
	lwm_buf_free(&scratch);
}

/* push ID EP PATH FILE [szx=N] [cut=BYTES] [size1] */
static void cmd_push(char *p)
{
	struct args a;
	const char *file, *opt;
	unsigned long szx = 6, cut = 0;
	bool size1 = false;
	uint8_t *body = NULL;
	size_t len = 0, cap = 0;
	FILE *f;

	if (common_args("push", &p, &a, true))
		return;
	if (!(file = next_tok(&p))) {
		out_error(a.id, a.ep, "usage: push ID EP PATH FILE [szx=N] [cut=BYTES] [size1]");
		return;
	}
	while ((opt = next_tok(&p))) {
		if (!strncmp(opt, "szx=", 4) && parse_uint(opt + 4, 6, &szx) == 0)
			continue;
		if (!strncmp(opt, "cut=", 4) && parse_uint(opt + 4, ULONG_MAX, &cut) == 0)
			continue;
		if (!strcmp(opt, "size1")) {
			size1 = true;
			continue;
		}
		out_error(a.id, a.ep, "bad push option '%.40s'", opt);
		return;
	}
	f = fopen(file, "rb");
	if (!f) {
		out_error(a.id, a.ep, "cannot open %s: %s", file, strerror(errno));
		return;
	}
	for (;;) {
		size_t n;
		if (len == cap) {
			uint8_t *nb = realloc(body, cap = cap ? cap * 2 : 65536);
			if (!nb) {
				free(body);
				fclose(f);
				out_error(a.id, a.ep, "out of memory");
				return;
			}
			body = nb;
		}
		n = fread(body + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	srv_push(a.id, a.ep, a.path, body, len, (unsigned)szx, cut, size1);
}

static void cmd_execute(char *p)
{
	struct args a;
	char *args;

	if (common_args("execute", &p, &a, true))
		return;
	args = rest(&p);
	struct srv_req_spec sp = {
	    .id = a.id,
	    .ep = a.ep,
	    .op = "execute",
	    .method = COAP_REQUEST_CODE_POST,
	    .path = a.path,
	    .accept = -1,
	    .ct = *args ? LWM_FMT_TEXT : -1,
	    .observe = -1,
	    .payload = (const uint8_t *)args,
	    .len = strlen(args),
	};
	srv_request(&sp);
}

static void cmd_raw(char *p)
{
	const char *id = next_tok(&p), *ep = next_tok(&p), *ms = next_tok(&p);
	struct srv_req_spec sp = {
	    .id = id,
	    .ep = ep,
	    .op = "raw",
	    .accept = -1,
	    .ct = -1,
	    .observe = -1,
	};
	char *t;

	if (!id || !ep || !ms) {
		out_error(
		    id, ep,
		    "usage: raw ID EP METHOD PATH [HEXPAYLOAD] [ct=N] [accept=N] [observe=N]");
		return;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcasecmp(ms, methods[i].name))
			sp.method = methods[i].code;
	if (!sp.method) {
		unsigned long v;
		if (parse_uint(ms, 31, &v) || v == 0) {
			out_error(id, ep, "unknown method '%s'", ms);
			return;
		}
		sp.method = (uint8_t)v;
	}
	sp.path = next_tok(&p);
	if (!sp.path || sp.path[0] != '/') {
		out_error(id, ep, "bad path '%s'", sp.path ? sp.path : "");
		return;
	}
	while ((t = next_tok(&p))) {
		int v;
		unsigned long u;
		if (!strncmp(t, "ct=", 3) || !strncmp(t, "accept=", 7)) {
			bool ct = t[0] == 'c';
			if ((v = cmd_parse_format(t + (ct ? 3 : 7))) < 0) {
				out_error(id, ep, "bad option '%s'", t);
				return;
			}
			*(ct ? &sp.ct : &sp.accept) = v;
		} else if (!strncmp(t, "observe=", 8)) {
			if (parse_uint(t + 8, 0xffffff, &u)) {
				out_error(id, ep, "bad option '%s'", t);
				return;
			}
			sp.observe = (int)u;
		} else if (!sp.payload) {
			long n = strcmp(t, "-") ? unhex(t) : 0;
			if (n < 0) {
				out_error(id, ep, "payload is not hex");
				return;
			}
			sp.payload = (const uint8_t *)t;
			sp.len = (size_t)n;
		} else {
			out_error(id, ep, "unexpected '%s'", t);
			return;
		}
	}
	srv_request(&sp);
}

/* Bootstrap Delete and Finish: ID EP [PATH]. */
static void cmd_bs_simple(char *p, const char *verb)
{
	const char *id = next_tok(&p), *ep = next_tok(&p), *path = next_tok(&p);
	bool finish = !strcmp(verb, "bs-finish");
	struct lwm_path lp;

	if (!id || !ep || (finish ? path != NULL : !lwm_path_ok(path, &lp)) || next_tok(&p)) {
		out_error(id, ep, finish ? "usage: bs-finish ID EP" : "usage: %s ID EP PATH", verb);
		return;
	}
	struct srv_req_spec sp = {
	    .id = id,
	    .ep = ep,
	    .op = verb,
	    .method = finish ? COAP_REQUEST_CODE_POST : COAP_REQUEST_CODE_DELETE,
	    .path = finish ? "/bs" : path,
	    .accept = -1,
	    .ct = -1,
	    .observe = -1,
	};
	srv_request(&sp);
}

/* bs-account ID EP IID SSID URI LIFETIME [PSK-IDENTITY HEXKEY] */
static void cmd_bs_account(char *p)
{
	const char *id = next_tok(&p), *ep = next_tok(&p), *iid = next_tok(&p),
		   *ssid = next_tok(&p), *uri = next_tok(&p), *lt = next_tok(&p);
	char *pid = next_tok(&p), *key = next_tok(&p);
	unsigned long viid, vssid, vlt;
	long klen = 0;

	if (!lt || parse_uint(iid, 65534, &viid) || parse_uint(ssid, 65534, &vssid) ||
	    parse_uint(lt, 0xffffffffu, &vlt) || !pid != !key || next_tok(&p) ||
	    (key && (klen = unhex(key)) <= 0)) {
		out_error(id, ep, "usage: bs-account ID EP IID SSID URI LIFETIME [PSK-ID HEXKEY]");
		return;
	}
	struct srv_account a = {
	    .iid = (uint16_t)viid,
	    .ssid = (uint16_t)vssid,
	    .uri = uri,
	    .lifetime = (uint32_t)vlt,
	    .psk_identity = pid,
	    .psk = (const uint8_t *)key,
	    .psk_len = (size_t)klen,
	};
	srv_bootstrap_account(id, ep, &a);
}

int cmd_exec(char *line)
{
	char *p = line;
	const char *verb = next_tok(&p);

	if (!verb || verb[0] == '#')
		return 0;
	if (!strcmp(verb, "read"))
		cmd_read(p, "read", false);
	else if (!strcmp(verb, "observe"))
		cmd_read(p, "observe", true);
	else if (!strcmp(verb, "discover"))
		cmd_discover(p, "discover");
	else if (!strcmp(verb, "write"))
		cmd_write(p, "write");
	else if (!strcmp(verb, "bs-write"))
		cmd_write(p, "bs-write");
	else if (!strcmp(verb, "bs-read"))
		cmd_read(p, "bs-read", false);
	else if (!strcmp(verb, "bs-discover"))
		cmd_discover(p, "bs-discover");
	else if (!strcmp(verb, "bs-delete") || !strcmp(verb, "bs-finish"))
		cmd_bs_simple(p, verb);
	else if (!strcmp(verb, "bs-account"))
		cmd_bs_account(p);
	else if (!strcmp(verb, "execute"))
		cmd_execute(p);
	else if (!strcmp(verb, "push"))
		cmd_push(p);
	else if (!strcmp(verb, "cancel"))
		cmd_cancel(p);
	else if (!strcmp(verb, "forget"))
		cmd_forget(p);
	else if (!strcmp(verb, "raw"))
		cmd_raw(p);
	else if (!strcmp(verb, "close")) {
		const char *id = next_tok(&p), *ep = next_tok(&p);
		if (!id || !ep || next_tok(&p))
			out_error(id, ep, "usage: close ID EP");
		else
			srv_close(id, ep);
	} else if (!strcmp(verb, "list"))
		srv_list();
	else if (!strcmp(verb, "served"))
		srv_served();
	else if (!strcmp(verb, "quit") || !strcmp(verb, "exit"))
		return 1;
	else
		out_error(next_tok(&p), NULL, "unknown command '%.40s'", verb);
	return 0;
}
