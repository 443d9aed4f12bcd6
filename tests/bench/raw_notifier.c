/* bench-raw-notifier: the physical floor for notify_rate.
 *
 * It does what gatewayd does for notifications with nothing else: N UDP sockets, each
 * connected to the server, each sending one notification in turn with send(2), as fast
 * as the kernel takes them.  The bytes are a notification gatewayd itself sent in the
 * same run (given in hex), with three changes a real sender makes too: the type is NON,
 * the Message ID counts up, and the token names this sender and the socket (kind 'Q',
 * then the socket's index) so that the receiver can tell the two apart.
 *
 *   bench-raw-notifier -a ADDR -p PORT -n SOCKETS --hex BYTES
 *
 * Prints {"event":"ready","sockets":N} once every socket is connected, then sends until
 * SIGTERM or "quit" on stdin, and prints {"event":"exit","sent":S,"eagain":E}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOK_RAW 'Q'

static volatile sig_atomic_t quit;

static void on_term(int sig)
{
	(void)sig;
	quit = 1;
}

static int from_hex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;
	unsigned byte;

	if (strlen(hex) % 2 || n == 0 || n > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -1;
		out[i] = (uint8_t)byte;
	}
	return (int)n;
}

/* Between bursts: has "quit" (or EOF) arrived on stdin? */
static bool stdin_says_quit(void)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	char buf[64];

	if (poll(&p, 1, 0) <= 0)
		return false;
	return read(STDIN_FILENO, buf, sizeof(buf)) <= 0 || strncmp(buf, "quit", 4) == 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"hex", required_argument, NULL, 'x'}, {0}};
	const char *host = "127.0.0.1", *hex = NULL;
	int port = 0, n = 0, opt, len, tkl;
	uint8_t pdu[1500];
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct rlimit rl;
	uint64_t sent = 0, eagain = 0;
	uint16_t mid = 1;
	int *fds;

	while ((opt = getopt_long(argc, argv, "a:p:n:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			host = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'x':
			hex = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (!hex || port <= 0 || n <= 0 || inet_pton(AF_INET, host, &to.sin_addr) != 1)
		goto usage;
	len = from_hex(hex, pdu, sizeof(pdu));
	tkl = len >= 4 ? pdu[0] & 0x0f : -1;
	if (len < 4 || (pdu[0] >> 6) != 1 || tkl < 5 || 4 + tkl > len) {
		fprintf(stderr, "bench-raw-notifier: --hex is not a CoAP message with a token of "
				"5 to 8 bytes\n");
		return 2;
	}
	pdu[0] = (uint8_t)((pdu[0] & 0xcf) | (1 << 4)); /* NON */
	pdu[4] = TOK_RAW;
	to.sin_port = htons((uint16_t)port);

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	fds = calloc((size_t)n, sizeof(*fds));
	if (!fds)
		return 1;
	for (int i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&to, sizeof(to)) < 0) {
			fprintf(stderr, "bench-raw-notifier: socket %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	printf("{\"event\":\"ready\",\"sockets\":%d}\n", n);

	/* stdin is looked at every 1,024 sends or so: a poll per round of 20 sockets would
	 * cost the floor a few percent. */
	for (unsigned since_check = 0; !quit;) {
		for (int i = 0; i < n; i++) {
			uint32_t idx = (uint32_t)i;

			pdu[2] = (uint8_t)(mid >> 8);
			pdu[3] = (uint8_t)mid;
			mid++;
			memcpy(pdu + 5, &idx, sizeof(idx) < (size_t)tkl - 1 ? sizeof(idx)
									 : (size_t)tkl - 1);
			if (send(fds[i], pdu, (size_t)len, 0) == len)
				sent++;
			else if (errno == EAGAIN || errno == ENOBUFS)
				eagain++;
		}
		since_check += (unsigned)n;
		if (since_check >= 1024) {
			since_check = 0;
			if (stdin_says_quit())
				break;
		}
	}
	printf("{\"event\":\"exit\",\"sent\":%" PRIu64 ",\"eagain\":%" PRIu64 "}\n", sent,
	       eagain);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;

usage:
	fprintf(stderr, "usage: %s -a ADDR -p PORT -n SOCKETS --hex BYTES\n", argv[0]);
	return 2;
}
