/* Content-format codecs: records <-> payloads. */
#ifndef LWM_CODEC_H
#define LWM_CODEC_H

#include "lwm_types.h"

/* CoAP Content-Format numbers used by LwM2M. */
enum lwm_format {
	LWM_FMT_TEXT = 0,
	LWM_FMT_LINK = 40,
	LWM_FMT_OPAQUE = 42,
	LWM_FMT_CBOR = 60,
	LWM_FMT_SENML_JSON = 110,
	LWM_FMT_SENML_CBOR = 112,
	LWM_FMT_SENML_ETCH_JSON = 320,
	LWM_FMT_SENML_ETCH_CBOR = 322,
	LWM_FMT_TLV = 11542,
	LWM_FMT_LWM2M_JSON = 11543,
	LWM_FMT_LWM2M_CBOR = 11544,
};

/* Tells a decoder the data type of a resource (formats such as TLV and text
 * carry none).  Return LWM_T_NONE when the path is unknown. */
typedef enum lwm_type (*lwm_type_lookup_fn)(const struct lwm_path *path, void *ud);

/* True when the codec layer can encode the format. */
bool lwm_format_can_encode(uint16_t format);
bool lwm_format_can_decode(uint16_t format);

/* Encode the records of a Read of `base` (object, instance, resource or
 * resource instance).  recs are sorted in path order and all lie at or under
 * base; resource instances (path len 4) mark a multiple resource.  TEXT,
 * OPAQUE and CBOR take exactly one record.  Appends to out.
 * Composite responses (Read-Composite, Observe-Composite, Send): pass the
 * root (len 0) as base, with the records of every requested path merged
 * into one sorted, duplicate-free array; SENML_JSON, SENML_CBOR,
 * LWM2M_CBOR and LWM2M_JSON then name each record from the root, so they
 * may come from different objects (TLV cannot: -ENOTSUP).
 * LWM2M_CBOR always writes paths from the root, whatever base is.
 * Returns 0, -ENOTSUP (format not encodable, or TEXT/OPAQUE for more than one
 * record), -EINVAL (a value the format cannot carry) or out->err. */
int lwm_encode(uint16_t format, const struct lwm_path *base, const struct lwm_record *recs,
	       size_t n, struct lwm_buf *out);

/* SenML with times, for Send and stored notifications: the records in the
 * order given, a path possibly repeated (one resource's values over time),
 * t[i] the wall-clock second record i's value was taken.  Names are full
 * paths; the first record carries bt = t[0], later ones t relative to it
 * when they differ.  A t[0] below LWM_SENML_T_ABS_MIN (2^28: SenML reads
 * such a time as relative to now) means the wall clock was not set: then
 * no record carries a time (the values go as current, which is less wrong).
 * format SENML_JSON or SENML_CBOR (-ENOTSUP otherwise). */
#define LWM_SENML_T_ABS_MIN ((int64_t)1 << 28)
int lwm_senml_encode_timed(uint16_t format, const struct lwm_record *recs, const int64_t *t,
			   size_t n, struct lwm_buf *out);
int lwm_senml_json_encode_timed(const struct lwm_record *recs, const int64_t *t, size_t n,
				struct lwm_buf *out);
int lwm_senml_cbor_encode_timed(const struct lwm_record *recs, const int64_t *t, size_t n,
				struct lwm_buf *out);

/* Decode a payload addressed to `base` into at most max records (*n set).
 * Record values borrow bytes from payload.  lookup may be NULL for
 * self-describing formats (SenML).  Returns 0, -ENOTSUP (format), -EBADMSG
 * (malformed or truncated), -E2BIG (more than max records or nested too
 * deep), -EINVAL (value does not fit the resource's type).
 * Same as lwm_decode_ex with no scratch buffer: see there. */
int lwm_decode(uint16_t format, const struct lwm_path *base, const uint8_t *payload,
	       size_t len, lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
	       size_t max, size_t *n);

