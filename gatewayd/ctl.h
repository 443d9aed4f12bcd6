/* The control socket: a Unix stream socket in the runtime directory where
 * gatewayctl (or any script) sends one JSON request per line and reads one
 * JSON answer per line.  Everything runs on the loop thread without
 * blocking: non-blocking accept, reads and writes, bounded buffers, a
 * bounded number of clients and an idle timeout.  gatewayctl(8) documents
 * the requests and answers. */
#ifndef GW_CTL_H
#define GW_CTL_H

#include <stdint.h>

#include "config.h"
#include "gateway.h"
#include "loop.h"

/* At most this many clients at once; more are told so and closed. */
#define CTL_MAX_CLIENTS 32
/* A request line longer than this is refused and the client closed. */
#define CTL_LINE_MAX 4096
/* An answer larger than this is replaced by an error. */
#define CTL_ANSWER_MAX (64u << 20)
/* A client with neither a request nor a read of its answer for this long
 * is closed. */
#define CTL_IDLE_MS 30000

struct ctl;

struct ctl_params {
	const struct cfg_gateway *cfg; /* the socket's path, mode, group; read once */
	struct gw_loop *loop;          /* borrowed */
	struct gateway *gw;            /* borrowed; outlives the ctl */
	uint64_t start_ms;             /* clock_now_ms when the daemon started */
	/* The `reload` request: the same path as SIGHUP.  0 when the new
	 * configuration was valid and applied. */
	int (*reload)(void *ud);
	void *ud;
};

/* Open the socket (a stale one left by a dead daemon is replaced; one a
 * running daemon answers on is not).  -errno on failure, logged; with an
 * empty path, 0 and *out NULL. */
int ctl_new(const struct ctl_params *p, struct ctl **out);
/* Close every client and the socket, and remove its file. */
void ctl_free(struct ctl *c);

#endif
