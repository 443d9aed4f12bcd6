/* bench-ble-source: the advert source of ble_adverts_rate, a fast stand-in for bluetoothd.
 *
 * It owns org.bluez on a private bus and serves exactly what the ble adapter asks of
 * BlueZ (adapters/ble/ble.c): GetManagedObjects on "/" (the Adapter1 object hci0 and N
 * Device1 objects under it), SetDiscoveryFilter and StartDiscovery on hci0.  Then it
 * emits PropertiesChanged(ServiceData) on the devices round-robin: a plaintext BTHome v2
 * frame (packet id, temperature) whose packet id and temperature change every advert,
 * as fast as the bus takes them or at a paced rate.  python-dbusmock sends a few hundred
 * a second; this sends what dbus-daemon can route.
 *
 *   bench-ble-source BUS_ADDRESS N
 *
 * Device i has the address A4:C1:38:00:HH:LL (HHLL = i + 1).  Commands on stdin, one
 * JSON line on stdout each:
 *   prime         one advert per device, all written to the bus: "primed"
 *   go [RATE]     emit round-robin, at most RATE adverts a second (0 or none: no limit)
 *   mark ID       "mark" with sent (adverts written to the bus so far) and t_us
 *                 (CLOCK_MONOTONIC): two marks give the send rate
 *   stop          stop emitting: "stopped" with sent
 *   quit
 * The adapter's calls show as events: "objects", "filter", "discovery".
 *
 * Adverts go out 64 at a time, each batch flushed to the socket before the next: what is
 * counted has been written to dbus-daemon, which stops reading from a sender whose
 * messages still wait for a slow receiver (max_incoming_bytes), so the count is bounded
 * by the slowest subscriber as well as by the bus itself. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#define ADAPTER_PATH "/org/bluez/hci0"
#define BTHOME_UUID "0000fcd2-0000-1000-8000-00805f9b34fb"
#define BATCH 64

static struct {
	sd_bus *bus;
	long n;
	char (*paths)[64];
	char (*macs)[18];
	uint8_t *pid;     /* per device: BTHome packet id */
	uint16_t *temp;   /* per device: temperature, 0.01 °C */
	long next;        /* round-robin position */
	uint64_t sent;
	bool going, quit;
	double rate;      /* adverts per second, 0: as fast as possible */
	uint64_t go_us, go_sent;
} S;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench-ble-source: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

/* a{sv} of one object's interface: the Adapter1 or a Device1. */
static int append_props(sd_bus_message *m, long i)
{
	int r;

	if (i < 0)
		r = sd_bus_message_append(m, "a{sv}", 3, "Address", "s", "00:1A:7D:DA:71:00",
					  "Powered", "b", 1, "Discovering", "b", 0);
	else
		r = sd_bus_message_append(m, "a{sv}", 4, "Address", "s", S.macs[i], "Adapter", "o",
					  ADAPTER_PATH, "Connected", "b", 0, "Paired", "b", 0);
	return r;
}

static int append_object(sd_bus_message *m, const char *path, const char *iface, long i)
{
	int r = sd_bus_message_open_container(m, 'e', "oa{sa{sv}}");

	if (r >= 0)
		r = sd_bus_message_append(m, "o", path);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sa{sv}}");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'e', "sa{sv}");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", iface);
	if (r >= 0)
		r = append_props(m, i);
	for (int k = 0; r >= 0 && k < 3; k++)
		r = sd_bus_message_close_container(m);
	return r;
}

/* Messages to "/": the ObjectManager's GetManagedObjects. */
static int on_root(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	sd_bus_message *reply = NULL;
	int r;

	(void)ud;
	(void)e;
	if (!sd_bus_message_is_method_call(m, "org.freedesktop.DBus.ObjectManager",
					   "GetManagedObjects"))
		return 0;
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "{oa{sa{sv}}}");
	if (r >= 0)
		r = append_object(reply, ADAPTER_PATH, "org.bluez.Adapter1", -1);
	for (long i = 0; r >= 0 && i < S.n; i++)
		r = append_object(reply, S.paths[i], "org.bluez.Device1", i);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	if (r < 0)
		die("GetManagedObjects reply", r);
	printf("{\"event\":\"objects\",\"devices\":%ld}\n", S.n);
	return 1;
}

/* Messages to hci0: the discovery calls, answered with nothing. */
static int on_adapter(sd_bus_message *m, void *ud, sd_bus_error *e)
{
	(void)ud;
	(void)e;
	if (sd_bus_message_is_method_call(m, "org.bluez.Adapter1", "SetDiscoveryFilter"))
		printf("{\"event\":\"filter\"}\n");
	else if (sd_bus_message_is_method_call(m, "org.bluez.Adapter1", "StartDiscovery"))
		printf("{\"event\":\"discovery\"}\n");
	else
		return 0;
	return sd_bus_reply_method_return(m, "");
}

/* One advert of device i: PropertiesChanged("org.bluez.Device1",
 * {"ServiceData": <{BTHOME_UUID: <[40 00 pid 02 tl th]>}>}, []). */