/* lwm_decode with a scratch buffer for values whose bytes do not appear
 * verbatim in the payload: SenML JSON strings (escaped) and opaque values
 * (base64url), LwM2M JSON strings (escaped) and opaque values (base64),
 * text/plain opaque values (base64), and in the CBOR formats (CBOR, SenML
 * CBOR, LwM2M CBOR) strings sent as indefinite-length chunks (definite
 * strings point into the payload).  Such bytes are appended
 * to *scratch (borrowed); STRING/OPAQUE/CORELNK values then point into
 * scratch, all other byte values into payload.  The decoder grows scratch
 * at most once, before it hands out any pointer, so these pointers stay
 * valid until scratch is next appended to, reset or freed; bytes already in
 * scratch are kept but may move.  scratch->max bounds what a payload may
 * expand to (-E2BIG past it).  scratch may be NULL: a payload that needs it
 * then fails with -ENOBUFS (TLV and opaque never need it).
 *
 * Common rules for every format:
 * - record paths are full (len 3, or 4 for resource instances) and lie at
 *   or below base; a TLV Create payload on an object (base len 1) that
 *   carries bare resources gets iid LWM_ID_NONE (the client picks one);
 * - lookup is called with the resource path (len 3) of each record; when it
 *   is NULL or answers LWM_T_NONE, TLV, text and opaque values come back as
 *   raw OPAQUE bytes and SenML values keep the type their key gives (CBOR
 *   and LwM2M CBOR: the CBOR item's type; LwM2M JSON: its key, sv being a
 *   STRING), for the caller to reject or convert;
 * - numbers convert between INTEGER, UNSIGNED, TIME and FLOAT when the
 *   value survives exactly; an object link is "oid:iid" text (-EBADMSG
 *   otherwise) in every format but TLV;
 * - STRING and CORELNK values are valid UTF-8 (-EINVAL otherwise), FLOAT
 *   values are finite (-EINVAL otherwise);
 * - two records for one path are -EBADMSG; an empty TLV multiple resource
 *   yields no record at all;
 * - TEXT, OPAQUE and CBOR need a resource (instance) base, TLV any but the
 *   root (-ENOTSUP otherwise); the others take any base, the root for
 *   Write-Composite (SENML_ETCH_JSON/_CBOR decode as SENML_JSON/_CBOR);
 * - payloads over 64 KiB are -E2BIG, and so is JSON or CBOR nesting deeper
 *   than 8 where the format lets a payload nest (ignored SenML labels);
 *   LwM2M CBOR maps nested past a resource instance are -EBADMSG;
 * - CBOR input may use any well-formed encoding (indefinite lengths,
 *   half/single/double floats) except what libcbor 0.8 refuses: simple
 *   values other than false/true/null/undefined and one-byte tags 6..20;
 *   text must be valid UTF-8 (-EBADMSG);
 * - on error *n is 0 and the contents of recs are unspecified. */
int lwm_decode_ex(uint16_t format, const struct lwm_path *base, const uint8_t *payload,
		  size_t len, lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
		  size_t max, size_t *n, struct lwm_buf *scratch);

/* Per-format entry points (same contracts as above). */
int lwm_text_encode(const struct lwm_record *rec, struct lwm_buf *out);
int lwm_text_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
		    enum lwm_type type, struct lwm_record *out);
int lwm_text_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
		       enum lwm_type type, struct lwm_record *out, struct lwm_buf *scratch);
int lwm_tlv_encode(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
		   struct lwm_buf *out);
int lwm_tlv_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
		   lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs, size_t max,
		   size_t *n);
int lwm_senml_json_encode(const struct lwm_path *base, const struct lwm_record *recs,
			  size_t n, struct lwm_buf *out);
int lwm_senml_json_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
			  lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			  size_t max, size_t *n);
int lwm_senml_json_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch);

int lwm_cbor_encode(const struct lwm_record *rec, struct lwm_buf *out);
int lwm_cbor_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
		       enum lwm_type type, struct lwm_record *out, struct lwm_buf *scratch);
