/* Internal to the codecs: what SenML JSON and SenML CBOR (RFC 8428) have in
 * common as LwM2M uses them -- record names, value conversion -- plus the
 * JSON helpers that both JSON formats (SenML and the LwM2M 1.0 one) use. */
#ifndef LWM_SENML_H
#define LWM_SENML_H

#include <jansson.h>

#include "codec.h"

#define LWM_SENML_MAX_PAYLOAD 65536 /* a Write larger than this is not ours */
#define LWM_SENML_MAX_DEPTH 8       /* SenML needs 2: an array of flat maps */
#define LWM_SENML_MAX_NAME 64       /* "/65534/65534/65534/65534" is 24 */

/* A record's value as its key and the payload's own type give it, before
 * the resource's type is applied. */
enum lwm_senml_kind {
	LWM_SK_INT,    /* a number that fits int64 */
	LWM_SK_UINT,   /* a number above INT64_MAX */
	LWM_SK_FLOAT,  /* a number with a fraction or exponent (JSON) / a float (CBOR) */
	LWM_SK_STRING, /* vs */
	LWM_SK_BOOL,   /* vb */
	LWM_SK_DATA,   /* vd, already decoded */
	LWM_SK_OBJLNK, /* vlo, "oid:iid" not yet parsed */
};

struct lwm_senml_raw {
	enum lwm_senml_kind kind;
	union {
		int64_t i;
		uint64_t u;
		double f;
		bool b;
		struct {
			const uint8_t *ptr;
			size_t len;
		} s;
	} v;
};

/* A JSON number ("v") or boolean ("vb" / "bv") as the resource's value:
 * both JSON record formats read them alike.  -EBADMSG when val is not of
 * that JSON type, else lwm_senml_value's result. */
int lwm_json_number_value(json_t *val, enum lwm_type type, struct lwm_value *v);
int lwm_json_bool_value(json_t *val, enum lwm_type type, struct lwm_value *v);

/* Converts raw to the resource's type (LWM_T_NONE: the kind decides).
 * Numbers convert between integer, unsigned, time and float when the value
 * survives exactly (integral floats to integers included); strings,
 * booleans, opaque and object links convert only to their own kind (a
 * string also to CORELNK).  Byte values keep raw's pointer.  0, -EINVAL
 * (does not fit the type, or a non-finite float), -EBADMSG (an object link
 * that does not read as "oid:iid"). */
int lwm_senml_value(const struct lwm_senml_raw *raw, enum lwm_type type, struct lwm_value *v);

/* Record names while decoding.  bn is the base name in force. */
struct lwm_senml_names {
	char bn[LWM_SENML_MAX_NAME];
	size_t bnlen;
};

/* bn + n as a full record path (resource or resource instance, at or
 * below base).  0 or -EBADMSG. */
int lwm_senml_record_path(const struct lwm_senml_names *st, const char *n, size_t nlen,
			  const struct lwm_path *base, struct lwm_path *out);
/* bn + n as a path of any level, for Read-Composite/Observe-Composite
 * lists: a name ending in '/' names the level above ("/3/0/" is /3/0, "/"
 * the root).  0 or -EBADMSG. */
int lwm_senml_list_path(const struct lwm_senml_names *st, const char *n, size_t nlen,
			struct lwm_path *out);

/* Names while encoding: records are named relative to their instance (or
 * the base above it); the root base names them from the root ("/" +
 * "3/0/1"), so a composite read may hold any paths.  lwm_senml_bn writes
 * the base name ("/3303/0/", "/") and returns its length; lwm_senml_rel
 * writes p's name relative to it ("5700", "11/0").  buf holds 32 bytes. */
struct lwm_path lwm_senml_base(const struct lwm_path *base);
int lwm_senml_bn(const struct lwm_path *bn, char buf[32]);
int lwm_senml_rel(const struct lwm_path *bn, const struct lwm_path *p, char buf[32]);

/* The format halves of lwm_senml_paths_decode (len and p already
 * checked). */
int lwm_senml_json_paths(const uint8_t *p, size_t len, struct lwm_path *paths, size_t max,
			 size_t *n);
int lwm_senml_cbor_paths(const uint8_t *p, size_t len, struct lwm_path *paths, size_t max,
			 size_t *n);

/* JSON helpers. */
/* Appends p as a JSON string (quotes, escapes). */
void lwm_json_put_string(struct lwm_buf *out, const uint8_t *p, size_t len);

/* The value keys of a JSON record format: SenML JSON and the 1.0 LwM2M
 * JSON write the same values under different names. */
struct lwm_json_keys {
	const char *number, *boolean, *objlnk, *string, *opaque;
	bool opaque_url, opaque_pad; /* base64 alphabet and padding */
};

extern const struct lwm_json_keys lwm_senml_json_keys, lwm_lwm2m_json_keys;

/* Append `"key":value` for v.  0, -EINVAL (not UTF-8, not finite) or out->err. */
int lwm_json_put_value(struct lwm_buf *out, const struct lwm_value *v,
		       const struct lwm_json_keys *k);
/* Parses a JSON payload of len bytes into *root, checking first what
 * jansson does not: the size (-E2BIG past LWM_SENML_MAX_PAYLOAD), nesting
 * (-E2BIG deeper than LWM_SENML_MAX_DEPTH, before jansson recurses) and
 * raw NUL bytes, which JSON never allows but jansson's reader can step
 * over (it read [{"n":"/1/0/1","v":42<NUL>}] as 42).  0, -E2BIG or -EBADMSG. */
int lwm_json_load(const uint8_t *p, size_t len, json_t **root);

#endif
