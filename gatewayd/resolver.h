/* Host name resolution off the loop thread, for server URIs (the LwM2M
 * engine's struct lwm_resolver).  One worker thread runs getaddrinfo; the
 * answers come back to the loop through an eventfd the loop watches.
 * Requests for a name already waiting for the worker share its look-up.
 *
 * Why not glibc's getaddrinfo_a: its completion is a signal or a new thread
 * per request, gai_cancel cannot take back a look-up already running (its
 * memory must live until the end anyway), and it keeps its own pool of
 * threads.  One worker of our own gives the same non-blocking loop with a
 * cancel that is a list removal, and lets tests hold a look-up open.  The
 * cost: look-ups run one at a time; a daemon has a few server names. */
#ifndef GW_RESOLVER_H
#define GW_RESOLVER_H

#include <sys/socket.h>

#include "loop.h"

struct gw_resolver;

/* The look-up itself, on the worker thread: 0 and the first address, or a
 * negative errno.  The default is getaddrinfo; tests give their own. */
typedef int (*gw_lookup_fn)(const char *host, const char *port, struct sockaddr_storage *out,
			    socklen_t *len);

/* loop is borrowed for the resolver's lifetime.  lookup NULL: getaddrinfo. */
int resolver_new(struct gw_loop *loop, gw_lookup_fn lookup, struct gw_resolver **out);
/* Loop thread.  Pending callbacks never run.  Does not wait for a look-up
 * in progress: the worker finishes it on its own and then exits. */
void resolver_free(struct gw_resolver *rs);

/* struct lwm_resolver's operations (ctx is the resolver); loop thread. */
int resolver_start(void *ctx, const char *host, const char *port,
		   void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len),
		   void *ud, void **handle);
void resolver_cancel(void *ctx, void *handle);

#endif
