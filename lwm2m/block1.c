/* Block-wise request bodies: see block1.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block1.h"

struct lwm_block1_xfer {
	struct lwm_block1_xfer *next;
	const void *session;
	uint8_t method;
	uint16_t format;
	char key[LWM_BLOCK1_KEY_MAX + 1];
	uint32_t last_num;     /* the last block taken */
	unsigned last_szx;
	uint64_t received;     /* bytes so far: the next block's offset */
	size_t limit;
	uint64_t seen_ms;      /* last block's arrival */
	struct lwm_block1_sink *sink;
	struct lwm_block1_mem mem; /* the default sink */
};

/* ---- the memory sink ---------------------------------------------------- */

static int mem_begin(struct lwm_block1_sink *s, uint64_t total_hint)
{
	struct lwm_block1_mem *m = (struct lwm_block1_mem *)s;

	/* The hint is the peer's word: refuse on it, allocate on data only. */
	return total_hint > m->limit ? -EFBIG : 0;
}

static int mem_chunk(struct lwm_block1_sink *s, uint64_t off, const uint8_t *data, size_t len)
{
	struct lwm_block1_mem *m = (struct lwm_block1_mem *)s;

	if (off != m->len)
		return -EINVAL;
	if (len > m->limit - m->len)
		return -EFBIG;
	if (m->len + len > m->cap) {
		/* Grow by doubling, never past the limit. */
		size_t cap = m->cap ? m->cap : 1024;
		uint8_t *p;
		while (cap < m->len + len)
			cap = cap > m->limit / 2 ? m->limit : cap * 2;
		p = realloc(m->data, cap);
		if (!p)
			return -ENOMEM;
		m->data = p;
		m->cap = cap;
	}
	memcpy(m->data + m->len, data, len);
	m->len += len;
	return 0;
}

static int mem_end(struct lwm_block1_sink *s)
{
	return 0;
}

static void mem_abort(struct lwm_block1_sink *s)
{
	lwm_block1_mem_free((struct lwm_block1_mem *)s);
}

void lwm_block1_mem_init(struct lwm_block1_mem *m, size_t limit)
{
	*m = (struct lwm_block1_mem){
		.sink = {.begin = mem_begin, .chunk = mem_chunk, .end = mem_end,
			 .abort = mem_abort},
		.limit = limit,
	};
}

void lwm_block1_mem_free(struct lwm_block1_mem *m)
{
	free(m->data);
	m->data = NULL;
	m->len = m->cap = 0;
}

/* ---- the table ------------------------------------------------------------ */

void lwm_block1_init(struct lwm_block1_table *t)
{
	*t = (struct lwm_block1_table){0};
}

static void xfer_unlink(struct lwm_block1_table *t, struct lwm_block1_xfer *x)
{
	for (struct lwm_block1_xfer **pp = &t->list; *pp; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			t->n--;
			return;
		}
}

/* Unlinked x goes, its sink aborted (when abort) and released. */
static void xfer_free(struct lwm_block1_xfer *x, bool abort)
{
	if (abort && x->sink->abort)
		x->sink->abort(x->sink);
	if (x->sink != &x->mem.sink && x->sink->release)
		x->sink->release(x->sink);
	lwm_block1_mem_free(&x->mem);
	free(x);
}

static void xfer_drop_why(struct lwm_block1_table *t, struct lwm_block1_xfer *x, int why)
{
	xfer_unlink(t, x);
	x->sink->abort_reason = why;
	xfer_free(x, true);
}

static void xfer_drop(struct lwm_block1_table *t, struct lwm_block1_xfer *x)
{
	xfer_drop_why(t, x, -ECONNRESET);
}

void lwm_block1_clear(struct lwm_block1_table *t)
{
	while (t->list)
		xfer_drop(t, t->list);
}

size_t lwm_block1_count(const struct lwm_block1_table *t)
{
	return t->n;
}

static struct lwm_block1_xfer *find(struct lwm_block1_table *t, const struct lwm_block1_req *r)
{
	for (struct lwm_block1_xfer *x = t->list; x; x = x->next)
		if (x->session == r->session && x->method == r->method &&
		    strcmp(x->key, r->key) == 0)
			return x;
	return NULL;
}

/* Make room for one more transfer on this session: drop its oldest, or
 * the oldest of all when the table is full. */
static void make_room(struct lwm_block1_table *t, const void *session)
{
	struct lwm_block1_xfer *oldest = NULL, *oldest_all = NULL;
	size_t n = 0;

	for (struct lwm_block1_xfer *x = t->list; x; x = x->next) {
		if (!oldest_all || x->seen_ms <= oldest_all->seen_ms)
			oldest_all = x;
		if (x->session == session) {
			n++;
			if (!oldest || x->seen_ms <= oldest->seen_ms)
				oldest = x;
		}
	}
	if (n >= LWM_BLOCK1_PER_SESSION && oldest)
		xfer_drop(t, oldest);
	else if (t->n >= LWM_BLOCK1_MAX && oldest_all)
		xfer_drop(t, oldest_all);
}

static void fail(struct lwm_block1_result *res, unsigned code, size_t limit)
{
	res->code = code;
	res->size1 = code == 413 ? limit : 0;
}

