/* The LwM2M engine: one libcoap context for the whole daemon, carrying one
 * client (own endpoint, own session and UDP port) per downstream device.
 * Runs on the loop thread; the daemon watches lwm_engine_fd() and calls
 * lwm_engine_io() when it is readable.  Retransmission and registration
 * timers live in the daemon's timer heap. */
#ifndef LWM_ENGINE_H
#define LWM_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gatewayd/timerq.h"

struct lwm_engine;

/* timers is borrowed for the engine's lifetime. */
int lwm_engine_new(struct timerq *timers, struct lwm_engine **out);
/* How long a device may take over a server's Write or Execute before the
 * server is answered 5.04 Gateway Timeout (default 30 s). */
void lwm_engine_set_op_timeout(struct lwm_engine *e, uint32_t ms);
/* Resolving server host names off the loop thread.  start begins resolving
 * host (a name, never a numeric address) and port (numeric), both borrowed
 * for the call; it returns 0 and a handle, or a negative errno.  done runs
 * later on the loop thread, never inside start: err 0 with the address
 * (borrowed for the call), or -EHOSTUNREACH.  cancel(handle) before done
 * ran means done never runs.  The engine copies the table; ctx is borrowed
 * and must outlive the engine's clients. */
struct lwm_resolver {
	int (*start)(void *ctx, const char *host, const char *port,
		     void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len),
		     void *ud, void **handle);
	void (*cancel)(void *ctx, void *handle);
	void *ctx;
};
/* Without one (tools, tests), names are resolved with a blocking
 * getaddrinfo on the calling thread. */
void lwm_engine_set_resolver(struct lwm_engine *e, const struct lwm_resolver *r);
/* The most one request body may hold (a server's Write of a string or
 * opaque value, a multi-resource or composite Write, a bootstrap write), in
 * bytes; 0 restores the default.  A larger one is refused with 4.13. */
#define LWM_MAX_BODY_DEFAULT (64u * 1024u)
#define LWM_MAX_BODY_MAX (128u * 1024u)
void lwm_engine_set_max_body(struct lwm_engine *e, size_t bytes);
/* Observations one registration may hold (default LWM_MAX_OBS_DEFAULT); a
 * server's Observe beyond it is refused (observe.c says how). */
#define LWM_MAX_OBS_DEFAULT 256u
void lwm_engine_set_max_observations(struct lwm_engine *e, uint32_t n);
/* Frees the context; every client must have been freed first. */
void lwm_engine_free(struct lwm_engine *e);

/* The fd to watch for input (libcoap's epoll fd). */
int lwm_engine_fd(const struct lwm_engine *e);
/* Process pending network input and due retransmissions; never blocks. */
void lwm_engine_io(struct lwm_engine *e);

/* De-register every registered client and stop them all.  done(ud) runs once
 * every De-register was answered (or failed), or after timeout_ms, whichever
 * comes first. */
void lwm_engine_shutdown(struct lwm_engine *e, uint32_t timeout_ms,
			 void (*done)(void *ud), void *ud);

size_t lwm_engine_client_count(const struct lwm_engine *e);
size_t lwm_engine_registered_count(const struct lwm_engine *e);

#endif
