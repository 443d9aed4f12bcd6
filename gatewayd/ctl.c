#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "build-aux/config.h"
#include "clock.h"
#include "device.h"
#include "firmware.h"
#include "log.h"
#include "lwm2m/client.h"
#include "lwm2m/lwm_types.h"

/* ---- an output buffer: answers are written in one pass, no JSON tree ------ */

struct obuf {
	char *p;
	size_t len, cap;
	bool failed; /* out of memory or over CTL_ANSWER_MAX */
};

static bool ob_room(struct obuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->failed)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	if (b->len + n + 1 > CTL_ANSWER_MAX) {
		b->failed = true;
		return false;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void ob_put(struct obuf *b, const char *s, size_t n)
{
	if (!ob_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void ob_puts(struct obuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

static void ob_printf(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ob_printf(struct obuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		ob_put(b, tmp, (size_t)n);
		return;
	}
	if (!ob_room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A JSON string: quotes, backslashes and control characters escaped;
 * other bytes pass as they are (the daemon's strings are UTF-8). */
static void ob_jstr(struct obuf *b, const char *s)
{
	const char *run = s;

	ob_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		ob_put(b, run, (size_t)(s - run));
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			ob_put(b, e, 2);
		} else {
			ob_printf(b, "\\u%04x", ch);
		}
		run = s + 1;
	}
	ob_put(b, run, (size_t)(s - run));
	ob_put(b, "\"", 1);
}

/* An OpenMetrics label value: backslash, quote and newline escaped. */
static void ob_label(struct obuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			ob_put(b, "\\", 1);
		if (*s == '\n')
			ob_puts(b, "\\n");
		else
			ob_put(b, s, 1);
	}
}

/* Numbers by hand: printf's cost shows over 10,000 devices. */
static void ob_u64(struct obuf *b, uint64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);

	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	ob_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Seconds since a clock_now_ms time, ms precision; null when never. */
static void ob_age(struct obuf *b, uint64_t now, uint64_t then)
{
	uint64_t ms;
	char frac[4];

	if (!then) {
		ob_puts(b, "null");
		return;
	}
	ms = then < now ? now - then : 0;
	ob_u64(b, ms / 1000);
	frac[0] = '.';
	frac[1] = (char)('0' + ms / 100 % 10);
	frac[2] = (char)('0' + ms / 10 % 10);
	frac[3] = (char)('0' + ms % 10);
	ob_put(b, frac, 4);
}

/* ---- the control socket ----------------------------------------------------- */

struct ctl_client {
	struct ctl *ctl;
	struct ctl_client *prev, *next;
	int fd;
	struct gw_watch *watch;
	struct gw_timer idle;
	char in[CTL_LINE_MAX];
	size_t in_len;
	struct obuf out;
	size_t out_off;
	bool eof;      /* the client will send nothing more */
	bool closing;  /* close once the answer is out */
};

struct ctl {
	struct ctl_params p;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	dev_t dev;     /* the socket file we made, to remove only that */
	ino_t ino;
	struct gw_watch *watch;
	struct ctl_client *clients;
	size_t n_clients;
};

static const char *level_name(int level)
{
	static const char *const names[] = {"emerg", "alert", "crit", "err",
					    "warning", "notice", "info", "debug"};
	return level >= 0 && level <= 7 ? names[level] : "?";
}

/* A device's state and its cause, as the tables show it. */
static void device_state(const struct gwd_device *d, const char **state, char *cause,
			 size_t len)
{
	*state = device_is_started(d) && !device_is_down(d) ? "UP" : "DOWN";
	cause[0] = '\0';
	if (!device_is_started(d))
		snprintf(cause, len, "not started");
	else if (device_is_down(d))
		snprintf(cause, len, "%s",
			 device_down_cause(d) ? strerror(-device_down_cause(d)) : "failing");
}

static void answer_error(struct obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void answer_error(struct obuf *b, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->len = 0;
	ob_puts(b, "{\"ok\":false,\"error\":");
	ob_jstr(b, msg);
	ob_puts(b, "}");
}

/* The server of a device's i-th registration: the configured server's URI,
 * shared by its devices (a string the cache already holds when thousands
 * are listed), else the client's own (from bootstrap). */
static const char *registration_server(struct gwd_device *d, size_t i)
{
	const struct cfg_device *dc = device_config(d);

	if (i < dc->n_servers && dc->servers[i] && !dc->bootstrap)
		return dc->servers[i]->uri;
	return lwm_client_server_uri(device_client_at(d, i));
}

/* The registrations of a device, one object per server; *obs and *stored
 * get their sums. */
static void put_registrations(struct obuf *b, struct gwd_device *d, uint64_t now,
			      size_t *obs, size_t *stored)
{
	*obs = *stored = 0;
	ob_puts(b, "\"registrations\":[");
	for (size_t i = 0; i < device_client_count(d); i++) {
		struct lwm_client *cl = device_client_at(d, i);
		size_t o = lwm_client_observation_count(cl), st = lwm_client_stored_count(cl);

		*obs += o;
		*stored += st;
		ob_puts(b, i ? ",{\"server\":" : "{\"server\":");
		ob_jstr(b, registration_server(d, i));
		ob_puts(b, ",\"state\":\"");
		ob_puts(b, lwm_client_state_name(lwm_client_state(cl))); /* [a-z] only */
		ob_puts(b, "\",\"last_update_age\":");
		ob_age(b, now, lwm_client_last_update_ms(cl));
		ob_puts(b, ",\"observations\":");
		ob_u64(b, o);
		ob_puts(b, ",\"stored\":");
		ob_u64(b, st);
		ob_put(b, "}", 1);
	}
	ob_put(b, "]", 1);
}

/* What `devices` shows of one device (an object's members, no braces). */
static void put_device(struct obuf *b, struct gwd_device *d, uint64_t now)
{
	size_t obs, stored;
	const char *state;
	char cause[128];

	device_state(d, &state, cause, sizeof(cause));
	ob_puts(b, "\"name\":");
	ob_jstr(b, device_name(d));
	ob_puts(b, ",\"adapter\":");
	ob_jstr(b, device_adapter_name(d));
	ob_puts(b, ",\"state\":\"");
	ob_puts(b, state);
	ob_puts(b, "\",\"cause\":");
	if (cause[0])
		ob_jstr(b, cause);
	else
		ob_puts(b, "null");
	ob_put(b, ",", 1);
	put_registrations(b, d, now, &obs, &stored);
	ob_puts(b, ",\"last_reading_age\":");
	ob_age(b, now, device_last_reading_ms(d));
	ob_puts(b, ",\"observations\":");
	ob_u64(b, obs);
	ob_puts(b, ",\"stored\":");
	ob_u64(b, stored);
	/* Object 5 (firmware.c): "none" when nothing can update the device. */
	ob_puts(b, ",\"firmware\":");
	if (device_firmware(d)) {
		char fw[96];
		firmware_describe(device_firmware(d), fw, sizeof(fw));
		ob_jstr(b, fw);
	} else {
		ob_puts(b, "\"none\"");
	}
}

static void cmd_status(struct ctl *c, struct obuf *b)
{
	const struct cfg *cfg = gateway_config(c->p.gw);
	size_t n = gateway_device_count(c->p.gw), up = 0;
	uint64_t now = clock_now_ms();

	for (size_t i = 0; i < n; i++) {
		const struct gwd_device *d = gateway_device_at(c->p.gw, i);
		up += device_is_started(d) && !device_is_down(d);
	}
	ob_puts(b, "{\"ok\":true,\"version\":");
	ob_jstr(b, PACKAGE_VERSION);
	ob_printf(b, ",\"pid\":%ld,\"uptime\":%.3f,\"config\":", (long)getpid(),
		  (double)(now - c->p.start_ms) / 1000.0);
	ob_jstr(b, cfg->file);
	ob_printf(b, ",\"log_level\":\"%s\",\"devices\":{\"total\":%zu,\"up\":%zu,\"down\":%zu}",
		  level_name(log_get_level()), n, up, n - up);
	ob_printf(b, ",\"registered\":%zu,\"servers\":[", gateway_registered_count(c->p.gw));
	for (size_t s = 0; s < cfg->n_servers; s++) {
		const struct cfg_server *srv = &cfg->servers[s];
		size_t devices = 0, registered = 0;
		/* O(devices x their servers): a few string compares each. */
		for (size_t i = 0; i < n; i++) {
			struct gwd_device *d = gateway_device_at(c->p.gw, i);
			for (size_t k = 0; k < device_client_count(d); k++) {
				struct lwm_client *cl = device_client_at(d, k);
				enum lwm_client_state st = lwm_client_state(cl);
				if (strcmp(lwm_client_server_uri(cl), srv->uri) != 0)
					continue;
				devices++;
				registered += st == LWM_CLIENT_REGISTERED || st == LWM_CLIENT_UPDATING;
			}
		}
		if (s)
			ob_put(b, ",", 1);
		ob_puts(b, "{\"name\":");
		ob_jstr(b, srv->name);
		ob_puts(b, ",\"uri\":");
		ob_jstr(b, srv->uri);
		ob_printf(b, ",\"bootstrap\":%s,\"registrations\":%zu,\"registered\":%zu}",
			  srv->bootstrap ? "true" : "false", devices, registered);
	}
	ob_puts(b, "]}");
}

static void cmd_devices(struct ctl *c, struct obuf *b)
{
	size_t n = gateway_device_count(c->p.gw);
	uint64_t now = clock_now_ms();

	ob_puts(b, "{\"ok\":true,\"devices\":[");
	for (size_t i = 0; i < n && !b->failed; i++) {
		/* Thousands of devices scattered in memory: the walk waits on the
		 * cache more than it computes, so ask ahead. */
		if (i + 8 < n)
			__builtin_prefetch(gateway_device_at(c->p.gw, i + 8));
		if (i + 4 < n)
			device_prefetch(gateway_device_at(c->p.gw, i + 4), 0);
		if (i + 2 < n)
			device_prefetch(gateway_device_at(c->p.gw, i + 2), 1);
		ob_puts(b, i ? ",{" : "{");
		put_device(b, gateway_device_at(c->p.gw, i), now);
		ob_put(b, "}", 1);
	}
	ob_puts(b, "]}");
}

static struct gwd_device *named_device(struct ctl *c, struct obuf *b, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct gwd_device *d;

	if (!name) {
		answer_error(b, "this command needs \"name\": a device name");
		return NULL;
	}
	d = gateway_find_device(c->p.gw, name);
	if (!d)
		answer_error(b, "no device named \"%s\"", name);
	return d;
}

static void cmd_device(struct ctl *c, struct obuf *b, json_t *req)
{
	struct gwd_device *d = named_device(c, b, req);
	const struct cfg_device *dc;
	const struct device_counters *k;
	int level;

	if (!d)
		return;
	dc = device_config(d);
	k = device_counters(d);
	level = log_get_device_level(device_name(d));
	ob_puts(b, "{\"ok\":true,\"device\":{");
	put_device(b, d, clock_now_ms());
	ob_puts(b, ",\"endpoint\":");
	ob_jstr(b, dc->endpoint ? dc->endpoint : "");
	ob_printf(b, ",\"points\":%zu,\"log_level\":\"%s\"", dc->n_points,
		  level_name(level >= 0 ? level : log_get_level()));
	ob_printf(b, ",\"counters\":{\"reads\":%" PRIu64 ",\"writes\":%" PRIu64
		  ",\"executes\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"timeouts\":%" PRIu64 "}}}",
		  k->reads, k->writes, k->executes, k->errors, k->timeouts);
}

/* What the daemon knows of how a device is read: its points and their
 * periods.  The adapter ABI (1.2) has no operation to describe an
 * adapter's own plan (a Modbus adapter's merged register ranges), so none
 * is shown. */
static void cmd_plan(struct ctl *c, struct obuf *b, json_t *req)
{
	struct gwd_device *d = named_device(c, b, req);
	const struct cfg_device *dc;

	if (!d)
		return;
	dc = device_config(d);
	ob_puts(b, "{\"ok\":true,\"device\":");
	ob_jstr(b, device_name(d));
	ob_puts(b, ",\"adapter\":");
	ob_jstr(b, device_adapter_name(d));
	{
		char text[8192], note[160];
		int n = device_describe_plan(d, text, sizeof(text));

		if (n >= 0) {
			/* One string per line; a plan cut at the buffer says so. */
			const char *p = text;

			ob_puts(b, ",\"adapter_plan\":[");
			for (bool first = true; *p; first = false) {
				size_t l = strcspn(p, "\n");
				char line[256];

				snprintf(line, sizeof(line), "%.*s", (int)l, p);
				if (!first)
					ob_put(b, ",", 1);
				ob_jstr(b, line);
				p += l + (p[l] == '\n');
			}
			ob_puts(b, "]");
			if ((size_t)n >= sizeof(text))
				snprintf(note, sizeof(note), "the plan is cut at %zu bytes", sizeof(text));
			else
				note[0] = '\0';
		} else {
			ob_puts(b, ",\"adapter_plan\":null");
			snprintf(note, sizeof(note), "adapter %s has no read plan to show (%s); the "
				 "points below are what gatewayd polls", device_adapter_name(d),
				 n == -ENOTSUP ? "it does not describe one" : strerror(-n));
		}
		ob_puts(b, ",\"note\":");
		if (note[0])
			ob_jstr(b, note);
		else
			ob_puts(b, "null");
	}
	ob_puts(b, ",\"points\":[");
	for (size_t i = 0; i < dc->n_points; i++) {
		const struct cfg_point *pt = &dc->points[i];
		if (i)
			ob_put(b, ",", 1);
		ob_puts(b, "{\"channel\":");
		ob_jstr(b, pt->channel);
		ob_printf(b, ",\"path\":\"/%u/%u/%u\",\"poll\":", pt->oid, pt->iid, pt->rid);
		if (pt->poll_ms)
			ob_printf(b, "%.3f}", pt->poll_ms / 1000.0);
		else
			ob_puts(b, "null}");
	}
	ob_puts(b, "]}");
}

static void cmd_restart(struct ctl *c, struct obuf *b, json_t *req)
{
	struct gwd_device *d = named_device(c, b, req);
	int r;

	if (!d)
		return;
	r = device_restart(d);
	if (r < 0) {
		answer_error(b, "device \"%s\" cannot restart: %s", device_name(d),
			     r == -ENOTCONN ? "it is not running" : strerror(-r));
		return;
	}
	ob_puts(b, "{\"ok\":true,\"device\":");
	ob_jstr(b, device_name(d));
	ob_puts(b, ",\"restarting\":true}");
}

static void cmd_log_level(struct ctl *c, struct obuf *b, json_t *req)
{
	const char *level = json_string_value(json_object_get(req, "level"));
	json_t *jname = json_object_get(req, "name");
	int l;

	if (!level) {
		answer_error(b, "log-level needs \"level\": err, warning, notice, info or debug "
			     "(\"default\" with a device: follow the global level)");
		return;
	}
	l = strcmp(level, "default") == 0 && jname ? -1 : cfg_parse_log_level(level);
	if (l < -1 || (l == -1 && !jname)) {
		answer_error(b, "unknown log level \"%s\": expected err, warning, notice, info or "
			     "debug", level);
		return;
	}
	if (jname) {
		struct gwd_device *d = named_device(c, b, req);
		int r;
		if (!d)
			return;
		r = log_set_device_level(device_name(d), l);
		if (r < 0) {
			answer_error(b, "cannot set the level of \"%s\": %s", device_name(d),
				     r == -ENOSPC ? "64 devices already have their own level"
						  : strerror(-r));
			return;
		}
		log_notice(device_name(d), "log level %s (set through the control socket)",
			   l < 0 ? "as the daemon's" : level_name(l));
		ob_puts(b, "{\"ok\":true,\"device\":");
		ob_jstr(b, device_name(d));
		ob_printf(b, ",\"log_level\":\"%s\"}", level_name(l < 0 ? log_get_level() : l));
		return;
	}
	log_set_level(l);
	log_notice(NULL, "log level %s (set through the control socket)", level_name(l));
	ob_printf(b, "{\"ok\":true,\"log_level\":\"%s\"}", level_name(l));
}

static void cmd_reload(struct ctl *c, struct obuf *b)
{
	if (!c->p.reload) {
		answer_error(b, "reload is not available");
		return;
	}
	if (c->p.reload(c->p.ud) < 0) {
		answer_error(b, "%s is invalid; the running configuration is kept (the log names "
			     "every error)", gateway_config(c->p.gw)->file);
		return;
	}
	ob_puts(b, "{\"ok\":true,\"reloaded\":true}");
}

/* One metric family over every device. */
enum metric { M_UP, M_READS, M_WRITES, M_ERRORS, M_TIMEOUTS, M_REG, M_OBS, M_STORED, M_N };

static uint64_t metric_value(struct gwd_device *d, enum metric m)
{
	const struct device_counters *k = device_counters(d);
	uint64_t v = 0;

	switch (m) {
	case M_UP:
		return device_is_started(d) && !device_is_down(d);
	case M_READS:
		return k->reads;
	case M_WRITES:
		return k->writes;
	case M_ERRORS:
		return k->errors;
	case M_TIMEOUTS:
		return k->timeouts;
	case M_REG:
	case M_OBS:
	case M_STORED:
		for (size_t i = 0; i < device_client_count(d); i++) {
			struct lwm_client *cl = device_client_at(d, i);
			enum lwm_client_state st = lwm_client_state(cl);
			v += m == M_REG ? (st == LWM_CLIENT_REGISTERED || st == LWM_CLIENT_UPDATING)
			     : m == M_OBS ? lwm_client_observation_count(cl)
					  : lwm_client_stored_count(cl);
		}
		return v;
	default:
		return 0;
	}
}

static void cmd_metrics(struct ctl *c, struct obuf *b)
{
	static const struct {
		const char *name, *type, *help;
	} fam[M_N] = {
		[M_UP] = {"gatewayd_device_up", "gauge", "1 when the device answers, else 0"},
		[M_READS] = {"gatewayd_device_reads", "counter", "Reads completed"},
		[M_WRITES] = {"gatewayd_device_writes", "counter", "Writes completed"},
		[M_ERRORS] = {"gatewayd_device_errors", "counter", "Failed operations"},
		[M_TIMEOUTS] = {"gatewayd_device_timeouts", "counter", "Operations timed out"},
		[M_REG] = {"gatewayd_device_registered", "gauge",
			   "Registrations of the device that are registered"},
		[M_OBS] = {"gatewayd_device_observations", "gauge",
			   "Observations the servers hold"},
		[M_STORED] = {"gatewayd_device_stored_notifications", "gauge",
			      "Notifications stored while a server was unreachable"},
	};
	size_t n = gateway_device_count(c->p.gw), up = 0;
	struct obuf t = {0};

	for (size_t i = 0; i < n; i++)
		up += metric_value(gateway_device_at(c->p.gw, i), M_UP);
	ob_printf(&t, "# TYPE gatewayd_uptime_seconds gauge\n"
		  "# UNIT gatewayd_uptime_seconds seconds\n"
		  "# HELP gatewayd_uptime_seconds Time since the daemon started.\n"
		  "gatewayd_uptime_seconds %.3f\n",
		  (double)(clock_now_ms() - c->p.start_ms) / 1000.0);
	ob_printf(&t, "# TYPE gatewayd_devices gauge\n"
		  "# HELP gatewayd_devices Devices by state.\n"
		  "gatewayd_devices{state=\"up\"} %zu\ngatewayd_devices{state=\"down\"} %zu\n",
		  up, n - up);
	ob_printf(&t, "# TYPE gatewayd_registered gauge\n"
		  "# HELP gatewayd_registered Registrations registered with their server.\n"
		  "gatewayd_registered %zu\n", gateway_registered_count(c->p.gw));
	for (int m = 0; m < M_N && !t.failed; m++) {
		bool counter = strcmp(fam[m].type, "counter") == 0;
		ob_printf(&t, "# TYPE %s %s\n# HELP %s %s.\n", fam[m].name, fam[m].type,
			  fam[m].name, fam[m].help);
		for (size_t i = 0; i < n; i++) {
			struct gwd_device *d = gateway_device_at(c->p.gw, i);
			ob_puts(&t, fam[m].name);
			ob_puts(&t, counter ? "_total{device=\"" : "{device=\"");
			ob_label(&t, device_name(d));
			ob_puts(&t, "\",adapter=\"");
			ob_label(&t, device_adapter_name(d));
			ob_puts(&t, "\"} ");
			ob_u64(&t, metric_value(d, (enum metric)m));
			ob_put(&t, "\n", 1);
		}
	}
	ob_puts(&t, "# EOF\n");
	if (t.failed) {
		free(t.p);
		answer_error(b, "the metrics are larger than %u bytes", CTL_ANSWER_MAX);
		return;
	}
	ob_puts(b, "{\"ok\":true,\"format\":\"openmetrics-text\",\"text\":");
	ob_jstr(b, t.p);
	ob_put(b, "}", 1);
	free(t.p);
}

static const char ctl_commands[] =
	"status, devices, device, plan, restart, log-level, reload, metrics";

static void dispatch(struct ctl *c, struct obuf *b, const char *line, size_t len)
{
	json_error_t err;
	json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	const char *cmd;

	if (!req) {
		answer_error(b, "not a JSON request (one object per line): %s at column %d",
			     err.text, err.column);
		return;
	}
	cmd = json_string_value(json_object_get(req, "command"));
	if (!json_is_object(req) || !cmd)
		answer_error(b, "a request is an object with a \"command\": one of %s",
			     ctl_commands);
	else if (strcmp(cmd, "status") == 0)
		cmd_status(c, b);
	else if (strcmp(cmd, "devices") == 0)
		cmd_devices(c, b);
	else if (strcmp(cmd, "device") == 0)
		cmd_device(c, b, req);
	else if (strcmp(cmd, "plan") == 0)
		cmd_plan(c, b, req);
	else if (strcmp(cmd, "restart") == 0)
		cmd_restart(c, b, req);
	else if (strcmp(cmd, "log-level") == 0)
		cmd_log_level(c, b, req);
	else if (strcmp(cmd, "reload") == 0)
		cmd_reload(c, b);
	else if (strcmp(cmd, "metrics") == 0)
		cmd_metrics(c, b);
	else
		answer_error(b, "unknown command \"%s\": expected one of %s", cmd, ctl_commands);
	json_decref(req);
	if (b->failed) {
		bool big = b->len + 1 > CTL_ANSWER_MAX / 2;
		b->failed = false;
		answer_error(b, "%s", big ? "the answer is too large" : "out of memory");
	}
}

/* ---- clients ----------------------------------------------------------------- */

static void client_free(struct ctl_client *cl)
{
	struct ctl *c = cl->ctl;

	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->n_clients--;
	gw_timer_disarm(&cl->idle);
	loop_unwatch_fd(cl->watch);
	close(cl->fd);
	free(cl->out.p);
	free(cl);
}

static void client_idle(struct gw_timer *t, void *ud)
{
	struct ctl_client *cl = ud;

	log_info(NULL, "control socket: client idle for %d s: closed", CTL_IDLE_MS / 1000);
	client_free(cl);
}

/* Answer the next complete line received, if any.  One answer at a time:
 * the next line waits until the answer before it is out, so a client holds
 * one answer at most however much it sends without reading. */
static void client_process(struct ctl_client *cl)
{
	for (;;) {
		char *nl = memchr(cl->in, '\n', cl->in_len);
		size_t len;

		if (!nl && cl->eof && cl->in_len)
			nl = cl->in + cl->in_len; /* a last request without its newline */
		if (!nl) {
			if (cl->in_len == sizeof(cl->in)) {
				answer_error(&cl->out, "request longer than %d bytes", CTL_LINE_MAX);
				ob_put(&cl->out, "\n", 1);
				cl->closing = true;
			} else if (cl->eof) {
				cl->closing = true;
			}
			return;
		}
		len = (size_t)(nl - cl->in);
		/* Blank lines are skipped, as interactive use makes them. */
		if (len && !(len == 1 && cl->in[0] == '\r')) {
			uint64_t t0 = clock_now_ms();
			dispatch(cl->ctl, &cl->out, cl->in, len);
			ob_put(&cl->out, "\n", 1);
			/* What the loop spent on it, for whoever wonders. */
			log_debug(NULL, "control socket: %zu-byte answer built in %" PRIu64 " ms",
				  cl->out.len, clock_now_ms() - t0);
		}
		len = len < cl->in_len ? len + 1 : len;
		memmove(cl->in, cl->in + len, cl->in_len - len);
		cl->in_len -= len;
		if (cl->out.len)
			return;
	}
}

/* Write what the socket takes: 0 when all is out, -EAGAIN when the rest
 * must wait, another -errno when the client is gone. */
static int client_send(struct ctl_client *cl)
{
	while (cl->out_off < cl->out.len) {
		ssize_t n = send(cl->fd, cl->out.p + cl->out_off, cl->out.len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		cl->out_off += (size_t)n;
		gw_timer_arm(&cl->idle, clock_now_ms() + CTL_IDLE_MS);
	}
	cl->out.len = cl->out_off = 0;
	if (cl->out.cap > 65536) { /* a large answer's memory goes back */
		free(cl->out.p);
		cl->out = (struct obuf){0};
	}
	return 0;
}

/* Send, answer, send... until the client's lines are all answered or the
 * socket is full; then wait for the socket accordingly.  May free cl. */
static void client_run(struct ctl_client *cl)
{
	for (;;) {
		if (cl->out.len) {
			int r = client_send(cl);
			if (r == -EAGAIN) {
				loop_watch_events(cl->watch, EPOLLOUT);
				return;
			}
			if (r < 0) {
				client_free(cl);
				return;
			}
		}
		if (cl->closing) {
			client_free(cl);
			return;
		}
		client_process(cl);
		if (!cl->out.len && !cl->closing)
			break;
	}
	loop_watch_events(cl->watch, EPOLLIN);
}

static void client_io(int fd, uint32_t revents, void *ud)
{
	struct ctl_client *cl = ud;

	if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !(revents & EPOLLOUT) &&
	    cl->in_len < sizeof(cl->in)) {
		ssize_t n = recv(fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len,
				 MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n < 0) {
			client_free(cl);
			return;
		}
		if (n == 0)
			cl->eof = true;
		cl->in_len += (size_t)n;
		gw_timer_arm(&cl->idle, clock_now_ms() + CTL_IDLE_MS);
	}
	client_run(cl);
}

static void on_accept(int fd, uint32_t revents, void *ud)
{
	struct ctl *c = ud;

	/* A bounded batch per wake-up: the loop has other work. */
	for (int k = 0; k < 16; k++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl_client *cl;

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn(NULL, "control socket: accept: %s", strerror(errno));
			return;
		}
		if (c->n_clients >= CTL_MAX_CLIENTS) {
			static const char busy[] = "{\"ok\":false,\"error\":\"too many clients\"}\n";
			/* Best effort: the socket buffer of a new connection has room. */
			if (send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug(NULL, "control socket: busy answer: %s", strerror(errno));
			close(cfd);
			log_warn(NULL, "control socket: %d clients already: one refused",
				 CTL_MAX_CLIENTS);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl || loop_watch_fd(c->p.loop, cfd, EPOLLIN, client_io, cl, &cl->watch) < 0) {
			free(cl);
			close(cfd);
			continue;
		}
		cl->ctl = c;
		cl->fd = cfd;
		gw_timer_init(&cl->idle, loop_timers(c->p.loop), client_idle, cl);
		gw_timer_arm(&cl->idle, clock_now_ms() + CTL_IDLE_MS);
		cl->next = c->clients;
		if (c->clients)
			c->clients->prev = cl;
		c->clients = cl;
		c->n_clients++;
	}
}

/* A socket file already there: refuse when a daemon answers on it, or when
 * it is not a socket; remove it when it is a dead daemon's. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err(NULL, "control socket: %s exists and is not a socket; not replaced", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	/* EAGAIN: a daemon is there but its backlog is full. */
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		log_err(NULL, "control socket: another process serves %s; not replaced", path);
		return -EADDRINUSE;
	}
	close(fd);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int ctl_alloc(const struct ctl_params *p, struct ctl **out)
{
	struct ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->p = *p;
	c->fd = -1;
	*out = c;
	return 0;
}

int ctl_new(const struct ctl_params *p, struct ctl **out)
{
	const struct cfg_gateway *g = p->cfg;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	struct ctl *c;
	int r;

	*out = NULL;
	if (!g->control_socket || !g->control_socket[0]) {
		log_info(NULL, "control socket: none (gateway.control_socket is empty)");
		return 0;
	}
	if (strlen(g->control_socket) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG; /* the config refuses it first */
	r = ctl_alloc(p, &c);
	if (r < 0)
		return r;
	snprintf(c->path, sizeof(c->path), "%s", g->control_socket);
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	r = clear_stale(c->path, &sa);
	if (r < 0)
		goto fail_quiet;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		r = -errno;
		goto fail;
	}
	/* The file takes the socket's mode (less the umask) when bound: never
	 * more open than configured, even before the chmod below. */
	if (fchmod(c->fd, g->control_mode) < 0 ||
	    bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto fail;
	}
	if (stat(c->path, &st) < 0) {
		r = -errno;
		goto fail_bound;
	}
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if ((g->has_control_group && chown(c->path, (uid_t)-1, g->control_gid) < 0) ||
	    chmod(c->path, g->control_mode) < 0 || listen(c->fd, 16) < 0) {
		r = -errno;
		goto fail_bound;
	}
	r = loop_watch_fd(p->loop, c->fd, EPOLLIN, on_accept, c, &c->watch);
	if (r < 0)
		goto fail_bound;
	log_info(NULL, "control socket: %s (mode %04o)", c->path, g->control_mode);
	c->p.cfg = NULL; /* a reload may free it */
	*out = c;
	return 0;
fail_bound:
	unlink(c->path);
fail:
	log_err(NULL, "control socket %s: %s; gatewayctl cannot reach this daemon", c->path,
		strerror(-r));
fail_quiet:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return r;
}

void ctl_free(struct ctl *c)
{
	struct stat st;

	if (!c)
		return;
	while (c->clients)
		client_free(c->clients);
	if (c->fd >= 0) {
		loop_unwatch_fd(c->watch);
		close(c->fd);
		/* Only our own file: another daemon may have replaced it since. */
		if (c->path[0] && stat(c->path, &st) == 0 && st.st_dev == c->dev &&
		    st.st_ino == c->ino)
			unlink(c->path);
	}
	free(c);
}
