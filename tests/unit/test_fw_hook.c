/* The firmware command hook (issue 11, "command hook") on a real loop, with
 * small shell scripts the test writes into a temporary directory: progress
 * and version lines, the exit status mapping, the timeout (SIGTERM, then
 * SIGKILL for a program that ignores it), cancel (done never called, the
 * program reaped, also from inside a callback and when the loop is freed),
 * the command line's quoting and % substitutions, the environment, and a
 * command that cannot be started.  Every wait is on the loop (or on a
 * pidfd) with a deadline; the scripts may sleep to stay alive, the test
 * never does. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "gatewayd/clock.h"
#include "gatewayd/fw_hook.h"
#include "gatewayd/log.h"
#include "gatewayd/loop.h"
#include "gatewayd/timerq.h"

#define DEADLINE_MS 20000

/* pidfd_open, wrapped (-Wl,--wrap, in core.mk) for the daemon's code and
 * the test's alike: the second run of the tests has it fail with ENOSYS,
 * as on a kernel before 5.3 or under valgrind, where fw_hook looks for
 * the program's end on a timer instead. */
static bool no_pidfd;

int __real_pidfd_open(pid_t pid, unsigned int flags);
int __wrap_pidfd_open(pid_t pid, unsigned int flags);

int __wrap_pidfd_open(pid_t pid, unsigned int flags)
{
	if (no_pidfd) {
		errno = ENOSYS;
		return -1;
	}
	return __real_pidfd_open(pid, flags);
}
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct result {
	int done_calls, status;
	unsigned progress[16];
	int nprogress;
	char version[4][64];
	int nversion;
	struct fw_hook *cancel_in_progress; /* cancel from progress() */
};

static void on_progress(void *ud, unsigned pct)
{
	struct result *r = ud;

	if (r->nprogress < 16)
		r->progress[r->nprogress] = pct;
	r->nprogress++;
	if (r->cancel_in_progress)
		fw_hook_cancel(r->cancel_in_progress);
}

static void on_version(void *ud, const char *v)
{
	struct result *r = ud;

	if (r->nversion < 4)
		snprintf(r->version[r->nversion], sizeof(r->version[0]), "%s", v);
	r->nversion++;
}

static void on_done(void *ud, int status)
{
	struct result *r = ud;

	r->done_calls++;
	r->status = status;
}

static const struct fw_hook_ops ops = {on_progress, on_version, on_done};

struct env {
	struct gw_loop *loop;
	char dir[64];
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	*state = e;
	log_setup(LOG_TARGET_STDERR, LOG_WARNING);
	if (!e || loop_new(&e->loop) < 0)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/test_fw_hook-XXXXXX");
	return mkdtemp(e->dir) ? 0 : -1;
}

static char *slurp(const struct env *e, const char *name);

/* A test that failed may leave what it started: stopped by PID (the
 * scripts write theirs). */
static void stop_leftovers(const struct env *e)
{
	static const char *const files[] = {"pid", "pid1", "pid2", "child.pid"};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *s = slurp(e, files[i]);
		pid_t pid = s ? (pid_t)atoi(s) : 0;
		int fd = pid > 0 ? (int)pidfd_open(pid, 0) : -1;

		if (fd >= 0) {
			pidfd_send_signal(fd, SIGKILL, NULL, 0);
			close(fd);
		} else if (pid > 0 && errno == ENOSYS) {
			kill(pid, SIGKILL);
		}
		if (pid > 0)
			waitpid(pid, NULL, WNOHANG); /* when it was ours */
	}
}

