/* lwm2m-test-server: a small LwM2M server for gatewayd's tests and demo.
 * Events go to stdout (JSON lines, or human lines with --demo); commands
 * come from stdin.  See README.md. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <coap3/coap.h>

#include "commands.h"
#include "output.h"
#include "server.h"

#define MAX_LINE (16u << 20) /* a hex firmware image on one line still fits */

static void usage(FILE *f)
{
	fputs("usage: lwm2m-test-server [-a ADDR] [-p PORT] [--demo] [--read-interval SECONDS]\n"
	      "                         [--lwm2m-versions LIST] [--ack-timeout SECONDS]\n"
	      "                         [--max-retransmit N] [--response-timeout SECONDS] [-v]\n"
	      "  -a, --addr ADDR          listen address (default 127.0.0.1)\n"
	      "  -p, --port PORT          UDP port (default 5683; 0 = ephemeral)\n"
	      "      --demo               human-readable output and periodic reads\n"
	      "      --read-interval S    demo read period (default 5)\n"
	      "      --lwm2m-versions L   accepted versions, e.g. 1.0,1.1 (default 1.0,1.1,1.2)\n"
	      "      --ack-timeout S      CoAP ACK timeout towards clients (default 2)\n"
	      "      --max-retransmit N   CoAP retransmissions towards clients (default 4)\n"
	      "      --response-timeout S give up on a client's answer after S (default 60)\n"
	      "      --psk ID:HEX         accept this PSK identity and key (repeatable); DTLS\n"
	      "      --psk-identity ID --psk-key HEX   the same for one identity\n"
	      "      --cert FILE --key FILE  X.509 certificate (with --rpk: public key) and\n"
	      "                           private key, PEM; DTLS\n"
	      "      --ca FILE            X.509: accept clients with a certificate from FILE\n"
	      "      --rpk                raw public keys instead of certificates\n"
	      "      --no-send            answer 4.04 to Send (POST /dp)\n"
	      "      --serve DIR          answer GET /NAME with the file DIR/NAME (Block2)\n"
	      "      --serve-szx N        blocks of at most 2^(N+4) bytes (0..6, default 6)\n"
	      "      --refuse-register M  answer 4.00 to Registers: all, strict (a root link's\n"
	      "                           ct= not one bare number), plain (any link attribute)\n"
	      "      --bootstrap-to URI   answer Bootstrap-Requests with Delete /, an account\n"
	      "                           for URI (/0/1, /1/1) and Finish\n"
	      "      --bootstrap-ssid N   its Short Server ID (default 1)\n"
	      "      --bootstrap-lifetime S  its lifetime (default 300)\n"
	      "      --bootstrap-psk ID:HEX  a PSK account instead of NoSec\n"
	      "  -v, --verbose            libcoap debug logging on stderr\n",
	      f);
}

static int parse_versions(const char *s, unsigned *mask)
{
	char *copy = strdup(s), *save = NULL;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	*mask = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "1.0"))
			*mask |= SRV_V1_0;
		else if (!strcmp(t, "1.1"))
			*mask |= SRV_V1_1;
		else if (!strcmp(t, "1.2"))
			*mask |= SRV_V1_2;
		else
			rc = -EINVAL;
	}
	free(copy);
	return rc ? rc : (*mask ? 0 : -EINVAL);
}

static int parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "HEX" -> bytes (at most 64). */
static int parse_hex(const char *s, uint8_t *out, size_t *len)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 || n / 2 > 64)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]))
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

static struct srv_psk *add_psk(struct srv_config *cfg, const char *identity)
{
	struct srv_psk *n = realloc(cfg->psks, (cfg->n_psks + 1) * sizeof(*n));

	if (!n)
		return NULL;
	cfg->psks = n;
	n = &cfg->psks[cfg->n_psks++];
	*n = (struct srv_psk){.identity = identity};
	return n;
}

/* --psk ID:HEX (the identity may not hold a colon). */
static int parse_psk(struct srv_config *cfg, char *arg)
{
	char *colon = strrchr(arg, ':');
	struct srv_psk *p;

	if (!colon || colon == arg)
		return -EINVAL;
	*colon = '\0';
	p = add_psk(cfg, arg);
	return p ? parse_hex(colon + 1, p->key, &p->key_len) : -ENOMEM;
}

