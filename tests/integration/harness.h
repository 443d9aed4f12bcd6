/* Integration-test harness: start the test LwM2M server and gatewayd as
 * child processes, wait for events with deadlines (never sleeps), and stop
 * every process by its PID. */
#ifndef GW_TEST_HARNESS_H
#define GW_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

struct proc {
	pid_t pid;
	int pidfd;
	int in_fd;   /* child's stdin, or -1 */
	int out_fd;  /* child's stdout, or -1 */
	char buf[1 << 16];
	size_t len;
	json_t *backlog; /* events read but not yet matched (array) */
};

/* A private temporary directory, removed by h_tmpdir_remove. */
char *h_tmpdir(void);
void h_tmpdir_remove(char *dir);

/* Start argv with stdin/stdout piped when pipe_stdio; stderr to
 * stderr_path (or inherited when NULL). */
int h_spawn(struct proc *p, char *const argv[], bool pipe_stdio, const char *stderr_path);
/* Send sig, wait up to timeout_ms for exit (SIGKILL after it).  Returns the
 * wait status, or -1 when it had to be killed. */
int h_stop(struct proc *p, int sig, int timeout_ms);
/* Wait for exit without a signal; -1 on timeout. */
int h_wait_exit(struct proc *p, int timeout_ms);

/* Send one command line to the child's stdin. */
void h_send(struct proc *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next event whose "event" equals `event` and whose `key` (when key is
 * non-NULL) equals `value`; other events are kept for later calls.  NULL on
 * timeout.  The caller owns the result (json_decref). */
json_t *h_wait_event(struct proc *p, const char *event, const char *key, const char *value,
		     int timeout_ms);

/* The test server: started on an ephemeral port; returns the port. */
int h_start_server(struct proc *srv, const char *dir);
/* The same on a given port (0: ephemeral). */
int h_start_server_on(struct proc *srv, const char *dir, int port);
/* With one extra option, "--name=value" or "--flag". */
int h_start_server_args(struct proc *srv, const char *dir, int port, const char *extra);
/* With up to 8 such options (NULL-terminated array). */
int h_start_server_argv(struct proc *srv, const char *dir, int port, const char *const extra[]);
/* tests/integration/http_files.py serving dir (its log in dir/http.log),
 * with up to 8 extra arguments (NULL-terminated; NULL: none); returns its
 * TCP port, or -1. */
int h_start_http(struct proc *p, const char *dir, const char *const extra[]);
/* A UDP port on 127.0.0.1 that was free a moment ago. */
int h_free_udp_port(void);
/* Write a gatewayd config file from a template where @PORT@ is replaced. */
char *h_write_config(const char *dir, const char *name, const char *tmpl, int port);
/* Start gatewayd with the config; stderr goes to dir/gatewayd.log. */
int h_start_gatewayd(struct proc *gw, const char *dir, const char *config);
/* Wait (inotify, with a deadline) until a line of the file contains needle. */
bool h_wait_file_contains(const char *path, const char *needle, int timeout_ms);
/* Print a file to stdout (the daemon's log when a test fails). */
void h_dump_file(const char *path);
/* A formatted string the caller frees; aborts when out of memory. */
char *h_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Request helpers: send a command with a fresh id, wait for its answer
 * (a "response" or "error" event with that id). */
json_t *h_request(struct proc *srv, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Path of a built program: $top_builddir/rel. */
char *h_build_path(const char *rel);

/* 77 (automake's skip) when the sim adapter is not built, else 0. */
int h_skip_without_sim(void);

#define H_TIMEOUT_MS 10000

#endif
