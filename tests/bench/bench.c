/* gatewayd's benchmark driver (issue 6): starts the load server and gatewayd with N sim
 * devices for each benchmark, several runs each, then prints a table of medians and one
 * JSON object per figure.  Not a test: it never fails on a figure, only on breakage.
 *
 *   bench [--quick] [--runs N] [--only NAME[,NAME...]] [--test-server N] [--rate R]
 *
 * --rate sets gateway.registration_rate (the figures are then paced, not the storm).
 *
 * Needs top_builddir and GW_ADAPTER_DIR in the environment (make bench sets them). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define MAX_RUNS 16
#define CMD_TIMEOUT_MS 120000
#define READ_PATH "/3303/0/5700"

/* Every DTLS device's key (psk_key, hex) and the load server's (--psk-key). */
#define BENCH_PSK_KEY "0123456789abcdef0123456789abcdef"

static struct {
	bool quick;
	int runs;
	const char *only;
	long test_server_n;
	long rate; /* gateway.registration_rate for every daemon; 0: unset */
} O = {.runs = 5};

/* ---- figures ---------------------------------------------------------------------- */

struct figure {
	const char *bench;
	long n;
	const char *unit;
	double v[MAX_RUNS], floor[MAX_RUNS];
	int nv, nfloor;
	const char *floor_kind; /* what the floor is, in the JSON line; NULL: not said */
	char note[200]; /* set: not measurable (value null), or a remark */
	bool null;
	const char *label; /* table only: extra lines that are not JSON figures */
};

static struct figure F[64];
static int NF;

static struct figure *fig(const char *bench, long n, const char *unit)
{
	for (int i = 0; i < NF; i++)
		if (strcmp(F[i].bench, bench) == 0 && F[i].n == n && !F[i].label)
			return &F[i];
	F[NF] = (struct figure){.bench = bench, .n = n, .unit = unit};
	return &F[NF++];
}

static struct figure *info(const char *label, long n, const char *unit)
{
	for (int i = 0; i < NF; i++)
		if (F[i].label && strcmp(F[i].label, label) == 0 && F[i].n == n)
			return &F[i];
	F[NF] = (struct figure){.bench = label, .label = label, .n = n, .unit = unit};
	return &F[NF++];
}

static void add(struct figure *f, double v)
{
	if (f->nv < MAX_RUNS)
		f->v[f->nv++] = v;
}

static void add_floor(struct figure *f, double v)
{
	if (f->nfloor < MAX_RUNS)
		f->floor[f->nfloor++] = v;
}

static void not_measurable(struct figure *f, const char *why)
{
	f->null = true;
	snprintf(f->note, sizeof(f->note), "%s", why);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_RUNS];

	if (n == 0)
		return NAN;
	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_d);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* The ratio is the median of the per-run ratios: each run's floor is measured beside it. */
static double median_ratio(const struct figure *f)
{
	double r[MAX_RUNS];
	int n = f->nv < f->nfloor ? f->nv : f->nfloor;

	for (int i = 0; i < n; i++)
		r[i] = f->floor[i] > 0 ? f->v[i] / f->floor[i] : NAN;
	return median(r, n);
}

/* The difference beside the ratio: the median of the per-run differences. */
static double median_diff(const struct figure *f)
{
	double d[MAX_RUNS];
	int n = f->nv < f->nfloor ? f->nv : f->nfloor;

	for (int i = 0; i < n; i++)
		d[i] = f->v[i] - f->floor[i];
	return median(d, n);
}

static void json_num(double v)
{
	if (isnan(v))
		fputs("null", stdout);
	else
		printf("%.6g", v);
}

static void report(void)
{
	printf("\n%-24s %6s %12s %-8s %12s %8s %12s %4s  %s\n", "benchmark", "n", "median",
	       "unit", "floor", "ratio", "difference", "runs", "note");
	for (int i = 0; i < NF; i++) {
		struct figure *f = &F[i];
		double m = f->null ? NAN : median(f->v, f->nv);
		char fl[32] = "-", ra[32] = "-", di[32] = "-";

		if (f->nfloor) {
			snprintf(fl, sizeof(fl), "%.4g", median(f->floor, f->nfloor));
			snprintf(ra, sizeof(ra), "%.2f", median_ratio(f));
			snprintf(di, sizeof(di), "%+.4g", median_diff(f));
		}
		char val[32] = "null";

		if (!isnan(m))
			snprintf(val, sizeof(val), "%.4g", m);
		printf("%-24s %6ld %12s %-8s %12s %8s %12s %4d  %s\n", f->bench, f->n, val, f->unit,
		       fl, ra, di, f->nv, f->null ? f->note : f->note[0] ? f->note : "");
	}
	printf("\n");
	for (int i = 0; i < NF; i++) {
		struct figure *f = &F[i];

		if (f->label)
			continue;
		printf("{\"bench\":\"%s\",\"n\":%ld,\"value\":", f->bench, f->n);
		json_num(f->null ? NAN : median(f->v, f->nv));
		printf(",\"unit\":\"%s\",\"floor\":", f->unit);
		json_num(f->nfloor && !f->null ? median(f->floor, f->nfloor) : NAN);
		printf(",\"ratio\":");
		json_num(f->nfloor && !f->null ? median_ratio(f) : NAN);
		printf(",\"difference\":");
		json_num(f->nfloor && !f->null ? median_diff(f) : NAN);
		if (f->floor_kind)
			printf(",\"floor_kind\":\"%s\"", f->floor_kind);
		if (f->null)
			printf(",\"note\":\"not measurable yet: %s\"", f->note);
		printf("}\n");
	}
	fflush(stdout);
}

