/* bench-ble-floor: the floor of ble_adverts_rate, the same job as gatewayd's ble adapter
 * with nothing else.
 *
 * An sd-bus client on the same bus that subscribes to the same signals as the adapter
 * (PropertiesChanged under /org/bluez), reads the ServiceData of each, finds the device
 * by its object path (a hash table), decodes the BTHome frame with the project's own
 * decoder (adapters/ble/libbledecode.la, with per-device packet-id state) and sends one
 * UDP datagram per decoded advert to the receiver: the bytes of one of gatewayd's own
 * notifications of the same run (so the same size), made NON, with the Message ID
 * counting up, the token naming this sender ('Q', as bench-raw-notifier) and the device,
 * and the decoded temperature in the payload's last 8 bytes; one socket per device, as
 * gatewayd has one per LwM2M client.  No LwM2M model, observation or CoAP library.
 *
 *   bench-ble-floor BUS_ADDRESS N PORT HEX
 *
 * Device i is A4:C1:38:00:HH:LL (HHLL = i + 1), as bench-ble-source makes them.  Prints
 * {"event":"ready"} once subscribed; on "quit" (stdin) {"event":"exit","adverts":A,
 * "decoded":D,"sent":S}. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "adapters/ble/ble_decode.h"

#define TOK_RAW 'Q'
#define HASH_SIZE 4096u /* power of two, well above N */

struct dev {
	char path[64];
	uint8_t mac[6];
	struct ble_bthome_state st;
	int fd;
};

static struct {
	long n;
	struct dev *devs;
	long hash[HASH_SIZE]; /* device index + 1, 0: empty */
	uint8_t pdu[1500];
	int len, tkl;
	uint16_t mid;
	uint64_t adverts, decoded, sent;
} S;

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static struct dev *dev_by_path(const char *path)
{
	for (uint32_t h = hash_str(path) & (HASH_SIZE - 1);; h = (h + 1) & (HASH_SIZE - 1)) {
		long i = S.hash[h];

		if (!i)
			return NULL;
		if (strcmp(S.devs[i - 1].path, path) == 0)
			return &S.devs[i - 1];
	}
}

/* One decoded advert: one datagram. */
static void send_reading(struct dev *d, double value)
{
	uint32_t idx = (uint32_t)(d - S.devs);
	size_t tl = (size_t)S.tkl - 1 < sizeof(idx) ? (size_t)S.tkl - 1 : sizeof(idx);

	S.pdu[2] = (uint8_t)(S.mid >> 8);
	S.pdu[3] = (uint8_t)S.mid;
	S.mid++;
	memcpy(S.pdu + 5, &idx, tl);
	if (S.len >= 4 + S.tkl + 9)
		memcpy(S.pdu + S.len - 8, &value, sizeof(value));
	if (send(d->fd, S.pdu, (size_t)S.len, 0) == S.len)
		S.sent++;
}

