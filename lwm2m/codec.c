/* Content-format dispatch and the helpers the codecs share. */
#include "codec.h"

#include <errno.h>
#include <string.h>

bool lwm_format_can_encode(uint16_t format)
{
	switch (format) {
	case LWM_FMT_TEXT:
	case LWM_FMT_OPAQUE:
	case LWM_FMT_CBOR:
	case LWM_FMT_TLV:
	case LWM_FMT_SENML_JSON:
	case LWM_FMT_SENML_CBOR:
	case LWM_FMT_LWM2M_JSON:
	case LWM_FMT_LWM2M_CBOR:
		return true;
	default:
		return false;
	}
}

bool lwm_format_can_decode(uint16_t format)
{
	/* Write-Composite may come as SenML-ETCH, which for full records is
	 * SenML. */
	return lwm_format_can_encode(format) || format == LWM_FMT_SENML_ETCH_JSON ||
	       format == LWM_FMT_SENML_ETCH_CBOR;
}

/* TEXT and OPAQUE carry exactly one value, of the resource (instance) read. */
static int check_single(const struct lwm_path *base, const struct lwm_record *recs, size_t n)
{
	if (base->len < 3 || n != 1 || lwm_path_cmp(&recs[0].path, base) != 0)
		return -ENOTSUP;
	return 0;
}

static int encode(uint16_t format, const struct lwm_path *base, const struct lwm_record *recs,
		  size_t n, struct lwm_buf *out)
{
	int r;

	switch (format) {
	case LWM_FMT_TEXT:
		r = check_single(base, recs, n);
		return r ? r : lwm_text_encode(&recs[0], out);
	case LWM_FMT_OPAQUE:
		r = check_single(base, recs, n);
		if (r)
			return r;
		if (recs[0].value.type != LWM_T_OPAQUE)
			return -EINVAL;
		lwm_buf_append(out, recs[0].value.v.bytes.ptr, recs[0].value.v.bytes.len);
		return out->err;
	case LWM_FMT_CBOR:
		r = check_single(base, recs, n);
		return r ? r : lwm_cbor_encode(&recs[0], out);
	case LWM_FMT_TLV:
		return lwm_tlv_encode(base, recs, n, out);
	case LWM_FMT_SENML_JSON:
		return lwm_senml_json_encode(base, recs, n, out);
	case LWM_FMT_SENML_CBOR:
		return lwm_senml_cbor_encode(base, recs, n, out);
	case LWM_FMT_LWM2M_JSON:
		return lwm_lwm2m_json_encode(base, recs, n, out);
	case LWM_FMT_LWM2M_CBOR:
		return lwm_lwm2m_cbor_encode(base, recs, n, out);
	default:
		return -ENOTSUP;
	}
}

int lwm_senml_encode_timed(uint16_t format, const struct lwm_record *recs, const int64_t *t,
			   size_t n, struct lwm_buf *out)
{
	if (format == LWM_FMT_SENML_JSON)
		return lwm_senml_json_encode_timed(recs, t, n, out);
	if (format == LWM_FMT_SENML_CBOR)
		return lwm_senml_cbor_encode_timed(recs, t, n, out);
	return -ENOTSUP;
}

int lwm_encode(uint16_t format, const struct lwm_path *base, const struct lwm_record *recs,
	       size_t n, struct lwm_buf *out)
{
	size_t start = out->len;
	int r = encode(format, base, recs, n, out);

	/* Leave no half-written payload behind a value error. */
	if (r && !out->err)
		out->len = start;
	return r;
}

static enum lwm_type lookup_type(const struct lwm_path *p, lwm_type_lookup_fn lookup, void *ud)
{
	struct lwm_path res = lwm_path_make(3, p->id[0], p->id[1], p->id[2], 0);

	return lookup ? lookup(&res, ud) : LWM_T_NONE;
}