/* ---- processes -------------------------------------------------------------------- */

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool wanted(const char *name)
{
	const char *p;
	size_t n = strlen(name);

	if (!O.only)
		return true;
	for (p = strstr(O.only, name); p; p = strstr(p + 1, name))
		if ((p == O.only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
	return false;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* Start the load server (or with --bare the bare libcoap partner); returns its port.
 * mode, then arg: extra options or NULL. */
static int start_load2(struct proc *p, const char *dir, const char *mode, const char *arg)
{
	char *bin = h_build_path("tests/bench/bench-load-server");
	char *log;
	char *argv[] = {bin, "-a", "127.0.0.1", "-p", "0", (char *)mode, (char *)arg, NULL};
	json_t *ev;
	int port = -1;

	if (asprintf(&log, "%s/load-server%s.log", dir, mode ? mode : "") < 0)
		abort();
	if (h_spawn(p, argv, true, log) == 0) {
		ev = h_wait_event(p, "listening", NULL, NULL, H_TIMEOUT_MS);
		if (ev)
			port = (int)json_integer_value(json_object_get(ev, "port"));
		json_decref(ev);
	}
	free(log);
	free(bin);
	if (port < 0)
		die("the load server did not start");
	return port;
}

static int start_load(struct proc *p, const char *dir, const char *mode)
{
	return start_load2(p, dir, mode, NULL);
}

static void stop_load(struct proc *p)
{
	if (p->pid <= 0)
		return;
	h_send(p, "quit");
	if (h_wait_exit(p, 5000) == -1)
		h_stop(p, SIGTERM, 5000);
}

/* One command with a fresh id; the answer event, or NULL (and a message) on time-out. */
static json_t *cmd(struct proc *srv, const char *event, int timeout_ms, const char *fmt, ...)
{
	static unsigned seq;
	char id[16], args[512];
	va_list ap;
	json_t *ev;

	snprintf(id, sizeof(id), "b%u", ++seq);
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	{
		char *sp = strchr(args, ' ');
		if (sp)
			*sp = '\0';
		h_send(srv, "%s %s%s%s", args, id, sp ? " " : "", sp ? sp + 1 : "");
		if (sp)
			*sp = ' ';
	}
	ev = h_wait_event(srv, event, "id", id, timeout_ms);
	if (!ev)
		fprintf(stderr, "bench: no '%s' answer to '%s'\n", event, args);
	return ev;
}

static double jnum(json_t *ev, const char *key)
{
	return json_number_value(json_object_get(ev, key));
}

struct conf_opts {
	double poll_s;         /* 0: no polling (read once at start) */
	double report_s;       /* > 0: a sawtooth the sim reports this often */
	double report_delay_s; /* sim report_delay: values hold still this long */
	bool dtls;             /* coaps:// with a PSK per device */
	long changed;          /* > 0: device changed - 1 has another constant */
	const char *ctl_sock;  /* gateway.control_socket; NULL: none */
	double send_period_s;  /* > 0: every device Sends its point this often */
};

/* A configuration with n sim devices, one point each: constant, or with report_s a
 * changing sawtooth. */
static char *write_conf(const char *dir, long n, int port, const struct conf_opts *o)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/bench-%ld.conf", dir, n) < 0)
		abort();
	f = fopen(path, "w");
	/* 0600: the DTLS runs put inline keys in it. */
	if (!f || fchmod(fileno(f), 0600) < 0)
		die("cannot write %s", path);
	fprintf(f, "gateway = { name = \"b\"; control_socket = \"%s\";", o->ctl_sock ? o->ctl_sock : "");
	if (O.rate > 0)
		fprintf(f, " registration_rate = %ld;", O.rate);
	fprintf(f, " };\n");
	if (o->dtls)
		fprintf(f, "servers = ( { name = \"s\"; uri = \"coaps://127.0.0.1:%d\"; "
			"security = \"psk\"; lifetime = 300; } );\n", port);
	else
		fprintf(f, "servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:%d\"; "
			"lifetime = 300; } );\n", port);
	fprintf(f, "devices = (\n");
	for (long i = 0; i < n; i++) {
		fprintf(f, "  { name = \"d%ld\"; adapter = \"sim\";", i);
		if (o->dtls)
			fprintf(f, " psk_identity = \"d%ld\"; psk_key = \"" BENCH_PSK_KEY "\";", i);
		if (o->report_s > 0)
			fprintf(f, " report_interval = %g;", o->report_s);
		if (o->report_delay_s > 0)
			fprintf(f, " report_delay = %g;", o->report_delay_s);
		if (o->send_period_s > 0)
			fprintf(f, " send_period = %g;", o->send_period_s);
		fprintf(f, " points = ( { channel = \"t\"; path = \"" READ_PATH "\";");
		if (o->poll_s > 0)
			fprintf(f, " poll = %g;", o->poll_s);
		fprintf(f, " waveform = \"%s\"; base = %s; } ); }%s\n",
			o->report_s > 0 ? "sawtooth" : "constant",
			i == o->changed - 1 ? "22.5" : "21.5", i + 1 < n ? "," : "");
	}
	fprintf(f, ");\n");
	fclose(f);
	return path;
}

/* Start gatewayd; *t0 is the time just before the fork.  notify_path: NOTIFY_SOCKET. */
static void start_daemon(struct proc *gw, const char *dir, const char *conf,
			 const char *notify_path, uint64_t *t0)
{
	char *bin = h_build_path("gatewayd/gatewayd");
	const char *adir = getenv("GW_ADAPTER_DIR");
	char *log;
	char *argv[] = {bin, "-c", (char *)conf, "-A", (char *)(adir ? adir : "."),
			"--log-target", "stderr", NULL};

	if (asprintf(&log, "%s/gatewayd.log", dir) < 0)
		abort();
	if (notify_path)
		setenv("NOTIFY_SOCKET", notify_path, 1);
	*t0 = mono_us();
	if (h_spawn(gw, argv, false, log) < 0)
		die("cannot start gatewayd");
	unsetenv("NOTIFY_SOCKET");
	free(log);
	free(bin);
}

static void stop_daemon(struct proc *gw)
{
	/* SIGTERM de-registers every client first; give thousands of them time. */
	if (h_stop(gw, SIGTERM, 15000) == -1)
		fprintf(stderr, "bench: gatewayd had to be killed\n");
}

/* A number from /proc/PID/status, e.g. VmRSS (KiB). */
static long proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* utime + stime from /proc/PID/stat, in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces: state is field 3,
	 * utime 14, stime 15. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (long long)(ut + st);
}

/* Wait until the load server counts n registrations; returns when the n-th arrived
 * (CLOCK_MONOTONIC us) or 0. */
static uint64_t wait_registered(struct proc *srv, long n, int timeout_ms)
{
	json_t *ev = cmd(srv, "waited", timeout_ms + 5000, "wait %ld %d", n, timeout_ms);
	uint64_t t = 0;

	if (ev && json_is_true(json_object_get(ev, "ok")))
		t = (uint64_t)jnum(ev, "reached_us");
	else if (ev)
		fprintf(stderr, "bench: only %lld of %ld registered\n",
			(long long)jnum(ev, "registered"), n);
	json_decref(ev);
	return t;
}

/* The load server's datagram drops, and (when not NULL) the Register requests it
 * answered: more than the endpoints means clients registered twice. */
static long udp_drops(struct proc *srv, long *registers)
{
	json_t *ev = cmd(srv, "stats", H_TIMEOUT_MS, "stats");
	long d = ev ? (long)jnum(ev, "udp_drops") : -1;

	if (registers)
		*registers = ev ? (long)jnum(ev, "register") : -1;
	json_decref(ev);
	return d;
}

/* One of the load server's counters ("register", "deregister", "send"...), or -1. */
static long srv_counter(struct proc *srv, const char *key)
{
	json_t *ev = cmd(srv, "stats", H_TIMEOUT_MS, "stats");
	long v = ev && json_object_get(ev, key) ? (long)jnum(ev, key) : -1;

	json_decref(ev);
	return v;
}

/* Enough descriptors for n sockets (gatewayd raises its soft limit to the hard one). */
static bool fd_limit_ok(long n, char *why, size_t len)
{
	struct rlimit rl;
	long need = n + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max == RLIM_INFINITY ||
	    (long)rl.rlim_max >= need)
		return true;
	snprintf(why, len, "open-file hard limit %ld is too low for %ld devices (needs %ld): "
		 "raise it (ulimit -Hn, LimitNOFILE=)", (long)rl.rlim_max, n, need);
	fprintf(stderr, "bench: %s\n", why);
	return false;
}

/* ---- 1 and 2: registration storm, memory per device -------------------------------- */

static bool register_run(long n, bool dtls, double *secs, long *rss_kib, long *registers)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	int port = dtls ? start_load2(&srv, dir, "--psk-key", BENCH_PSK_KEY)
			: start_load(&srv, dir, NULL);
	char *conf = write_conf(dir, n, port, &(struct conf_opts){.poll_s = 3600, .dtls = dtls});
	uint64_t t0, t;
	long drops;

	start_daemon(&gw, dir, conf, NULL, &t0);
	/* 10,000 DTLS handshakes took 96 s on the loaded 2-core machine. */
	t = wait_registered(&srv, n, dtls ? 3 * CMD_TIMEOUT_MS : CMD_TIMEOUT_MS);
	*rss_kib = t ? proc_status(gw.pid, "VmRSS") : -1;
	*secs = t ? (double)(t - t0) / 1e6 : NAN;
	drops = udp_drops(&srv, registers);
	if (drops > 0)
		fprintf(stderr, "bench: the load server dropped %ld datagrams\n", drops);
	stop_daemon(&gw);
	stop_load(&srv);
	free(conf);
	h_tmpdir_remove(dir);
	return t != 0;
}

static void bench_register_rss(void)
{
	long sizes[2] = {1000, 10000};
	int runs[2] = {O.runs, O.runs < 3 ? O.runs : 3};
	double rss[2][MAX_RUNS];
	int nrss[2] = {0, 0};
	char why[200];
	bool ok[2];

	if (O.quick) {
		sizes[0] = 50;
		sizes[1] = 500;
	}
	for (int s = 0; s < 2; s++) {
		struct figure *f = fig("register", sizes[s], "s");
		struct figure *rate = info("register_rate", sizes[s], "reg/s");
		struct figure *r = info("rss_total_nosec", sizes[s], "KiB");
		struct figure *dup = info("register_duplicates", sizes[s], "req");

		ok[s] = fd_limit_ok(sizes[s], why, sizeof(why));
		if (!ok[s]) {
			not_measurable(f, why);
			continue;
		}
		for (int i = 0; i < runs[s]; i++) {
			double secs;
			long kib;

			fprintf(stderr, "bench: register n=%ld run %d/%d\n", sizes[s], i + 1, runs[s]);
			long regs;

			if (!register_run(sizes[s], false, &secs, &kib, &regs))
				continue;
			add(dup, (double)(regs - sizes[s]));
			add(f, secs);
			add(rate, sizes[s] / secs);
			add(r, (double)kib);
			rss[s][nrss[s]++] = (double)kib;
		}
	}
	if (wanted("rss_per_device_nosec")) {
		struct figure *f = fig("rss_per_device_nosec", sizes[1], "KiB");

		if (!ok[0] || !ok[1]) {
			not_measurable(f, why);
			return;
		}
		/* Pair the runs in order: each slope uses two daemons of the same session. */
		for (int i = 0; i < nrss[0] && i < nrss[1]; i++)
			add(f, (rss[1][i] - rss[0][i]) / (double)(sizes[1] - sizes[0]));
	}
}

/* DTLS PSK: the storm of 10,000 (register_dtls) and the memory slope between 1,000 and
 * 10,000 devices, from the same daemons. */
static void bench_dtls(void)
{
	long sizes[2] = {1000, 10000};
	int runs = O.runs < 3 ? O.runs : 3;
	struct figure *reg, *rate, *dup, *slope;
	char why[200];

	if (O.quick) {
		sizes[0] = 20;
		sizes[1] = 100;
	}
	reg = fig("register_dtls", sizes[1], "s");
	rate = info("register_dtls_rate", sizes[1], "reg/s");
	dup = info("register_dtls_duplicates", sizes[1], "req");
	slope = fig("rss_per_device_dtls", sizes[1], "KiB");
	if (!fd_limit_ok(sizes[1], why, sizeof(why))) {
		not_measurable(reg, why);
		not_measurable(slope, why);
		return;
	}
	for (int i = 0; i < runs; i++) {
		double s0, s1;
		long k0, k1, regs;

		fprintf(stderr, "bench: dtls run %d/%d (%ld and %ld devices)\n", i + 1, runs,
			sizes[0], sizes[1]);
		if (!register_run(sizes[1], true, &s1, &k1, &regs)) {
			not_measurable(reg, "not every DTLS device registered");
			continue;
		}
		add(reg, s1);
		add(rate, (double)sizes[1] / s1);
		add(dup, (double)(regs - sizes[1]));
		if (regs > sizes[1])
			snprintf(reg->note, sizeof(reg->note), "%ld duplicate Registers",
				 regs - sizes[1]);
		if (register_run(sizes[0], true, &s0, &k0, NULL))
			add(slope, (double)(k1 - k0) / (double)(sizes[1] - sizes[0]));
	}
}

