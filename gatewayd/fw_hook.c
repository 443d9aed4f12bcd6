/* The firmware command hook (fw_hook.h).
 *
 * The program is started with posix_spawnp (no shell; vfork-like, safe in
 * a process with adapter threads, and an exec failure comes back as
 * fw_hook_start's error), in a process group of its own so that a timeout
 * or a cancel also stops what a script started.  Its exit is watched with
 * a pidfd on the loop (polled on a timer where pidfds do not exist) and
 * reaped with a non-blocking waitid of its PID: SIGCHLD is neither blocked
 * nor handled, so this does not interfere with sd-event or with anybody
 * else's children (it must not be SIG_IGN, which would reap them all:
 * gatewayd leaves it at its default).
 *
 * Every sd-event source of a hook is floating (the event owns it) with a
 * destroy callback: the hook lives as long as one of its sources does.  So
 * a cancelled hook goes on alone until its program is reaped, and freeing
 * the loop under a running program destroys the sources, which kills and
 * reaps it: no zombie is left either way. */
#include "fw_hook.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define DEFAULT_TIMEOUT_MS (10u * 60u * 1000u)
#define DEFAULT_GRACE_MS 5000u
/* A line longer than this is not interpreted (stdout) or logged cut. */
#define LINE_MAX_LEN 1024
#define VERSION_MAX_LEN 255
/* How much of an overlong line the log shows. */
#define LOG_CUT 200
/* What one wake-up reads from a pipe: a chatty program cannot hold the
 * loop for long. */
#define READ_CHUNK 4096

extern char **environ;

enum { SRC_OUT, SRC_ERR, SRC_CHILD, SRC_TIMER, SRC_N };

struct hook_src {
	struct fw_hook *h;
	sd_event_source *s; /* floating: the event holds the only reference */
};

struct linebuf {
	char b[LINE_MAX_LEN + 1];
	size_t len;
	size_t dropped; /* bytes of the current line beyond LINE_MAX_LEN */
};

struct fw_hook {
	sd_event *ev;
	char *device; /* for the log; may be NULL */
	struct fw_hook_ops ops;
	void *ud;
	pid_t pid;
	uint32_t grace_ms, timeout_ms;
	struct hook_src src[SRC_N];
	/* Sources not yet destroyed, plus one held by fw_hook_start while it
	 * runs: the hook is freed when it drops to 0. */
	unsigned nsrc;
	struct linebuf line[2]; /* SRC_OUT, SRC_ERR */
	bool spawned, reaped;
	bool killing;   /* SIGTERM sent; SIGKILL when the timer fires */
	bool timed_out; /* ...because of the timeout: -ETIMEDOUT */
	bool cancelled; /* done() is never called */
	bool finished;  /* done() called or being called */
};

/* ---- sources ------------------------------------------------------------- */

static void hook_free(struct fw_hook *h)
{
	free(h->device);
	free(h);
}

static void kill_group(struct fw_hook *h, int sig)
{
	/* The group is the program's own (POSIX_SPAWN_SETPGROUP); a program
	 * that left it is still reached directly.  Only called while the
	 * program is not reaped, so its PID (and group ID) are still ours. */
	if (kill(-h->pid, sig) < 0)
		kill(h->pid, sig);
}

/* Blocking, so only for a program just sent SIGKILL and only off the
 * normal path (setup failure, loop freed under it). */
static void kill_and_reap(struct fw_hook *h)
{
	siginfo_t si;

	kill_group(h, SIGKILL);
	while (waitid(P_PID, (id_t)h->pid, &si, WEXITED) < 0 && errno == EINTR)
		;
	h->reaped = true;
}

static void unhold(struct fw_hook *h)
{
	if (--h->nsrc == 0)
		hook_free(h);
}

static void src_destroyed(void *ud)
{
	struct hook_src *hs = ud;
	struct fw_hook *h = hs->h;

	hs->s = NULL;
	if (hs == &h->src[SRC_CHILD] && !h->reaped)
		kill_and_reap(h); /* the loop is being freed under it */
	unhold(h);
}

/* Makes a new source floating and counts it (only called while
 * fw_hook_start holds h).  Its fd, if any, is the source's to close. */
static int own_src(struct fw_hook *h, int idx, sd_event_source *s)
{
	int r;

	h->src[idx].s = s;
	h->nsrc++;
	r = sd_event_source_set_destroy_callback(s, src_destroyed);
	if (r >= 0)
		r = sd_event_source_set_floating(s, 1);
	if (r < 0)
		h->src[idx].s = NULL; /* the unref below destroys it */
	sd_event_source_unref(s); /* ours; floating, the event's remains */
	return r;
}

