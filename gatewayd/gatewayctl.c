/* gatewayctl: ask a running gatewayd through its control socket.  One JSON
 * request goes out, one JSON answer comes back; printed as tables, or as
 * it came with --json.  gatewayctl(8) documents it. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "build-aux/config.h"

#define DEFAULT_SOCKET "/run/gatewayd/gatewayd.sock"

/* Exit codes (gatewayctl(8)). */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* the daemon answered with an error */
	EXIT_USAGE = 2,
	EXIT_COMM = 3,    /* no daemon, or no usable answer */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gatewayctl [OPTIONS] COMMAND [ARGS]\n"
		"Ask a running gatewayd through its control socket.\n\n"
		"Commands:\n"
		"  status                  the daemon: version, uptime, devices, servers\n"
		"  devices                 every device: state, registrations, readings\n"
		"  device NAME             one device, with its counters\n"
		"  plan NAME               how the device is read\n"
		"  restart NAME            restart one device alone\n"
		"  log-level LEVEL [NAME]  err, warning, notice, info or debug; with NAME\n"
		"                          for that device only (\"default\": follow the daemon)\n"
		"  reload                  re-read the configuration, as SIGHUP does\n"
		"  metrics                 counters in the OpenMetrics text format\n\n"
		"Options:\n"
		"  -s, --socket PATH       the control socket (default %s)\n"
		"  -i, --instance NAME     the socket of gatewayd@NAME: /run/gatewayd/NAME/gatewayd.sock\n"
		"  -j, --json              print the daemon's JSON answer as it is\n"
		"  -t, --timeout SECONDS   wait at most this long for the answer (default 10)\n"
		"  -h, --help              this help\n"
		"  -V, --version           print the version\n",
		DEFAULT_SOCKET);
}

static int remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 1000000000 ? 1000000000 : (int)ms;
}

/* Send one request line; return the answer line (without its newline),
 * or NULL after saying why on stderr. */