/* SIGTERM with n registered NoSec devices: the time to the process's exit, and every
 * De-register counted at the load server. */
static void bench_shutdown(void)
{
	long n = O.quick ? 500 : 10000;
	int runs = O.runs < 3 ? O.runs : 3;
	struct figure *f = fig("shutdown", n, "s");
	struct figure *dereg = info("shutdown_deregistered", n, "req");
	char why[200];

	if (!fd_limit_ok(n, why, sizeof(why))) {
		not_measurable(f, why);
		return;
	}
	for (int i = 0; i < runs; i++) {
		char *dir = h_tmpdir();
		struct proc srv, gw;
		int port = start_load(&srv, dir, NULL);
		char *conf = write_conf(dir, n, port, &(struct conf_opts){.poll_s = 3600});
		uint64_t t0, k0, k1;
		long got;

		fprintf(stderr, "bench: shutdown run %d/%d\n", i + 1, runs);
		start_daemon(&gw, dir, conf, NULL, &t0);
		if (!wait_registered(&srv, n, CMD_TIMEOUT_MS))
			die("shutdown: gatewayd did not register its devices");
		k0 = mono_us();
		kill(gw.pid, SIGTERM);
		if (h_wait_exit(&gw, 30000) == -1) {
			stop_daemon(&gw);
			not_measurable(f, "gatewayd did not exit within 30 s of SIGTERM");
		} else {
			k1 = mono_us();
			/* The DELETEs still in the load server's socket are counted first:
			 * it answers them through libcoap, slower than gatewayd sends, and
			 * what is counted is what gatewayd sent before it exited. */
			json_decref(cmd(&srv, "drain", 20000 + H_TIMEOUT_MS, "drain 300"));
			got = srv_counter(&srv, "deregister");
			add(f, (double)(k1 - k0) / 1e6);
			add(dereg, (double)got);
			if (got < n)
				snprintf(f->note, sizeof(f->note), "only %ld of %ld De-registers "
					 "reached the server", got, n);
		}
		stop_load(&srv);
		free(conf);
		h_tmpdir_remove(dir);
	}
}

/* VmRSS of n registered devices after some Send periods, with (send_s > 0) or without
 * Send; -1 on failure. */
static long send_rss_run(long n, double send_s, long *sends)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	int port = start_load(&srv, dir, NULL);
	double period = send_s > 0 ? send_s : 2.0;
	char *conf = write_conf(dir, n, port,
				&(struct conf_opts){.poll_s = 3600, .send_period_s = send_s});
	struct pollfd pfd;
	uint64_t t0;
	long kib = -1;

	start_daemon(&gw, dir, conf, NULL, &t0);
	if (!wait_registered(&srv, n, CMD_TIMEOUT_MS))
		die("rss_per_device_send: gatewayd did not register its devices");
	/* Three periods and a half: every device has sent (and had answered) a few Sends,
	 * and the snapshot falls between two rounds.  A timed window, ended early only
	 * if the daemon exits. */
	pfd = (struct pollfd){.fd = gw.pidfd, .events = POLLIN};
	if (poll(&pfd, 1, (int)(period * 3.5 * 1000)) != 0)
		die("rss_per_device_send: gatewayd exited");
	kib = proc_status(gw.pid, "VmRSS");
	*sends = srv_counter(&srv, "send");
	stop_daemon(&gw);
	stop_load(&srv);
	free(conf);
	h_tmpdir_remove(dir);
	return kib;
}

/* The extra RSS per device of Sending every 2 s, against the same devices without.
 * 1,000 devices: 10,000 devices Sending every 2 s stall gatewayd's loop (libcoap 4.3.1
 * walks its whole list of CONs awaiting an ACK for each one sent and each one answered;
 * see README.md), and a stalled loop holds Sends in the store, which is not the cost of
 * Sending. */
static void bench_rss_send(void)
{
	long n = O.quick ? 200 : 1000;
	int runs = O.runs < 3 ? O.runs : 3;
	struct figure *f = fig("rss_per_device_send", n, "KiB");
	struct figure *sent = info("rss_send_sends", n, "req");
	char why[200];

	if (!fd_limit_ok(n, why, sizeof(why))) {
		not_measurable(f, why);
		return;
	}
	for (int i = 0; i < runs; i++) {
		long s0, s1, k0, k1;

		fprintf(stderr, "bench: rss send run %d/%d\n", i + 1, runs);
		k1 = send_rss_run(n, 2.0, &s1);
		k0 = send_rss_run(n, 0, &s0);
		add(sent, (double)s1);
		if (s1 < 2 * n)
			snprintf(f->note, sizeof(f->note), "only %ld Sends from %ld devices", s1, n);
		if (k0 > 0 && k1 > 0)
			add(f, (double)(k1 - k0) / (double)n);
	}
}

/* ---- 3: read latency beside the bare libcoap floor ---------------------------------- */

static void bench_read(void)
{
	long n = O.quick ? 10 : 100;
	/* About a second of reads per run: a p99 over a shorter window is one
	 * scheduler hiccup on a shared machine. */
	int count = O.quick ? 300 : 20000;
	char *dir = h_tmpdir();
	struct proc srv, bare, gw;
	int port = start_load(&srv, dir, NULL), bport = start_load(&bare, dir, "--bare");
	char *conf = write_conf(dir, n, port, &(struct conf_opts){.poll_s = 3600});
	struct figure *p50 = fig("read_p50", n, "us"), *p99 = fig("read_p99", n, "us");
	uint64_t t0;

	p50->floor_kind = p99->floor_kind = "libcoap_get";

	start_daemon(&gw, dir, conf, NULL, &t0);
	if (!wait_registered(&srv, n, CMD_TIMEOUT_MS))
		die("read: gatewayd did not register its devices");
	/* Warm both paths up (first session use, page faults), then alternate. */
	json_decref(cmd(&srv, "read", CMD_TIMEOUT_MS, "read - %s %d", READ_PATH, count / 10));
	json_decref(cmd(&srv, "read", CMD_TIMEOUT_MS, "readaddr 127.0.0.1 %d %s %d", bport,
			READ_PATH, count / 10));
	for (int i = 0; i < O.runs; i++) {
		json_t *d = cmd(&srv, "read", CMD_TIMEOUT_MS, "read - %s %d", READ_PATH, count);
		json_t *b = cmd(&srv, "read", CMD_TIMEOUT_MS, "readaddr 127.0.0.1 %d %s %d", bport,
				READ_PATH, count);

		fprintf(stderr, "bench: read run %d/%d\n", i + 1, O.runs);
		if (d && b && jnum(d, "failed") == 0 && jnum(b, "failed") == 0) {
			add(p50, jnum(d, "p50_us"));
			add(p99, jnum(d, "p99_us"));
			add_floor(p50, jnum(b, "p50_us"));
			add_floor(p99, jnum(b, "p99_us"));
		} else {
			fprintf(stderr, "bench: read failures (gatewayd %g, bare %g; last code %g)\n",
				d ? jnum(d, "failed") : -1, b ? jnum(b, "failed") : -1,
				d ? jnum(d, "last_code") : -1);
		}
		json_decref(d);
		json_decref(b);
	}
	stop_daemon(&gw);
	stop_load(&bare);
	stop_load(&srv);
	free(conf);
	h_tmpdir_remove(dir);
}

/* ---- 4: notification throughput beside a bare libcoap sender ------------------------ */

/* Observe every registered device; NULL when gatewayd observes them all, else why not.
 * *done_us (when not NULL): when the last set-up was answered (CLOCK_MONOTONIC). */
static const char *observe_all(struct proc *srv, long n, char *why, size_t len,
			       uint64_t *done_us)
{
	/* The load server sets the observations up 64 at a time. */
	json_t *ev = cmd(srv, "observed", CMD_TIMEOUT_MS, "observe %s", READ_PATH);
	long obs = ev ? (long)jnum(ev, "observed") : 0;
	long nob = ev ? (long)jnum(ev, "not_observed") : 0;

	if (done_us)
		*done_us = ev ? (uint64_t)jnum(ev, "done_us") : 0;
	json_decref(ev);
	why[0] = '\0';
	if (obs == n)
		return NULL;
	if (nob > 0)
		snprintf(why, len, "gatewayd answered %ld of %ld Observe requests without the "
			 "Observe option", nob, n);
	else
		snprintf(why, len, "only %ld of %ld observations were set up", obs, n);
	return why;
}

/* Seconds the sim values hold still (sim report_delay) while the devices register and
 * the load server observes them; about 0.6 ms a device for both here. */
static double notify_hold_s(long n)
{
	return 3.0 + (double)n * 0.003;
}

/* Start bench-raw-notifier: n sockets sending the notification sample (hex) to port. */
static void start_raw(struct proc *p, const char *dir, long n, int port, const char *sample)
{
	char *bin = h_build_path("tests/bench/bench-raw-notifier");
	char *log = h_strf("%s/raw-notifier.log", dir), *ns = h_strf("%ld", n);
	char *ps = h_strf("%d", port);
	char *argv[] = {bin, "-a", "127.0.0.1", "-p", ps, "-n", ns, "--hex", (char *)sample, NULL};
	json_t *ev = NULL;

	if (h_spawn(p, argv, true, log) == 0)
		ev = h_wait_event(p, "ready", NULL, NULL, CMD_TIMEOUT_MS);
	if (!ev)
		die("the raw notifier did not start (see %s)", log);
	json_decref(ev);
	free(bin);
	free(log);
	free(ns);
	free(ps);
}