/* The BTHome service data of a{sv} (inside the ServiceData variant). */
static int service_data(sd_bus_message *m, struct dev *d)
{
	int r;

	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) <= 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *uuid;
		const void *p;
		size_t len;

		if ((r = sd_bus_message_read(m, "s", &uuid)) < 0)
			return r;
		if (strcasecmp(uuid, "0000fcd2-0000-1000-8000-00805f9b34fb") == 0 &&
		    sd_bus_message_enter_container(m, 'v', "ay") > 0) {
			struct ble_reading out[16];
			int n;

			if ((r = sd_bus_message_read_array(m, 'y', &p, &len)) < 0 ||
			    (r = sd_bus_message_exit_container(m)) < 0)
				return r;
			n = ble_decode_bthome(p, len, NULL, &d->st, d->mac, out, 16);
			if (n > 0)
				S.decoded++;
			for (int k = 0; k < n; k++)
				if (strcmp(out[k].name, "temperature") == 0 && out[k].index == 0)
					send_reading(d, out[k].value);
		} else if ((r = sd_bus_message_skip(m, "v")) < 0) {
			return r;
		}
		if ((r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int on_props_changed(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	const char *iface, *path = sd_bus_message_get_path(m);
	struct dev *d;
	int r;

	(void)ud;
	(void)e;
	S.adverts++;
	if (!path || !(d = dev_by_path(path)) || sd_bus_message_read(m, "s", &iface) < 0 ||
	    strcmp(iface, "org.bluez.Device1") != 0 ||
	    sd_bus_message_enter_container(m, 'a', "{sv}") <= 0)
		return 0;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *k;

		if (sd_bus_message_read(m, "s", &k) < 0)
			return 0;
		if (strcmp(k, "ServiceData") == 0) {
			if (sd_bus_message_enter_container(m, 'v', "a{sv}") <= 0 ||
			    service_data(m, d) < 0 || sd_bus_message_exit_container(m) < 0)
				return 0;
		} else if (sd_bus_message_skip(m, "v") < 0) {
			return 0;
		}
		if (sd_bus_message_exit_container(m) < 0)
			return 0;
	}
	return 0;
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

int main(int argc, char **argv)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct rlimit rl;
	sd_bus *bus = NULL;
	bool quit = false;
	int r;

	if (argc != 5 || (S.n = atol(argv[2])) <= 0 || S.n > 65535 || S.n >= (long)HASH_SIZE / 2 ||
	    atoi(argv[3]) <= 0) {
		fprintf(stderr, "usage: %s BUS_ADDRESS N PORT HEX\n", argv[0]);
		return 2;
	}
	S.len = from_hex(argv[4], S.pdu, sizeof(S.pdu));
	S.tkl = S.len >= 4 ? S.pdu[0] & 0x0f : -1;
	if (S.len < 4 || (S.pdu[0] >> 6) != 1 || S.tkl < 5 || 4 + S.tkl > S.len) {
		fprintf(stderr, "bench-ble-floor: HEX is not a CoAP message with a token of 5 to 8 "
				"bytes\n");
		return 2;
	}
	S.pdu[0] = (uint8_t)((S.pdu[0] & 0xcf) | (1 << 4)); /* NON */
	S.pdu[4] = TOK_RAW;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	to.sin_port = htons((uint16_t)atoi(argv[3]));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	S.devs = calloc((size_t)S.n, sizeof(*S.devs));
	if (!S.devs)
		return 1;
	for (long i = 0; i < S.n; i++) {
		struct dev *d = &S.devs[i];
		unsigned a = (unsigned)(i + 1);
		uint32_t h;

		snprintf(d->path, sizeof(d->path), "/org/bluez/hci0/dev_A4_C1_38_00_%02X_%02X",
			 (a >> 8) & 0xff, a & 0xff);
		memcpy(d->mac, (uint8_t[6]){0xa4, 0xc1, 0x38, 0, (uint8_t)(a >> 8), (uint8_t)a}, 6);
		for (h = hash_str(d->path) & (HASH_SIZE - 1); S.hash[h]; h = (h + 1) & (HASH_SIZE - 1))
			;
		S.hash[h] = i + 1;
		d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (d->fd < 0 || connect(d->fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
			fprintf(stderr, "bench-ble-floor: socket %ld: %s\n", i, strerror(errno));
			return 1;
		}
	}
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, argv[1]);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	/* The adapter's own match (adapters/ble/ble.c), installed before "ready". */
	if (r >= 0)
		r = sd_bus_add_match(bus, NULL,
				     "type='signal',interface='org.freedesktop.DBus.Properties',"
				     "member='PropertiesChanged',path_namespace='/org/bluez'",
				     on_props_changed, NULL);
	if (r < 0) {
		fprintf(stderr, "bench-ble-floor: bus: %s\n", strerror(-r));
		return 1;
	}
	printf("{\"event\":\"ready\",\"devices\":%ld}\n", S.n);
	while (!quit) {
		struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
				      {.fd = sd_bus_get_fd(bus), .events = POLLIN}};

		while ((r = sd_bus_process(bus, NULL)) > 0)
			;
		if (r < 0) {
			fprintf(stderr, "bench-ble-floor: bus: %s\n", strerror(-r));
			return 1;
		}
		p[1].events = (short)sd_bus_get_events(bus);
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents) {
			char buf[64];

			quit = read(STDIN_FILENO, buf, sizeof(buf)) <= 0 || strncmp(buf, "quit", 4) == 0;
		}
	}
	printf("{\"event\":\"exit\",\"adverts\":%" PRIu64 ",\"decoded\":%" PRIu64
	       ",\"sent\":%" PRIu64 "}\n", S.adverts, S.decoded, S.sent);
	sd_bus_flush_close_unref(bus);
	for (long i = 0; i < S.n; i++)
		close(S.devs[i].fd);
	free(S.devs);
	return 0;
}