/* May free h when it is the last source (not when it is the one being
 * dispatched: sd-event frees that one after its callback returns). */
static void drop_src(struct fw_hook *h, int idx)
{
	sd_event_source *s = h->src[idx].s;

	if (!s)
		return;
	h->src[idx].s = NULL;
	sd_event_source_disable_unref(s);
}

/* Drops every source; h may be gone afterwards. */
static void drop_all(struct fw_hook *h)
{
	unsigned live = 0;
	int i;

	for (i = 0; i < SRC_N; i++)
		live += h->src[i].s != NULL;
	for (i = 0; live > 0; i++)
		if (h->src[i].s) {
			live--;
			drop_src(h, i); /* the last one may free h */
		}
}

static void arm_timer(struct fw_hook *h, uint32_t ms)
{
	sd_event_source *s = h->src[SRC_TIMER].s;
	uint64_t now = 0;

	if (!s)
		return;
	sd_event_now(h->ev, CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(s, now + (uint64_t)ms * 1000u);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void start_kill(struct fw_hook *h)
{
	h->killing = true;
	kill_group(h, SIGTERM);
	arm_timer(h, h->grace_ms);
}

/* ---- the program's output ------------------------------------------------ */

/* Control characters would garble the log. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* line starts with the word kw followed by blanks: *rest is after them. */
static bool keyword(const char *line, const char *kw, const char **rest)
{
	size_t n = strlen(kw);

	if (strncmp(line, kw, n) != 0 || (line[n] != ' ' && line[n] != '\t'))
		return false;
	line += n;
	while (*line == ' ' || *line == '\t')
		line++;
	*rest = line;
	return true;
}

/* "N" or "N%", 0..100, trailing blanks allowed. */
static bool parse_percent(const char *s, unsigned *out)
{
	unsigned v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (unsigned)(*p++ - '0');
		if (v > 100)
			return false;
	}
	if (*p == '%')
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return false;
	*out = v;
	return true;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static void stdout_line(struct fw_hook *h, char *line)
{
	const char *rest;
	unsigned pct;

	if (keyword(line, "progress", &rest)) {
		if (parse_percent(rest, &pct)) {
			if (h->ops.progress)
				h->ops.progress(h->ud, pct);
			return;
		}
	} else if (keyword(line, "version", &rest)) {
		char *v = line + (rest - line);
		size_t n = strlen(v);

		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			v[--n] = '\0';
		if (n > 0 && n <= VERSION_MAX_LEN && printable_ascii(v)) {
			if (h->ops.version)
				h->ops.version(h->ud, v);
			return;
		}
	}
	sanitize(line);
	log_debug(h->device, "firmware command: %s", line);
}

static void line_end(struct fw_hook *h, int which)
{
	struct linebuf *lb = &h->line[which];

	if (lb->len > 0 && lb->b[lb->len - 1] == '\r')
		lb->len--;
	lb->b[lb->len] = '\0';
	if (lb->dropped) {
		sanitize(lb->b);
		/* An overlong stdout line is not interpreted: its end could
		 * otherwise pass for a line of its own. */
		log_msg(which == SRC_ERR ? LOG_INFO : LOG_DEBUG, h->device,
			"firmware command: %.*s... (line of %zu bytes cut)", LOG_CUT, lb->b,
			lb->len + lb->dropped);
	} else if (which == SRC_OUT) {
		stdout_line(h, lb->b);
	} else if (lb->len > 0) {
		sanitize(lb->b);
		log_info(h->device, "firmware command: %s", lb->b);
	}
	lb->len = lb->dropped = 0;
}

/* Stops early when a callback cancelled the hook. */
static void feed(struct fw_hook *h, int which, const char *p, size_t n)
{
	struct linebuf *lb = &h->line[which];
	size_t i;

	for (i = 0; i < n && !h->cancelled; i++) {
		if (p[i] == '\n')
			line_end(h, which);
		else if (lb->len < LINE_MAX_LEN)
			lb->b[lb->len++] = p[i];
		else
			lb->dropped++;
	}
}

/* One read: false at end of file or on an error (the source is dropped). */
static bool read_pipe(struct fw_hook *h, int which)
{
	char buf[READ_CHUNK];
	ssize_t n = read(sd_event_source_get_io_fd(h->src[which].s), buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0) {
		if (n < 0)
			log_warn(h->device, "firmware command: reading its output: %s",
				 strerror(errno));
		if (h->line[which].len || h->line[which].dropped)
			line_end(h, which); /* a last line without its newline */
		if (!h->cancelled)
			drop_src(h, which);
		return false;
	}
	feed(h, which, buf, (size_t)n);
	return true;
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	struct hook_src *hs = ud;

	read_pipe(hs->h, (int)(hs - hs->h->src));
	return 0;
}

/* ---- the end ------------------------------------------------------------- */

/* Exit codes equal to the Object 5 Update Result they stand for. */
static int exit_to_status(const siginfo_t *si)
{
	if (si->si_code != CLD_EXITED)
		return -EIO; /* killed by a signal, or dumped core */
	switch (si->si_status) {
	case 0:
		return 0;
	case 2:
		return -ENOSPC;
	case 3:
		return -ENOMEM;
	case 5:
		return -EBADMSG;
	case 6:
		return -ENOTSUP;
	default:
		return -EIO;
	}
}

static void log_exit(struct fw_hook *h, const siginfo_t *si, bool known)
{
	bool fine = h->cancelled || (si->si_code == CLD_EXITED && si->si_status == 0 &&
				     !h->timed_out);
	int prio = fine ? LOG_INFO : LOG_WARNING;

	if (!known)
		log_warn(h->device, "firmware command (pid %d): its exit status was taken by "
			 "someone else (SIGCHLD ignored?)", (int)h->pid);
	else if (si->si_code == CLD_EXITED)
		log_msg(prio, h->device, "firmware command (pid %d) exited with code %d",
			(int)h->pid, si->si_status);
	else
		log_msg(prio, h->device, "firmware command (pid %d) killed by signal %d (%s)",
			(int)h->pid, si->si_status, strsignal(si->si_status));
}

/* The program may have ended: false when it has not (h untouched), true
 * when it was reaped and the hook wound up (only its child source, being
 * dispatched, keeps h until the callback returns). */
static bool child_event(struct fw_hook *h)
{
	siginfo_t si;
	bool known = true;
	int status, i, n;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno == EINTR)
			return false;
		known = false; /* ECHILD: reaped by somebody else */
	} else if (si.si_pid == 0) {
		return false; /* not yet */
	}
	/* A zombie until reaped, so its group ID cannot be reused yet: what
	 * it left behind after a timeout or cancel goes too. */
	if (h->killing && known)
		kill(-h->pid, SIGKILL);
	if (known)
		waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG);
	h->reaped = true;
	log_exit(h, &si, known);
	if (h->cancelled) {
		drop_all(h);
		return true;
	}
	/* What it wrote last ("version X" just before exiting) comes before
	 * done(); bounded, in case something it left keeps writing. */
	for (i = SRC_OUT; i <= SRC_ERR; i++)
		for (n = 0; n < 16 && h->src[i].s && !h->cancelled && read_pipe(h, i); n++)
			;
	for (i = SRC_OUT; i <= SRC_ERR && !h->cancelled; i++)
		if (h->line[i].len || h->line[i].dropped)
			line_end(h, i);
	if (h->cancelled) { /* by progress() or version() just now */
		drop_all(h);
		return true;
	}
	if (h->timed_out)
		status = -ETIMEDOUT;
	else
		status = known ? exit_to_status(&si) : -EIO;
	h->finished = true;
	h->ops.done(h->ud, status);
	drop_all(h);
	return true;
}