static void stop_raw(struct proc *p)
{
	h_send(p, "quit");
	if (h_wait_exit(p, 5000) == -1)
		h_stop(p, SIGTERM, 5000);
}

/* A settling count, then the measured one; key: which sender's count.  Returns the
 * rate per second, *recv_per_cpu_s the receiver's notifications per CPU second. */
static double lean_rate(struct proc *srv, int window_ms, const char *key, char *sample,
			size_t sample_len, double *recv_per_cpu_s)
{
	json_t *ev;
	double rate = NAN, got;

	json_decref(cmd(srv, "leancount", 500 + H_TIMEOUT_MS, "leancount 500"));
	ev = cmd(srv, "leancount", window_ms + H_TIMEOUT_MS, "leancount %d", window_ms);
	if (!ev)
		return NAN;
	got = jnum(ev, key);
	rate = got * 1e6 / jnum(ev, "window_us");
	if (recv_per_cpu_s)
		*recv_per_cpu_s = jnum(ev, "cpu_us") > 0 ? got / (jnum(ev, "cpu_us") / 1e6) : NAN;
	if (sample) {
		const char *hex = json_string_value(json_object_get(ev, "sample"));
		snprintf(sample, sample_len, "%s", hex ? hex : "");
	}
	json_decref(ev);
	return rate;
}

/* Changes offered per second, all devices together: about twice what the raw floor
 * sends on this machine (150,000-170,000/s quiet), so that gatewayd always has a change
 * to send and never idles.  Each sim reports every n / NOTIFY_OFFERED_PER_S seconds
 * (1,000 devices: 5 ms; 10,000: 50 ms).  Until session 4 every sim reported every
 * millisecond whatever n, ten million offers a second with 10,000 devices, and
 * gatewayd spent its loop taking in values it could never send. */
#define NOTIFY_OFFERED_PER_S 300000.0

static double notify_report_s(long n)
{
	double s = (double)n / NOTIFY_OFFERED_PER_S;

	return s < 0.001 ? 0.001 : s;
}

/* One run, three senders one after the other (so that none competes with another for
 * the two cores), counted by the same lean receiver:
 *  - gatewayd with n observed devices whose sims report new values faster, all
 *    together, than any sender can send them (notify_report_s): what it delivers when
 *    changes come as fast as it can take them;
 *  - the raw floor: bench-raw-notifier sending one of gatewayd's own notifications on as
 *    many sockets, with send(2) and nothing else;
 *  - the libcoap reference: a bare libcoap resource notifying every loop turn.
 * Returns false when observation fails. */
static bool notify_run(long n, int window_ms, struct figure *f, struct figure *ref,
		       struct figure *cpu, struct figure *recv_cap)
{
	char *dir = h_tmpdir();
	struct proc srv, bare, gw, raw;
	int port = start_load(&srv, dir, NULL), bport;
	double hold_s = notify_hold_s(n), rate, per_cpu;
	char *conf = write_conf(dir, n, port,
				&(struct conf_opts){.report_s = notify_report_s(n),
						    .report_delay_s = hold_s});
	char why[200], sample[3200];
	uint64_t t0, done_us, start_us;
	long long c0, c1;
	bool ok = false;

	start_daemon(&gw, dir, conf, NULL, &t0);
	if (!wait_registered(&srv, n, CMD_TIMEOUT_MS))
		die("notify: gatewayd did not register its devices");
	if (observe_all(&srv, n, why, sizeof(why), &done_us)) {
		not_measurable(f, why);
		stop_daemon(&gw);
		goto out;
	}
	/* The values start changing hold_s after the devices started (which is after t0). */
	start_us = t0 + (uint64_t)(hold_s * 1e6);
	if (done_us > start_us)
		snprintf(f->note, sizeof(f->note), "observing took until %.2f s, values changed "
			 "from %.2f s", (double)(done_us - t0) / 1e6, hold_s);
	/* Wait (counting) until the changes start; lean_rate settles 0.5 s more. */
	{
		uint64_t now = mono_us();
		if (start_us > now)
			json_decref(cmd(&srv, "leancount", (int)((start_us - now) / 1000) + H_TIMEOUT_MS,
					"leancount %d", (int)((start_us - now) / 1000) + 1));
	}
	c0 = cpu_ticks(gw.pid);
	rate = lean_rate(&srv, window_ms, "notifications", sample, sizeof(sample), NULL);
	c1 = cpu_ticks(gw.pid);
	stop_daemon(&gw);
	if (isnan(rate) || !sample[0]) {
		not_measurable(f, "no notification from gatewayd reached the receiver");
		goto out;
	}
	add(f, rate);
	add(ref, rate);
	/* The same per CPU second of the sender: what the machine's load does not change. */
	if (c1 > c0)
		add(cpu, rate * window_ms / 1000.0 /
				 ((double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK)));

	start_raw(&raw, dir, n, port, sample);
	c0 = cpu_ticks(raw.pid);
	rate = lean_rate(&srv, window_ms, "notifications_raw", NULL, 0, &per_cpu);
	c1 = cpu_ticks(raw.pid);
	stop_raw(&raw);
	/* What the raw sender queued in the receive buffer is read off here, not left for
	 * libcoap to answer one by one with a Reset during the next set-up. */
	json_decref(cmd(&srv, "leancount", 300 + H_TIMEOUT_MS, "leancount 300"));
	add_floor(f, rate);
	add(recv_cap, per_cpu);
	if (c1 > c0)
		add_floor(cpu, rate * window_ms / 1000.0 /
				       ((double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK)));

	bport = start_load(&bare, dir, "--notify-fast");
	json_decref(cmd(&srv, "observed", CMD_TIMEOUT_MS, "observeaddr 127.0.0.1 %d %s", bport,
			READ_PATH));
	add_floor(ref, lean_rate(&srv, window_ms, "notifications_bare", NULL, 0, NULL));
	stop_load(&bare);
	ok = true;
out:
	stop_load(&srv);
	free(conf);
	h_tmpdir_remove(dir);
	return ok;
}

static void bench_notify_n(long n, int window_ms)
{
	struct figure *f = fig("notify_rate", n, "notif/s");
	struct figure *ref = fig("notify_rate_vs_libcoap", n, "notif/s");
	struct figure *cpu = info("notify_per_cpu_s", n, "notif");
	struct figure *cap = info("receiver_per_cpu_s", n, "notif");

	f->floor_kind = "raw_udp";
	ref->floor_kind = "libcoap_observe";
	for (int i = 0; i < O.runs; i++) {
		fprintf(stderr, "bench: notify (%ld devices) run %d/%d\n", n, i + 1, O.runs);
		if (!notify_run(n, window_ms, f, ref, cpu, cap))
			return;
	}
}

static void bench_notify(void)
{
	if (O.quick) {
		bench_notify_n(20, 1000);
		return;
	}
	bench_notify_n(1000, 5000);
	bench_notify_n(10000, 5000);
}

/* ---- ble_adverts_rate: BLE adverts over a real D-Bus into notifications -------------- */

#define DBUS_DAEMON "/usr/bin/dbus-daemon"

/* The private bus: anyone may own and talk to anything.  max_incoming_bytes: dbus-daemon
 * stops reading from a sender (the advert source) while this much of what it sent still
 * waits for a slow receiver, so the source's count is what the receivers took, and the
 * bus does not swell. */