static int teardown(void **state)
{
	struct env *e = *state;

	loop_free(e->loop);
	stop_leftovers(e);
	nftw(e->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

static void path_in(const struct env *e, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", e->dir, name);
}

/* Writes an executable script (a #!/bin/sh line first); "@DIR@" in its
 * text is the test's directory. */
static void script(const struct env *e, const char *name, const char *text)
{
	char path[256];
	const char *p;
	FILE *f;

	path_in(e, name, path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\n", f);
	for (p = text; *p; p++) {
		if (strncmp(p, "@DIR@", 5) == 0) {
			fputs(e->dir, f);
			p += 4;
		} else {
			fputc(*p, f);
		}
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static char *slurp(const struct env *e, const char *name)
{
	static char buf[8192];
	char path[256];
	FILE *f;
	size_t n;

	path_in(e, name, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static pid_t read_pid(const struct env *e, const char *name)
{
	char *s = slurp(e, name);

	assert_non_null(s);
	return (pid_t)atoi(s);
}

/* Params for a script in the test's directory: "@S@" in cmd is its path. */
static struct fw_hook_params params(const struct env *e, const char *cmd, char *buf, size_t len)
{
	const char *at = strstr(cmd, "@S@");

	if (at)
		snprintf(buf, len, "%.*s%s/%s", (int)(at - cmd), cmd, e->dir, at + 3);
	else
		snprintf(buf, len, "%s", cmd);
	return (struct fw_hook_params){
		.command = buf,
		.image_path = "/var/lib/gatewayd/spool/meter-1.bin",
		.device_name = "meter-1",
		.endpoint = "urn:dev:meter-1",
		.pkg_name = "fw-meter",
		.pkg_version = "2.0.0",
		.sha256_hex = SHA,
		.size = 1048576,
		.timeout_ms = 15000,
	};
}

/* Run the loop until *flag is true; false at the deadline. */
static bool run_until(struct env *e, const int *calls, int n)
{
	uint64_t deadline = clock_now_ms() + DEADLINE_MS;

	while (*calls < n) {
		if (clock_now_ms() >= deadline)
			return false;
		sd_event_run(loop_sd_event(e->loop), 100000);
	}
	return true;
}

/* True once pid (our child) has been reaped by somebody, i.e. by the hook. */
static bool reaped(pid_t pid)
{
	siginfo_t si;

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

/* Run the loop until pid has been reaped; false at the deadline. */
static bool run_until_reaped(struct env *e, pid_t pid)
{
	uint64_t deadline = clock_now_ms() + DEADLINE_MS;

	while (!reaped(pid)) {
		if (clock_now_ms() >= deadline)
			return false;
		sd_event_run(loop_sd_event(e->loop), 100000);
	}
	return true;
}

/* Under valgrind (3.19 knows no pidfd_open; it also turns posix_spawn's
 * vfork into a fork, so an exec failure shows as exit code 127). */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/* pid, a child of ours, has ended (not reaped): a blocking wait, with the
 * deadline as an alarm (its default action ends the test, as a failure). */
static bool child_exited(pid_t pid)
{
	siginfo_t si;
	int r;

	alarm(DEADLINE_MS / 1000);
	r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	alarm(0);
	return r == 0;
}

/* pid has ended: a child of ours, or one of a script's own (the test is a
 * subreaper: main), which is ours once the script is gone.  Waits on its
 * pidfd with the deadline; reaps it when it is ours. */
static bool gone(pid_t pid)
{
	struct pollfd pfd;
	int fd = (int)pidfd_open(pid, 0), r;

	if (fd < 0 && errno == ENOSYS) {
		r = child_exited(pid);
		waitpid(pid, NULL, WNOHANG);
		return r;
	}
	if (fd < 0)
		return errno == ESRCH;
	pfd.fd = fd;
	pfd.events = POLLIN;
	r = poll(&pfd, 1, DEADLINE_MS);
	if (r != 1)
		pidfd_send_signal(fd, SIGKILL, NULL, 0); /* the test failed; stop it */
	close(fd);
	return r == 1;
}

/* Runs a hook to its end; its status. */
static int run_hook(struct env *e, const struct fw_hook_params *p, struct result *r)
{
	struct fw_hook *h = NULL;

	assert_int_equal(fw_hook_start(e->loop, p, &ops, r, &h), 0);
	assert_non_null(h);
	assert_int_equal(r->done_calls, 0); /* never from inside start */
	assert_true(run_until(e, &r->done_calls, 1));
	assert_int_equal(r->done_calls, 1);
	return r->status;
}

/* ---- lines --------------------------------------------------------------- */

/* Stdout's "progress N" and "version X" lines reach the callbacks; nothing
 * else does (out of range, malformed, the tail of an overlong line that
 * looks like a command); a last line without its newline counts; stderr
 * and unknown stdout lines are logged with the device's name. */
static void progress_and_version_lines(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	char cmd[256], log_path[256], want[256], *log;
	int saved, fd;

	script(e, "flash.sh",
	       "echo progress 0\n"
	       "echo 'progress 50%'\n"
	       "echo 'not a progress line @DIR@'\n"
	       "echo progress 101 @DIR@\n"
	       "echo progress -1\n"
	       "echo progress 7x\n"
	       "echo progress\n"
	       "printf 'progress 60\\r\\n'\n"
	       "echo 'version 2.1.0 '\n"
	       "echo 'version '\n"
	       "echo 'warning on stderr @DIR@' >&2\n"
	       /* overlong: 1,024 bytes (the limit), then what looks like a
	        * line of its own */
	       "printf '@DIR@%01024dprogress 77\\n' 0\n"
	       "printf '%04000d version 9\\n' 0\n"
	       "echo progress 100\n"
	       "printf 'version 2.1.1'\n");
	p = params(e, "@S@flash.sh", cmd, sizeof(cmd));

	/* The log goes to stderr: into a file for the while. */
	path_in(e, "log", log_path, sizeof(log_path));
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	log_set_level(LOG_DEBUG);
	assert_int_equal(run_hook(e, &p, &r), 0);
	log_set_level(LOG_WARNING);
	dup2(saved, 2);
	close(saved);

	assert_int_equal(r.nprogress, 4);
	assert_int_equal(r.progress[0], 0);
	assert_int_equal(r.progress[1], 50);
	assert_int_equal(r.progress[2], 60);
	assert_int_equal(r.progress[3], 100);
	assert_int_equal(r.nversion, 2);
	assert_string_equal(r.version[0], "2.1.0");
	assert_string_equal(r.version[1], "2.1.1");
	log = slurp(e, "log");
	assert_non_null(log);
	/* The log holds back a line it has just said (rate limit): each one
	 * says which run it is from. */
	snprintf(want, sizeof(want), "meter-1: firmware command: warning on stderr %s\n", e->dir);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "meter-1: firmware command: not a progress line %s\n",
		 e->dir);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "meter-1: firmware command: progress 101 %s\n", e->dir);
	assert_non_null(strstr(log, want));
	snprintf(want, sizeof(want), "(line of %zu bytes cut)", strlen(e->dir) + 1035);
	assert_non_null(strstr(log, want));
}

struct order {
	struct result r;
	int version_after_done;
};

static void order_version(void *ud, const char *v)
{
	struct order *o = ud;

	o->version_after_done += o->r.done_calls;
	on_version(&o->r, v);
}

static void order_done(void *ud, int status)
{
	on_done(&((struct order *)ud)->r, status);
}

/* What the program writes just before it exits (many reads' worth, then
 * its version) is all read before done(). */
static void last_lines_come_before_done(void **state)
{
	static const struct fw_hook_ops order_ops = {NULL, order_version, order_done};
	struct env *e = *state;
	struct fw_hook_params p;
	struct order o = {0};
	struct fw_hook *h = NULL;
	char cmd[256];

	script(e, "burst.sh",
	       "i=0; while [ $i -lt 600 ]; do\n"
	       "  echo 'writing block ......................................................'\n"
	       "  i=$((i + 1))\n"
	       "done\n"
	       "echo version 7.7\n");
	p = params(e, "@S@burst.sh", cmd, sizeof(cmd));
	assert_int_equal(fw_hook_start(e->loop, &p, &order_ops, &o, &h), 0);
	/* The loop runs only once the program has ended: all it wrote
	 * (under a pipe's 64 KiB) waits in the pipe when the exit is seen. */
	assert_true(child_exited(fw_hook_pid(h)));
	assert_true(run_until(e, &o.r.done_calls, 1));
	assert_int_equal(o.r.status, 0);
	assert_int_equal(o.r.nversion, 1);
	assert_string_equal(o.r.version[0], "7.7");
	assert_int_equal(o.version_after_done, 0);
}

/* ---- exit status --------------------------------------------------------- */

static void exit_status_mapping(void **state)
{
	static const struct {
		const char *body;
		int status;
	} cases[] = {
		{"exit 0\n", 0},
		{"exit 1\n", -EIO},
		{"exit 2\n", -ENOSPC},
		{"exit 3\n", -ENOMEM},
		{"exit 4\n", -EIO},
		{"exit 5\n", -EBADMSG},
		{"exit 6\n", -ENOTSUP},
		{"exit 7\n", -EIO},
		{"exit 8\n", -EIO},
		{"exit 127\n", -EIO},
		{"kill -KILL $$\n", -EIO},
		{"kill -TERM $$\n", -EIO},
		{"kill -INT $$\n", -EIO},
	};
	struct env *e = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fw_hook_params p;
		struct result r = {0};
		char cmd[256];

		script(e, "exit.sh", cases[i].body);
		p = params(e, "@S@exit.sh", cmd, sizeof(cmd));
		print_message("%s", cases[i].body);
		assert_int_equal(run_hook(e, &p, &r), cases[i].status);
	}
}

/* ---- timeout ------------------------------------------------------------- */

/* A program that never ends is stopped at its timeout, and what it started
 * goes with it. */
static void timeout_terminates(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	char cmd[256];

	script(e, "hang.sh",
	       "sleep 1000 &\n"
	       "echo $! > @DIR@/child.pid\n"
	       "echo $$ > @DIR@/pid\n"
	       "echo progress 1\n"
	       "wait\n");
	p = params(e, "@S@hang.sh", cmd, sizeof(cmd));
	p.timeout_ms = 300;
	assert_int_equal(run_hook(e, &p, &r), -ETIMEDOUT);
	assert_int_equal(r.nprogress, 1);
	assert_true(reaped(read_pid(e, "pid")));
	assert_true(gone(read_pid(e, "child.pid")));
}

/* One that ignores SIGTERM gets SIGKILL after the grace period. */
static void timeout_kills_after_grace(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	char cmd[256];

	script(e, "stubborn.sh",
	       "trap '' TERM\n"
	       "echo $$ > @DIR@/pid\n"
	       "echo progress 1\n"
	       "while :; do sleep 1; done\n");
	p = params(e, "@S@stubborn.sh", cmd, sizeof(cmd));
	p.timeout_ms = 200;
	p.kill_grace_ms = 200;
	assert_int_equal(run_hook(e, &p, &r), -ETIMEDOUT);
	assert_int_equal(r.nprogress, 1);
	assert_true(reaped(read_pid(e, "pid")));
}

/* ---- cancel -------------------------------------------------------------- */

static void cancel_mid_run(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	struct fw_hook *h = NULL;
	char cmd[256];
	pid_t pid;

	script(e, "long.sh",
	       "echo $$ > @DIR@/pid\n"
	       "echo progress 5\n"
	       "exec sleep 1000\n");
	p = params(e, "@S@long.sh", cmd, sizeof(cmd));
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), 0);
	assert_true(run_until(e, &r.nprogress, 1));
	pid = read_pid(e, "pid");
	assert_false(reaped(pid));
	fw_hook_cancel(h);
	assert_true(run_until_reaped(e, pid));
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(r.done_calls, 0);
}

/* A program that ignores SIGTERM is killed after the grace period. */
static void cancel_kills_after_grace(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	struct fw_hook *h = NULL;
	char cmd[256];
	pid_t pid;

	script(e, "stubborn.sh",
	       "trap '' TERM\n"
	       "echo $$ > @DIR@/pid\n"
	       "echo progress 5\n"
	       "while :; do sleep 1; done\n");
	p = params(e, "@S@stubborn.sh", cmd, sizeof(cmd));
	p.kill_grace_ms = 200;
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), 0);
	assert_true(run_until(e, &r.nprogress, 1));
	pid = read_pid(e, "pid");
	fw_hook_cancel(h);
	assert_true(run_until_reaped(e, pid));
	assert_int_equal(r.done_calls, 0);
}

static void tick(struct gw_timer *t, void *ud)
{
	(*(int *)ud)++;
}

/* Cancel gives the program its grace period: one that ignores SIGTERM is
 * still running several of the no-pidfd poll's periods later (it was
 * killed at the first poll once); the loop freed then kills and reaps it. */
static void cancel_waits_for_the_grace(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	struct fw_hook *h = NULL;
	struct gw_timer t;
	siginfo_t si;
	char cmd[256];
	int ticks = 0;
	pid_t pid;

	script(e, "stubborn.sh",
	       "trap '' TERM\n"
	       "echo $$ > @DIR@/pid\n"
	       "echo progress 5\n"
	       "while :; do sleep 1; done\n");
	p = params(e, "@S@stubborn.sh", cmd, sizeof(cmd));
	p.kill_grace_ms = 600000;
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), 0);
	assert_true(run_until(e, &r.nprogress, 1));
	pid = read_pid(e, "pid");
	fw_hook_cancel(h);
	gw_timer_init(&t, loop_timers(e->loop), tick, &ticks);
	gw_timer_arm(&t, clock_now_ms() + 500);
	assert_true(run_until(e, &ticks, 1));
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		fail_msg("waitid %d: %s", (int)pid, strerror(errno));
	assert_int_equal(si.si_pid, 0); /* running */

	loop_free(e->loop);
	e->loop = NULL;
	assert_true(reaped(pid));
	assert_int_equal(r.done_calls, 0);
	assert_int_equal(loop_new(&e->loop), 0); /* for the teardown */
}