static int on_child(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
	child_event(((struct hook_src *)ud)->h);
	return 0;
}

/* Without pidfds (Linux before 5.3; valgrind 3.19 does not know the
 * call), the exit is looked for every CHILD_POLL_MS instead. */
#define CHILD_POLL_MS 100

static int on_child_poll(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fw_hook *h = ((struct hook_src *)ud)->h;

	if (!child_event(h)) {
		sd_event_source_set_time(s, usec + CHILD_POLL_MS * 1000u);
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	}
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct fw_hook *h = ((struct hook_src *)ud)->h;

	if (!h->killing) {
		log_warn(h->device, "firmware command (pid %d) still running after %" PRIu32
			 " ms: stopping it", (int)h->pid, h->timeout_ms);
		h->timed_out = true;
		start_kill(h);
	} else {
		log_warn(h->device, "firmware command (pid %d) still running %" PRIu32
			 " ms after SIGTERM: killing it", (int)h->pid, h->grace_ms);
		kill_group(h, SIGKILL);
	}
	return 0;
}

int fw_hook_pid(const struct fw_hook *h)
{
	return (int)h->pid;
}

void fw_hook_cancel(struct fw_hook *h)
{
	if (!h || h->cancelled || h->finished)
		return;
	h->cancelled = true;
	log_info(h->device, "firmware command (pid %d) cancelled", (int)h->pid);
	/* Its output is of no use any more. */
	drop_src(h, SRC_OUT);
	drop_src(h, SRC_ERR);
	if (!h->killing)
		start_kill(h);
}

