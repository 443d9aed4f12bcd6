/* Notification storing (Server /1/x/6): what could not go out while the
 * server was unreachable or the account disabled, kept per client in one
 * bounded ring until it can be delivered.
 *
 * One arena of max_bytes per client, allocated at the first store and freed
 * once drained, so a client that never goes offline costs nothing and one
 * that does makes no allocation per notification.  Bounded by entries and
 * bytes; a full store drops its oldest entry.  Every drop is counted.  Pure
 * data structure: no I/O, no clock, no logging. */
#ifndef LWM_STORE_H
#define LWM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm_types.h"

struct lwm_store;

/* One stored notification (or Send): the records it carried and the
 * wall-clock second their values were taken.  key names what it belongs
 * to (an observation; 0 for a Send).  Pointers stay valid until the entry
 * is popped. */
struct lwm_store_entry {
	uint64_t key;
	int64_t time_s;
	const struct lwm_record *recs;
	size_t n;
};

/* max_count entries and max_bytes of arena (records, their bytes and a
 * small header each).  NULL on allocation failure. */
struct lwm_store *lwm_store_new(uint32_t max_count, uint32_t max_bytes);
void lwm_store_free(struct lwm_store *s);
/* Change the bounds; what no longer fits is dropped (counted), oldest
 * first. */
void lwm_store_set_limits(struct lwm_store *s, uint32_t max_count, uint32_t max_bytes);

/* Keep a copy of recs (values and the bytes they point to).  hqmax (1.2's
 * Maximum Historical Queue, 0: none) bounds the entries of this key: its
 * oldest goes first.  Room is made by dropping the oldest entries.
 * Returns how many entries were dropped to make room (the new one counts
 * when it could not be kept: -E2BIG, larger than the whole arena; -ENOMEM),
 * so the caller can log; all are added to lwm_store_dropped. */
int lwm_store_push(struct lwm_store *s, uint64_t key, uint32_t hqmax, int64_t time_s,
		   const struct lwm_record *recs, size_t n);
/* The oldest entry, false when empty. */
bool lwm_store_peek(struct lwm_store *s, struct lwm_store_entry *out);
/* The i-th oldest entry (0: the oldest), false past the end.  O(i). */
bool lwm_store_at(struct lwm_store *s, size_t i, struct lwm_store_entry *out);
/* Remove the oldest entry (delivered, or handed on). */
void lwm_store_pop(struct lwm_store *s);
/* Remove every entry of key (handed on or settled; not counted as
 * dropped). */
void lwm_store_remove_key(struct lwm_store *s, uint64_t key);
/* Count entry (of any key) as dropped and remove it: the caller could not
 * deliver it. */
void lwm_store_drop_oldest(struct lwm_store *s);

size_t lwm_store_count(const struct lwm_store *s);
/* Arena bytes in use (entries plus any wrap-around gap). */
size_t lwm_store_bytes(const struct lwm_store *s);
/* Entries dropped since the store was made. */
uint64_t lwm_store_dropped(const struct lwm_store *s);

#endif