/* Cancel from inside progress(): nothing more is called, and the rest of
 * what the program wrote is not read. */
static void cancel_from_callback(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	struct fw_hook *h = NULL;
	char cmd[256];
	pid_t pid;

	script(e, "chatty.sh",
	       "echo $$ > @DIR@/pid\n"
	       "echo progress 5; echo progress 6; echo version 3\n"
	       "exec sleep 1000\n");
	p = params(e, "@S@chatty.sh", cmd, sizeof(cmd));
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), 0);
	r.cancel_in_progress = h;
	assert_true(run_until(e, &r.nprogress, 1));
	pid = read_pid(e, "pid");
	assert_true(run_until_reaped(e, pid));
	assert_int_equal(r.nprogress, 1);
	assert_int_equal(r.nversion, 0);
	assert_int_equal(r.done_calls, 0);
}

/* Freeing the loop under programs still running (one cancelled that
 * ignores SIGTERM with a long grace, one never cancelled) kills and reaps
 * them: no zombie; done() is not called. */
static void loop_freed_under_running_programs(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r1 = {0}, r2 = {0};
	struct fw_hook *h1 = NULL, *h2 = NULL;
	char cmd1[256], cmd2[256];
	pid_t pid1, pid2;

	script(e, "stubborn.sh",
	       "trap '' TERM\n"
	       "echo $$ > @DIR@/pid1\n"
	       "echo progress 5\n"
	       "while :; do sleep 1; done\n");
	script(e, "long.sh",
	       "echo $$ > @DIR@/pid2\n"
	       "echo progress 5\n"
	       "exec sleep 1000\n");
	p = params(e, "@S@stubborn.sh", cmd1, sizeof(cmd1));
	p.kill_grace_ms = 600000;
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r1, &h1), 0);
	p = params(e, "@S@long.sh", cmd2, sizeof(cmd2));
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r2, &h2), 0);
	assert_true(run_until(e, &r1.nprogress, 1));
	assert_true(run_until(e, &r2.nprogress, 1));
	pid1 = read_pid(e, "pid1");
	pid2 = read_pid(e, "pid2");
	fw_hook_cancel(h1);
	sd_event_run(loop_sd_event(e->loop), 0);
	assert_false(reaped(pid1));
	assert_false(reaped(pid2));

	loop_free(e->loop);
	e->loop = NULL;
	assert_true(reaped(pid1));
	assert_true(reaped(pid2));
	assert_int_equal(r1.done_calls + r2.done_calls, 0);
	assert_int_equal(loop_new(&e->loop), 0); /* for the teardown */
}

