/* udp-relay: a UDP forwarder on loopback that stands in for a NAT between
 * gatewayd and a test LwM2M server.
 *
 *   udp-relay -u UPSTREAM_PORT [-p LISTEN_PORT]
 *
 * Datagrams from each client address (a device's own socket) go upstream
 * through a socket of their own, so the server sees one address per
 * client, and the server's answers come back to that client.  On stdin,
 * "rebind" replaces every upstream socket with a new one (a new source
 * port, as when a NAT forgets its mappings); the old ones are closed, so
 * the server's traffic to the old addresses is refused as by a NAT that
 * lost them.  "drop N" drops the next N datagrams from clients, as a lossy path
 * does; "flows" asks how many client sockets it has seen.  "quit" or the end of stdin ends it; so do SIGTERM and
 * SIGINT.  Events on stdout, one JSON object per line:
 *   {"event":"listening","port":N}
 *   {"event":"flow","client_port":N,"upstream_port":M}   a new mapping
 *   {"event":"rebound","flows":K}                         after "rebind"
 *   {"event":"dropped","client_port":N,"left":K}          a datagram dropped
 *   {"event":"flows","n":K}                               after "flows"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FLOWS 32

struct flow {
	struct sockaddr_in client;
	int fd; /* upstream socket, connected to the server */
};

static struct flow flows[MAX_FLOWS];
static size_t n_flows;
static unsigned long to_drop; /* "drop N": client datagrams still to drop */
static struct sockaddr_in upstream;

static int udp_socket(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udp-relay: socket");
		exit(1);
	}
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	getsockname(fd, (struct sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

/* A new upstream socket for f, connected to the server. */
static void open_upstream(struct flow *f)
{
	f->fd = udp_socket(0);
	if (connect(f->fd, (struct sockaddr *)&upstream, sizeof(upstream)) < 0) {
		perror("udp-relay: connect");
		exit(1);
	}
	printf("{\"event\":\"flow\",\"client_port\":%u,\"upstream_port\":%u}\n",
	       ntohs(f->client.sin_port), local_port(f->fd));
	fflush(stdout);
}

static struct flow *flow_for(const struct sockaddr_in *from)
{
	for (size_t i = 0; i < n_flows; i++)
		if (flows[i].client.sin_port == from->sin_port &&
		    flows[i].client.sin_addr.s_addr == from->sin_addr.s_addr)
			return &flows[i];
	if (n_flows == MAX_FLOWS)
		return NULL;
	flows[n_flows].client = *from;
	open_upstream(&flows[n_flows]);
	return &flows[n_flows++];
}

static void rebind(void)
{
	for (size_t i = 0; i < n_flows; i++) {
		close(flows[i].fd);
		open_upstream(&flows[i]);
	}
	printf("{\"event\":\"rebound\",\"flows\":%zu}\n", n_flows);
	fflush(stdout);
}

/* 1: quit. */
static int read_commands(void)
{
	static char buf[256];
	static size_t len;
	ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
	char *nl;

	if (n <= 0)
		return 1;
	len += (size_t)n;
	buf[len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		if (strcmp(buf, "rebind") == 0)
			rebind();
		else if (strncmp(buf, "drop ", 5) == 0)
			to_drop = strtoul(buf + 5, NULL, 10);
		else if (strcmp(buf, "flows") == 0) {
			printf("{\"event\":\"flows\",\"n\":%zu}\n", n_flows);
			fflush(stdout);
		}
		else if (strcmp(buf, "quit") == 0)
			return 1;
		len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len + 1);
	}
	if (len == sizeof(buf) - 1)
		len = 0; /* an overlong line: dropped */
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long up = 0, listen_port = 0;
	uint8_t pkt[65536];
	sigset_t mask;
	int opt, lfd, sfd;

	while ((opt = getopt(argc, argv, "u:p:")) != -1) {
		if (opt == 'u')
			up = strtoul(optarg, NULL, 10);
		else if (opt == 'p')
			listen_port = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (up == 0 || up > 65535 || listen_port > 65535) {
		fprintf(stderr, "usage: udp-relay -u UPSTREAM_PORT [-p LISTEN_PORT]\n");
		return 2;
	}
	upstream = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)up)};
	upstream.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = udp_socket((uint16_t)listen_port);
	printf("{\"event\":\"listening\",\"port\":%u}\n", local_port(lfd));
	fflush(stdout);

	for (;;) {
		struct pollfd p[3 + MAX_FLOWS] = {
		    {.fd = lfd, .events = POLLIN},
		    {.fd = sfd, .events = POLLIN},
		    {.fd = STDIN_FILENO, .events = POLLIN},
		};
		size_t np = 3;

		for (size_t i = 0; i < n_flows; i++)
			p[np++] = (struct pollfd){.fd = flows[i].fd, .events = POLLIN};
		if (poll(p, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("udp-relay: poll");
			return 1;
		}
		if (p[1].revents)
			break;
		if (p[2].revents && read_commands())
			break;
		if (p[0].revents) {
			struct sockaddr_in from;
			socklen_t flen = sizeof(from);
			ssize_t n = recvfrom(lfd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &flen);
			struct flow *f = n >= 0 ? flow_for(&from) : NULL;
			if (f && to_drop > 0) {
				to_drop--;
				printf("{\"event\":\"dropped\",\"client_port\":%u,\"left\":%lu}\n",
				       ntohs(from.sin_port), to_drop);
				fflush(stdout);
			} else if (f) {
				send(f->fd, pkt, (size_t)n, 0); /* lost when it fails, as UDP is */
			}
		}
		/* Answers: back to the flow's client.  An ICMP error from the
		 * server's side reads as an error here and is dropped. */
		for (size_t i = 3; i < np; i++) {
			struct flow *f = &flows[i - 3];
			ssize_t n;
			if (!p[i].revents || f->fd != p[i].fd)
				continue; /* replaced by a rebind meanwhile */
			n = recv(f->fd, pkt, sizeof(pkt), 0);
			if (n >= 0)
				sendto(lfd, pkt, (size_t)n, 0, (struct sockaddr *)&f->client,
				       sizeof(f->client));
		}
	}
	for (size_t i = 0; i < n_flows; i++)
		close(flows[i].fd);
	close(lfd);
	close(sfd);
	return 0;
}
