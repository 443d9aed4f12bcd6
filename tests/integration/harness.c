#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *h_build_path(const char *rel)
{
	const char *top = getenv("top_builddir");
	char *p;

	if (asprintf(&p, "%s/%s", top ? top : ".", rel) < 0)
		abort();
	return p;
}

char *h_tmpdir(void)
{
	char tmpl[] = "/tmp/gatewayd-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

void h_tmpdir_remove(char *dir)
{
	char *cmd;

	if (!dir)
		return;
	if (!getenv("GW_KEEP_TMP") && asprintf(&cmd, "rm -rf '%s'", dir) >= 0) {
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
		free(cmd);
	}
	free(dir);
}

/* Every child still running, so that none outlives the test program even
 * when a test fails before stopping its processes. */
#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];

static void stop_leftover_children(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
}

static void remember_child(pid_t pid, bool add)
{
	static bool hooked;

	if (!hooked) {
		atexit(stop_leftover_children);
		hooked = true;
	}
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (add ? children[i] == 0 : children[i] == pid) {
			children[i] = add ? pid : 0;
			return;
		}
}

int h_spawn(struct proc *p, char *const argv[], bool pipe_stdio, const char *stderr_path)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1};

	memset(p, 0, sizeof(*p));
	p->in_fd = p->out_fd = p->pidfd = -1;
	p->backlog = json_array();
	if (pipe_stdio && (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0))
		return -errno;
	/* The log exists before the child runs, so it can be watched at once. */
	if (stderr_path) {
		int fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		/* Die with the test program, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (pipe_stdio) {
			dup2(in[0], STDIN_FILENO);
			dup2(out[1], STDOUT_FILENO);
		}
		if (stderr_path) {
			int fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0)
				dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	remember_child(p->pid, true);
	if (pipe_stdio) {
		close(in[0]);
		close(out[1]);
		p->in_fd = in[1];
		p->out_fd = out[0];
	}
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	return p->pidfd < 0 ? -errno : 0;
}

int h_wait_exit(struct proc *p, int timeout_ms)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
	int status;

	if (p->pid <= 0)
		return 0;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	if (waitpid(p->pid, &status, 0) != p->pid)
		return -1;
	remember_child(p->pid, false);
	p->pid = 0;
	close(p->pidfd);
	p->pidfd = -1;
	if (p->in_fd >= 0)
		close(p->in_fd);
	if (p->out_fd >= 0)
		close(p->out_fd);
	p->in_fd = p->out_fd = -1;
	json_decref(p->backlog);
	p->backlog = NULL;
	return status;
}

int h_stop(struct proc *p, int sig, int timeout_ms)
{
	int status;

	if (p->pid <= 0)
		return 0;
	kill(p->pid, sig);
	status = h_wait_exit(p, timeout_ms);
	if (status == -1 && p->pid > 0) {
		kill(p->pid, SIGKILL);
		h_wait_exit(p, 5000);
		return -1;
	}
	return status;
}

void h_send(struct proc *p, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		abort();
	line[n++] = '\n';
	if (write(p->in_fd, line, (size_t)n) != n)
		fprintf(stderr, "short write to child\n");
}

static bool matches(json_t *ev, const char *event, const char *key, const char *value)
{
	json_t *e = json_object_get(ev, "event");

	if (!json_is_string(e) || strcmp(json_string_value(e), event) != 0)
		return false;
	if (!key)
		return true;
	e = json_object_get(ev, key);
	return json_is_string(e) && strcmp(json_string_value(e), value) == 0;
}

/* Parse complete lines out of the buffer into the backlog. */
static void take_lines(struct proc *p)
{
	char *nl;

	while ((nl = memchr(p->buf, '\n', p->len))) {
		size_t n = (size_t)(nl - p->buf);
		json_error_t err;
		json_t *ev = json_loadb(p->buf, n, 0, &err);
		if (ev)
			json_array_append_new(p->backlog, ev);
		else
			fprintf(stderr, "harness: not JSON: %.*s\n", (int)n, p->buf);
		memmove(p->buf, nl + 1, p->len - n - 1);
		p->len -= n + 1;
	}
}

json_t *h_wait_event(struct proc *p, const char *event, const char *key, const char *value,
		     int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	for (;;) {
		size_t i;
		json_t *ev;
		struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
		long long left;
		ssize_t r;

		json_array_foreach(p->backlog, i, ev) {
			if (matches(ev, event, key, value)) {
				json_incref(ev);
				json_array_remove(p->backlog, i);
				return ev;
			}
		}
		left = deadline - now_ms();
		if (left <= 0 || p->out_fd < 0)
			return NULL;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		r = read(p->out_fd, p->buf + p->len, sizeof(p->buf) - p->len);
		if (r <= 0)
			return NULL; /* the child closed its output */
		p->len += (size_t)r;
		take_lines(p);
	}
}

int h_start_server_on(struct proc *srv, const char *dir, int port)
{
	return h_start_server_args(srv, dir, port, NULL);
}

int h_start_server_args(struct proc *srv, const char *dir, int port, const char *extra)
{
	const char *extras[] = {extra, NULL};

	return h_start_server_argv(srv, dir, port, extra ? extras : NULL);
}

int h_start_server_argv(struct proc *srv, const char *dir, int port, const char *const extra[])
{
	char *bin = h_build_path("tests/lwm2m-server/lwm2m-test-server");
	char *log, portarg[16];
	char *argv[5 + 2 * 8 + 1] = {bin, "-a", "127.0.0.1", "-p", portarg};
	static char opts[8][256];
	size_t n = 5;
	json_t *ev;
	int bound = -1;

	snprintf(portarg, sizeof(portarg), "%d", port);
	/* Extra options, "--name=value" split in two. */
	for (size_t i = 0; extra && extra[i] && i < 8; i++) {
		char *eq;
		snprintf(opts[i], sizeof(opts[i]), "%s", extra[i]);
		eq = strchr(opts[i], '=');
		argv[n++] = opts[i];
		if (eq) {
			*eq = '\0';
			argv[n++] = eq + 1;
		}
	}
	if (asprintf(&log, "%s/server.log", dir) < 0)
		abort();
	if (h_spawn(srv, argv, true, log) == 0) {
		ev = h_wait_event(srv, "listening", NULL, NULL, H_TIMEOUT_MS);
		if (ev)
			bound = (int)json_integer_value(json_object_get(ev, "port"));
		json_decref(ev);
	}
	free(log);
	free(bin);
	return bound;
}

int h_start_server(struct proc *srv, const char *dir)
{
	return h_start_server_on(srv, dir, 0);
}

int h_start_http(struct proc *p, const char *dir, const char *const extra[])
{
	const char *top = getenv("top_srcdir");
	char *script = h_strf("%s/tests/integration/http_files.py", top ? top : ".");
	char *log = h_strf("%s/http.log", dir);
	char *argv[12] = {"/usr/bin/python3", script, (char *)dir};
	size_t n = 3;
	json_t *ev;
	int port = -1;

	for (size_t i = 0; extra && extra[i] && n < 11; i++)
		argv[n++] = (char *)extra[i];
	if (h_spawn(p, argv, true, log) == 0) {
		ev = h_wait_event(p, "listening", NULL, NULL, H_TIMEOUT_MS);
		if (ev)
			port = (int)json_integer_value(json_object_get(ev, "port"));
		json_decref(ev);
	}
	free(script);
	free(log);
	return port;
}

int h_free_udp_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), port = -1;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