static const char ble_bus_conf[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig><type>session</type><listen>unix:path=%s/bus</listen>\n"
	"<limit name=\"max_incoming_bytes\">1048576</limit>\n"
	"<policy context=\"default\"><allow send_destination=\"*\"/><allow receive_sender=\"*\"/>"
	"<allow own=\"*\"/>"
	"</policy></busconfig>\n";

/* A line of a child's stdout that is not JSON (dbus-daemon's --print-address). */
static char *read_line(struct proc *p, int timeout_ms)
{
	char buf[512];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
		ssize_t r;

		if (poll(&pfd, 1, timeout_ms) != 1)
			return NULL;
		r = read(p->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (r <= 0)
			return NULL;
		len += (size_t)r;
		buf[len] = '\0';
		if (strchr(buf, '\n')) {
			*strchr(buf, '\n') = '\0';
			return strdup(buf);
		}
	}
	return NULL;
}

/* The advert source's count of adverts written to the bus, and when. */
static bool ble_mark(struct proc *src, uint64_t *sent, uint64_t *t_us)
{
	static unsigned seq;
	char id[16];
	json_t *ev;

	snprintf(id, sizeof(id), "m%u", ++seq);
	h_send(src, "mark %s\n", id);
	ev = h_wait_event(src, "mark", "id", id, H_TIMEOUT_MS);
	if (!ev)
		return false;
	*sent = (uint64_t)jnum(ev, "sent");
	*t_us = (uint64_t)jnum(ev, "t_us");
	json_decref(ev);
	return true;
}

/* CPU time of one process over a measured stretch, as a share of one core. */
static double core_share(long long c0, long long c1, uint64_t w0, uint64_t w1)
{
	if (c0 < 0 || c1 < c0 || w1 <= w0)
		return NAN;
	return (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK) / ((double)(w1 - w0) / 1e6) * 100.0;
}

/* gatewayd's config: one ble bus on the private D-Bus, n BTHome devices with their
 * temperature on /3303/0/5700 (no presence timeout: they are silent until primed). */
static char *write_ble_conf(const char *dir, long n, int port, const char *addr)
{
	char *path = h_strf("%s/ble.conf", dir);
	FILE *f = fopen(path, "w");

	if (!f)
		die("cannot write %s", path);
	fprintf(f, "gateway = { name = \"b\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:%d\"; lifetime = 300; } );\n"
		"buses = ( { name = \"bt\"; adapter = \"ble\"; controller = \"hci0\"; "
		"dbus_address = \"%s\"; } );\ndevices = (\n", port, addr);
	for (long i = 0; i < n; i++) {
		unsigned a = (unsigned)(i + 1);

		fprintf(f, "  { name = \"d%ld\"; adapter = \"ble\"; bus = \"bt\"; "
			"mac = \"A4:C1:38:00:%02X:%02X\"; format = \"bthome\"; timeout = 0;\n"
			"    points = ( { channel = \"t\"; path = \"" READ_PATH "\"; "
			"measure = \"temperature\"; } ); }%s\n", i, (a >> 8) & 0xff, a & 0xff,
			i + 1 < n ? "," : "");
	}
	fprintf(f, ");\n");
	fclose(f);
	return path;
}

struct ble_figs {
	struct figure *rate, *taken, *taken_floor, *alone, *bus_gw, *bus_floor, *gw_cpu,
		*floor_cpu, *bus_alone, *src_alone, *src_gw, *src_floor, *bus_rss,
		*per_cpu, *bus_per_cpu;
};

/* One measured window of the source going flat out: the source's send rate over it
 * (into *sent_rate), dbus-daemon's and the receiver's CPU share; the lean receiver's
 * count of key per second (NAN when srv is NULL: the source alone). */
static double ble_window(struct proc *src, struct proc *bus, pid_t rcv, struct proc *srv,
			 int window_ms, const char *key, char *sample, size_t sample_len,
			 double *sent_rate, double *bus_cpu, double *rcv_cpu, double *src_cpu)
{
	uint64_t s0, s1, t0, t1;
	long long b0, b1, c0, c1, r0 = -1, r1 = -1;
	double rate = NAN;

	*sent_rate = *bus_cpu = *src_cpu = NAN;
	if (rcv_cpu)
		*rcv_cpu = NAN;
	h_send(src, "go\n");
	if (srv) /* settle 0.5 s, as lean_rate does */
		json_decref(cmd(srv, "leancount", 500 + H_TIMEOUT_MS, "leancount 500"));
	b0 = cpu_ticks(bus->pid);
	c0 = cpu_ticks(src->pid);
	if (rcv > 0)
		r0 = cpu_ticks(rcv);
	if (!ble_mark(src, &s0, &t0))
		goto stop;
	if (srv) {
		json_t *ev = cmd(srv, "leancount", window_ms + H_TIMEOUT_MS, "leancount %d",
				 window_ms);

		if (ev) {
			rate = jnum(ev, key) * 1e6 / jnum(ev, "window_us");
			if (sample) {
				const char *hex = json_string_value(json_object_get(ev, "sample"));

				snprintf(sample, sample_len, "%s", hex ? hex : "");
			}
		}
		json_decref(ev);
	} else {
		/* A timed window; it ends early only if the source exits. */
		struct pollfd pfd = {.fd = src->pidfd, .events = POLLIN};

		if (poll(&pfd, 1, window_ms) != 0)
			die("ble: the advert source exited");
	}
	if (!ble_mark(src, &s1, &t1)) {
		rate = NAN;
		goto stop;
	}
	b1 = cpu_ticks(bus->pid);
	c1 = cpu_ticks(src->pid);
	if (rcv > 0)
		r1 = cpu_ticks(rcv);
	*sent_rate = t1 > t0 ? (double)(s1 - s0) * 1e6 / (double)(t1 - t0) : NAN;
	*bus_cpu = core_share(b0, b1, t0, t1);
	*src_cpu = core_share(c0, c1, t0, t1);
	if (rcv_cpu)
		*rcv_cpu = core_share(r0, r1, t0, t1);
stop:
	h_send(src, "stop\n");
	json_decref(h_wait_event(src, "stopped", NULL, NULL, H_TIMEOUT_MS));
	return rate;
}

/* Observe every device, again for those not observed yet (a device answers 2.05 once
 * its primed advert is in; the load server sets up again only those that failed);
 * NULL when all are. */
static const char *ble_observe(struct proc *srv, long n, char *why, size_t len)
{
	long total = 0;

	for (int tries = 0; tries < 20 && total < n; tries++) {
		json_t *ev = cmd(srv, "observed", CMD_TIMEOUT_MS, "observe %s", READ_PATH);

		total += ev ? (long)jnum(ev, "observed") : 0;
		json_decref(ev);
	}
	if (total >= n)
		return NULL;
	snprintf(why, len, "only %ld of %ld observations were set up", total, n);
	return why;
}

/* A measurement that may have failed (NAN): left out, not a NAN in the medians. */
static void add_num(struct figure *f, double v)
{
	if (!isnan(v))
		add(f, v);
}

static void add_floor_num(struct figure *f, double v)
{
	if (!isnan(v))
		add_floor(f, v);
}

/* One run: a private dbus-daemon and the advert source (bench-ble-source) with n
 * devices; the source alone, then gatewayd's ble adapter as the subscriber, then the
 * bare floor client (bench-ble-floor), each for one window with the source flat out. */
static bool ble_run(long n, int window_ms, struct ble_figs *F_)
{
	char *dir = h_tmpdir(), *bus_conf = h_strf("%s/bus.conf", dir), *conf_arg, *addr;
	char *src_bin = h_build_path("tests/bench/bench-ble-source");
	char *floor_bin = h_build_path("tests/bench/bench-ble-floor");
	char *ns = h_strf("%ld", n), *conf = NULL, *ps = NULL, *log = NULL;
	struct proc bus, src, srv, gw, fl;
	char why[200], sample[3200];
	double rate, sent_rate, bus_cpu, rcv_cpu, src_cpu;
	uint64_t t0;
	bool ok = false;
	int port;
	json_t *ev;
	FILE *f = fopen(bus_conf, "w");

	if (!f)
		die("cannot write %s", bus_conf);
	fprintf(f, ble_bus_conf, dir);
	fclose(f);
	conf_arg = h_strf("--config-file=%s", bus_conf);
	{
		char *argv[] = {DBUS_DAEMON, conf_arg, "--nofork", "--print-address=1", NULL};

		if (h_spawn(&bus, argv, true, NULL) < 0)
			die("cannot start dbus-daemon");
	}
	addr = read_line(&bus, H_TIMEOUT_MS);
	if (!addr)
		die("dbus-daemon printed no address");
	{
		char *argv[] = {src_bin, addr, ns, NULL};

		log = h_strf("%s/ble-source.log", dir);
		if (h_spawn(&src, argv, true, log) < 0 ||
		    !(ev = h_wait_event(&src, "ready", NULL, NULL, H_TIMEOUT_MS)))
			die("the advert source did not start (see %s)", log);
		json_decref(ev);
		free(log);
	}

	/* 1. The source alone: what the bus takes with no one listening. */
	ble_window(&src, &bus, 0, NULL, window_ms, NULL, NULL, 0, &sent_rate, &bus_cpu, NULL,
		   &src_cpu);
	add_num(F_->alone, sent_rate);
	add_num(F_->bus_alone, bus_cpu);
	add_num(F_->src_alone, src_cpu);

	/* 2. gatewayd: n devices registered, primed with one advert each, observed. */
	port = start_load(&srv, dir, NULL);
	conf = write_ble_conf(dir, n, port, addr);
	start_daemon(&gw, dir, conf, NULL, &t0);
	if (!wait_registered(&srv, n, CMD_TIMEOUT_MS))
		die("ble: gatewayd did not register its devices (see %s/gatewayd.log)", dir);
	ev = h_wait_event(&src, "discovery", NULL, NULL, CMD_TIMEOUT_MS);
	if (!ev) {
		not_measurable(F_->rate, "gatewayd's ble adapter never started discovery");
		stop_daemon(&gw);
		goto out;
	}
	json_decref(ev);
	h_send(&src, "prime\n");
	json_decref(h_wait_event(&src, "primed", NULL, NULL, CMD_TIMEOUT_MS));
	if (ble_observe(&srv, n, why, sizeof(why))) {
		not_measurable(F_->rate, why);
		stop_daemon(&gw);
		goto out;
	}
	rate = ble_window(&src, &bus, gw.pid, &srv, window_ms, "notifications", sample,
			  sizeof(sample), &sent_rate, &bus_cpu, &rcv_cpu, &src_cpu);
	/* What dbus-daemon holds for a slower gatewayd stays bounded (max_incoming_bytes). */
	add_num(F_->bus_rss, (double)proc_status(bus.pid, "VmRSS"));
	stop_daemon(&gw);
	/* What is left in the receive buffer is read off, not answered by libcoap. */
	json_decref(cmd(&srv, "leancount", 300 + H_TIMEOUT_MS, "leancount 300"));
	if (isnan(rate) || !sample[0]) {
		not_measurable(F_->rate, "no notification from gatewayd reached the receiver");
		goto out;
	}
	add_num(F_->rate, rate);
	add_num(F_->taken, sent_rate);
	add_num(F_->bus_gw, bus_cpu);
	add_num(F_->gw_cpu, rcv_cpu);
	add_num(F_->src_gw, src_cpu);
	/* Per CPU second of each process: what the shared machine's load changes least. */
	add_num(F_->per_cpu, rcv_cpu > 0 ? rate / (rcv_cpu / 100.0) : NAN);
	add_num(F_->bus_per_cpu, bus_cpu > 0 ? sent_rate / (bus_cpu / 100.0) : NAN);

	/* 3. The floor: the bare client on the same bus, to the same receiver. */
	ps = h_strf("%d", port);
	{
		char *argv[] = {floor_bin, addr, ns, ps, sample, NULL};

		log = h_strf("%s/ble-floor.log", dir);
		if (h_spawn(&fl, argv, true, log) < 0 ||
		    !(ev = h_wait_event(&fl, "ready", NULL, NULL, H_TIMEOUT_MS)))
			die("the floor client did not start (see %s)", log);
		json_decref(ev);
		free(log);
	}
	rate = ble_window(&src, &bus, fl.pid, &srv, window_ms, "notifications_raw", NULL, 0,
			  &sent_rate, &bus_cpu, &rcv_cpu, &src_cpu);
	h_send(&fl, "quit\n");
	ev = h_wait_event(&fl, "exit", NULL, NULL, H_TIMEOUT_MS);
	if (ev && jnum(ev, "decoded") < jnum(ev, "adverts") * 0.99)
		fprintf(stderr, "bench: ble floor decoded %g of %g adverts\n", jnum(ev, "decoded"),
			jnum(ev, "adverts"));
	json_decref(ev);
	if (h_wait_exit(&fl, 5000) == -1)
		h_stop(&fl, SIGTERM, 5000);
	json_decref(cmd(&srv, "leancount", 300 + H_TIMEOUT_MS, "leancount 300"));
	if (isnan(rate)) {
		/* A value without its floor would pair the next runs' ratios wrongly. */
		snprintf(F_->rate->note, sizeof(F_->rate->note), "the floor client's count failed");
		goto out;
	}
	add_floor(F_->rate, rate);
	add_num(F_->taken_floor, sent_rate);
	add_num(F_->bus_floor, bus_cpu);
	add_num(F_->floor_cpu, rcv_cpu);
	add_num(F_->src_floor, src_cpu);
	add_floor_num(F_->per_cpu, rcv_cpu > 0 ? rate / (rcv_cpu / 100.0) : NAN);
	add_floor_num(F_->bus_per_cpu, bus_cpu > 0 ? sent_rate / (bus_cpu / 100.0) : NAN);
	ok = true;
out:
	stop_load(&srv);
	h_send(&src, "quit\n");
	if (h_wait_exit(&src, 5000) == -1)
		h_stop(&src, SIGTERM, 5000);
	h_stop(&bus, SIGTERM, 5000);
	free(conf);
	free(ps);
	free(addr);
	free(conf_arg);
	free(bus_conf);
	free(src_bin);
	free(floor_bin);
	free(ns);
	h_tmpdir_remove(dir);
	return ok;
}

static void bench_ble(void)
{
	long n = O.quick ? 100 : 1000;
	int window_ms = O.quick ? 1000 : 3000, runs = O.runs;
	char *so = h_strf("%s/ble.so", getenv("GW_ADAPTER_DIR"));
	struct ble_figs f;

	/* One at a time: the table lists them in the order they are made. */
	f.rate = fig("ble_adverts_rate", n, "notif/s");
	f.per_cpu = info("ble_per_cpu_s", n, "notif");
	f.taken = info("ble_adverts_taken_gw", n, "adv/s");
	f.taken_floor = info("ble_adverts_taken_floor", n, "adv/s");
	f.alone = info("ble_source_alone", n, "adv/s");
	f.gw_cpu = info("ble_gatewayd_cpu", n, "%core");
	f.floor_cpu = info("ble_floor_cpu", n, "%core");
	f.bus_gw = info("ble_dbus_cpu_gw", n, "%core");
	f.bus_floor = info("ble_dbus_cpu_floor", n, "%core");
	f.bus_alone = info("ble_dbus_cpu_alone", n, "%core");
	f.bus_per_cpu = info("ble_dbus_per_cpu_s", n, "adv");
	f.src_gw = info("ble_source_cpu_gw", n, "%core");
	f.src_floor = info("ble_source_cpu_floor", n, "%core");
	f.src_alone = info("ble_source_cpu_alone", n, "%core");
	f.bus_rss = info("ble_dbus_rss_gw", n, "KiB");

	f.rate->floor_kind = "bare_sdbus_udp";
	if (access(DBUS_DAEMON, X_OK) != 0) {
		not_measurable(f.rate, DBUS_DAEMON " is not installed");
		free(so);
		return;
	}
	if (access(so, R_OK) != 0) {
		not_measurable(f.rate, "the ble adapter is not built (configure --disable-ble?)");
		free(so);
		return;
	}
	free(so);
	for (int i = 0; i < runs; i++) {
		fprintf(stderr, "bench: ble adverts (%ld devices) run %d/%d\n", n, i + 1, runs);
		if (!ble_run(n, window_ms, &f))
			return;
	}
}

/* ---- 5: idle cost ------------------------------------------------------------------ */

static void bench_idle(void)
{
	long n = O.quick ? 100 : 1000;
	int window_s = O.quick ? 3 : 60, runs = O.quick ? 1 : (O.runs < 3 ? O.runs : 3);
	struct figure *f = fig("idle_cpu", n, "%core");

	for (int i = 0; i < runs; i++) {
		char *dir = h_tmpdir();
		struct proc srv, gw;
		int port = start_load(&srv, dir, NULL);
		char *conf = write_conf(dir, n, port, &(struct conf_opts){.poll_s = 3600});
		char why[200];
		long long c0, c1;
		uint64_t t0, w0, w1;
		struct pollfd pfd;

		fprintf(stderr, "bench: idle run %d/%d (%d s)\n", i + 1, runs, window_s);
		start_daemon(&gw, dir, conf, NULL, &t0);
		if (!wait_registered(&srv, n, CMD_TIMEOUT_MS))
			die("idle: gatewayd did not register its devices");
		if (observe_all(&srv, n, why, sizeof(why), NULL))
			snprintf(f->note, sizeof(f->note), "%s", why);
		c0 = cpu_ticks(gw.pid);
		w0 = mono_us();
		/* A timed measurement window; it ends early only if the daemon exits. */
		pfd = (struct pollfd){.fd = gw.pidfd, .events = POLLIN};
		if (poll(&pfd, 1, window_s * 1000) != 0)
			die("idle: gatewayd exited during the window");
		c1 = cpu_ticks(gw.pid);
		w1 = mono_us();
		add(f, (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK) / ((double)(w1 - w0) / 1e6) *
			       100.0);
		stop_daemon(&gw);
		stop_load(&srv);
		free(conf);
		h_tmpdir_remove(dir);
	}
}

/* ---- 6: start-up ----------------------------------------------------------------------- */

/* Wait for READY=1 on the notify socket; its arrival time or 0. */
static uint64_t wait_ready(int fd, int timeout_ms)
{
	uint64_t deadline = mono_us() + (uint64_t)timeout_ms * 1000u;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = mono_us();
		char buf[512];
		ssize_t n;

		if (now >= deadline || poll(&pfd, 1, (int)((deadline - now) / 1000 + 1)) <= 0)
			return 0;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "READY=1"))
			return mono_us();
	}
}