int lwm_senml_cbor_encode(const struct lwm_path *base, const struct lwm_record *recs,
			  size_t n, struct lwm_buf *out);
int lwm_senml_cbor_decode(const struct lwm_path *base, const uint8_t *p, size_t len,
			  lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			  size_t max, size_t *n);
int lwm_senml_cbor_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch);
int lwm_lwm2m_json_encode(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
			  struct lwm_buf *out);
int lwm_lwm2m_json_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch);
int lwm_lwm2m_cbor_encode(const struct lwm_path *base, const struct lwm_record *recs, size_t n,
			  struct lwm_buf *out);
int lwm_lwm2m_cbor_decode_ex(const struct lwm_path *base, const uint8_t *p, size_t len,
			     lwm_type_lookup_fn lookup, void *ud, struct lwm_record *recs,
			     size_t max, size_t *n, struct lwm_buf *scratch);

/* The paths of a Read-Composite / Observe-Composite request (FETCH) or of
 * a Write-Composite (iPATCH) payload: SenML records read for their names
 * only (bn + n, bn carrying over as usual; values, if any, are skipped
 * unchecked), in payload order, duplicates kept.  format is SENML_JSON,
 * SENML_CBOR or their ETCH aliases (320, 322).  A path may be of any level
 * ("/3", "/3/0", "/3/0/1", "/3/0/11/0", "/" the root); a name ending in
 * '/' addresses the level above ("/3/0/" is /3/0).  At most max paths
 * (*n set).  0, -ENOTSUP (format), -EBADMSG (malformed, or a name that is
 * not a path), -E2BIG (more than max paths, over 64 KiB, nested deeper
 * than 8); on error *n is 0. */
int lwm_senml_paths_decode(uint16_t format, const uint8_t *p, size_t len, struct lwm_path *paths,
			   size_t max, size_t *n);

/* RFC 6690 helpers: append `</3/0>` style links; attrs may be NULL or a
 * string like `;ver=1.1` appended verbatim.  A ',' is written before the
 * link when out already holds bytes (out->len > 0), never otherwise, so
 * start each payload from an empty (or reset) buffer.  0 or out->err. */
int lwm_link_append(struct lwm_buf *out, const struct lwm_path *p, const char *attrs);

/* Helpers shared by the codecs. */
/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool lwm_utf8_valid(const uint8_t *p, size_t len);
/* p as valid UTF-8, for text that comes from elsewhere than a server (a
 * device): *out, *outlen are p, len when it already is; otherwise each
 * maximal invalid subsequence is replaced with U+FFFD (the Unicode
 * recommended practice) and the result appended to buf, where *out then
 * points (until buf next grows).  0, -EINVAL (invalid and buf NULL) or
 * buf->err. */
int lwm_utf8_repair(const uint8_t *p, size_t len, struct lwm_buf *buf, const uint8_t **out,
		    size_t *outlen);
/* RFC 4648 base64: url picks the URL-safe alphabet (section 5), pad the '='
 * padding.  Encoding appends to out (0 or out->err). */
int lwm_base64_encode(const uint8_t *p, size_t len, bool url, bool pad, struct lwm_buf *out);
/* Decodes s (padding optional; non-zero trailing bits rejected) into out,
 * which may be NULL to only validate and measure; *outlen gets the decoded
 * length.  0 or -EBADMSG. */
int lwm_base64_decode(const char *s, size_t len, bool url, uint8_t *out, size_t *outlen);
/* Checks the encoders' input contract: every record is a resource (len 3)
 * or resource instance (len 4) at or below base, in strictly increasing path
 * order, and no resource appears both single and with instances.
 * 0 or -EINVAL. */
int lwm_records_check(const struct lwm_path *base, const struct lwm_record *recs, size_t n);
/* Checks a decoder's output: -EBADMSG when two records name the same
 * resource (instance), or a resource both single and with instances. */
int lwm_records_unique(const struct lwm_record *recs, size_t n);

#endif