char *h_write_config(const char *dir, const char *name, const char *tmpl, int port)
{
	char *path, *p;
	FILE *f;
	const char *s = tmpl;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	f = fopen(path, "w");
	/* Private, as the daemon wants a file with inline keys to be. */
	if (!f || fchmod(fileno(f), 0600) < 0)
		abort();
	while ((p = strstr(s, "@PORT@"))) {
		fwrite(s, 1, (size_t)(p - s), f);
		fprintf(f, "%d", port);
		s = p + strlen("@PORT@");
	}
	fputs(s, f);
	fclose(f);
	return path;
}

int h_start_gatewayd(struct proc *gw, const char *dir, const char *config)
{
	char *bin = h_build_path("gatewayd/gatewayd");
	char *libtool = h_build_path("libtool");
	const char *adir = getenv("GW_ADAPTER_DIR");
	char *log;
	char *argv[] = {bin, "-c", (char *)config, "-A", (char *)(adir ? adir : "."),
			"--log-target", "stderr", "-l", "debug", NULL};
	/* GW_VALGRIND=1: the daemon runs under valgrind and exits 99 on any
	 * error or definite leak, which the tests' exit-status checks catch. */
	char *vg_argv[] = {libtool, "--mode=execute", "valgrind", "-q", "--error-exitcode=99",
			   "--leak-check=full", "--errors-for-leak-kinds=definite", bin, "-c",
			   (char *)config, "-A", (char *)(adir ? adir : "."), "--log-target",
			   "stderr", "-l", "debug", NULL};
	int r;

	if (asprintf(&log, "%s/gatewayd.log", dir) < 0)
		abort();
	/* Configs written by hand may hold inline keys: the daemon refuses
	 * them in a file others can read. */
	chmod(config, 0600);
	r = h_spawn(gw, getenv("GW_VALGRIND") ? vg_argv : argv, false, log);
	free(log);
	free(bin);
	free(libtool);
	return r;
}

