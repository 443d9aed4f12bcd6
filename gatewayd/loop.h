/* The daemon's one event loop: sd-event underneath, plus our timer heap
 * (one sd-event time source armed at its earliest deadline), fd watches and
 * a thread-safe post queue (mutex + eventfd) for adapter worker threads. */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "timerq.h"

struct gw_loop;
struct gw_watch;

int loop_new(struct gw_loop **out);
void loop_free(struct gw_loop *loop);
sd_event *loop_sd_event(struct gw_loop *loop);
struct timerq *loop_timers(struct gw_loop *loop);

/* Run until loop_exit; returns the exit code given there. */
int loop_run(struct gw_loop *loop);
void loop_exit(struct gw_loop *loop, int code);

/* Watch fd for epoll events; cb runs on the loop thread. */
int loop_watch_fd(struct gw_loop *loop, int fd, uint32_t events,
		  void (*cb)(int fd, uint32_t revents, void *ud), void *ud,
		  struct gw_watch **out);
void loop_unwatch_fd(struct gw_watch *w);
/* Change the epoll events a watch waits for. */
int loop_watch_events(struct gw_watch *w, uint32_t events);

/* Thread-safe: run fn(ud) on the loop thread soon.  0 or -ENOMEM. */
int loop_post(struct gw_loop *loop, void (*fn)(void *ud), void *ud);
/* Thread-safe: take back every pending post for which match(fn, ud, ctx)
 * is true (also those of a batch being run); they never run.  Whoever
 * frees what a post points at (a device, an adapter) calls this first.
 * Returns how many were dropped. */
size_t loop_drop_posts(struct gw_loop *loop,
		       bool (*match)(void (*fn)(void *ud), void *ud, void *ctx), void *ctx);

/* Run posted functions and due timers now (tests, and the loop itself). */
void loop_dispatch_pending(struct gw_loop *loop);

#endif
