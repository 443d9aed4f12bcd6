/* The control socket's limits on the fake clock: an idle client is closed
 * after CTL_IDLE_MS and not before; beyond CTL_MAX_CLIENTS a client is told
 * so and closed while the others stay. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/ctl.h"
#include "gatewayd/loop.h"

struct env {
	char dir[64], path[96];
	struct cfg_gateway g;
	struct gw_loop *loop;
	struct ctl *ctl;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	snprintf(e->dir, sizeof(e->dir), "/tmp/test_ctl.XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	snprintf(e->path, sizeof(e->path), "%s/ctl.sock", e->dir);
	e->g.control_socket = e->path;
	e->g.control_mode = 0600;
	clock_fake_set(1000000);
	if (loop_new(&e->loop) < 0)
		return -1;
	/* No gateway: these tests never send a request. */
	if (ctl_new(&(struct ctl_params){.cfg = &e->g, .loop = e->loop}, &e->ctl) < 0 || !e->ctl)
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	ctl_free(e->ctl);
	loop_free(e->loop);
	rmdir(e->dir);
	clock_fake_off();
	free(e);
	return 0;
}

/* Run what is ready on the loop (accepts, reads), without waiting. */
static void pump(struct env *e)
{
	for (int i = 0; i < 64 && sd_event_run(loop_sd_event(e->loop), 0) > 0; i++)
		;
}

static int client(struct env *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", e->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	pump(e);
	return fd;
}

/* 1: open with nothing to read, 0: closed by the daemon (what it sent
 * before goes to buf), -1: anything else. */
static int is_open(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;
	if (n > 0) {
		buf[n] = '\0';
		n = recv(fd, buf + n, 1, MSG_DONTWAIT);
	}
	/* Closed with some of what the client sent unread: a reset, after
	 * what the daemon sent. */
	return n == 0 || (n < 0 && errno == ECONNRESET) ? 0 : -1;
}

static void idle_client_is_closed_after_the_timeout(void **state)
{
	struct env *e = *state;
	int quiet = client(e), busy = client(e);
	char buf[256];

	clock_fake_advance(CTL_IDLE_MS - 1000);
	loop_dispatch_pending(e->loop);
	assert_int_equal(is_open(quiet, buf, sizeof(buf)), 1);
	/* A blank line is activity: busy's timeout starts again. */
	assert_int_equal(send(busy, "\n", 1, 0), 1);
	pump(e);
	clock_fake_advance(1000);
	loop_dispatch_pending(e->loop);
	assert_int_equal(is_open(quiet, buf, sizeof(buf)), 0);
	assert_int_equal(is_open(busy, buf, sizeof(buf)), 1);
	clock_fake_advance(CTL_IDLE_MS - 1000);
	loop_dispatch_pending(e->loop);
	assert_int_equal(is_open(busy, buf, sizeof(buf)), 0);
	close(quiet);
	close(busy);
}

static void clients_beyond_the_limit_are_told_so(void **state)
{
	struct env *e = *state;
	int fds[CTL_MAX_CLIENTS], extra;
	char buf[256] = "";

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		fds[i] = client(e);
	extra = client(e);
	assert_int_equal(is_open(extra, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "{\"ok\":false,\"error\":\"too many clients\"}\n");
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		assert_int_equal(is_open(fds[i], buf, sizeof(buf)), 1);
	/* One leaves: a newcomer gets in. */
	close(fds[0]);
	pump(e);
	fds[0] = client(e);
	assert_int_equal(is_open(fds[0], buf, sizeof(buf)), 1);
	close(extra);
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		close(fds[i]);
}

/* An overlong line: an error, then the end; nothing of it is taken as a
 * request (there is no gateway here to answer one). */
static void overlong_line_is_refused(void **state)
{
	struct env *e = *state;
	int fd = client(e);
	char big[CTL_LINE_MAX + 100], buf[256] = "";

	memset(big, '{', sizeof(big));
	assert_int_equal(send(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	pump(e);
	assert_int_equal(is_open(fd, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"error\":\"request longer than 4096 bytes\""));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(idle_client_is_closed_after_the_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(clients_beyond_the_limit_are_told_so, setup,
						teardown),
		cmocka_unit_test_setup_teardown(overlong_line_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