int lwm_decode_ex(uint16_t format, const struct lwm_path *base, const uint8_t *payload,
		  size_t len, lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
		  size_t max, size_t *n, struct lwm_buf *scratch)
{
	enum lwm_type t;
	int r;

	*n = 0;
	switch (format) {
	case LWM_FMT_TEXT:
	case LWM_FMT_OPAQUE:
	case LWM_FMT_CBOR:
		if (base->len < 3)
			return -ENOTSUP;
		if (max < 1)
			return -E2BIG;
		t = lookup_type(base, lookup, ud);
		if (format == LWM_FMT_TEXT) {
			r = lwm_text_decode_ex(base, payload, len, t, &recs[0], scratch);
		} else if (format == LWM_FMT_CBOR) {
			r = lwm_cbor_decode_ex(base, payload, len, t, &recs[0], scratch);
		} else if (t != LWM_T_OPAQUE && t != LWM_T_NONE) {
			r = -EINVAL;
		} else {
			recs[0].path = *base;
			recs[0].value.type = LWM_T_OPAQUE;
			recs[0].value.v.bytes.ptr = payload;
			recs[0].value.v.bytes.len = len;
			r = 0;
		}
		if (r == 0)
			*n = 1;
		return r;
	case LWM_FMT_TLV:
		return lwm_tlv_decode(base, payload, len, lookup, ud, recs, max, n);
	case LWM_FMT_SENML_JSON:
	case LWM_FMT_SENML_ETCH_JSON:
		return lwm_senml_json_decode_ex(base, payload, len, lookup, ud, recs, max, n,
						scratch);
	case LWM_FMT_SENML_CBOR:
	case LWM_FMT_SENML_ETCH_CBOR:
		return lwm_senml_cbor_decode_ex(base, payload, len, lookup, ud, recs, max, n,
						scratch);
	case LWM_FMT_LWM2M_JSON:
		return lwm_lwm2m_json_decode_ex(base, payload, len, lookup, ud, recs, max, n,
						scratch);
	case LWM_FMT_LWM2M_CBOR:
		return lwm_lwm2m_cbor_decode_ex(base, payload, len, lookup, ud, recs, max, n,
						scratch);
	default:
		return -ENOTSUP;
	}
}

int lwm_decode(uint16_t format, const struct lwm_path *base, const uint8_t *payload,
	       size_t len, lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
	       size_t max, size_t *n)
{
	return lwm_decode_ex(format, base, payload, len, lookup, ud, recs, max, n, NULL);
}

int lwm_records_check(const struct lwm_path *base, const struct lwm_record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct lwm_path *p = &recs[i].path;

		if (p->len < 3 || p->len > 4 || !lwm_path_starts_with(p, base))
			return -EINVAL;
		for (unsigned k = 0; k < p->len; k++) {
			if (p->id[k] == LWM_ID_NONE)
				return -EINVAL;
		}
		if (i == 0)
			continue;
		/* Strictly increasing; a single resource sorts right before
		 * what would be its instances, so one look back suffices. */
		if (lwm_path_cmp(&recs[i - 1].path, p) >= 0 ||
		    lwm_path_starts_with(p, &recs[i - 1].path))
			return -EINVAL;
	}
	return 0;
}

int lwm_records_unique(const struct lwm_record *recs, size_t n)
{
	/* Quadratic, but n is bounded by the caller's record array. */
	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (lwm_path_starts_with(&recs[i].path, &recs[j].path) ||
			    lwm_path_starts_with(&recs[j].path, &recs[i].path))
				return -EBADMSG;
		}
	}
	return 0;
}

/* Length of the UTF-8 sequence at p (left > 0 bytes), or 0 when none
 * starts there; *bad then gets the length of the maximal subpart of one
 * (at least 1), what a single U+FFFD replaces (Unicode 15, section 3.9).
 * Strict: no overlongs, surrogates or code points past U+10FFFF. */