/* A sink's error as an answer. */
static unsigned sink_code(int err)
{
	return err == -EFBIG || err == -ENOSPC ? 413 : err == -EPERM ? 405 : 500;
}

void lwm_block1_feed(struct lwm_block1_table *t, const struct lwm_block1_req *r, uint64_t now_ms,
		     struct lwm_block1_result *res)
{
	struct lwm_block1_xfer *x;
	uint64_t size = r->szx <= 6 ? 16u << r->szx : 0, off;
	int err;

	*res = (struct lwm_block1_result){0};
	lwm_block1_expire(t, now_ms);
	/* SZX 7 is BERT (reliable transports only); a non-final block must
	 * fill its size, a final one must not exceed it (RFC 7959 2.2). */
	if (!size || (r->more && r->len != size) || r->len > size ||
	    strlen(r->key) > LWM_BLOCK1_KEY_MAX)
		return fail(res, 400, 0);
	off = (uint64_t)r->num * size;
	x = find(t, r);
	if (r->num == 0 && x) {
		/* Block 0 again: the peer starts over. */
		xfer_drop_why(t, x, -ECANCELED);
		x = NULL;
	}
	if (r->num == 0 && !r->more) {
		/* A body in one block needs no transfer. */
		if (r->len > r->limit)
			return fail(res, 413, r->limit);
		res->body = r->data;
		res->body_len = r->len;
		return;
	}
	if (r->num == 0) {
		make_room(t, r->session);
		x = calloc(1, sizeof(*x));
		if (!x)
			return fail(res, 500, 0);
		x->session = r->session;
		x->method = r->method;
		x->format = r->format;
		strcpy(x->key, r->key);
		x->limit = r->limit;
		x->sink = t->sink_for ? t->sink_for(t->sink_ud, r, &x->limit) : NULL;
		lwm_block1_mem_init(&x->mem, x->limit);
		if (!x->sink)
			x->sink = &x->mem.sink;
		if ((r->has_size1 && r->size1 > x->limit) || r->len > x->limit) {
			size_t limit = x->limit;
			xfer_free(x, false);
			return fail(res, 413, limit);
		}
		err = x->sink->begin(x->sink, r->has_size1 ? r->size1 : 0);
		if (err < 0) {
			/* Begun nothing: nothing to abort. */
			xfer_free(x, false);
			return fail(res, sink_code(err), r->limit);
		}
		x->next = t->list;
		t->list = x;
		t->n++;
	} else if (!x) {
		/* Its first block never came (or the transfer was dropped). */
		return fail(res, 408, 0);
	} else if (r->format != x->format) {
		xfer_drop_why(t, x, -EPROTO);
		return fail(res, 408, 0);
	} else if (off != x->received) {
		/* The block before again (our 2.31 was lost): answered again,
		 * stored once.  Any other gap or overlap ends the transfer. */
		if (r->more && r->num == x->last_num && r->szx == x->last_szx) {
			x->seen_ms = now_ms;
			res->code = 231;
			return;
		}
		xfer_drop_why(t, x, -EPROTO);
		return fail(res, 408, 0);
	} else if ((r->has_size1 && r->size1 > x->limit) || r->len > x->limit - x->received) {
		size_t limit = x->limit;
		xfer_drop_why(t, x, -EFBIG);
		return fail(res, 413, limit);
	}
	err = x->sink->chunk(x->sink, off, r->data, r->len);
	if (err < 0) {
		size_t limit = x->limit;
		xfer_drop_why(t, x, err);
		return fail(res, sink_code(err), limit);
	}
	x->received += r->len;
	x->last_num = r->num;
	x->last_szx = r->szx;
	x->seen_ms = now_ms;
	if (r->more) {
		res->code = 231;
		return;
	}
	err = x->sink->end(x->sink);
	if (err < 0) {
		size_t limit = x->limit;
		xfer_drop_why(t, x, err);
		return fail(res, sink_code(err), limit);
	}
	/* Complete: the caller consumes it, then gives it back. */
	xfer_unlink(t, x);
	res->xfer = x;
	if (x->sink == &x->mem.sink) {
		res->body = x->mem.data ? x->mem.data : (const uint8_t *)"";
		res->body_len = x->mem.len;
	}
}

void lwm_block1_done(struct lwm_block1_table *t, struct lwm_block1_xfer *x)
{
	if (x)
		xfer_free(x, false);
}

uint64_t lwm_block1_expire(struct lwm_block1_table *t, uint64_t now_ms)
{
	struct lwm_block1_xfer *x = t->list, *next;
	uint64_t first = 0;

	for (; x; x = next) {
		uint64_t due = x->seen_ms + LWM_BLOCK1_TIMEOUT_MS;
		next = x->next;
		if (due <= now_ms) {
			xfer_drop_why(t, x, -ETIMEDOUT);
			continue;
		}
		if (!first || due < first)
			first = due;
	}
	return first;
}

void lwm_block1_drop_session(struct lwm_block1_table *t, const void *session)
{
	struct lwm_block1_xfer *x = t->list, *next;

	for (; x; x = next) {
		next = x->next;
		if (x->session == session)
			xfer_drop(t, x);
	}
}