static int send_advert(long i)
{
	sd_bus_message *m = NULL;
	uint8_t frame[6];
	int r;

	S.pid[i]++;
	S.temp[i] = (uint16_t)(2000 + (S.temp[i] - 2000 + 1) % 1000); /* 20.00 .. 29.99 °C */
	frame[0] = 0x40; /* BTHome v2, plaintext, regular interval */
	frame[1] = 0x00; /* packet id */
	frame[2] = S.pid[i];
	frame[3] = 0x02; /* temperature, sint16, 0.01 °C */
	frame[4] = (uint8_t)(S.temp[i] & 0xff);
	frame[5] = (uint8_t)(S.temp[i] >> 8);
	r = sd_bus_message_new_signal(S.bus, &m, S.paths[i], "org.freedesktop.DBus.Properties",
				      "PropertiesChanged");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", "org.bluez.Device1");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", "ServiceData");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', "a{sv}");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", BTHOME_UUID);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'v', "ay");
	if (r >= 0)
		r = sd_bus_message_append_array(m, 'y', frame, sizeof(frame));
	for (int k = 0; r >= 0 && k < 6; k++)
		r = sd_bus_message_close_container(m);
	if (r >= 0)
		r = sd_bus_message_append(m, "as", 0);
	if (r >= 0)
		r = sd_bus_send(S.bus, m, NULL);
	sd_bus_message_unref(m);
	return r;
}

/* n adverts round-robin, then written out whole. */
static void send_batch(long n)
{
	int r;

	for (long k = 0; k < n; k++) {
		if ((r = send_advert(S.next)) < 0)
			die("advert", r);
		S.next = (S.next + 1) % S.n;
	}
	if ((r = sd_bus_flush(S.bus)) < 0)
		die("flush", r);
	S.sent += (uint64_t)n;
}

static void command(char *line)
{
	char *verb = strtok(line, " \t\r\n"), *arg = strtok(NULL, " \t\r\n");

	if (!verb)
		return;
	if (strcmp(verb, "prime") == 0) {
		for (long left = S.n; left > 0; left -= BATCH)
			send_batch(left < BATCH ? left : BATCH);
		printf("{\"event\":\"primed\",\"sent\":%" PRIu64 "}\n", S.sent);
	} else if (strcmp(verb, "go") == 0) {
		S.rate = arg ? atof(arg) : 0;
		S.going = true;
		S.go_us = now_us();
		S.go_sent = S.sent;
	} else if (strcmp(verb, "mark") == 0) {
		printf("{\"event\":\"mark\",\"id\":\"%s\",\"sent\":%" PRIu64 ",\"t_us\":%" PRIu64 "}\n",
		       arg ? arg : "", S.sent, now_us());
	} else if (strcmp(verb, "stop") == 0) {
		S.going = false;
		printf("{\"event\":\"stopped\",\"sent\":%" PRIu64 "}\n", S.sent);
	} else if (strcmp(verb, "quit") == 0) {
		S.quit = true;
	} else {
		printf("{\"event\":\"error\",\"msg\":\"bad command\"}\n");
	}
}

static void read_stdin(void)
{
	static char buf[4096];
	static size_t len;
	ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
	char *nl;

	if (n <= 0) {
		S.quit = true;
		return;
	}
	len += (size_t)n;
	buf[len] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		command(buf);
		len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, len + 1);
	}
}

int main(int argc, char **argv)
{
	int r;

	if (argc != 3 || (S.n = atol(argv[2])) <= 0 || S.n > 65535) {
		fprintf(stderr, "usage: %s BUS_ADDRESS N (1..65535)\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	S.paths = calloc((size_t)S.n, sizeof(*S.paths));
	S.macs = calloc((size_t)S.n, sizeof(*S.macs));
	S.pid = calloc((size_t)S.n, 1);
	S.temp = calloc((size_t)S.n, sizeof(*S.temp));
	if (!S.paths || !S.macs || !S.pid || !S.temp)
		die("memory", ENOMEM);
	for (long i = 0; i < S.n; i++) {
		unsigned a = (unsigned)(i + 1);

		snprintf(S.macs[i], sizeof(S.macs[i]), "A4:C1:38:00:%02X:%02X", (a >> 8) & 0xff, a & 0xff);
		snprintf(S.paths[i], sizeof(S.paths[i]), ADAPTER_PATH "/dev_A4_C1_38_00_%02X_%02X",
			 (a >> 8) & 0xff, a & 0xff);
		S.temp[i] = (uint16_t)(2000 + i % 1000);
	}
	r = sd_bus_new(&S.bus);
	if (r >= 0)
		r = sd_bus_set_address(S.bus, argv[1]);
	if (r >= 0)
		r = sd_bus_set_bus_client(S.bus, 1);
	if (r >= 0)
		r = sd_bus_start(S.bus);
	if (r < 0)
		die("cannot connect to the bus", r);
	if ((r = sd_bus_add_object(S.bus, NULL, "/", on_root, NULL)) < 0 ||
	    (r = sd_bus_add_object(S.bus, NULL, ADAPTER_PATH, on_adapter, NULL)) < 0)
		die("objects", r);
	if ((r = sd_bus_request_name(S.bus, "org.bluez", 0)) < 0)
		die("cannot own org.bluez", r);
	printf("{\"event\":\"ready\",\"devices\":%ld}\n", S.n);

	while (!S.quit) {
		struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
				      {.fd = sd_bus_get_fd(S.bus), .events = POLLIN}};
		int timeout = -1;

		/* Whatever the bus brought (the adapter's calls) first. */
		while ((r = sd_bus_process(S.bus, NULL)) > 0)
			;
		if (r < 0)
			die("bus", r);
		if (S.going) {
			uint64_t due = BATCH;

			if (S.rate > 0) {
				double should = (double)(now_us() - S.go_us) / 1e6 * S.rate;
				uint64_t done = S.sent - S.go_sent;

				due = should > (double)done ? (uint64_t)should - done : 0;
				if (due > BATCH)
					due = BATCH;
				if (!due)
					timeout = 1;
			}
			if (due) {
				send_batch((long)due);
				timeout = 0;
			}
		}
		p[1].events = (short)sd_bus_get_events(S.bus);
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			die("poll", errno);
		if (p[0].revents)
			read_stdin();
	}
	sd_bus_flush_close_unref(S.bus);
	return 0;
}
