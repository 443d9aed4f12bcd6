/* Block-wise request bodies (RFC 7959 Block1), reassembled by gatewayd.
 *
 * libcoap 4.3.1's own reassembly (COAP_BLOCK_SINGLE_BODY) allocates a body
 * of the size a peer announces in Size1 before anything looks at it, and
 * hands the handler a partial body when it cannot; so libcoap only tracks
 * the blocks here and every body is built by this module, bounded by a
 * limit known before the first byte is stored: what the target can hold.
 *
 * Each transfer writes into a sink.  The default one keeps the body in
 * memory; a transfer that must not be held whole (a firmware package) is
 * given another sink by the table's sink_for hook, e.g. one that appends
 * each block to a spool file as it arrives.
 *
 * Nothing here knows libcoap: the engine decodes the options and calls
 * lwm_block1_feed, which says what to answer. */
#ifndef LWM_BLOCK1_H
#define LWM_BLOCK1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A transfer not continued for this long is dropped (and its memory freed). */
#define LWM_BLOCK1_TIMEOUT_MS 60000u
/* Transfers in progress on one session, and in all; a new one beyond
 * either drops the oldest (of the session, or of all).  With the memory
 * sink this bounds what unfinished bodies hold to LWM_BLOCK1_MAX times the
 * largest limit, however many devices there are. */
#define LWM_BLOCK1_PER_SESSION 4u
#define LWM_BLOCK1_MAX 64u
/* Longest key (Uri-Path as "/a/b/c") a transfer is tracked by. */
#define LWM_BLOCK1_KEY_MAX 64u

/* Where one transfer's bytes go.  Every call but abort returns 0 or a
 * negative errno; -EFBIG or -ENOSPC means "more than the target can hold"
 * (4.13), -EPERM "not now" (4.05), any other error ends the transfer with
 * 5.00.  After end or abort the sink is not called again; the table calls
 * release (when set) last of all. */
struct lwm_block1_sink {
	/* The transfer starts; total_hint is the peer's Size1, 0 when unknown.
	 * Allocate nothing here on the hint's word alone. */
	int (*begin)(struct lwm_block1_sink *s, uint64_t total_hint);
	/* The bytes at [off, off + len) of the body, in order, each once. */
	int (*chunk)(struct lwm_block1_sink *s, uint64_t off, const uint8_t *data, size_t len);
	/* The last block arrived. */
	int (*end)(struct lwm_block1_sink *s);
	/* The transfer is dropped (timeout, error, replaced by a new one). */
	void (*abort)(struct lwm_block1_sink *s);
	/* Free the sink itself (NULL: not owned by the table). */
	void (*release)(struct lwm_block1_sink *s);
	/* Set by the table before abort: why the transfer is dropped.
	 * -ETIMEDOUT (not continued in time), -ECONNRESET (its session went
	 * away, or a newer transfer took its place), -ECANCELED (the peer
	 * started over with block 0), -EPROTO (a block out of sequence or of
	 * another format), -EFBIG (more than the limit), or the error the
	 * sink itself returned. */
	int abort_reason;
};

/* The default sink: the body in memory, at most limit bytes. */
struct lwm_block1_mem {
	struct lwm_block1_sink sink;
	uint8_t *data; /* owned; the body once ended */
	size_t len, cap, limit;
};

void lwm_block1_mem_init(struct lwm_block1_mem *m, size_t limit);
void lwm_block1_mem_free(struct lwm_block1_mem *m);

/* What a Block1 request carries. */
struct lwm_block1_req {
	const void *session; /* compared only, never dereferenced */
	uint8_t method;      /* CoAP request code */
	const char *key;     /* the target, e.g. "/3/0/15" (copied) */
	uint32_t num;        /* Block1 NUM */
	bool more;           /* Block1 M */
	unsigned szx;        /* Block1 SZX, 0..6 */
	bool has_size1;
	uint64_t size1;      /* Size1, when has_size1 */
	uint16_t format;     /* Content-Format (must not change mid-transfer) */
	const uint8_t *data; /* this block's payload */
	size_t len;
	size_t limit;        /* what the target can hold, in bytes */
};

struct lwm_block1_xfer;

struct lwm_block1_table {
	struct lwm_block1_xfer *list;
	size_t n;
	/* A sink for a new transfer of more than one block (NULL: the default
	 * memory sink bounded by req->limit).  It may set *limit to what its
	 * target holds (a firmware slot, free disk), checked against Size1
	 * before anything is stored.  The sink is released with its transfer. */
	struct lwm_block1_sink *(*sink_for)(void *ud, const struct lwm_block1_req *req,
					    size_t *limit);
	void *sink_ud;
};

/* The outcome of one block. */
struct lwm_block1_result {
	unsigned code;   /* 231 Continue, 0 complete, else the error to answer */
	uint64_t size1;  /* with 413: the most the target takes (Size1 to send) */
	/* With code 0: the body (valid until lwm_block1_done); NULL when a
	 * sink of sink_for's took it (the handler finds it there). */
	const uint8_t *body;
	size_t body_len;
	struct lwm_block1_xfer *xfer; /* with code 0; give back to lwm_block1_done */
};

void lwm_block1_init(struct lwm_block1_table *t);
/* Drop every transfer (abort their sinks). */
void lwm_block1_clear(struct lwm_block1_table *t);

/* Take one block, at time now_ms.  A complete body (code 0) stays valid
 * until lwm_block1_done(res->xfer). */
void lwm_block1_feed(struct lwm_block1_table *t, const struct lwm_block1_req *req,
		     uint64_t now_ms, struct lwm_block1_result *res);
void lwm_block1_done(struct lwm_block1_table *t, struct lwm_block1_xfer *x);

/* Drop transfers idle since before now_ms - LWM_BLOCK1_TIMEOUT_MS; returns
 * the time the next one expires, or 0 when none is left. */
uint64_t lwm_block1_expire(struct lwm_block1_table *t, uint64_t now_ms);
/* Drop a session's transfers (it is going away). */
void lwm_block1_drop_session(struct lwm_block1_table *t, const void *session);
size_t lwm_block1_count(const struct lwm_block1_table *t);

#endif