/* ---- the command line and the environment -------------------------------- */

static const char *lookup(void *ud, const char *key)
{
	if (strcmp(key, "address") == 0)
		return "10.0.0.7:502 x";
	if (strcmp(key, "unit-id") == 0)
		return "3";
	return NULL;
}

/* Words as documented (quotes, backslash, substitutions never split), the
 * environment (ours, the daemon's own variables withheld), stdin
 * /dev/null, no fd of the daemon's inherited. */
static void substitutions_and_environment(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	char cmd[512], expect[2048];
	int leak, fd;

	script(e, "args.sh",
	       "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > @DIR@/args\n"
	       "env | grep '^GATEWAYD_' | sort > @DIR@/env\n"
	       "echo \"notify=${NOTIFY_SOCKET-unset}\" > @DIR@/misc\n"
	       "readlink /proc/$$/fd/0 >> @DIR@/misc\n"
	       "for fd in 3 4 5 6 7 8 9 $LEAK; do\n"
	       "  [ -e /proc/$$/fd/$fd ] && echo \"open $fd\" >> @DIR@/misc\n"
	       "done\n"
	       "exit 0\n");
	p = params(e,
		   "'@S@args.sh' %f %n %e %v %N %s %h %{address} \"a b %n\" 'lit %f' x\\ y "
		   "100%% \"\" \"q\\\"q\" --unit=%{unit-id} \\'",
		   cmd, sizeof(cmd));
	p.lookup = lookup;
	p.timeout_ms = 0; /* the default */
	/* What the daemon has: a variable of its own, systemd's, an fd
	 * without O_CLOEXEC. */
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	leak = fcntl(fd, F_DUPFD, 100);
	close(fd);
	assert_true(leak >= 100);
	snprintf(expect, sizeof(expect), "%d", leak);
	setenv("LEAK", expect, 1);
	setenv("GATEWAYD_STALE", "1", 1);
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	assert_int_equal(run_hook(e, &p, &r), 0);
	unsetenv("GATEWAYD_STALE");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LEAK");
	close(leak);

	assert_string_equal(slurp(e, "args"),
			    "[/var/lib/gatewayd/spool/meter-1.bin]\n"
			    "[meter-1]\n"
			    "[urn:dev:meter-1]\n"
			    "[2.0.0]\n"
			    "[fw-meter]\n"
			    "[1048576]\n"
			    "[" SHA "]\n"
			    "[10.0.0.7:502 x]\n"
			    "[a b meter-1]\n"
			    "[lit %f]\n"
			    "[x y]\n"
			    "[100%]\n"
			    "[]\n"
			    "[q\"q]\n"
			    "[--unit=3]\n"
			    "[']\n");
	assert_string_equal(slurp(e, "env"),
			    "GATEWAYD_DEVICE=meter-1\n"
			    "GATEWAYD_ENDPOINT=urn:dev:meter-1\n"
			    "GATEWAYD_IMAGE=/var/lib/gatewayd/spool/meter-1.bin\n"
			    "GATEWAYD_KEY_ADDRESS=10.0.0.7:502 x\n"
			    "GATEWAYD_KEY_UNIT_ID=3\n"
			    "GATEWAYD_PKG_NAME=fw-meter\n"
			    "GATEWAYD_PKG_VERSION=2.0.0\n"
			    "GATEWAYD_SHA256=" SHA "\n"
			    "GATEWAYD_SIZE=1048576\n"
			    "GATEWAYD_TIMEOUT_MS=600000\n");
	assert_string_equal(slurp(e, "misc"),
			    "notify=unset\n"
			    "/dev/null\n");
}