/* ---- the command line ---------------------------------------------------- */

struct strv {
	char **v;
	size_t n, cap;
};

struct sbuf {
	char *p;
	size_t len, cap;
};

static void strv_free(struct strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
}

/* Takes s (frees it on failure); keeps a NULL after the last. */
static int strv_push(struct strv *sv, char *s)
{
	if (!s)
		return -ENOMEM;
	if (sv->n + 2 > sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			return -ENOMEM;
		}
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
	return 0;
}

static int sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* GATEWAYD_KEY_<key>, the key upper-cased, other than [A-Z0-9] as '_'. */
static char *key_env(const char *key, const char *value)
{
	char *e;
	size_t i, pre = strlen("GATEWAYD_KEY_");

	if (asprintf(&e, "GATEWAYD_KEY_%s=%s", key, value) < 0)
		return NULL;
	for (i = pre; e[i] != '='; i++)
		e[i] = isalnum((unsigned char)e[i]) ? (char)toupper((unsigned char)e[i]) : '_';
	return e;
}

/* One % substitution at *pp (just after the '%'), appended to b. */
static int substitute(const char **pp, const struct fw_hook_params *p, struct sbuf *b,
		      struct strv *env, const char *dev)
{
	const char *s = *pp, *v;
	char num[24];

	switch (*s) {
	case 'f':
		v = p->image_path;
		break;
	case 'n':
		v = p->device_name;
		break;
	case 'e':
		v = p->endpoint;
		break;
	case 'v':
		v = p->pkg_version;
		break;
	case 'N':
		v = p->pkg_name;
		break;
	case 'h':
		v = p->sha256_hex;
		break;
	case 's':
		snprintf(num, sizeof(num), "%" PRIu64, p->size);
		v = num;
		break;
	case '%':
		v = "%";
		break;
	case '{': {
		const char *end = strchr(s + 1, '}');
		char *key;

		if (!end || end == s + 1) {
			log_err(dev, "firmware_command: %%{ without a key name and its }");
			return -EINVAL;
		}
		key = strndup(s + 1, (size_t)(end - s - 1));
		if (!key)
			return -ENOMEM;
		v = p->lookup ? p->lookup(p->lookup_ud, key) : NULL;
		if (!v) {
			log_err(dev, "firmware_command: %%{%s}: the device has no key '%s'", key,
				key);
			free(key);
			return -EINVAL;
		}
		if (strv_push(env, key_env(key, v)) < 0) {
			free(key);
			return -ENOMEM;
		}
		free(key);
		*pp = end + 1;
		return sb_add(b, v, strlen(v));
	}
	case '\0':
		log_err(dev, "firmware_command: a %% at the end (write %%%% for a percent sign)");
		return -EINVAL;
	default:
		log_err(dev, "firmware_command: unknown substitution %%%c", *s);
		return -EINVAL;
	}
	*pp = s + 1;
	return v ? sb_add(b, v, strlen(v)) : 0;
}

/* Splits the command line into words: blanks separate them; '...' is
 * literal; "..." keeps blanks, and there \" \\ and % substitutions work; a
 * backslash outside quotes takes the next character as it is.  What a
 * substitution gives never splits a word. */