char *h_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

void h_dump_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];

	if (!f)
		return;
	printf("---- %s\n", path);
	while (fgets(line, sizeof(line), f))
		fputs(line, stdout);
	fclose(f);
}

json_t *h_request(struct proc *srv, int timeout_ms, const char *fmt, ...)
{
	static unsigned seq;
	char id[16], cmd[8192];
	va_list ap;
	long long deadline = now_ms() + timeout_ms;
	json_t *ev;

	snprintf(id, sizeof(id), "q%u", ++seq);
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	/* The command's first word is the verb; the id goes right after it. */
	{
		char *sp = strchr(cmd, ' ');
		if (!sp)
			abort();
		*sp = '\0';
		h_send(srv, "%s %s %s", cmd, id, sp + 1);
	}
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return NULL;
		ev = h_wait_event(srv, "response", "id", id, 0);
		if (!ev)
			ev = h_wait_event(srv, "error", "id", id, 0);
		if (ev)
			return ev;
		/* Block until some event arrives, then look again. */
		ev = h_wait_event(srv, "\x01never", NULL, NULL, (int)(left < 50 ? left : 50));
		json_decref(ev);
	}
}

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

bool h_wait_file_contains(const char *path, const char *needle, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int fd = inotify_init1(IN_CLOEXEC);
	bool found;

	/* Watch first, then look, so no write can slip between the two. */
	if (fd < 0 || inotify_add_watch(fd, path, IN_MODIFY | IN_CLOSE_WRITE) < 0) {
		if (fd >= 0)
			close(fd);
		return file_contains(path, needle);
	}
	while (!(found = file_contains(path, needle))) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		char ev[4096];
		long long left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			break;
		if (read(fd, ev, sizeof(ev)) < 0)
			break;
	}
	if (!found)
		found = file_contains(path, needle);
	close(fd);
	return found;
}

int h_skip_without_sim(void)
{
	const char *dir = getenv("GW_ADAPTER_DIR");
	char path[1024];

	snprintf(path, sizeof(path), "%s/sim.so", dir ? dir : ".");
	if (access(path, R_OK) != 0) {
		printf("skipped: %s not built (configured with --disable-sim?)\n", path);
		return 77;
	}
	return 0;
}