/* The daemon blocks SIGTERM (for sd-event) and may ignore SIGPIPE: the
 * program starts with no signal blocked or ignored.  Looked at by grep
 * itself, run without a shell (a shell would clear its mask on its own). */
static void signals_unblocked_for_the_program(void **state)
{
	static const char *const cmds[] = {
		"grep -q '^SigBlk:[[:space:]]*0*$' /proc/self/status",
		/* Signals 1..31; glibc's posix_spawn itself leaves its two
		 * internal ones (32, 33) ignored. */
		"grep -qE '^SigIgn:[[:space:]]*[0-9a-f]{8}[08]0000000$' /proc/self/status",
	};
	struct env *e = *state;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
	sigset_t mask, old;
	size_t i;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sigaction(SIGPIPE, &ign, &old_pipe);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct fw_hook_params p;
		struct result r = {0};
		char cmd[256];

		p = params(e, cmds[i], cmd, sizeof(cmd));
		print_message("%s\n", cmds[i]);
		assert_int_equal(run_hook(e, &p, &r), 0);
	}
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Unknown package name and version: empty words, variables unset. */
static void unknown_package_fields(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	char cmd[256];

	script(e, "args.sh",
	       "for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done > @DIR@/args\n"
	       "env | grep '^GATEWAYD_PKG' > @DIR@/env\n"
	       "exit 0\n");
	p = params(e, "@S@args.sh %v %N end", cmd, sizeof(cmd));
	p.pkg_name = p.pkg_version = NULL;
	assert_int_equal(run_hook(e, &p, &r), 0);
	assert_string_equal(slurp(e, "args"), "[]\n[]\n[end]\n");
	assert_string_equal(slurp(e, "env"), "");
}