static int split_command(const struct fw_hook_params *p, struct strv *argv, struct strv *env,
			 const char *dev)
{
	const char *s = p->command;
	struct sbuf b = {0};
	bool in_word = false;
	int r = 0;

	while (r == 0 && *s) {
		char c = *s;

		if (c == ' ' || c == '\t' || c == '\n') {
			s++;
			if (in_word) {
				r = strv_push(argv, strdup(b.p ? b.p : ""));
				b.len = 0;
				if (b.p)
					b.p[0] = '\0';
				in_word = false;
			}
			continue;
		}
		in_word = true;
		if (c == '\'') {
			const char *end = strchr(s + 1, '\'');

			if (!end) {
				log_err(dev, "firmware_command: unterminated '");
				r = -EINVAL;
				break;
			}
			r = sb_add(&b, s + 1, (size_t)(end - s - 1));
			s = end + 1;
		} else if (c == '"') {
			for (s++; r == 0 && *s && *s != '"';) {
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) {
					r = sb_add(&b, s + 1, 1);
					s += 2;
				} else if (*s == '%') {
					s++;
					r = substitute(&s, p, &b, env, dev);
				} else {
					r = sb_add(&b, s++, 1);
				}
			}
			if (r == 0 && *s != '"') {
				log_err(dev, "firmware_command: unterminated \"");
				r = -EINVAL;
			}
			s++;
		} else if (c == '\\') {
			if (!s[1]) {
				log_err(dev, "firmware_command: a \\ at the end");
				r = -EINVAL;
				break;
			}
			r = sb_add(&b, s + 1, 1);
			s += 2;
		} else if (c == '%') {
			s++;
			r = substitute(&s, p, &b, env, dev);
		} else {
			r = sb_add(&b, s++, 1);
		}
	}
	if (r == 0 && in_word)
		r = strv_push(argv, strdup(b.p ? b.p : ""));
	free(b.p);
	if (r == 0 && argv->n == 0) {
		log_err(dev, "firmware_command is empty");
		r = -EINVAL;
	}
	return r;
}

/* Variables that belong to the daemon (its systemd notification socket,
 * watchdog, socket activation) are not passed on: the program must not
 * speak for the daemon. */
