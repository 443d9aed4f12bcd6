/* Registration pacing (gateway.registration_rate): devices register spread over time at
 * the configured rate instead of all at once; 0 keeps the burst. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "harness.h"

#define N_DEVICES 12
#define RATE 20 /* per second: the 12 registrations take at least 11/20 s = 550 ms */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *config_text(int rate)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	fprintf(f, "gateway = { name = \"p\"; registration_rate = %d; };\n", rate);
	fprintf(f, "servers = ( { name = \"s\"; uri = \"coap://127.0.0.1:@PORT@\"; } );\n");
	fprintf(f, "devices = (\n");
	for (int i = 0; i < N_DEVICES; i++)
		fprintf(f, "  { name = \"d%d\"; adapter = \"sim\"; points = ( { channel = \"x\";"
			" path = \"/3303/0/5700\"; waveform = \"constant\"; } ); }%s\n", i,
			i + 1 < N_DEVICES ? "," : "");
	fprintf(f, ");\n");
	fclose(f);
	return s;
}

/* Start the daemon and return the span, in ms, between the first and the last
 * registration as the server saw them arrive. */
static long long registration_span(int rate)
{
	char *dir = h_tmpdir();
	struct proc srv, gw;
	int port = h_start_server(&srv, dir);
	char *text = config_text(rate);
	char *conf = h_write_config(dir, "pacing.conf", text, port);
	long long first = 0, last = 0;

	assert_true(port > 0);
	assert_int_equal(h_start_gatewayd(&gw, dir, conf), 0);
	for (int i = 0; i < N_DEVICES; i++) {
		json_t *ev = h_wait_event(&srv, "register", NULL, NULL, H_TIMEOUT_MS);
		if (!ev) {
			h_dump_file(conf);
			fail_msg("only %d of %d devices registered", i, N_DEVICES);
		}
		last = now_ms();
		if (i == 0)
			first = last;
		json_decref(ev);
	}
	assert_int_equal(h_stop(&gw, SIGTERM, H_TIMEOUT_MS) & 0x7f, 0);
	h_stop(&srv, SIGTERM, H_TIMEOUT_MS);
	free(conf);
	free(text);
	h_tmpdir_remove(dir);
	return last - first;
}

static void paced_registrations_are_spread_over_time(void **state)
{
	long long span = registration_span(RATE);

	/* Only a lower bound: pacing can make registration slower than the rate, never
	 * faster, and a loaded machine can only stretch the span. */
	if (span < (N_DEVICES - 1) * 1000 / RATE - 60)
		fail_msg("%d registrations at %d/s came within %lld ms", N_DEVICES, RATE, span);
}

static void rate_zero_registers_every_device(void **state)
{
	/* No timing claim for the burst: only that every device still registers. */
	registration_span(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(paced_registrations_are_spread_over_time),
		cmocka_unit_test(rate_zero_registers_every_device),
	};

	if (h_skip_without_sim())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
