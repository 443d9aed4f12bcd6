/* Malformed CoAP reaching a device's client session.  A device's socket is
 * connected to its server, so only the server's address can reach it: here
 * the test itself is that server, on a raw UDP socket, because no real CoAP
 * stack will put broken bytes on the wire.  It accepts gatewayd's
 * registration, then sends garbage and bad requests and checks that each
 * gets the right error (or is dropped) and that the device keeps serving. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static const char config_tmpl[] =
	"gateway = { name = \"mf\"; };\n"
	"servers = ( { name = \"raw\"; uri = \"coap://127.0.0.1:@PORT@\"; lifetime = 60; } );\n"
	"devices = ( { name = \"th\"; adapter = \"sim\";\n"
	"  points = ( { channel = \"h\"; path = \"/3304/0/5700\"; poll = 1.0;\n"
	"               waveform = \"constant\"; base = 45.5; } ); } );\n";

struct env {
	char *dir;
	int fd;
	struct sockaddr_in device;
	struct proc gw;
	uint16_t mid;
};

/* Receive one datagram within the deadline; -1 on timeout. */
static int recv_dgram(struct env *e, uint8_t *buf, size_t cap, int timeout_ms,
		      struct sockaddr_in *from)
{
	struct pollfd pfd = {.fd = e->fd, .events = POLLIN};
	socklen_t flen = sizeof(*from);

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	return (int)recvfrom(e->fd, buf, cap, 0, (struct sockaddr *)from, &flen);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	uint8_t buf[2048], ack[64];
	char *config;
	int n, tkl;

	*state = e;
	e->mid = 0x7000;
	e->dir = h_tmpdir();
	e->fd = socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (!e->dir || bind(e->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(e->fd, (struct sockaddr *)&a, &alen) < 0)
		return -1;
	config = h_write_config(e->dir, "gatewayd.conf", config_tmpl, ntohs(a.sin_port));
	if (h_start_gatewayd(&e->gw, e->dir, config) < 0)
		return -1;
	free(config);
	/* The Register request: CON POST /rd?... */
	n = recv_dgram(e, buf, sizeof(buf), H_TIMEOUT_MS, &e->device);
	if (n < 4 || (buf[0] >> 4) != 0x4 || buf[1] != 0x02)
		return -1;
	tkl = buf[0] & 0x0f;
	/* ACK 2.01 Created, same MID and token, Location-Path "rd" "1". */
	ack[0] = (uint8_t)(0x60 | tkl);
	ack[1] = 0x41;
	ack[2] = buf[2];
	ack[3] = buf[3];
	memcpy(ack + 4, buf + 4, (size_t)tkl);
	memcpy(ack + 4 + tkl, "\x82rd\x01" "1", 5);
	sendto(e->fd, ack, (size_t)(4 + tkl + 5), 0, (struct sockaddr *)&e->device,
	       sizeof(e->device));
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	h_stop(&e->gw, SIGKILL, 5000);
	close(e->fd);
	h_tmpdir_remove(e->dir);
	free(e);
	return 0;
}

/* Send a request; return the reply's length (or -1 when none came). */
static int exchange(struct env *e, const uint8_t *req, size_t len, uint8_t *reply, size_t cap,
		    int timeout_ms)
{
	struct sockaddr_in from;
	int n;

	sendto(e->fd, req, len, 0, (struct sockaddr *)&e->device, sizeof(e->device));
	for (;;) {
		n = recv_dgram(e, reply, cap, timeout_ms, &from);
		if (n < 0)
			return -1;
		/* Skip anything that is not an answer to this message (e.g. an
		 * Update from the client). */
		if (n >= 4 && (reply[0] >> 4 & 3) >= 2 && reply[2] == req[2] && reply[3] == req[3])
			return n;
	}
}

static void build_get(struct env *e, uint8_t *msg, size_t *len, const char *const *segs,
		      size_t nsegs, int accept)
{
	size_t n = 0;
	unsigned last = 0;

	e->mid++;
	msg[n++] = 0x41; /* CON, token length 1 */
	msg[n++] = 0x01; /* GET */
	msg[n++] = (uint8_t)(e->mid >> 8);
	msg[n++] = (uint8_t)e->mid;
	msg[n++] = 0x5a;
	for (size_t i = 0; i < nsegs; i++) {
		size_t sl = strlen(segs[i]);
		msg[n++] = (uint8_t)(((11 - last) << 4) | sl);
		memcpy(msg + n, segs[i], sl);
		n += sl;
		last = 11;
	}
	if (accept >= 0) {
		msg[n++] = (uint8_t)(((17 - last) << 4) | 1);
		msg[n++] = (uint8_t)accept;
	}
	*len = n;
}

static uint8_t code_of(const uint8_t *reply)
{
	return reply[1];
}

#define CODE(c, d) ((uint8_t)(((c) << 5) | (d)))

static void valid_read_still_answers(struct env *e)
{
	static const char *const segs[] = {"3304", "0", "5700"};
	uint8_t msg[64], reply[512];
	size_t len;
	int n;

	build_get(e, msg, &len, segs, 3, 0);
	n = exchange(e, msg, len, reply, sizeof(reply), H_TIMEOUT_MS);
	assert_true(n > 5);
	assert_int_equal(code_of(reply), CODE(2, 5));
	/* Payload after the 0xFF marker is the text value. */
	{
		const uint8_t *pm = memchr(reply + 5, 0xff, (size_t)n - 5);
		assert_non_null(pm);
		assert_int_equal(reply + n - pm - 1, 4);
		assert_memory_equal(pm + 1, "45.5", 4);
	}
}

static void reads_work_over_the_raw_server(void **state)
{
	valid_read_still_answers(*state);
}

static void unknown_critical_option_is_4_02(void **state)
{
	struct env *e = *state;
	uint8_t reply[256];
	/* CON GET /3304 with option 2049 (odd, so critical, and unassigned). */
	uint8_t msg[] = {0x41, 0x01, 0x12, 0x34, 0xAB, 0xB4, '3', '3', '0', '4',
			 0xE0, 0x06, 0xE9};
	int n = exchange(e, msg, sizeof(msg), reply, sizeof(reply), H_TIMEOUT_MS);

	assert_true(n >= 4);
	assert_int_equal(code_of(reply), CODE(4, 2));
	valid_read_still_answers(e);
}

static void non_lwm2m_paths_are_4_04(void **state)
{
	struct env *e = *state;
	static const char *const bad[][3] = {
		{"abc", NULL, NULL},      /* not a number */
		{"3304", "x", NULL},
		{"65535", NULL, NULL},    /* reserved id */
		{"3304", "0", "99999"},   /* out of range */
		{"03304", NULL, NULL},    /* leading zero */
	};
	uint8_t msg[64], reply[256];
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t nsegs = bad[i][1] ? (bad[i][2] ? 3 : 2) : 1;
		build_get(e, msg, &len, bad[i], nsegs, -1);
		assert_true(exchange(e, msg, len, reply, sizeof(reply), H_TIMEOUT_MS) >= 4);
		assert_int_equal(code_of(reply), CODE(4, 4));
	}
}

