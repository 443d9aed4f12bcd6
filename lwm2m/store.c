/* Notification storing: a ring of variable-size entries in one arena.
 *
 * Layout of an entry: header, n records, the records' bytes; its size is
 * rounded up to 8 so the next header is aligned.  An entry never wraps: when
 * it does not fit before the end of the arena it goes to the start and the
 * reader skips the gap (wrap_at).  Entries dropped by hqmax from the middle
 * are marked dead and reclaimed when they reach the head.
 *
 * The arena starts as small as its first entry needs and doubles up to
 * max_bytes: every device has a store, and most hold an entry or two (a Send
 * awaiting its answer), not max_bytes' worth. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

struct entry_hdr {
	uint32_t size; /* the whole entry, aligned */
	uint32_t n;
	uint64_t key;
	int64_t time_s;
	uint32_t live;
	uint32_t pad;
};

struct lwm_store {
	uint8_t *buf;       /* NULL while empty */
	size_t size;        /* of buf: grows up to cap */
	size_t cap;         /* max_bytes */
	uint32_t max_count;
	size_t head, tail;  /* oldest entry; where the next one goes */
	size_t wrap_at;     /* end of the entries before the wrap; 0: none */
	size_t used;        /* bytes from head to tail, gaps included */
	size_t entries;     /* live and dead */
	size_t live;
	uint64_t dropped;
};

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

struct lwm_store *lwm_store_new(uint32_t max_count, uint32_t max_bytes)
{
	struct lwm_store *s = calloc(1, sizeof(*s));

	if (s) {
		s->cap = max_bytes & ~(size_t)7;
		s->max_count = max_count;
	}
	return s;
}

void lwm_store_free(struct lwm_store *s)
{
	if (!s)
		return;
	free(s->buf);
	free(s);
}

static struct entry_hdr *at(const struct lwm_store *s, size_t off)
{
	return (struct entry_hdr *)(void *)(s->buf + off);
}

/* Take the head entry off, live or dead. */
static void remove_head(struct lwm_store *s)
{
	struct entry_hdr *h = at(s, s->head);

	if (h->live)
		s->live--;
	s->entries--;
	s->used -= h->size;
	s->head += h->size;
	if (s->wrap_at && s->head == s->wrap_at) {
		s->used -= s->size - s->wrap_at;
		s->head = 0;
		s->wrap_at = 0;
	}
	if (s->entries == 0) {
		/* Drained: give the arena back until the next time. */
		free(s->buf);
		s->buf = NULL;
		s->size = 0;
		s->head = s->tail = s->wrap_at = s->used = 0;
	}
}

static void skip_dead(struct lwm_store *s)
{
	while (s->entries && !at(s, s->head)->live)
		remove_head(s);
}

void lwm_store_drop_oldest(struct lwm_store *s)
{
	skip_dead(s);
	if (!s->entries)
		return;
	s->dropped++;
	remove_head(s);
}

/* Where an entry of size bytes goes now, or -1 (no room without dropping). */
static long place(const struct lwm_store *s, size_t size)
{
	if (s->entries == 0)
		return size <= s->size ? 0 : -1;
	if (s->tail > s->head) {
		if (s->size - s->tail >= size)
			return (long)s->tail;
		return s->head >= size ? 0 : -1;
	}
	/* Wrapped (tail <= head): the room is between them. */
	return s->head - s->tail >= size ? (long)s->tail : -1;
}

/* A larger arena holding the entries in order from its start (the bytes of
 * records rebased), room for one more of size bytes; false when already at
 * cap or out of memory. */
static bool grow(struct lwm_store *s, size_t size)
{
	size_t want = s->size ? s->size * 2 : 256, off = s->head, w = 0;
	uint8_t *nb;

	if (s->size >= s->cap)
		return false;
	while (want < s->used + size)
		want *= 2;
	if (want > s->cap)
		want = s->cap;
	nb = malloc(want);
	if (!nb)
		return false;
	for (size_t left = s->entries; left--;) {
		struct entry_hdr *h = at(s, off);
		struct lwm_record *r = (struct lwm_record *)(void *)(nb + w + sizeof(*h));

		memcpy(nb + w, h, h->size);
		/* Records' bytes live in the entry: point them at the copy. */
		for (uint32_t i = 0; i < h->n; i++)
			if (r[i].value.type == LWM_T_STRING || r[i].value.type == LWM_T_OPAQUE ||
			    r[i].value.type == LWM_T_CORELNK)
				r[i].value.v.bytes.ptr = nb + w + (r[i].value.v.bytes.ptr -
								   (const uint8_t *)h);
		w += h->size;
		off += h->size;
		if (s->wrap_at && off == s->wrap_at)
			off = 0;
	}
	free(s->buf);
	s->buf = nb;
	s->size = want;
	s->head = 0;
	s->tail = w;
	s->wrap_at = 0;
	s->used = w;
	return true;
}

void lwm_store_set_limits(struct lwm_store *s, uint32_t max_count, uint32_t max_bytes)
{
	/* The arena's size cannot change under live entries: start over
	 * empty when it must (counted as drops). */
	if ((max_bytes & ~(size_t)7) != s->cap) {
		while (s->live)
			lwm_store_drop_oldest(s);
		skip_dead(s);
		s->cap = max_bytes & ~(size_t)7;
	}
	s->max_count = max_count;
	while (s->live > s->max_count)
		lwm_store_drop_oldest(s);
}