static char *exchange(const char *path, const char *req, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timespec deadline;
	size_t len = strlen(req), off = 0, cap = 65536, have = 0;
	char *buf = NULL;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "gatewayctl: %s: path too long\n", path);
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "gatewayctl: cannot connect to %s: %s%s\n", path, strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED ? " (is gatewayd running? see -s, -i)"
								 : "");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while (off < len) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		ssize_t n;
		if (poll(&p, 1, remaining_ms(&deadline)) != 1)
			goto timeout;
		n = send(fd, req + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			fprintf(stderr, "gatewayctl: %s: %s\n", path, strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	buf = malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char *nl;
		ssize_t n;
		if (have + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		if (poll(&p, 1, remaining_ms(&deadline)) != 1)
			goto timeout;
		n = recv(fd, buf + have, cap - have - 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			fprintf(stderr, "gatewayctl: %s: connection closed before the answer\n", path);
			goto fail;
		}
		nl = memchr(buf + have, '\n', (size_t)n);
		have += (size_t)n;
		if (nl) {
			*nl = '\0';
			close(fd);
			return buf;
		}
	}
timeout:
	fprintf(stderr, "gatewayctl: %s: no answer within %d ms\n", path, timeout_ms);
fail:
	free(buf);
	close(fd);
	return NULL;
}

static const char *jstr(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : dflt;
}

static long long jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* "12s", "3m04s", "2h05m", "4d03h"; "-" for null (never). */
static const char *age_text(json_t *v, char *buf, size_t len)
{
	double s;
	long long t;

	if (!json_is_number(v))
		return "-";
	s = json_number_value(v);
	t = (long long)s;
	if (s < 10)
		snprintf(buf, len, "%.1fs ago", s);
	else if (t < 60)
		snprintf(buf, len, "%llds ago", t);
	else if (t < 3600)
		snprintf(buf, len, "%lldm%02llds ago", t / 60, t % 60);
	else if (t < 86400)
		snprintf(buf, len, "%lldh%02lldm ago", t / 3600, t % 3600 / 60);
	else
		snprintf(buf, len, "%lldd%02lldh ago", t / 86400, t % 86400 / 3600);
	return buf;
}

static void print_uptime(double s)
{
	long long t = (long long)s;

	if (t >= 86400)
		printf("%lldd ", t / 86400);
	printf("%02lld:%02lld:%02lld", t % 86400 / 3600, t % 3600 / 60, t % 60);
}

static void print_status(json_t *a)
{
	json_t *devs = json_object_get(a, "devices"), *srv;
	size_t i;

	printf("gatewayd %s, pid %lld, up ", jstr(a, "version", "?"), jint(a, "pid"));
	print_uptime(json_number_value(json_object_get(a, "uptime")));
	printf("\nconfiguration: %s\nlog level: %s\n", jstr(a, "config", "?"),
	       jstr(a, "log_level", "?"));
	printf("devices: %lld (%lld up, %lld down)\nregistered: %lld\n", jint(devs, "total"),
	       jint(devs, "up"), jint(devs, "down"), jint(a, "registered"));
	json_array_foreach(json_object_get(a, "servers"), i, srv)
		printf("server %s: %s%s, %lld of %lld registration(s) registered\n",
		       jstr(srv, "name", "?"), jstr(srv, "uri", "?"),
		       json_is_true(json_object_get(srv, "bootstrap")) ? " (bootstrap)" : "",
		       jint(srv, "registered"), jint(srv, "registrations"));
}

/* "coap://h:p registered 3s ago" for each registration, joined by "; ". */
static char *registrations_text(json_t *dev)
{
	json_t *regs = json_object_get(dev, "registrations"), *r;
	char *out = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (!json_array_size(regs))
		fputs("-", f);
	json_array_foreach(regs, i, r) {
		char age[32];
		const char *a = age_text(json_object_get(r, "last_update_age"), age, sizeof(age));
		fprintf(f, "%s%s %s", i ? "; " : "", jstr(r, "state", "?"), jstr(r, "server", "?"));
		if (strcmp(a, "-") != 0)
			fprintf(f, " (update %s)", a);
	}
	fclose(f);
	return out;
}

static void print_devices(json_t *a)
{
	static const char *const head[] = {"NAME", "ADAPTER", "STATE", "LAST READING",
					   "OBS", "STORED", "FIRMWARE", "REGISTRATIONS"};
	enum { NCOL = 8 };
	json_t *devs = json_object_get(a, "devices"), *d;
	size_t n = json_array_size(devs), i, w[NCOL];
	char **cells = calloc(n * NCOL + 1, sizeof(*cells));

	if (!cells)
		return;
	for (int c = 0; c < NCOL; c++)
		w[c] = strlen(head[c]);
	json_array_foreach(devs, i, d) {
		char **row = cells + i * NCOL, age[32];
		const char *cause = jstr(d, "cause", NULL);
		if (asprintf(&row[0], "%s", jstr(d, "name", "?")) < 0 ||
		    asprintf(&row[1], "%s", jstr(d, "adapter", "?")) < 0 ||
		    asprintf(&row[2], "%s%s%s%s", jstr(d, "state", "?"), cause ? " (" : "",
			     cause ? cause : "", cause ? ")" : "") < 0 ||
		    asprintf(&row[3], "%s",
			     age_text(json_object_get(d, "last_reading_age"), age, sizeof(age))) < 0 ||
		    asprintf(&row[4], "%lld", jint(d, "observations")) < 0 ||
		    asprintf(&row[5], "%lld", jint(d, "stored")) < 0 ||
		    asprintf(&row[6], "%s", jstr(d, "firmware", "?")) < 0)
			break;
		row[7] = registrations_text(d);
		for (int c = 0; c < NCOL; c++)
			if (row[c] && strlen(row[c]) > w[c])
				w[c] = strlen(row[c]);
	}
	/* The last column is not padded. */
	for (int c = 0; c < NCOL - 1; c++)
		printf("%-*s  ", (int)w[c], head[c]);
	printf("%s\n", head[NCOL - 1]);
	for (i = 0; i < n; i++) {
		char **row = cells + i * NCOL;
		for (int c = 0; c < NCOL - 1; c++)
			printf("%-*s  ", (int)w[c], row[c] ? row[c] : "");
		printf("%s\n", row[NCOL - 1] ? row[NCOL - 1] : "");
		for (int c = 0; c < NCOL; c++)
			free(row[c]);
	}
	free(cells);
}

static void print_device(json_t *a)
{
	json_t *d = json_object_get(a, "device"), *k = json_object_get(d, "counters"), *r;
	const char *cause = jstr(d, "cause", NULL);
	char age[32];
	size_t i;

	printf("device:        %s\n", jstr(d, "name", "?"));
	printf("adapter:       %s\n", jstr(d, "adapter", "?"));
	printf("endpoint:      %s\n", jstr(d, "endpoint", "?"));
	printf("state:         %s%s%s%s\n", jstr(d, "state", "?"), cause ? " (" : "",
	       cause ? cause : "", cause ? ")" : "");
	printf("points:        %lld\n", jint(d, "points"));
	printf("last reading:  %s\n",
	       age_text(json_object_get(d, "last_reading_age"), age, sizeof(age)));
	printf("observations:  %lld\n", jint(d, "observations"));
	printf("stored:        %lld\n", jint(d, "stored"));
	printf("firmware:      %s\n", jstr(d, "firmware", "?"));
	printf("log level:     %s\n", jstr(d, "log_level", "?"));
	printf("counters:      reads %lld, writes %lld, executes %lld, errors %lld, timeouts %lld\n",
	       jint(k, "reads"), jint(k, "writes"), jint(k, "executes"), jint(k, "errors"),
	       jint(k, "timeouts"));
	json_array_foreach(json_object_get(d, "registrations"), i, r)
		printf("server:        %s: %s, last update %s, %lld observation(s), %lld stored\n",
		       jstr(r, "server", "?"), jstr(r, "state", "?"),
		       age_text(json_object_get(r, "last_update_age"), age, sizeof(age)),
		       jint(r, "observations"), jint(r, "stored"));
}

static void print_plan(json_t *a)
{
	json_t *p;
	size_t i;

	printf("device %s (adapter %s)\n", jstr(a, "device", "?"), jstr(a, "adapter", "?"));
	if (json_is_null(json_object_get(a, "adapter_plan")) && jstr(a, "note", NULL))
		printf("%s\n", jstr(a, "note", ""));
	printf("%-20s  %-16s  %s\n", "CHANNEL", "PATH", "POLL");
	json_array_foreach(json_object_get(a, "points"), i, p) {
		json_t *poll = json_object_get(p, "poll");
		char period[32] = "reported";
		if (json_is_number(poll))
			snprintf(period, sizeof(period), "%gs", json_number_value(poll));
		printf("%-20s  %-16s  %s\n", jstr(p, "channel", "?"), jstr(p, "path", "?"), period);
	}
}

/* The request for argv[0..argc). */
static json_t *make_request(int argc, char **argv, const char **err)
{
	const char *cmd = argv[0];
	json_t *req = json_pack("{s:s}", "command", cmd);
	int want_min = 0, want_max = 0;

	if (strcmp(cmd, "device") == 0 || strcmp(cmd, "plan") == 0 ||
	    strcmp(cmd, "restart") == 0) {
		want_min = want_max = 1;
		if (argc == 2)
			json_object_set_new(req, "name", json_string(argv[1]));
	} else if (strcmp(cmd, "log-level") == 0) {
		want_min = 1;
		want_max = 2;
		if (argc >= 2)
			json_object_set_new(req, "level", json_string(argv[1]));
		if (argc == 3)
			json_object_set_new(req, "name", json_string(argv[2]));
	} else if (strcmp(cmd, "status") != 0 && strcmp(cmd, "devices") != 0 &&
		   strcmp(cmd, "reload") != 0 && strcmp(cmd, "metrics") != 0) {
		*err = "unknown command";
		json_decref(req);
		return NULL;
	}
	if (argc - 1 < want_min || argc - 1 > want_max) {
		*err = "wrong number of arguments";
		json_decref(req);
		return NULL;
	}
	return req;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"instance", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *path = DEFAULT_SOCKET, *err = NULL, *cmd;
	char *inst_path = NULL, *line, *text;
	bool raw = false;
	double timeout_s = 10;
	json_t *req, *ans;
	json_error_t jerr;
	int opt, code;

	while ((opt = getopt_long(argc, argv, "+s:i:jt:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'i':
			free(inst_path);
			if (!*optarg || strchr(optarg, '/') ||
			    asprintf(&inst_path, "/run/gatewayd/%s/gatewayd.sock", optarg) < 0) {
				fprintf(stderr, "gatewayctl: bad instance name '%s'\n", optarg);
				return EXIT_USAGE;
			}
			path = inst_path;
			break;
		case 'j':
			raw = true;
			break;
		case 't': {
			char *end;
			timeout_s = strtod(optarg, &end);
			if (*end || !(timeout_s > 0 && timeout_s <= 86400)) {
				fprintf(stderr, "gatewayctl: bad timeout '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("gatewayctl %s\n", PACKAGE_VERSION);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind];
	req = make_request(argc - optind, argv + optind, &err);
	if (!req) {
		fprintf(stderr, "gatewayctl: %s: %s (see gatewayctl --help)\n", cmd, err);
		return EXIT_USAGE;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return EXIT_COMM;
	{
		size_t n = strlen(text);
		char *l = realloc(text, n + 2);
		if (!l) {
			free(text);
			return EXIT_COMM;
		}
		text = l;
		memcpy(text + n, "\n", 2);
	}
	line = exchange(path, text, (int)lround(timeout_s * 1000));
	free(text);
	free(inst_path);
	if (!line)
		return EXIT_COMM;
	ans = json_loads(line, 0, &jerr);
	if (!json_is_object(ans)) {
		fprintf(stderr, "gatewayctl: the daemon's answer is not a JSON object: %s\n",
			ans ? "wrong type" : jerr.text);
		json_decref(ans);
		free(line);
		return EXIT_COMM;
	}
	code = json_is_true(json_object_get(ans, "ok")) ? EXIT_OK : EXIT_REFUSED;
	if (raw) {
		printf("%s\n", line);
	} else if (code != EXIT_OK) {
		fprintf(stderr, "gatewayctl: %s\n", jstr(ans, "error", "the daemon refused"));
	} else if (strcmp(cmd, "status") == 0) {
		print_status(ans);
	} else if (strcmp(cmd, "devices") == 0) {
		print_devices(ans);
	} else if (strcmp(cmd, "device") == 0) {
		print_device(ans);
	} else if (strcmp(cmd, "plan") == 0) {
		print_plan(ans);
	} else if (strcmp(cmd, "metrics") == 0) {
		fputs(jstr(ans, "text", ""), stdout);
	} else if (strcmp(cmd, "restart") == 0) {
		printf("%s: restarting\n", jstr(ans, "device", "?"));
	} else if (strcmp(cmd, "log-level") == 0) {
		if (jstr(ans, "device", NULL))
			printf("%s: log level %s\n", jstr(ans, "device", "?"),
			       jstr(ans, "log_level", "?"));
		else
			printf("log level %s\n", jstr(ans, "log_level", "?"));
	} else if (strcmp(cmd, "reload") == 0) {
		printf("configuration reloaded\n");
	}
	json_decref(ans);
	free(line);
	if (fflush(stdout) != 0)
		return EXIT_COMM;
	return code;
}
