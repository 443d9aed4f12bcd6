#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"

struct post_item {
	struct post_item *next;
	void (*fn)(void *ud);
	void *ud;
};

struct gw_loop {
	sd_event *ev;
	struct timerq timers;
	sd_event_source *timer_src; /* one source, armed at the heap's earliest deadline */
	/* Post queue: producers on any thread, consumer on the loop thread.
	 * post_run is the batch being run, still reachable by loop_drop_posts
	 * (a posted function may free what later ones in the batch point at). */
	pthread_mutex_t post_lock;
	struct post_item *post_head, *post_tail;
	struct post_item *post_run;
	int post_fd;
	sd_event_source *post_src;
};

struct gw_watch {
	sd_event_source *src;
	void (*cb)(int fd, uint32_t revents, void *ud);
	void *ud;
};

static void rearm(struct timerq *q, uint64_t earliest_ms, void *ud)
{
	struct gw_loop *loop = ud;

	if (earliest_ms == UINT64_MAX) {
		sd_event_source_set_enabled(loop->timer_src, SD_EVENT_OFF);
		return;
	}
	/* sd-event wants CLOCK_MONOTONIC microseconds; our clock is the same
	 * clock in milliseconds (the fake clock is never used with sd-event). */
	sd_event_source_set_time(loop->timer_src, earliest_ms * 1000u);
	sd_event_source_set_enabled(loop->timer_src, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct gw_loop *loop = ud;

	timerq_run(&loop->timers, clock_now_ms());
	rearm(&loop->timers, timerq_earliest(&loop->timers), loop);
	return 0;
}

/* Runs what was posted before the call; what the functions post comes
 * next time round, so a function that posts itself cannot starve the loop. */
static void run_posted(struct gw_loop *loop)
{
	pthread_mutex_lock(&loop->post_lock);
	loop->post_run = loop->post_head;
	loop->post_head = loop->post_tail = NULL;
	for (;;) {
		struct post_item *it = loop->post_run;

		if (!it)
			break;
		loop->post_run = it->next;
		pthread_mutex_unlock(&loop->post_lock);
		it->fn(it->ud);
		free(it);
		pthread_mutex_lock(&loop->post_lock);
	}
	pthread_mutex_unlock(&loop->post_lock);
}

static size_t drop_from(struct post_item **list, struct post_item **tail,
			bool (*match)(void (*fn)(void *), void *ud, void *ctx), void *ctx)
{
	struct post_item **pp = list, *last = NULL;
	size_t n = 0;

	while (*pp) {
		struct post_item *it = *pp;

		if (match(it->fn, it->ud, ctx)) {
			*pp = it->next;
			free(it);
			n++;
		} else {
			last = it;
			pp = &it->next;
		}
	}
	if (tail)
		*tail = last;
	return n;
}

size_t loop_drop_posts(struct gw_loop *loop,
		       bool (*match)(void (*fn)(void *), void *ud, void *ctx), void *ctx)
{
	size_t n;

	pthread_mutex_lock(&loop->post_lock);
	n = drop_from(&loop->post_run, NULL, match, ctx);
	n += drop_from(&loop->post_head, &loop->post_tail, match, ctx);
	pthread_mutex_unlock(&loop->post_lock);
	return n;
}

static int on_post(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	run_posted(ud);
	return 0;
}

int loop_new(struct gw_loop **out)
{
	struct gw_loop *loop = calloc(1, sizeof(*loop));
	int r;

	if (!loop)
		return -ENOMEM;
	loop->post_fd = -1;
	pthread_mutex_init(&loop->post_lock, NULL);
	timerq_init(&loop->timers);
	loop->timers.on_change = rearm;
	loop->timers.on_change_ud = loop;
	r = sd_event_new(&loop->ev);
	if (r < 0)
		goto fail;
	r = sd_event_add_time(loop->ev, &loop->timer_src, CLOCK_MONOTONIC, UINT64_MAX, 1000,
			      on_timer, loop);
	if (r < 0)
		goto fail;
	sd_event_source_set_enabled(loop->timer_src, SD_EVENT_OFF);
	loop->post_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->post_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(loop->ev, &loop->post_src, loop->post_fd, EPOLLIN, on_post, loop);
	if (r < 0)
		goto fail;
	*out = loop;
	return 0;
fail:
	loop_free(loop);
	return r;
}

void loop_free(struct gw_loop *loop)
{
	if (!loop)
		return;
	run_posted(loop); /* posted work may own memory; let it run to free it */
	sd_event_source_unref(loop->post_src);
	sd_event_source_unref(loop->timer_src);
	if (loop->post_fd >= 0)
		close(loop->post_fd);
	timerq_fini(&loop->timers);
	sd_event_unref(loop->ev);
	pthread_mutex_destroy(&loop->post_lock);
	free(loop);
}

sd_event *loop_sd_event(struct gw_loop *loop)
{
	return loop->ev;
}

struct timerq *loop_timers(struct gw_loop *loop)
{
	return &loop->timers;
}

int loop_run(struct gw_loop *loop)
{
	return sd_event_loop(loop->ev);
}

void loop_exit(struct gw_loop *loop, int code)
{
	sd_event_exit(loop->ev, code);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct gw_watch *w = ud;

	w->cb(fd, revents, w->ud);
	return 0;
}

int loop_watch_fd(struct gw_loop *loop, int fd, uint32_t events,
		  void (*cb)(int fd, uint32_t revents, void *ud), void *ud,
		  struct gw_watch **out)
{
	struct gw_watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->ud = ud;
	r = sd_event_add_io(loop->ev, &w->src, fd, events, on_io, w);
	if (r < 0) {
		free(w);
		return r;
	}
	*out = w;
	return 0;
}

void loop_unwatch_fd(struct gw_watch *w)
{
	if (!w)
		return;
	sd_event_source_disable_unref(w->src);
	free(w);
}

int loop_watch_events(struct gw_watch *w, uint32_t events)
{
	return sd_event_source_set_io_events(w->src, events);
}

int loop_post(struct gw_loop *loop, void (*fn)(void *ud), void *ud)
{
	struct post_item *it = malloc(sizeof(*it));
	uint64_t one = 1;

	if (!it)
		return -ENOMEM;
	it->next = NULL;
	it->fn = fn;
	it->ud = ud;
	pthread_mutex_lock(&loop->post_lock);
	if (loop->post_tail)
		loop->post_tail->next = it;
	else
		loop->post_head = it;
	loop->post_tail = it;
	pthread_mutex_unlock(&loop->post_lock);
	/* eventfd counter writes only fail on overflow, which cannot happen here. */
	if (write(loop->post_fd, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

void loop_dispatch_pending(struct gw_loop *loop)
{
	run_posted(loop);
	timerq_run(&loop->timers, clock_now_ms());
}