/* A command line that cannot be right: -EINVAL, nothing started. */
static void bad_command_lines(void **state)
{
	static const char *const bad[] = {
		"", "   ", "'unterminated", "\"unterminated", "\"x\\\"", "x %q", "x %",
		"x %{nokey}", "x %{", "x %{}", "x\\",
	};
	struct env *e = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fw_hook_params p;
		struct result r = {0};
		struct fw_hook *h = (struct fw_hook *)&r;
		char cmd[256];

		p = params(e, bad[i], cmd, sizeof(cmd));
		p.lookup = lookup;
		print_message("%s\n", bad[i]);
		assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), -EINVAL);
		assert_ptr_equal(h, &r); /* untouched */
	}
	sd_event_run(loop_sd_event(e->loop), 0);
}

/* A program that is not there or cannot be run: the error at once. */
static void command_not_found(void **state)
{
	struct env *e = *state;
	struct fw_hook_params p;
	struct result r = {0};
	struct fw_hook *h = NULL;
	char cmd[256], path[256];
	FILE *f;

	p = params(e, "/nonexistent-dir/flasher %f", cmd, sizeof(cmd));
	if (under_valgrind()) {
		assert_int_equal(run_hook(e, &p, &r), -EIO);
		skip();
	}
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), -ENOENT);
	p = params(e, "gatewayd-no-such-flasher %f", cmd, sizeof(cmd));
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), -ENOENT);
	path_in(e, "not-executable", path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	p = params(e, "@S@not-executable", cmd, sizeof(cmd));
	assert_int_equal(fw_hook_start(e->loop, &p, &ops, &r, &h), -EACCES);
	assert_null(h);
	sd_event_run(loop_sd_event(e->loop), 0);
	assert_int_equal(r.done_calls, 0);
}

