/* LwM2M paths, typed values and records: the vocabulary shared by the codecs,
 * the data model and the client engine. */
#ifndef LWM_TYPES_H
#define LWM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Resource data types of the LwM2M data model (DDF <Type>). */
enum lwm_type {
	LWM_T_NONE = 0, /* no value / type unknown (e.g. executable resource) */
	LWM_T_STRING,
	LWM_T_INTEGER,
	LWM_T_UNSIGNED,
	LWM_T_FLOAT,
	LWM_T_BOOLEAN,
	LWM_T_OPAQUE,
	LWM_T_TIME,    /* seconds since the epoch, signed */
	LWM_T_OBJLNK,
	LWM_T_CORELNK, /* a CoRE link string */
};

const char *lwm_type_name(enum lwm_type t);

#define LWM_ID_NONE UINT16_MAX /* 65535 is reserved by LwM2M: never a valid id */

/* /oid/iid/rid/riid; len says how many components are present (0..4). */
struct lwm_path {
	uint16_t id[4];
	uint8_t len;
};

#define LWM_PATH_OID(p) ((p)->id[0])
#define LWM_PATH_IID(p) ((p)->id[1])
#define LWM_PATH_RID(p) ((p)->id[2])
#define LWM_PATH_RIID(p) ((p)->id[3])

/* A typed value.  STRING, OPAQUE and CORELNK point at bytes they do not own:
 * the owner is whoever produced the value (the data model's store, or the
 * payload buffer a decoder read). */
struct lwm_value {
	enum lwm_type type;
	union {
		int64_t i;  /* INTEGER, TIME */
		uint64_t u; /* UNSIGNED */
		double f;   /* FLOAT */
		bool b;     /* BOOLEAN */
		struct {
			uint16_t oid, iid;
		} lnk; /* OBJLNK */
		struct {
			const uint8_t *ptr;
			size_t len;
		} bytes; /* STRING, OPAQUE, CORELNK */
	} v;
};

/* One resource (len 3) or resource instance (len 4) and its value. */
struct lwm_record {
	struct lwm_path path;
	struct lwm_value value;
};

/* Parse "/3/0/1" (also "/", "/3", "/3/0", "/3/0/11/0"); 0 or -EINVAL. */
int lwm_path_parse(const char *s, size_t len, struct lwm_path *out);
/* Format as "/3/0/1" ("/" for the root); returns chars written or -ENOSPC. */
int lwm_path_format(const struct lwm_path *p, char *buf, size_t size);
/* Compare in path order (shorter prefix first). */
int lwm_path_cmp(const struct lwm_path *a, const struct lwm_path *b);
/* True when p equals prefix or lies below it. */
bool lwm_path_starts_with(const struct lwm_path *p, const struct lwm_path *prefix);

static inline struct lwm_path lwm_path_make(uint8_t len, uint16_t oid, uint16_t iid,
					    uint16_t rid, uint16_t riid)
{
	struct lwm_path p = {{oid, iid, rid, riid}, len};
	return p;
}

/* Growable output buffer used by every encoder.  err sticks at the first
 * failure (-ENOMEM, or -E2BIG past max) so encoders need not check each
 * append; check it (or the encoder's return) once at the end.  Memory it
 * gives back (growing, lwm_buf_free) is wiped first: it may hold keys. */
struct lwm_buf {
	uint8_t *data; /* owned; free with lwm_buf_free */
	size_t len, cap;
	size_t max; /* 0: unlimited */
	int err;
};

void lwm_buf_init(struct lwm_buf *b, size_t max);
void lwm_buf_free(struct lwm_buf *b);
void lwm_buf_reset(struct lwm_buf *b); /* len = 0, err = 0, keeps memory */
int lwm_buf_append(struct lwm_buf *b, const void *data, size_t len);
int lwm_buf_printf(struct lwm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lwm_buf_putc(struct lwm_buf *b, uint8_t c);
/* Make room for extra more bytes so that the next appends totalling at most
 * extra bytes do not move data (pointers into it stay valid).  0 or err. */
int lwm_buf_reserve(struct lwm_buf *b, size_t extra);

/* Shortest text that reads back as the same double ("21.5", "1e+300").
 * Returns the length written (buf must hold 32 bytes), or -EINVAL for NaN
 * and infinities, which no LwM2M text format can carry. */
int lwm_fmt_double(double d, char buf[32]);

#endif