static bool env_withheld(const char *e)
{
	static const char *const names[] = {
		"NOTIFY_SOCKET=", "WATCHDOG_PID=", "WATCHDOG_USEC=",
		"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "GATEWAYD_",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(e, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

static int env_add(struct strv *env, const char *name, const char *value)
{
	char *e;

	if (!value)
		return 0; /* unknown: unset */
	if (asprintf(&e, "%s=%s", name, value) < 0)
		return -ENOMEM;
	return strv_push(env, e);
}

/* The daemon's environment, less what is withheld, then ours. */
static int build_env(const struct fw_hook_params *p, struct strv *keys, struct strv *env)
{
	char size[24], timeout[24];
	char **e;
	size_t i;
	int r = 0;

	for (e = environ; r == 0 && e && *e; e++)
		if (!env_withheld(*e))
			r = strv_push(env, strdup(*e));
	snprintf(size, sizeof(size), "%" PRIu64, p->size);
	snprintf(timeout, sizeof(timeout), "%" PRIu32,
		 p->timeout_ms ? p->timeout_ms : DEFAULT_TIMEOUT_MS);
	if (r == 0)
		r = env_add(env, "GATEWAYD_IMAGE", p->image_path);
	if (r == 0)
		r = env_add(env, "GATEWAYD_DEVICE", p->device_name);
	if (r == 0)
		r = env_add(env, "GATEWAYD_ENDPOINT", p->endpoint);
	if (r == 0)
		r = env_add(env, "GATEWAYD_PKG_NAME", p->pkg_name);
	if (r == 0)
		r = env_add(env, "GATEWAYD_PKG_VERSION", p->pkg_version);
	if (r == 0)
		r = env_add(env, "GATEWAYD_SIZE", size);
	if (r == 0)
		r = env_add(env, "GATEWAYD_SHA256", p->sha256_hex);
	if (r == 0)
		r = env_add(env, "GATEWAYD_TIMEOUT_MS", timeout);
	/* The keys the command line named with %{key}, each once. */
	for (i = 0; r == 0 && i < keys->n; i++) {
		size_t j, eq = (size_t)(strchr(keys->v[i], '=') - keys->v[i]) + 1;
		bool dup = false;

		for (j = 0; j < i && !dup; j++)
			dup = strncmp(keys->v[i], keys->v[j], eq) == 0;
		if (!dup)
			r = strv_push(env, strdup(keys->v[i]));
	}
	return r;
}

/* ---- start --------------------------------------------------------------- */

static int spawn(struct fw_hook *h, char **argv, char **envp, int out_w, int err_w)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(&fa, err_w, 2);
	/* Nothing of the daemon's (sockets, the spool, other devices') but
	 * these three, whatever was opened without O_CLOEXEC. */
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* The daemon blocks SIGTERM and others for sd-event, and may ignore
	 * SIGPIPE: the program starts with none blocked and all default. */
	if (r == 0)
		r = posix_spawnattr_setsigmask(&at, &none);
	if (r == 0)
		r = posix_spawnattr_setsigdefault(&at, &all);
	if (r == 0)
		r = posix_spawnattr_setpgroup(&at, 0);
	if (r == 0)
		r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						      POSIX_SPAWN_SETPGROUP);
	if (r == 0)
		r = posix_spawnp(&h->pid, argv[0], &fa, &at, argv, envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

static int add_pipe_src(struct fw_hook *h, int idx, int fd)
{
	sd_event_source *s;
	int r = sd_event_add_io(h->ev, &s, fd, EPOLLIN, on_pipe, &h->src[idx]);

	if (r < 0) {
		close(fd);
		return r;
	}
	sd_event_source_set_io_fd_own(s, 1);
	return own_src(h, idx, s);
}

int fw_hook_start(struct gw_loop *loop, const struct fw_hook_params *p,
		  const struct fw_hook_ops *ops, void *ud, struct fw_hook **out)
{
	struct strv argv = {0}, keys = {0}, env = {0};
	struct fw_hook *h;
	sd_event_source *s;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	int r, i, pidfd;

	if (!p || !p->command || !ops || !ops->done || !out)
		return -EINVAL;
	r = split_command(p, &argv, &keys, p->device_name);
	if (r == 0)
		r = build_env(p, &keys, &env);
	strv_free(&keys);
	if (r < 0)
		goto out_strv;
	h = calloc(1, sizeof(*h));
	if (!h || (p->device_name && !(h->device = strdup(p->device_name)))) {
		free(h);
		r = -ENOMEM;
		goto out_strv;
	}
	h->nsrc = 1; /* held until the end of this function */
	for (i = 0; i < SRC_N; i++)
		h->src[i].h = h;
	h->ev = loop_sd_event(loop);
	h->ops = *ops;
	h->ud = ud;
	h->timeout_ms = p->timeout_ms ? p->timeout_ms : DEFAULT_TIMEOUT_MS;
	h->grace_ms = p->kill_grace_ms ? p->kill_grace_ms : DEFAULT_GRACE_MS;

	/* Only the read ends are non-blocking: the program's are its own. */
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	r = add_pipe_src(h, SRC_OUT, outp[0]);
	outp[0] = -1;
	if (r < 0)
		goto fail;
	r = add_pipe_src(h, SRC_ERR, errp[0]);
	errp[0] = -1;
	if (r < 0)
		goto fail;
	r = sd_event_add_time(h->ev, &s, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timer,
			      &h->src[SRC_TIMER]);
	if (r < 0 || (r = own_src(h, SRC_TIMER, s)) < 0)
		goto fail;

	r = spawn(h, argv.v, env.v, outp[1], errp[1]);
	if (r < 0) {
		log_err(p->device_name, "firmware command %s: %s", argv.v[0], strerror(-r));
		goto fail;
	}
	h->spawned = true;
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	pidfd = (int)pidfd_open(h->pid, 0);
	if (pidfd >= 0) {
		r = sd_event_add_io(h->ev, &s, pidfd, EPOLLIN, on_child, &h->src[SRC_CHILD]);
		if (r < 0)
			close(pidfd);
		else
			sd_event_source_set_io_fd_own(s, 1);
	} else if (errno == ENOSYS) {
		uint64_t now = 0;

		sd_event_now(h->ev, CLOCK_MONOTONIC, &now);
		r = sd_event_add_time(h->ev, &s, CLOCK_MONOTONIC, now + CHILD_POLL_MS * 1000u,
				      1000, on_child_poll, &h->src[SRC_CHILD]);
	} else {
		r = -errno;
		log_err(p->device_name, "firmware command: pidfd_open: %s", strerror(-r));
	}
	if (r < 0)
		goto fail;
	r = own_src(h, SRC_CHILD, s);
	if (r < 0)
		goto fail;
	arm_timer(h, h->timeout_ms);
	log_info(h->device, "firmware command started (pid %d): %s", (int)h->pid, argv.v[0]);
	unhold(h); /* its sources keep it */
	*out = h;
	r = 0;
	goto out_strv;

fail:
	if (h->spawned && !h->reaped)
		kill_and_reap(h); /* just started, SIGKILL: brief */
	h->reaped = true;
	h->cancelled = true;
	for (i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	drop_all(h);
	unhold(h);
out_strv:
	strv_free(&argv);
	strv_free(&env);
	return r;
}