/* ---- config/firmware-hook-example.sh ------------------------------------- */

#define EX_SIZE 100003
#define EX_SHA "b4bec991fc613fcb4d2a26eb529e493ed4e3152cc00f0a49bd39b3e48b34824e"

/* Runs the example flasher on a 100,003-byte package, claimed to be size
 * bytes with digest sha; the hook's status. */
static int run_example(struct env *e, uint64_t size, const char *sha, struct result *r)
{
	const char *top = getenv("top_srcdir");
	char cmd[512], image[256], dest[256];
	struct fw_hook_params p;
	FILE *f;
	int i;

	if (!top || !*top)
		skip(); /* make check sets it */
	path_in(e, "image.bin", image, sizeof(image));
	path_in(e, "flash", dest, sizeof(dest));
	f = fopen(image, "w");
	assert_non_null(f);
	for (i = 0; i < EX_SIZE; i++)
		fputc((i * 7 + 3) & 0xff, f);
	assert_int_equal(fclose(f), 0);
	mkdir(dest, 0700);
	p = params(e, "", cmd, sizeof(cmd));
	snprintf(cmd, sizeof(cmd), "'%s/config/firmware-hook-example.sh' '%s'", top, dest);
	p.image_path = image;
	p.size = size;
	p.sha256_hex = sha;
	return run_hook(e, &p, r);
}