static int parse_args(int argc, char **argv, struct srv_config *cfg)
{
	enum {
		O_DEMO = 256, O_INTERVAL, O_VERSIONS, O_ACK, O_RETRANS, O_RESPTMO, O_PSK,
		O_PSK_ID, O_PSK_KEY, O_CERT, O_KEY, O_CA, O_RPK, O_NOSEND, O_BS_TO, O_BS_SSID,
		O_BS_LT, O_BS_PSK, O_REFUSE_REG, O_SERVE, O_SERVE_SZX,
	};
	const char *psk_id = NULL, *psk_key = NULL;
	static const struct option opts[] = {
	    {"addr", required_argument, NULL, 'a'},
	    {"port", required_argument, NULL, 'p'},
	    {"demo", no_argument, NULL, O_DEMO},
	    {"read-interval", required_argument, NULL, O_INTERVAL},
	    {"lwm2m-versions", required_argument, NULL, O_VERSIONS},
	    {"ack-timeout", required_argument, NULL, O_ACK},
	    {"max-retransmit", required_argument, NULL, O_RETRANS},
	    {"response-timeout", required_argument, NULL, O_RESPTMO},
	    {"psk", required_argument, NULL, O_PSK},
	    {"psk-identity", required_argument, NULL, O_PSK_ID},
	    {"psk-key", required_argument, NULL, O_PSK_KEY},
	    {"cert", required_argument, NULL, O_CERT},
	    {"key", required_argument, NULL, O_KEY},
	    {"ca", required_argument, NULL, O_CA},
	    {"rpk", no_argument, NULL, O_RPK},
	    {"no-send", no_argument, NULL, O_NOSEND},
	    {"serve", required_argument, NULL, O_SERVE},
	    {"serve-szx", required_argument, NULL, O_SERVE_SZX},
	    {"refuse-register", required_argument, NULL, O_REFUSE_REG},
	    {"bootstrap-to", required_argument, NULL, O_BS_TO},
	    {"bootstrap-ssid", required_argument, NULL, O_BS_SSID},
	    {"bootstrap-lifetime", required_argument, NULL, O_BS_LT},
	    {"bootstrap-psk", required_argument, NULL, O_BS_PSK},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long v;
	double d;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "a:p:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			cfg->addr = optarg;
			break;
		case 'p':
			if (parse_num(optarg, 65535, &v))
				goto bad;
			cfg->port = (uint16_t)v;
			break;
		case O_DEMO:
			cfg->demo = true;
			break;
		case O_NOSEND:
			cfg->no_send = true;
			break;
		case O_SERVE:
			cfg->serve_dir = optarg;
			break;
		case O_SERVE_SZX:
			if (parse_num(optarg, 6, &v))
				goto bad;
			cfg->serve_szx = (unsigned)v;
			break;
		case O_REFUSE_REG:
			if (strcmp(optarg, "all") == 0)
				cfg->refuse_register = SRV_REFUSE_ALL;
			else if (strcmp(optarg, "strict") == 0)
				cfg->refuse_register = SRV_REFUSE_STRICT;
			else if (strcmp(optarg, "plain") == 0)
				cfg->refuse_register = SRV_REFUSE_PLAIN;
			else
				goto bad;
			break;
		case O_INTERVAL:
			if (parse_num(optarg, 86400, &v) || v == 0)
				goto bad;
			cfg->read_interval = (unsigned)v;
			break;
		case O_VERSIONS:
			if (parse_versions(optarg, &cfg->versions))
				goto bad;
			break;
		case O_ACK:
			/* libcoap ignores ACK timeouts below one second */
			d = strtod(optarg, &end);
			if (*end || end == optarg || !(d >= 1 && d <= 60))
				goto bad;
			cfg->ack_timeout_ms = (unsigned)(d * 1000 + 0.5);
			break;
		case O_RETRANS:
			if (parse_num(optarg, 20, &v))
				goto bad;
			cfg->max_retransmit = (int)v;
			break;
		case O_RESPTMO:
			if (parse_num(optarg, 3600, &v) || v == 0)
				goto bad;
			cfg->response_timeout = (unsigned)v;
			break;
		case O_PSK:
			if (parse_psk(cfg, optarg))
				goto bad;
			break;
		case O_PSK_ID:
			psk_id = optarg;
			break;
		case O_PSK_KEY:
			psk_key = optarg;
			break;
		case O_CERT:
			cfg->cert = optarg;
			break;
		case O_KEY:
			cfg->key = optarg;
			break;
		case O_CA:
			cfg->ca = optarg;
			break;
		case O_RPK:
			cfg->rpk = true;
			break;
		case O_BS_TO:
			cfg->bs_uri = optarg;
			break;
		case O_BS_SSID:
			if (parse_num(optarg, 65534, &v) || v == 0)
				goto bad;
			cfg->bs_ssid = (uint16_t)v;
			break;
		case O_BS_LT:
			if (parse_num(optarg, 0xffffffffu, &v) || v == 0)
				goto bad;
			cfg->bs_lifetime = (uint32_t)v;
			break;
		case O_BS_PSK: {
			char *colon = strrchr(optarg, ':');
			if (!colon || colon == optarg)
				goto bad;
			*colon = '\0';
			cfg->bs_psk_identity = optarg;
			if (parse_hex(colon + 1, cfg->bs_psk, &cfg->bs_psk_len))
				goto bad;
			break;
		}
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc || !psk_id != !psk_key || !cfg->cert != !cfg->key ||
	    ((cfg->ca || cfg->rpk) && !cfg->cert)) {
		usage(stderr);
		return -EINVAL;
	}
	if (psk_id) {
		struct srv_psk *p = add_psk(cfg, psk_id);
		optarg = (char *)psk_key;
		if (!p || parse_hex(psk_key, p->key, &p->key_len))
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "lwm2m-test-server: bad value '%s'\n", optarg);
	return -EINVAL;
}