static void garbage_is_dropped_and_harmless(void **state)
{
	struct env *e = *state;
	static const uint8_t junk[][8] = {
		{0x40},                                 /* truncated header */
		{0xff, 0xff, 0xff, 0xff, 0x00, 0x01},   /* version 3 */
		{0x4f, 0x01, 0x00, 0x01, 1, 2, 3},      /* token length 15 */
		{0x41, 0x01, 0x00, 0x02, 0x01, 0xF0},   /* option delta 15 (reserved) */
		{0x41, 0x01, 0x00, 0x03, 0x01, 0xBD},   /* extended length missing */
	};
	static const size_t lens[] = {1, 6, 7, 6, 6};

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		sendto(e->fd, junk[i], lens[i], 0, (struct sockaddr *)&e->device, sizeof(e->device));
	valid_read_still_answers(e);
}

static void unsupported_accept_is_4_06(void **state)
{
	struct env *e = *state;
	static const char *const segs[] = {"3304", "0"};
	uint8_t msg[64], reply[256];
	size_t len;

	build_get(e, msg, &len, segs, 2, 0); /* text/plain for an instance */
	assert_true(exchange(e, msg, len, reply, sizeof(reply), H_TIMEOUT_MS) >= 4);
	assert_int_equal(code_of(reply), CODE(4, 6));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_work_over_the_raw_server),
		cmocka_unit_test(unknown_critical_option_is_4_02),
		cmocka_unit_test(non_lwm2m_paths_are_4_04),
		cmocka_unit_test(garbage_is_dropped_and_harmless),
		cmocka_unit_test(unsupported_accept_is_4_06),
	};
	int skip = h_skip_without_sim();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("malformed", tests, setup, teardown);
}