static bool same_file(const struct env *e, const char *a, const char *b)
{
	char pa[256], pb[256];
	FILE *fa, *fb;
	int ca, cb;

	path_in(e, a, pa, sizeof(pa));
	path_in(e, b, pb, sizeof(pb));
	fa = fopen(pa, "r");
	fb = fopen(pb, "r");
	if (!fa || !fb) {
		if (fa)
			fclose(fa);
		if (fb)
			fclose(fb);
		return false;
	}
	do {
		ca = fgetc(fa);
		cb = fgetc(fb);
	} while (ca == cb && ca != EOF);
	fclose(fa);
	fclose(fb);
	return ca == cb;
}

static void example_script_flashes(void **state)
{
	struct env *e = *state;
	struct result r = {0};
	int i;

	assert_int_equal(run_example(e, EX_SIZE, EX_SHA, &r), 0);
	assert_int_equal(r.nprogress, 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(r.progress[i], (unsigned)(i + 1) * 10);
	assert_int_equal(r.nversion, 1);
	assert_string_equal(r.version[0], "2.0.0");
	assert_true(same_file(e, "image.bin", "flash/meter-1.bin"));
	assert_null(slurp(e, "flash/.meter-1.part"));
}

static void example_script_checks_the_package(void **state)
{
	struct env *e = *state;
	struct result r = {0}, r2 = {0};

	assert_int_equal(run_example(e, EX_SIZE, SHA, &r), -EBADMSG);
	assert_int_equal(run_example(e, EX_SIZE - 1, EX_SHA, &r2), -EBADMSG);
	assert_int_equal(r.nprogress + r2.nprogress, 0);
	assert_null(slurp(e, "flash/meter-1.bin"));
}

int main(void)
{
	/* What a script leaves when it is killed comes to us (see gone). */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(progress_and_version_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(last_lines_come_before_done, setup, teardown),
		cmocka_unit_test_setup_teardown(exit_status_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(timeout_terminates, setup, teardown),
		cmocka_unit_test_setup_teardown(timeout_kills_after_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_mid_run, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_kills_after_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_waits_for_the_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(loop_freed_under_running_programs, setup, teardown),
		cmocka_unit_test_setup_teardown(substitutions_and_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(signals_unblocked_for_the_program, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_package_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_command_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(command_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(example_script_flashes, setup, teardown),
		cmocka_unit_test_setup_teardown(example_script_checks_the_package, setup, teardown),
	};

	int failed = cmocka_run_group_tests_name("pidfd", tests, NULL, NULL);

	no_pidfd = true;
	return failed + cmocka_run_group_tests_name("no pidfd", tests, NULL, NULL);
}
