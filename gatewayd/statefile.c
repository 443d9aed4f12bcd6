#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct sf_job {
	struct sf_job *next;
	char *who, *path;
	void *data;
	size_t len;
};

/* One writer for the process; everything below under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct sf_job *queue, *queue_tail;
static bool running, busy, quit, paused;
static pthread_t thr;

static void job_free(struct sf_job *j)
{
	free(j->who);
	free(j->path);
	free(j->data);
	free(j);
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replace path with data, atomically and durably. */
static void write_file(const struct sf_job *j)
{
	char tmp[4200], dir[4200];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", j->path) >= (int)sizeof(tmp)) {
		log_warn(j->who, "cannot write %s: %s", j->path, strerror(ENAMETOOLONG));
		return;
	}
	/* Whatever sits at the temporary name (a FIFO would block the open)
	 * goes; the file is always a new regular one. */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_warn(j->who, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	r = write_all(fd, j->data, j->len);
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, j->path) != 0)
		r = -errno;
	if (r < 0) {
		log_warn(j->who, "cannot write %s: %s", j->path, strerror(-r));
		unlink(tmp);
		return;
	}
	/* The rename itself must reach the disk too. */
	snprintf(dir, sizeof(dir), "%s", j->path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void *writer(void *arg)
{
	pthread_mutex_lock(&mu);
	for (;;) {
		struct sf_job *j;

		while (!quit && (!queue || paused))
			pthread_cond_wait(&cv, &mu);
		if (!queue || paused)
			break; /* quit, and nothing more to write */
		j = queue;
		queue = j->next;
		if (!queue)
			queue_tail = NULL;
		busy = true;
		pthread_mutex_unlock(&mu);
		write_file(j);
		job_free(j);
		pthread_mutex_lock(&mu);
		busy = false;
		pthread_cond_broadcast(&cv); /* statefile_flush */
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

int statefile_put(const char *who, const char *path, const void *data, size_t len)
{
	struct sf_job *j = calloc(1, sizeof(*j)), *o;
	int r = 0;

	if (!j || !(j->path = strdup(path)) || (who && !(j->who = strdup(who))) ||
	    !(j->data = malloc(len ? len : 1))) {
		if (j)
			job_free(j);
		log_warn(who, "cannot keep %s: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	memcpy(j->data, data, len);
	j->len = len;
	pthread_mutex_lock(&mu);
	/* An older content of this file not written yet: replace it. */
	for (o = queue; o; o = o->next)
		if (strcmp(o->path, path) == 0) {
			free(o->data);
			o->data = j->data;
			o->len = j->len;
			j->data = NULL;
			break;
		}
	if (o) {
		pthread_mutex_unlock(&mu);
		job_free(j);
		return 0;
	}
	if (!running) {
		quit = false;
		r = -pthread_create(&thr, NULL, writer, NULL);
		running = r == 0;
	}
	if (r == 0) {
		if (queue_tail)
			queue_tail->next = j;
		else
			queue = j;
		queue_tail = j;
		pthread_cond_broadcast(&cv);
	}
	pthread_mutex_unlock(&mu);
	if (r < 0) {
		log_warn(who, "cannot keep %s: no writer thread: %s", path, strerror(-r));
		job_free(j);
	}
	return r;
}

void statefile_flush(void)
{
	bool join;

	pthread_mutex_lock(&mu);
	paused = false;
	quit = true;
	pthread_cond_broadcast(&cv);
	join = running;
	running = false;
	pthread_mutex_unlock(&mu);
	/* The writer leaves once the queue is empty. */
	if (join)
		pthread_join(thr, NULL);
}

void statefile_pause(bool on)
{
	pthread_mutex_lock(&mu);
	paused = on;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}