static void bench_startup(void)
{
	long n = O.quick ? 20 : 100;
	struct figure *ready = fig("startup_ready", n, "ms");
	struct figure *reg = fig("startup_registered", n, "ms");

	for (int i = 0; i < O.runs; i++) {
		char *dir = h_tmpdir();
		struct proc srv, gw;
		int port = start_load(&srv, dir, NULL);
		char *conf = write_conf(dir, n, port, &(struct conf_opts){.poll_s = 3600});
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		uint64_t t0, tr, tg;

		snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", dir);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("cannot bind the notify socket");
		start_daemon(&gw, dir, conf, a.sun_path, &t0);
		tr = wait_ready(fd, CMD_TIMEOUT_MS);
		tg = wait_registered(&srv, n, CMD_TIMEOUT_MS);
		if (tr && tg) {
			add(ready, (double)(tr - t0) / 1000.0);
			add(reg, (double)(tg - t0) / 1000.0);
		}
		stop_daemon(&gw);
		stop_load(&srv);
		close(fd);
		free(conf);
		h_tmpdir_remove(dir);
	}
}

/* ---- reload_one_of_10k: one device changed among n ------------------------------- */

/* The load server's counters: registers, de-registers. */
static bool load_counts(struct proc *srv, long *reg, long *dereg)
{
	json_t *ev = cmd(srv, "stats", H_TIMEOUT_MS, "stats");

	if (!ev)
		return false;
	*reg = (long)jnum(ev, "register");
	*dereg = (long)jnum(ev, "deregister");
	json_decref(ev);
	return true;
}

