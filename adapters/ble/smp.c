/* MCUmgr SMP frames (see smp.h): a small CBOR writer for the few maps the
 * adapter sends, and a bounded reader for the responses. */
#include "smp.h"

#include <errno.h>
#include <string.h>

/* ---- writing --------------------------------------------------------------- */

struct wr {
	uint8_t *p;
	size_t cap, len;
	bool full;
};

static void put(struct wr *w, const void *s, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

/* A CBOR item head: major type and argument, in its shortest form. */
static void head(struct wr *w, uint8_t major, uint64_t v)
{
	uint8_t b[9];
	size_t n;

	major <<= 5;
	if (v < 24) {
		b[0] = major | (uint8_t)v;
		n = 1;
	} else if (v <= 0xff) {
		b[0] = major | 24;
		b[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		b[0] = major | 25;
		b[1] = (uint8_t)(v >> 8);
		b[2] = (uint8_t)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		b[0] = major | 26;
		for (int i = 0; i < 4; i++)
			b[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		n = 5;
	} else {
		b[0] = major | 27;
		for (int i = 0; i < 8; i++)
			b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
		n = 9;
	}
	put(w, b, n);
}

static void key(struct wr *w, const char *k)
{
	head(w, 3, strlen(k));
	put(w, k, strlen(k));
}

static void bytes(struct wr *w, const uint8_t *p, size_t n)
{
	head(w, 2, n);
	put(w, p, n);
}

static void boolean(struct wr *w, bool b)
{
	uint8_t v = b ? 0xf5 : 0xf4;

	put(w, &v, 1);
}

static void hdr(struct wr *w, uint8_t op, uint16_t group, uint8_t seq, uint8_t id)
{
	uint8_t h[SMP_HDR_LEN] = {op, 0, 0, 0, (uint8_t)(group >> 8), (uint8_t)group, seq, id};

	put(w, h, sizeof(h));
}

/* The data length goes into the header once the map is written. */
static int finish(struct wr *w)
{
	size_t n = w->len - SMP_HDR_LEN;

	if (w->full || n > 0xffff)
		return -ENOBUFS;
	w->p[2] = (uint8_t)(n >> 8);
	w->p[3] = (uint8_t)n;
	return (int)w->len;
}

int smp_upload_req(uint8_t *out, size_t cap, uint8_t seq, uint64_t off, const uint8_t *data,
		   size_t n, uint64_t total, const uint8_t sha[32])
{
	struct wr w = {out, cap, 0, false};
	bool first = off == 0;

	hdr(&w, SMP_OP_WRITE, SMP_GROUP_IMAGE, seq, SMP_ID_IMAGE_UPLOAD);
	head(&w, 5, first ? (sha ? 5 : 4) : 2);
	if (first) {
		key(&w, "image");
		head(&w, 0, 0);
		key(&w, "len");
		head(&w, 0, total);
	}
	key(&w, "off");
	head(&w, 0, off);
	key(&w, "data");
	bytes(&w, data, n);
	if (first && sha) {
		key(&w, "sha");
		bytes(&w, sha, 32);
	}
	return finish(&w);
}

int smp_state_read_req(uint8_t *out, size_t cap, uint8_t seq)
{
	struct wr w = {out, cap, 0, false};

	hdr(&w, SMP_OP_READ, SMP_GROUP_IMAGE, seq, SMP_ID_IMAGE_STATE);
	head(&w, 5, 0);
	return finish(&w);
}

int smp_state_write_req(uint8_t *out, size_t cap, uint8_t seq, const uint8_t hash[32],
			bool confirm)
{
	struct wr w = {out, cap, 0, false};

	hdr(&w, SMP_OP_WRITE, SMP_GROUP_IMAGE, seq, SMP_ID_IMAGE_STATE);
	head(&w, 5, hash ? 2 : 1);
	if (hash) {
		key(&w, "hash");
		bytes(&w, hash, 32);
	}
	key(&w, "confirm");
	boolean(&w, confirm);
	return finish(&w);
}

int smp_reset_req(uint8_t *out, size_t cap, uint8_t seq)
{
	struct wr w = {out, cap, 0, false};

	hdr(&w, SMP_OP_WRITE, SMP_GROUP_OS, seq, SMP_ID_OS_RESET);
	head(&w, 5, 0);
	return finish(&w);
}

/* ---- reading --------------------------------------------------------------- */

/* Definite and indefinite arrays and maps (zcbor writes the latter unless
 * built canonical), definite strings, integers, simple values. */
enum { K_UINT, K_NEG, K_BYTES, K_TEXT, K_ARRAY, K_MAP, K_SIMPLE, K_BREAK };

struct rd {
	const uint8_t *p;
	size_t len, off;
};

struct item {
	int kind;
	bool indef;
	uint64_t u;
	const uint8_t *ptr; /* strings */
};

#define MAX_DEPTH 6

static int next(struct rd *r, struct item *it)
{
	uint8_t b, ai;
	uint64_t v = 0;
	size_t n;

	if (r->off >= r->len)
		return -EBADMSG;
	b = r->p[r->off++];
	memset(it, 0, sizeof(*it));
	it->kind = b >> 5;
	ai = b & 0x1f;
	if (b == 0xff) {
		it->kind = K_BREAK;
		return 0;
	}
	if (it->kind == 6) /* a tag: its item follows */
		return -EBADMSG;
	if (ai < 24) {
		v = ai;
	} else if (ai <= 27) {
		n = (size_t)1 << (ai - 24);
		if (n > r->len - r->off)
			return -EBADMSG;
		for (size_t i = 0; i < n; i++)
			v = v << 8 | r->p[r->off++];
	} else if (ai == 31 && (it->kind == K_ARRAY || it->kind == K_MAP)) {
		it->indef = true;
	} else {
		return -EBADMSG;
	}
	it->u = v;
	if (it->kind == K_BYTES || it->kind == K_TEXT) {
		if (v > r->len - r->off)
			return -EBADMSG;
		it->ptr = r->p + r->off;
		r->off += (size_t)v;
	} else if (it->kind == 7) {
		it->kind = K_SIMPLE; /* 20 false, 21 true, 22 null, 23 undefined */
		if (ai > 23) {
			it->u = 255; /* a float: skipped, never taken for a boolean */
			return ai >= 25 && ai <= 27 ? 0 : -EBADMSG;
		}
	}
	return 0;
}

static int skip(struct rd *r, const struct item *it, unsigned depth)
{
	struct item x;
	int e;

	if (it->kind != K_ARRAY && it->kind != K_MAP)
		return 0;
	if (depth >= MAX_DEPTH)
		return -EBADMSG;
	for (uint64_t i = 0; it->indef || i < (it->kind == K_MAP ? 2 : 1) * it->u; i++) {
		if ((e = next(r, &x)) < 0)
			return e;
		if (x.kind == K_BREAK)
			return it->indef ? 0 : -EBADMSG;
		if ((e = skip(r, &x, depth + 1)) < 0)
			return e;
	}
	return 0;
}

static bool is_key(const struct item *k, const char *s)
{
	return k->kind == K_TEXT && k->u == strlen(s) && memcmp(k->ptr, s, k->u) == 0;
}

/* Iterates a map's pairs: 1 with the key read, 0 at its end. */
static int map_next(struct rd *r, const struct item *map, uint64_t *i, struct item *k)
{
	int e;

	if (!map->indef && *i == map->u)
		return 0;
	if ((e = next(r, k)) < 0)
		return e;
	if (k->kind == K_BREAK)
		return map->indef ? 0 : -EBADMSG;
	++*i;
	return 1;
}

static int int_of(const struct item *v, int64_t *out)
{
	if (v->kind == K_UINT && v->u <= INT64_MAX)
		*out = (int64_t)v->u;
	else if (v->kind == K_NEG && v->u <= INT64_MAX)
		*out = -1 - (int64_t)v->u;
	else
		return -EBADMSG;
	return 0;
}

static int read_image(struct rd *r, const struct item *map, struct smp_image *im)
{
	struct item k, v;
	uint64_t i = 0;
	int e;

	memset(im, 0, sizeof(*im));
	while ((e = map_next(r, map, &i, &k)) > 0) {
		if ((e = next(r, &v)) < 0 || v.kind == K_BREAK)
			return -EBADMSG;
		if ((is_key(&k, "image") || is_key(&k, "slot")) && v.kind == K_UINT &&
		    v.u <= UINT32_MAX)
			*(is_key(&k, "image") ? &im->image : &im->slot) = (uint32_t)v.u;
		else if (is_key(&k, "hash") && v.kind == K_BYTES && v.u == 32) {
			memcpy(im->hash, v.ptr, 32);
			im->has_hash = true;
		} else if (is_key(&k, "version") && v.kind == K_TEXT &&
			   v.u < sizeof(im->version)) {
			memcpy(im->version, v.ptr, v.u);
			im->version[v.u] = '\0';
		} else if (v.kind == K_SIMPLE && (v.u == 20 || v.u == 21)) {
			if (is_key(&k, "active"))
				im->active = v.u == 21;
			else if (is_key(&k, "confirmed"))
				im->confirmed = v.u == 21;
			else if (is_key(&k, "pending"))
				im->pending = v.u == 21;
		} else if ((e = skip(r, &v, 3)) < 0) {
			return e;
		}
	}
	return e;
}

int smp_frame_len(const uint8_t *p, size_t n)
{
	if (n < SMP_HDR_LEN)
		return -EAGAIN;
	return SMP_HDR_LEN + (p[2] << 8 | p[3]);
}

int smp_parse_rsp(const uint8_t *p, size_t n, struct smp_rsp *out)
{
	struct rd r = {p + SMP_HDR_LEN, 0, 0};
	struct item map, k, v;
	uint64_t i = 0;
	int e;

	memset(out, 0, sizeof(*out));
	if (n < SMP_HDR_LEN || smp_frame_len(p, n) != (int)n)
		return -EBADMSG;
	r.len = n - SMP_HDR_LEN;
	out->op = p[0] & 7;
	out->group = (uint16_t)(p[4] << 8 | p[5]);
	out->err_group = out->group;
	out->seq = p[6];
	out->id = p[7];
	if (out->op != SMP_OP_READ_RSP && out->op != SMP_OP_WRITE_RSP)
		return -EBADMSG;
	if ((e = next(&r, &map)) < 0 || map.kind != K_MAP)
		return -EBADMSG;
	while ((e = map_next(&r, &map, &i, &k)) > 0) {
		if ((e = next(&r, &v)) < 0 || v.kind == K_BREAK)
			return -EBADMSG;
		if (is_key(&k, "rc")) {
			if (int_of(&v, &out->rc) < 0)
				return -EBADMSG;
			out->has_rc = true;
		} else if (is_key(&k, "off") && v.kind == K_UINT) {
			out->off = v.u;
			out->has_off = true;
		} else if (is_key(&k, "err") && v.kind == K_MAP) {
			/* SMP v2: {"group": g, "rc": rc} */
			struct item ek, ev;
			uint64_t j = 0;
			int64_t x;

			out->v2 = true;
			while ((e = map_next(&r, &v, &j, &ek)) > 0) {
				if (next(&r, &ev) < 0 || ev.kind == K_BREAK)
					return -EBADMSG;
				if (is_key(&ek, "rc") && int_of(&ev, &out->rc) == 0)
					out->has_rc = true;
				else if (is_key(&ek, "group") && int_of(&ev, &x) == 0 && x >= 0 &&
					 x <= 0xffff)
					out->err_group = (uint16_t)x;
				else if (skip(&r, &ev, 2) < 0)
					return -EBADMSG;
			}
			if (e < 0)
				return -EBADMSG;
		} else if (is_key(&k, "images") && v.kind == K_ARRAY) {
			struct item im;

			for (uint64_t j = 0; v.indef || j < v.u; j++) {
				if (next(&r, &im) < 0)
					return -EBADMSG;
				if (im.kind == K_BREAK) {
					if (!v.indef)
						return -EBADMSG;
					break;
				}
				if (im.kind != K_MAP)
					return -EBADMSG;
				if (out->n_img < SMP_MAX_IMAGES) {
					if (read_image(&r, &im, &out->img[out->n_img++]) < 0)
						return -EBADMSG;
				} else if (skip(&r, &im, 2) < 0) {
					return -EBADMSG;
				}
			}
		} else if (skip(&r, &v, 1) < 0) {
			return -EBADMSG;
		}
	}
	return e < 0 ? -EBADMSG : 0;
}

int smp_status(const struct smp_rsp *r)
{
	if (!r->has_rc || r->rc == 0)
		return 0;
	if (r->v2) {
		if (r->err_group != SMP_GROUP_IMAGE)
			return -EIO;
		switch (r->rc) { /* the image group's own codes */
		case 9:  /* no free slot */
		case 30: /* image too large */
			return -ENOSPC;
		case 15: /* no free memory */
			return -ENOMEM;
		case 3: case 4: case 5: case 6: case 7: case 8: /* no image, TLVs, hash */
		case 22: case 23: case 24: /* header, its magic, hash */
			return -EBADMSG;
		default:
			return -EIO;
		}
	}
	switch (r->rc) { /* SMP v1: the generic MGMT_ERR_* codes */
	case 2: /* ENOMEM */
		return -ENOMEM;
	case 3: /* EINVAL */
	case 9: /* ECORRUPT */
		return -EBADMSG;
	case 8: /* ENOTSUP */
		return -ENOTSUP;
	case 10: /* EBUSY */
		return -EBUSY;
	default:
		return -EIO;
	}
}