static uint32_t count_key(const struct lwm_store *s, uint64_t key, size_t *oldest)
{
	size_t off = s->head, left = s->entries;
	uint32_t k = 0;

	while (left--) {
		const struct entry_hdr *h = at(s, off);
		if (h->live && h->key == key && k++ == 0)
			*oldest = off;
		off += h->size;
		if (s->wrap_at && off == s->wrap_at)
			off = 0;
	}
	return k;
}

int lwm_store_push(struct lwm_store *s, uint64_t key, uint32_t hqmax, int64_t time_s,
		   const struct lwm_record *recs, size_t n)
{
	size_t bytes = 0, size, off;
	struct entry_hdr *h;
	struct lwm_record *out;
	uint8_t *data;
	long pos;
	int dropped = 0;

	for (size_t i = 0; i < n; i++)
		if (recs[i].value.type == LWM_T_STRING || recs[i].value.type == LWM_T_OPAQUE ||
		    recs[i].value.type == LWM_T_CORELNK)
			bytes += recs[i].value.v.bytes.len;
	size = align8(sizeof(*h) + n * sizeof(*recs) + bytes);
	if (size > s->cap || s->max_count == 0 || n > UINT32_MAX) {
		s->dropped++;
		return -E2BIG;
	}
	/* hqmax first: it names which entry goes. */
	if (hqmax) {
		size_t oldest = 0;
		while (count_key(s, key, &oldest) >= hqmax) {
			at(s, oldest)->live = 0;
			s->live--;
			s->dropped++;
			dropped++;
		}
		skip_dead(s);
	}
	while (s->live >= s->max_count) {
		lwm_store_drop_oldest(s);
		dropped++;
	}
	while ((pos = place(s, size)) < 0) {
		bool had_live = s->live > 0;
		skip_dead(s);
		if (place(s, size) >= 0 || grow(s, size))
			continue;
		if (!s->buf) {
			/* Empty, and not even the first arena could be had. */
			s->dropped++;
			return -ENOMEM;
		}
		if (had_live) {
			lwm_store_drop_oldest(s);
			dropped++;
		}
	}
	off = (size_t)pos;
	if (s->entries && off == 0 && s->tail != 0) {
		/* Wrap: the gap at the end counts as used until the reader passes. */
		s->wrap_at = s->tail;
		s->used += s->size - s->tail;
	}
	h = at(s, off);
	*h = (struct entry_hdr){.size = (uint32_t)size, .n = (uint32_t)n, .key = key,
				.time_s = time_s, .live = 1};
	out = (struct lwm_record *)(void *)(h + 1);
	data = (uint8_t *)(out + n);
	for (size_t i = 0; i < n; i++) {
		out[i] = recs[i];
		if (recs[i].value.type == LWM_T_STRING || recs[i].value.type == LWM_T_OPAQUE ||
		    recs[i].value.type == LWM_T_CORELNK) {
			size_t len = recs[i].value.v.bytes.len;
			if (len)
				memcpy(data, recs[i].value.v.bytes.ptr, len);
			out[i].value.v.bytes.ptr = data;
			data += len;
		}
	}
	s->tail = off + size;
	s->used += size;
	s->entries++;
	s->live++;
	return dropped;
}

bool lwm_store_peek(struct lwm_store *s, struct lwm_store_entry *e)
{
	const struct entry_hdr *h;

	skip_dead(s);
	if (!s->entries)
		return false;
	h = at(s, s->head);
	e->key = h->key;
	e->time_s = h->time_s;
	e->n = h->n;
	e->recs = (const struct lwm_record *)(const void *)(h + 1);
	return true;
}

bool lwm_store_at(struct lwm_store *s, size_t i, struct lwm_store_entry *e)
{
	size_t off, left;

	skip_dead(s);
	off = s->head;
	left = s->entries;
	while (left--) {
		const struct entry_hdr *h = at(s, off);
		if (h->live && i-- == 0) {
			e->key = h->key;
			e->time_s = h->time_s;
			e->n = h->n;
			e->recs = (const struct lwm_record *)(const void *)(h + 1);
			return true;
		}
		off += h->size;
		if (s->wrap_at && off == s->wrap_at)
			off = 0;
	}
	return false;
}

void lwm_store_pop(struct lwm_store *s)
{
	skip_dead(s);
	if (s->entries)
		remove_head(s);
}

void lwm_store_remove_key(struct lwm_store *s, uint64_t key)
{
	size_t off = s->head, left = s->entries;

	while (left--) {
		struct entry_hdr *h = at(s, off);
		if (h->live && h->key == key) {
			h->live = 0;
			s->live--;
		}
		off += h->size;
		if (s->wrap_at && off == s->wrap_at)
			off = 0;
	}
	skip_dead(s);
}

size_t lwm_store_count(const struct lwm_store *s)
{
	return s ? s->live : 0;
}

size_t lwm_store_bytes(const struct lwm_store *s)
{
	return s ? s->used : 0;
}

uint64_t lwm_store_dropped(const struct lwm_store *s)
{
	return s ? s->dropped : 0;
}
