/* Pulling a firmware package from a URI (Object 5 Package URI, /5/0/1) on the
 * daemon's loop: coap:// and coaps:// with block-wise GET (RFC 7959 Block2)
 * on the engine's own libcoap context, http:// and https:// with libcurl's
 * multi interface driven by the loop's fd watches and timers.  No thread, no
 * blocking call.  A lost connection is retried (CoAP from the next block,
 * HTTP with a Range request) until give_up_ms has passed since the last
 * byte arrived. */
#ifndef GW_FW_FETCH_H
#define GW_FW_FETCH_H

#include <stdint.h>
#include <stddef.h>

struct gw_loop;
struct lwm_engine;
struct lwm_security;
struct fw_fetcher; /* one per daemon */
struct fw_fetch;   /* one download */

/* Bits of what this build can pull, as Object 5 Firmware Update Protocol
 * Support (/5/0/8) numbers them: 0 CoAP, 1 CoAPS, 2 HTTP 1.1, 3 HTTPS 1.1. */
#define FW_PROTO_COAP (1u << 0)
#define FW_PROTO_COAPS (1u << 1)
#define FW_PROTO_HTTP (1u << 2)
#define FW_PROTO_HTTPS (1u << 3)

/* loop and engine are borrowed for the fetcher's lifetime (engine may be
 * NULL: no CoAP then). */
int fw_fetcher_new(struct gw_loop *loop, struct lwm_engine *engine, struct fw_fetcher **out);
/* Cancels every download still running (their done() is not called). */
void fw_fetcher_free(struct fw_fetcher *f);
uint32_t fw_fetcher_protocols(const struct fw_fetcher *f);
/* Tests: the CoAP transmission parameters of the downloads started after
 * it (ACK_TIMEOUT in ms, MAX_RETRANSMIT; 0 / negative: libcoap's defaults,
 * 2 s and 4). */
void fw_fetcher_set_coap_timing(struct fw_fetcher *f, uint32_t ack_timeout_ms,
				int max_retransmit);

struct fw_fetch_ops {
	/* The size of the whole package, when the peer says it (Content-Length
	 * or Content-Range total, CoAP Size2); return a negative errno (e.g.
	 * -EFBIG, -ENOSPC) to stop the download with that status. */
	int (*size)(void *ud, uint64_t total);
	/* The bytes at [off, off + len), in order, each once; off starts at
	 * the params' offset.  0 or a negative errno that stops the download
	 * with that status. */
	int (*data)(void *ud, uint64_t off, const uint8_t *p, size_t len);
	/* The download ended; never called from inside fw_fetch_start or
	 * fw_fetch_cancel.  The fetch is freed after done returns.  status:
	 *   0                 complete
	 *   -EINVAL           the URI cannot be parsed
	 *   -EPROTONOSUPPORT  a scheme this build cannot pull
	 *   -ENOENT           the server has no such package (4.04, HTTP 404/410)
	 *   -EACCES           refused: TLS/DTLS handshake or certificate failed,
	 *                     4.01/4.03, HTTP 401/403
	 *   -EHOSTUNREACH     the host name does not resolve
	 *   -ECONNRESET       connection lost and not regained within give_up_ms
	 *   -ETIMEDOUT        no answer at all within give_up_ms
	 *   -EPROTO           the server answered something else unusable
	 *   anything size() or data() returned. */
	void (*done)(void *ud, int status);
};

struct fw_fetch_params {
	const char *uri;        /* copied */
	uint64_t offset;        /* resume: the bytes before it are already kept */
	uint32_t give_up_ms;    /* 0: 10 minutes */
	/* coaps://: the DTLS credentials to use (the device's own, or
	 * per-URI ones), copied; NULL: a coaps:// URI fails with -EACCES. */
	const struct lwm_security *security;
	/* https://: a CA bundle file for the server's certificate (NULL: the
	 * system's); insecure skips verification (tests only, documented). */
	const char *ca_file;
	int insecure;
};

/* 0 and *out, or a negative errno (and nothing will be called).  What can
 * be told without the network fails here, at once, not through done(): a
 * URI that does not parse (-EINVAL), a scheme this build cannot pull, or
 * coap(s):// without an engine (-EPROTONOSUPPORT), coaps:// without
 * credentials (-EACCES). */
int fw_fetch_start(struct fw_fetcher *f, const struct fw_fetch_params *p,
		   const struct fw_fetch_ops *ops, void *ud, struct fw_fetch **out);
/* Stop a download; done() is not called.  Safe until done() has run. */
void fw_fetch_cancel(struct fw_fetch *x);

#endif