static void bench_reload(void)
{
	long n = O.quick ? 200 : 10000;
	int runs = O.runs < 3 ? O.runs : 3;
	struct figure *ready = fig("reload_one_of_10k", n, "ms");
	struct figure *regs = fig("reload_registers", n, "count");
	struct figure *again = info("reload_changed_registered", n, "ms");
	char why[200];

	if (!fd_limit_ok(n, why, sizeof(why))) {
		not_measurable(ready, why);
		return;
	}
	for (int i = 0; i < runs; i++) {
		char *dir = h_tmpdir();
		struct proc srv, gw;
		int port = start_load(&srv, dir, NULL);
		struct conf_opts o = {.poll_s = 3600};
		char *conf = write_conf(dir, n, port, &o);
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		uint64_t t0, tr = 0, tg = 0;
		long r0, d0, r1 = -1, d1 = 0;

		snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", dir);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("cannot bind the notify socket");
		start_daemon(&gw, dir, conf, a.sun_path, &t0);
		if (wait_ready(fd, CMD_TIMEOUT_MS) && wait_registered(&srv, n, CMD_TIMEOUT_MS) &&
		    load_counts(&srv, &r0, &d0)) {
			free(conf);
			o.changed = n / 2 + 1;
			conf = write_conf(dir, n, port, &o);
			t0 = mono_us();
			kill(gw.pid, SIGHUP);
			tr = wait_ready(fd, CMD_TIMEOUT_MS);
			/* The changed device de-registers, then registers again. */
			while (tr && mono_us() - t0 < (uint64_t)CMD_TIMEOUT_MS * 1000u &&
			       load_counts(&srv, &r1, &d1) && d1 == d0)
				;
			/* reached_us is when n were first registered: take our own clock. */
			if (d1 > d0 && wait_registered(&srv, n, CMD_TIMEOUT_MS))
				tg = mono_us();
			if (tg)
				load_counts(&srv, &r1, &d1);
		}
		if (tr && tg) {
			add(ready, (double)(tr - t0) / 1000.0);
			add(again, (double)(tg - t0) / 1000.0);
			add(regs, (double)(r1 - r0));
		} else {
			fprintf(stderr, "bench: reload run %d did not complete\n", i);
		}
		stop_daemon(&gw);
		stop_load(&srv);
		close(fd);
		free(conf);
		h_tmpdir_remove(dir);
	}
}

/* ---- 7: GPIO edges ----------------------------------------------------------------- */

/* CPU time of every thread of pid so far (ns): schedstat's run time, far finer than
 * /proc/PID/stat's clock ticks. */