/* Line assembly for stdin. */
struct linebuf {
	char *data;
	size_t len, cap;
	bool overlong; /* discarding the rest of a too long line */
};

/* Run the complete lines in lb; returns 1 when one of them was quit. */
static int run_lines(struct linebuf *lb, bool eof)
{
	size_t start = 0;
	int quit = 0;

	while (!quit) {
		char *nl = memchr(lb->data + start, '\n', lb->len - start);
		if (!nl && !(eof && start < lb->len))
			break;
		size_t end = nl ? (size_t)(nl - lb->data) : lb->len;
		lb->data[end] = '\0';
		if (lb->overlong)
			lb->overlong = false;
		else if (strlen(lb->data + start) != end - start)
			out_error(NULL, NULL, "NUL byte in command line");
		else
			quit = cmd_exec(lb->data + start);
		start = nl ? end + 1 : lb->len;
	}
	memmove(lb->data, lb->data + start, lb->len - start);
	lb->len -= start;
	return quit;
}

/* 1: quit, 0: continue, -1: EOF. */
static int read_stdin(struct linebuf *lb)
{
	if (lb->cap - lb->len < 4096) {
		size_t ncap = lb->cap ? lb->cap * 2 : 65536;
		char *n = ncap <= MAX_LINE + 1 ? realloc(lb->data, ncap + 1) : NULL;
		if (!n) {
			out_error(NULL, NULL, "command line longer than %u bytes", MAX_LINE);
			lb->len = 0;
			lb->overlong = true;
		} else {
			lb->data = n;
			lb->cap = ncap;
		}
	}
	ssize_t r = read(STDIN_FILENO, lb->data + lb->len, lb->cap - lb->len);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (r == 0)
		return run_lines(lb, true) ? 1 : -1;
	lb->len += (size_t)r;
	return run_lines(lb, false);
}

int main(int argc, char **argv)
{
	struct srv_config cfg = {
	    .addr = "127.0.0.1",
	    .port = COAP_DEFAULT_PORT,
	    .read_interval = 5,
	    .versions = SRV_V1_0 | SRV_V1_1 | SRV_V1_2,
	    .max_retransmit = -1,
	    .response_timeout = 60,
	    .serve_szx = 6,
	};
	struct linebuf lb = {0};
	sigset_t mask;
	int sfd, rc = 0;

	if (parse_args(argc, argv, &cfg))
		return 2;
	out_init(cfg.demo);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("signalfd");
		return 1;
	}

	coap_startup();
	if (srv_start(&cfg) < 0) {
		rc = 1;
		goto out;
	}
	if (srv_fd() < 0) {
		fprintf(stderr, "lwm2m-test-server: libcoap built without epoll\n");
		rc = 1;
		goto out;
	}
	for (;;) {
		if (srv_process() < 0) {
			fprintf(stderr, "lwm2m-test-server: CoAP I/O failed\n");
			rc = 1;
			break;
		}
		struct pollfd fds[3] = {
		    {.fd = srv_fd(), .events = POLLIN},
		    {.fd = sfd, .events = POLLIN},
		    {.fd = STDIN_FILENO, .events = POLLIN},
		};
		if (poll(fds, 3, srv_next_timeout()) < 0 && errno != EINTR) {
			perror("poll");
			rc = 1;
			break;
		}
		if (fds[1].revents)
			break;
		/* quit, or the end of stdin: tests end a server by closing it */
		if (fds[2].revents && read_stdin(&lb) != 0)
			break;
	}
out:
	free(lb.data);
	free(cfg.psks);
	srv_stop();
	coap_cleanup();
	close(sfd);
	return rc;
}