static size_t utf8_seq(const uint8_t *p, size_t left, size_t *bad)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t k;

	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		k = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 2;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* overlong */
		hi = c == 0xed ? 0x9f : 0xbf; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 3;
		lo = c == 0xf0 ? 0x90 : 0x80; /* overlong */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* past U+10FFFF */
	} else {
		return 0;
	}
	for (size_t j = 1; j <= k; j++) {
		if (j >= left || p[j] < lo || p[j] > hi) {
			*bad = j;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return k + 1;
}

bool lwm_utf8_valid(const uint8_t *p, size_t len)
{
	size_t i = 0, bad, n;

	while (i < len) {
		n = utf8_seq(p + i, len - i, &bad);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

int lwm_utf8_repair(const uint8_t *p, size_t len, struct lwm_buf *buf, const uint8_t **out,
		    size_t *outlen)
{
	static const uint8_t fffd[3] = {0xef, 0xbf, 0xbd};
	size_t i = 0, run = 0, bad, n, start;

	*out = p;
	*outlen = len;
	if (lwm_utf8_valid(p, len))
		return 0;
	if (!buf)
		return -EINVAL;
	start = buf->len;
	while (i < len) {
		n = utf8_seq(p + i, len - i, &bad);
		if (n) {
			i += n;
			continue;
		}
		lwm_buf_append(buf, p + run, i - run);
		lwm_buf_append(buf, fffd, sizeof(fffd));
		i += bad;
		run = i;
	}
	lwm_buf_append(buf, p + run, len - run);
	if (buf->err)
		return buf->err;
	*out = buf->data + start;
	*outlen = buf->len - start;
	return 0;
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int lwm_base64_encode(const uint8_t *p, size_t len, bool url, bool pad, struct lwm_buf *out)
{
	const char *al = url ? b64_url : b64_std;
	size_t i = 0;

	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char q[4] = {al[v >> 18], al[(v >> 12) & 63], al[(v >> 6) & 63], al[v & 63]};

		lwm_buf_append(out, q, 4);
	}
	if (len - i == 1) {
		char q[4] = {al[p[i] >> 2], al[(p[i] & 3) << 4], '=', '='};

		lwm_buf_append(out, q, pad ? 4 : 2);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];
		char q[4] = {al[v >> 10], al[(v >> 4) & 63], al[(v << 2) & 63], '='};

		lwm_buf_append(out, q, pad ? 4 : 3);
	}
	return out->err;
}

static int b64_val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

int lwm_base64_decode(const char *s, size_t len, bool url, uint8_t *out, size_t *outlen)
{
	size_t o = 0, tail;
	uint32_t acc = 0;

	/* Padding, when present, must complete the last quantum. */
	if (len >= 1 && s[len - 1] == '=') {
		if (len % 4)
			return -EBADMSG;
		len -= (len >= 2 && s[len - 2] == '=') ? 2 : 1;
	}
	tail = len % 4;
	if (tail == 1)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		int v = b64_val(s[i], url);

		if (v < 0)
			return -EBADMSG;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			if (out) {
				out[o] = (uint8_t)(acc >> 16);
				out[o + 1] = (uint8_t)(acc >> 8);
				out[o + 2] = (uint8_t)acc;
			}
			o += 3;
			acc = 0;
		}
	}
	/* A partial quantum of 2 or 3 chars carries 1 or 2 bytes; the bits
	 * left over must be zero or two texts would decode alike. */
	if (tail == 2) {
		if (acc & 0xf)
			return -EBADMSG;
		if (out)
			out[o] = (uint8_t)(acc >> 4);
		o += 1;
	} else if (tail == 3) {
		if (acc & 0x3)
			return -EBADMSG;
		if (out) {
			out[o] = (uint8_t)(acc >> 10);
			out[o + 1] = (uint8_t)(acc >> 2);
		}
		o += 2;
	}
	*outlen = o;
	return 0;
}