static long long proc_cpu_ns(pid_t pid)
{
	char path[64], line[128];
	long long sum = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char p[400];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/schedstat", path, e->d_name);
		f = fopen(p, "r");
		if (f && fgets(line, sizeof(line), f))
			sum += strtoll(line, NULL, 10);
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

/* One line to the fake chip's control socket and its answer; false on failure. */
static bool gpio_ctl(int fd, const char *line, char *ans, size_t len, int timeout_ms)
{
	size_t got = 0;

	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		return false;
	while (got == 0 || ans[got - 1] != '\n') {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (got + 1 >= len || poll(&p, 1, timeout_ms) != 1)
			return false;
		n = read(fd, ans + got, len - 1 - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	ans[got - 1] = '\0';
	return strncmp(ans, "ok", 2) == 0;
}

/* gatewayd with the gpio adapter built on the fake chip (tests/fixtures/gpio); an input
 * toggled at 1 kHz by the fake's own thread through the line's event fd, its counter
 * observed with pmin=1.  The figure is the daemon's CPU per 1,000 edges, less the
 * generating thread's own (it lives in the daemon's process); beside it the notifications
 * that reached the server, which pmin bounds whatever the edge rate. */
static bool gpio_run(long edges, struct figure *f, struct figure *core, struct figure *notes)
{
	char *dir = h_tmpdir();
	char *plugins = h_build_path("tests/fixtures/gpio/.libs");
	char *sock = h_strf("%s/gpio.sock", dir);
	char *conf = h_strf("%s/gpio.conf", dir);
	const char *old = getenv("GW_ADAPTER_DIR");
	char *saved = old ? strdup(old) : NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct proc srv, gw;
	char line[64], ans[128];
	long long c0, c1;
	uint64_t t0, w0, w1, ctl_ns;
	long notified = 0;
	json_t *ev;
	int port, fd = -1;
	bool ok = false;
	FILE *cf;

	port = h_start_server(&srv, dir);
	cf = fopen(conf, "w");
	if (port <= 0 || !cf)
		die("gpio: cannot start the test server");
	fprintf(cf,
		"gateway = { name = \"b\"; state_dir = \"%s\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:%d\"; lifetime = 300; } );\n"
		"devices = ( { name = \"in\"; adapter = \"gpio\"; chip = \"pinctrl-fake\";\n"
		"  points = (\n"
		"    { channel = \"s\"; path = \"/3200/0/5500\"; line = \"IN\"; },\n"
		"    { channel = \"n\"; path = \"/3200/0/5501\"; line = \"IN\"; function = \"counter\"; }\n"
		"  ); } );\n",
		dir, port);
	fclose(cf);
	setenv("GW_ADAPTER_DIR", plugins, 1);
	setenv("GWD_GPIO_FAKE_CHIP", "pinctrl-fake:IN", 1);
	setenv("GWD_GPIO_FAKE_CTL", sock, 1);
	start_daemon(&gw, dir, conf, NULL, &t0);
	if (saved)
		setenv("GW_ADAPTER_DIR", saved, 1);
	unsetenv("GWD_GPIO_FAKE_CHIP");
	unsetenv("GWD_GPIO_FAKE_CTL");
	ev = h_wait_event(&srv, "register", "ep", "b-in", H_TIMEOUT_MS);
	if (!ev) {
		fprintf(stderr, "bench: gpio: the device did not register (is the fake plugin "
				"built? make check builds it)\n");
		goto out;
	}
	json_decref(ev);
	json_decref(h_request(&srv, H_TIMEOUT_MS, "raw b-in PUT /3200/0/5501?pmin=1 -"));
	ev = h_request(&srv, H_TIMEOUT_MS, "observe b-in /3200/0/5501 text");
	if (!ev || strcmp(json_string_value(json_object_get(ev, "code")) ?: "", "2.05") != 0) {
		fprintf(stderr, "bench: gpio: the observation failed\n");
		json_decref(ev);
		goto out;
	}
	json_decref(ev);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	snprintf(line, sizeof(line), "toggle 0 %ld 1000\n", edges);
	c0 = proc_cpu_ns(gw.pid);
	w0 = mono_us();
	if (!gpio_ctl(fd, line, ans, sizeof(ans), (int)edges + 30000)) {
		fprintf(stderr, "bench: gpio: toggle failed: %s\n", ans);
		goto out;
	}
	c1 = proc_cpu_ns(gw.pid);
	w1 = mono_us();
	ctl_ns = strtoull(ans + 3, NULL, 10);
	/* Those the server printed by now (its pipe is read as events are awaited). */
	while ((ev = h_wait_event(&srv, "notify", NULL, NULL, 100))) {
		notified++;
		json_decref(ev);
	}
	if (c0 < 0 || c1 < 0)
		goto out;
	add(f, ((double)(c1 - c0) - (double)ctl_ns) / 1e6 / ((double)edges / 1000.0));
	add(core, ((double)(c1 - c0) - (double)ctl_ns) / 1e3 / (double)(w1 - w0) * 100.0);
	add(notes, (double)notified / ((double)(w1 - w0) / 1e6));
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	stop_daemon(&gw);
	h_stop(&srv, SIGTERM, 5000);
	free(saved);
	free(plugins);
	free(sock);
	free(conf);
	h_tmpdir_remove(dir);
	return ok;
}

static void bench_gpio(void)
{
	long edges = O.quick ? 2000 : 10000;
	struct figure *f = fig("gpio_edge_cost", 1000, "ms");
	struct figure *core = info("gpio_edge_core_1khz", edges, "%core");
	struct figure *notes = info("gpio_edge_notify", edges, "notif/s");

	for (int i = 0; i < O.runs; i++) {
		fprintf(stderr, "bench: gpio run %d/%d (%ld edges at 1 kHz)\n", i + 1, O.runs, edges);
		if (!gpio_run(edges, f, core, notes)) {
			not_measurable(f, "the gpio adapter on the fake chip did not run");
			return;
		}
	}
}

/* ---- the claim that the test server is too slow for the storm ------------------------ */

static void bench_test_server(long n)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	int port = h_start_server(&srv, dir);
	char *conf = write_conf(dir, n, port, &(struct conf_opts){.poll_s = 3600});
	struct figure *f = info("register_test_server", n, "s");
	uint64_t t0, t = 0;
	long got = 0;

	start_daemon(&gw, dir, conf, NULL, &t0);
	/* Every registration is one JSON line; count them as they come. */
	while (got < n) {
		json_t *ev = h_wait_event(&srv, "register", NULL, NULL, CMD_TIMEOUT_MS);
		if (!ev)
			break;
		json_decref(ev);
		if (++got == n)
			t = mono_us();
	}
	if (t)
		add(f, (double)(t - t0) / 1e6);
	else
		snprintf(f->note, sizeof(f->note), "only %ld of %ld registered in time", got, n);
	stop_daemon(&gw);
	h_stop(&srv, SIGTERM, 5000);
	free(conf);
	h_tmpdir_remove(dir);
}

/* One request on the control socket: the time from its first byte out to its
 * answer's newline in, in us; 0 on failure.  *answer (when not NULL) gets the line. */
static uint64_t ctl_time(int fd, const char *req, char **answer)
{
	static char *buf;
	static size_t cap;
	size_t have = 0, len = strlen(req);
	uint64_t t0 = mono_us();

	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (have + 65536 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		if (poll(&p, 1, CMD_TIMEOUT_MS) != 1)
			return 0;
		n = recv(fd, buf + have, cap - have - 1, 0);
		if (n <= 0)
			return 0;
		have += (size_t)n;
		if (buf[have - 1] == '\n')
			break;
	}
	buf[have] = '\0';
	if (answer)
		*answer = buf;
	return mono_us() - t0;
}

/* gatewayctl devices with 10,000 registered devices: the daemon builds the whole
 * answer on its loop thread, so this is also how long the loop is busy with it. */
static void bench_ctl(void)
{
	long n = O.quick ? 500 : 10000;
	struct figure *f = fig("ctl_devices_10k", n, "ms");
	struct figure *st = info("ctl_status_10k", n, "ms");
	struct figure *bytes = info("ctl_devices_bytes", n, "B");
	char why[200];

	if (!fd_limit_ok(n, why, sizeof(why))) {
		not_measurable(f, why);
		return;
	}
	for (int run = 0; run < O.runs; run++) {
		char *dir = h_tmpdir(), *sock, *conf, *answer = NULL;
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		struct proc srv, gw;
		int port = start_load(&srv, dir, NULL), fd;
		double t[20];
		uint64_t t0;
		json_t *a;

		fprintf(stderr, "bench: ctl n=%ld run %d/%d\n", n, run + 1, O.runs);
		if (asprintf(&sock, "%s/ctl.sock", dir) < 0)
			abort();
		conf = write_conf(dir, n, port,
				  &(struct conf_opts){.poll_s = 3600, .ctl_sock = sock});
		start_daemon(&gw, dir, conf, NULL, &t0);
		if (!wait_registered(&srv, n, CMD_TIMEOUT_MS))
			goto next;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fprintf(stderr, "bench: cannot connect to %s\n", sock);
			goto next;
		}
		/* The first answer checked: every device listed. */
		if (!ctl_time(fd, "{\"command\":\"devices\"}\n", &answer))
			goto next_fd;
		a = json_loads(answer, 0, NULL);
		if (json_array_size(json_object_get(a, "devices")) != (size_t)n) {
			fprintf(stderr, "bench: devices listed %zu, not %ld\n",
				json_array_size(json_object_get(a, "devices")), n);
			json_decref(a);
			goto next_fd;
		}
		json_decref(a);
		add(bytes, (double)strlen(answer));
		for (int i = 0; i < 20; i++)
			t[i] = (double)ctl_time(fd, "{\"command\":\"devices\"}\n", NULL) / 1000.0;
		qsort(t, 20, sizeof(*t), cmp_d);
		add(f, (t[9] + t[10]) / 2);
		for (int i = 0; i < 20; i++)
			t[i] = (double)ctl_time(fd, "{\"command\":\"status\"}\n", NULL) / 1000.0;
		qsort(t, 20, sizeof(*t), cmp_d);
		add(st, (t[9] + t[10]) / 2);
next_fd:
		if (fd >= 0)
			close(fd);
next:
		stop_daemon(&gw);
		stop_load(&srv);
		free(conf);
		free(sock);
		h_tmpdir_remove(dir);
	}
}

/* ---- firmware push (issue 11) ------------------------------------------------------- */

/* A file of kib KiB of varied bytes (a raw package). */
static char *fw_file(const char *dir, const char *name, long kib)
{
	char *path = h_strf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	uint8_t buf[1024];
	uint64_t x = 0x9E3779B97F4A7C15ull;

	if (!f)
		die("cannot write %s", path);
	for (long i = 0; i < kib; i++) {
		for (size_t j = 0; j < sizeof(buf); j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[j] = (uint8_t)x;
		}
		if (fwrite(buf, 1, sizeof(buf), f) != sizeof(buf))
			die("cannot write %s", path);
	}
	fclose(f);
	return path;
}

/* One push through the load server; its time in us, or -1 (and why, on stderr). */
static double fw_push(struct proc *srv, const char *target, const char *file)
{
	json_t *ev = cmd(srv, "push", CMD_TIMEOUT_MS, "%s /5/0/0 %s", target, file);
	double us = -1;

	if (ev && jnum(ev, "failed") == 0)
		us = jnum(ev, "us");
	else if (ev)
		fprintf(stderr, "bench: push to %s failed after %g bytes (code %g)\n", target,
			jnum(ev, "bytes"), jnum(ev, "code"));
	json_decref(ev);
	return us;
}

/* The Block1 push of a firmware package into a sim device's Object 5 (streamed to the
 * spool in state_dir, hashed as it comes), beside a bare libcoap server putting the same
 * body together in memory (COAP_BLOCK_SINGLE_BODY); then the peak RSS growth of the
 * daemon while it takes a 16 MiB package. */
static void bench_fw(void)
{
	long kib = O.quick ? 256 : 4096, big_mib = O.quick ? 2 : 16;
	char *dir = h_tmpdir();
	struct proc srv, bare, gw;
	int port = start_load(&srv, dir, NULL), bport = start_load(&bare, dir, "--bare");
	char *conf = h_strf("%s/fw.conf", dir), *pkg = fw_file(dir, "pkg", kib);
	char *big = fw_file(dir, "big", big_mib * 1024), *empty = fw_file(dir, "empty", 0);
	char *bare_target = h_strf("pushaddr 127.0.0.1 %d", bport);
	struct figure *rate = fig("fw_push_rate", kib, "KiB/s");
	struct figure *rss = fig("fw_push_rss", big_mib * 1024, "KiB");
	FILE *f = fopen(conf, "w");
	uint64_t t0;

	rate->floor_kind = "libcoap_block1";
	if (!f)
		die("cannot write %s", conf);
	fprintf(f, "gateway = { name = \"b\"; control_socket = \"\"; state_dir = \"%s\"; };\n"
		"servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:%d\"; lifetime = 300; } );\n"
		"devices = ( { name = \"d0\"; adapter = \"sim\"; firmware = true;\n"
		"  points = ( { channel = \"t\"; path = \"" READ_PATH "\"; waveform = \"constant\";"
		" base = 21.5; } ); } );\n", dir, port);
	fclose(f);
	start_daemon(&gw, dir, conf, NULL, &t0);
	if (!wait_registered(&srv, 1, CMD_TIMEOUT_MS))
		die("fw: gatewayd did not register its device");
	/* Warm both paths up; an empty Package takes the device back to Idle. */
	fw_push(&srv, "push -", pkg);
	fw_push(&srv, "push -", empty);
	fw_push(&bare, bare_target, pkg);
	for (int i = 0; i < O.runs; i++) {
		double d = fw_push(&srv, "push -", pkg), b = fw_push(&bare, bare_target, pkg);

		fprintf(stderr, "bench: fw push run %d/%d\n", i + 1, O.runs);
		fw_push(&srv, "push -", empty);
		if (d > 0 && b > 0) {
			add(rate, kib / (d / 1e6));
			add_floor(rate, kib / (b / 1e6));
		}
	}
	for (int i = 0; i < O.runs; i++) {
		char *refs = h_strf("/proc/%d/clear_refs", (int)gw.pid);
		FILE *cr = fopen(refs, "w");
		long rss0, hwm;

		/* "5" resets the peak (VmHWM) to the current RSS. */
		if (!cr || fputs("5", cr) < 0 || fclose(cr) != 0) {
			not_measurable(rss, "cannot reset VmHWM through /proc/PID/clear_refs");
			free(refs);
			break;
		}
		free(refs);
		rss0 = proc_status(gw.pid, "VmRSS");
		if (fw_push(&srv, "push -", big) > 0) {
			hwm = proc_status(gw.pid, "VmHWM");
			add(rss, (double)(hwm - rss0));
		}
		fw_push(&srv, "push -", empty);
	}
	stop_daemon(&gw);
	stop_load(&bare);
	stop_load(&srv);
	free(bare_target);
	free(conf);
	free(pkg);
	free(big);
	free(empty);
	h_tmpdir_remove(dir);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"runs", required_argument, NULL, 'r'},
		{"only", required_argument, NULL, 'o'},
		{"test-server", required_argument, NULL, 't'},
		{"rate", required_argument, NULL, 'R'},
		{0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			O.quick = true;
			break;
		case 'r':
			O.runs = atoi(optarg);
			break;
		case 'o':
			O.only = optarg;
			break;
		case 't':
			O.test_server_n = atol(optarg);
			break;
		case 'R':
			O.rate = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--quick] [--runs N] [--only NAME,...] "
				"[--test-server N] [--rate R]\n", argv[0]);
			return 2;
		}
	}
	if (O.quick && O.runs == 5)
		O.runs = 2;
	if (O.runs < 1 || O.runs > MAX_RUNS)
		die("--runs must be 1..%d", MAX_RUNS);
	if (!getenv("top_builddir") || !getenv("GW_ADAPTER_DIR"))
		die("run through 'make bench' (top_builddir and GW_ADAPTER_DIR unset)");
	if (h_skip_without_sim())
		return 77;
	signal(SIGPIPE, SIG_IGN);

	if (wanted("register") || wanted("rss_per_device_nosec"))
		bench_register_rss();
	if (wanted("register_dtls") || wanted("rss_per_device_dtls"))
		bench_dtls();
	if (wanted("shutdown"))
		bench_shutdown();
	if (wanted("rss_per_device_send"))
		bench_rss_send();
	if (wanted("read_p50") || wanted("read_p99"))
		bench_read();
	if (wanted("notify_rate"))
		bench_notify();
	if (wanted("ble_adverts_rate"))
		bench_ble();
	if (wanted("idle_cpu"))
		bench_idle();
	if (wanted("startup_ready") || wanted("startup_registered"))
		bench_startup();
	if (wanted("gpio_edge_cost"))
		bench_gpio();
	if (wanted("reload_one_of_10k"))
		bench_reload();
	if (wanted("ctl_devices_10k"))
		bench_ctl();
	if (wanted("fw_push_rate") || wanted("fw_push_rss"))
		bench_fw();
	if (O.test_server_n > 0)
		bench_test_server(O.test_server_n);
	report();
	return 0;
}
