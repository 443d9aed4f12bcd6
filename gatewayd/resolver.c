#include "resolver.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

/* One caller waiting for a name: the handle resolver_start gives out. */
struct rs_wait {
	struct rs_wait *next; /* in its name's waiters */
	struct rs_name *name;
	void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len);
	void *ud;
};

/* One look-up.  waiters belong to the loop thread; the rest is under mu
 * until the worker has pushed it to `done`. */
struct rs_name {
	struct rs_name *next; /* in queue or done */
	char *host, *port;
	struct rs_wait *waiters;
	bool queued;          /* still in queue: nobody looks it up yet */
	int err;
	struct sockaddr_storage addr;
	socklen_t len;
};

struct gw_resolver {
	struct gw_loop *loop;
	gw_lookup_fn lookup;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rs_name *queue, *queue_tail; /* for the worker */
	struct rs_name *cur;                /* the worker's */
	struct rs_name *done;               /* for the loop */
	bool quit;
	unsigned refs;                      /* the loop's and the worker's */
	pthread_t thr;
	int efd;
	struct gw_watch *watch;
};

static int sys_lookup(const char *host, const char *port, struct sockaddr_storage *out,
		      socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;

	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	if (res->ai_addrlen > sizeof(*out)) {
		freeaddrinfo(res);
		return -EHOSTUNREACH;
	}
	memcpy(out, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void name_free(struct rs_name *n)
{
	while (n->waiters) {
		struct rs_wait *w = n->waiters;

		n->waiters = w->next;
		free(w);
	}
	free(n->host);
	free(n->port);
	free(n);
}

static void destroy(struct gw_resolver *rs)
{
	if (rs->efd >= 0)
		close(rs->efd);
	pthread_cond_destroy(&rs->cv);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
}

static void *worker(void *arg)
{
	struct gw_resolver *rs = arg;
	uint64_t one = 1;
	bool last;

	pthread_mutex_lock(&rs->mu);
	for (;;) {
		struct rs_name *n;

		while (!rs->quit && !rs->queue)
			pthread_cond_wait(&rs->cv, &rs->mu);
		if (rs->quit)
			break;
		n = rs->queue;
		rs->queue = n->next;
		if (!rs->queue)
			rs->queue_tail = NULL;
		n->next = NULL;
		n->queued = false;
		rs->cur = n;
		pthread_mutex_unlock(&rs->mu);

		n->err = rs->lookup(n->host, n->port, &n->addr, &n->len);

		pthread_mutex_lock(&rs->mu);
		rs->cur = NULL;
		if (rs->quit) {
			/* The loop has gone (resolver_free) and freed the waiters. */
			free(n->host);
			free(n->port);
			free(n);
			break;
		}
		n->next = rs->done;
		rs->done = n;
		if (write(rs->efd, &one, sizeof(one)) < 0) {
			/* Only on counter overflow: the loop reads it before. */
		}
	}
	last = --rs->refs == 0;
	pthread_mutex_unlock(&rs->mu);
	if (last)
		destroy(rs);
	return NULL;
}

/* Loop thread: hand each finished look-up to its waiters. */
static void on_done(int fd, uint32_t revents, void *ud)
{
	struct gw_resolver *rs = ud;
	struct rs_name *list;
	uint64_t cnt;

	if (read(fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&rs->mu);
	list = rs->done;
	rs->done = NULL;
	pthread_mutex_unlock(&rs->mu);
	while (list) {
		struct rs_name *n = list;

		list = n->next;
		/* A callback may cancel another waiter of this name, or start a
		 * new look-up: take each waiter off the list before its call. */
		while (n->waiters) {
			struct rs_wait w = *n->waiters;

			free(n->waiters);
			n->waiters = w.next;
			w.done(w.ud, n->err, n->err < 0 ? NULL : (const struct sockaddr *)&n->addr,
			       n->err < 0 ? 0 : n->len);
		}
		name_free(n);
	}
}

int resolver_new(struct gw_loop *loop, gw_lookup_fn lookup, struct gw_resolver **out)
{
	struct gw_resolver *rs = calloc(1, sizeof(*rs));
	int r;

	if (!rs)
		return -ENOMEM;
	rs->loop = loop;
	rs->lookup = lookup ? lookup : sys_lookup;
	pthread_mutex_init(&rs->mu, NULL);
	pthread_cond_init(&rs->cv, NULL);
	rs->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rs->efd < 0) {
		r = -errno;
		destroy(rs);
		return r;
	}
	r = loop_watch_fd(loop, rs->efd, EPOLLIN, on_done, rs, &rs->watch);
	if (r < 0) {
		destroy(rs);
		return r;
	}
	r = -pthread_create(&rs->thr, NULL, worker, rs);
	if (r < 0) {
		loop_unwatch_fd(rs->watch);
		destroy(rs);
		return r;
	}
	rs->refs = 2;
	*out = rs;
	return 0;
}

void resolver_free(struct gw_resolver *rs)
{
	struct rs_name *n;
	pthread_t thr;
	bool busy, last = false;

	if (!rs)
		return;
	loop_unwatch_fd(rs->watch);
	pthread_mutex_lock(&rs->mu);
	rs->quit = true;
	pthread_cond_broadcast(&rs->cv);
	while ((n = rs->queue)) {
		rs->queue = n->next;
		name_free(n);
	}
	while ((n = rs->done)) {
		rs->done = n->next;
		name_free(n);
	}
	busy = rs->cur != NULL;
	if (busy) {
		/* The worker frees the name when its look-up ends. */
		while (rs->cur->waiters) {
			struct rs_wait *w = rs->cur->waiters;

			rs->cur->waiters = w->next;
			free(w);
		}
		last = --rs->refs == 0;
	}
	thr = rs->thr;
	pthread_mutex_unlock(&rs->mu);
	if (!busy) {
		pthread_join(thr, NULL); /* idle: it sees quit at once */
		destroy(rs);
		return;
	}
	/* A look-up may take the resolver's whole timeout: do not wait for
	 * it.  The last of us to let go frees the resolver. */
	log_debug(NULL, "resolver: a look-up is still running; not waiting for it");
	pthread_detach(thr);
	if (last)
		destroy(rs);
}

int resolver_start(void *ctx, const char *host, const char *port,
		   void (*done)(void *ud, int err, const struct sockaddr *sa, socklen_t len),
		   void *ud, void **handle)
{
	struct gw_resolver *rs = ctx;
	struct rs_wait *w = calloc(1, sizeof(*w));
	struct rs_name *n;

	if (!w)
		return -ENOMEM;
	w->done = done;
	w->ud = ud;
	pthread_mutex_lock(&rs->mu);
	/* Join a look-up of the same name that has not been answered yet. */
	for (n = rs->queue; n; n = n->next)
		if (strcmp(n->host, host) == 0 && strcmp(n->port, port) == 0)
			break;
	if (!n && rs->cur && strcmp(rs->cur->host, host) == 0 &&
	    strcmp(rs->cur->port, port) == 0)
		n = rs->cur;
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (!n || !(n->host = strdup(host)) || !(n->port = strdup(port))) {
			pthread_mutex_unlock(&rs->mu);
			if (n)
				free(n->host);
			free(n);
			free(w);
			return -ENOMEM;
		}
		n->queued = true;
		if (rs->queue_tail)
			rs->queue_tail->next = n;
		else
			rs->queue = n;
		rs->queue_tail = n;
		pthread_cond_signal(&rs->cv);
	}
	pthread_mutex_unlock(&rs->mu);
	/* waiters are the loop thread's alone. */
	w->name = n;
	w->next = n->waiters;
	n->waiters = w;
	*handle = w;
	return 0;
}

void resolver_cancel(void *ctx, void *handle)
{
	struct gw_resolver *rs = ctx;
	struct rs_wait *w = handle, **pp;
	struct rs_name *n = w->name;

	for (pp = &n->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w);
	if (n->waiters)
		return;
	/* Nobody waits for it any more: a look-up not begun is dropped. */
	pthread_mutex_lock(&rs->mu);
	if (n->queued) {
		struct rs_name **q, *prev = NULL;

		for (q = &rs->queue; *q; prev = *q, q = &(*q)->next)
			if (*q == n) {
				*q = n->next;
				if (rs->queue_tail == n)
					rs->queue_tail = prev;
				break;
			}
		free(n->host);
		free(n->port);
		free(n);
	}
	pthread_mutex_unlock(&rs->mu);
}
