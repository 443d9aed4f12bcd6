/* The BLE advert decoders against the formats' own published examples
 * (bthome.io's object table and encryption example, Ruuvi's test vectors),
 * frames laid out by the atc1441/pvvx format descriptions, and malformed,
 * truncated, replayed and downgraded frames. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nettle/ccm.h>

#include "adapters/ble/ble_decode.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Hex (spaces allowed) to bytes; returns the length. */
static size_t hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*s) {
		unsigned b;

		if (*s == ' ') {
			s++;
			continue;
		}
		assert_true(sscanf(s, "%2x", &b) == 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)b;
		s += 2;
	}
	return n;
}

static const struct ble_reading *find(const struct ble_reading *r, int n, const char *name,
				      unsigned index)
{
	for (int i = 0; i < n; i++)
		if (strcmp(r[i].name, name) == 0 && r[i].index == index)
			return &r[i];
	return NULL;
}

static void expect(const struct ble_reading *r, int n, const char *name, unsigned index,
		   double want)
{
	const struct ble_reading *x = find(r, n, name, index);

	if (!x)
		fail_msg("no reading %s[%u]", name, index);
	if (fabs(x->value - want) > 1e-9 * fmax(1.0, fabs(want)))
		fail_msg("%s[%u] = %.12g, want %.12g", name, index, x->value, want);
}

/* ---- BTHome ------------------------------------------------------------ */

static const uint8_t mac_enc[6] = {0x54, 0x48, 0xE6, 0x8F, 0x80, 0xA5};
static const char key_enc_hex[] = "231d39c1d7cc1ab1aee224cd096db932";

static int bthome_hex(const char *h, const uint8_t *key, struct ble_bthome_state *st,
		      struct ble_reading *out, size_t max)
{
	uint8_t d[300];
	size_t len = hex(h, d, sizeof(d));

	return ble_decode_bthome(d, len, key, st, mac_enc, out, max);
}

/* bthome.io's format example: 0xD2FC 40 02C409 03BF13 */
static void t_bthome_format_example(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n = bthome_hex("40 02C409 03BF13", NULL, NULL, r, N(r));

	(void)state;
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.00);
	expect(r, n, "humidity", 0, 50.55);
}

/* Every example of bthome.io's object tables, as a one-object advert. */
static const struct {
	const char *obj;
	const char *name; /* NULL: an object that yields no reading */
	double want;
} bthome_table[] = {
	{"0009", "packet_id", 9},
	{"0161", "battery", 97},
	{"02CA09", "temperature", 25.06},
	{"03BF13", "humidity", 50.55},
	{"04138A01", "pressure", 1008.83},
	{"05138A14", "illuminance", 13460.67},
	{"065E1F", "mass", 80.3},
	{"073E1D", "mass", 74.86 * 0.45359237}, /* lb, read in kg */
	{"08CA06", "dewpoint", 17.38},
	{"0960", "count", 96},
	{"0A138A14", "energy", 1346.067},
	{"0B021B00", "power", 69.14},
	{"0C020C", "voltage", 3.074},
	{"0D120C", "pm2_5", 3090},
	{"0E021C", "pm10", 7170},
	{"0F01", "generic", 1},
	{"1001", "power_on", 1},
	{"1100", "opening", 0},
	{"12E204", "co2", 1250},
	{"133301", "tvoc", 307},
	{"14020C", "moisture", 30.74},
	{"1501", "battery_low", 1},
	{"1601", "battery_charging", 1},
	{"1700", "carbon_monoxide", 0},
	{"1801", "cold", 1},
	{"1900", "connectivity", 0},
	{"1A00", "door", 0},
	{"1B01", "garage_door", 1},
	{"1C01", "gas_detected", 1},
	{"1D00", "heat", 0},
	{"1E01", "light", 1},
	{"1F01", "lock", 1},
	{"2001", "moisture_detected", 1},
	{"2100", "motion", 0},
	{"2201", "moving", 1},
	{"2301", "occupancy", 1},
	{"2400", "plug", 0},
	{"2500", "presence", 0},
	{"2601", "problem", 1},
	{"2701", "running", 1},
	{"2800", "safety", 0},
	{"2901", "smoke", 1},
	{"2A00", "sound", 0},
	{"2B00", "tamper", 0},
	{"2C01", "vibration", 1},
	{"2D01", "window", 1},
	{"2E23", "humidity", 35},
	{"2F23", "moisture", 35},
	{"3A00", "button", 0},
	{"3A01", "button", 1},
	{"3A02", "button", 2},
	{"3A03", "button", 3},
	{"3A04", "button", 4},
	{"3A05", "button", 5},
	{"3A06", "button", 6},
	{"3A80", "button", 0x80},
	{"3C0000", "dimmer", 0},
	{"3C0103", "dimmer", -3},
	{"3C020A", "dimmer", 10},
	{"3D0960", "count", 24585},
	{"3E2A2C0960", "count", 1611213866},
	{"3F020C", "rotation", 307.4},
	{"400C00", "distance", 0.012}, /* mm, read in m */
	{"414E00", "distance", 7.8},
	{"424E3400", "duration", 13.390},
	{"434E34", "current", 13.39},
	{"444E34", "speed", 133.90},
	{"451101", "temperature", 27.3},
	{"4632", "uv_index", 5.0},
	{"478756", "volume", 2215.1},
	{"48DC87", "volume", 34.780}, /* mL, read in L */
	{"49DC87", "volume_flow_rate", 34.780},
	{"4A020C", "voltage", 307.4},
	{"4B138A14", "gas", 1346.067},
	{"4C41018A01", "gas", 25821.505},
	{"4D12138A14", "energy", 344593.170},
	{"4E87562A01", "volume", 19551.879},
	{"4F87562A01", "water", 19551.879},
	{"505D396164", "timestamp", 1684093277},
	{"518756", "acceleration", 22.151},
	{"528756", "gyroscope", 22.151},
	{"530C48656C6C6F20576F726C6421", NULL, 0}, /* text "Hello World!" */
	{"540C48656C6C6F20576F726C6421", NULL, 0}, /* raw */
	{"5587562A01", "volume_storage", 19551.879},
	{"56E803", "conductivity", 1000},
	{"57EA", "temperature", -22},
	{"58EA", "temperature", -7.7},
	{"59EA", "count", -22},
	{"5AEAEA", "count", -5398},
	{"5BEA0234EA", "count", -365690134},
	{"5C02FBFFFF", "power", -12.78},
	{"5D02EA", "current", -5.63},
	{"5E9F8C", "direction", 359.99},
	/* the table's example with the 0.1 mm factor of the reference parser */
	{"5FA00F", "precipitation", 400.0},
	/* ids without a published example: values worked out from the table */
	{"6002", "channel", 2},
	{"61B80B", "rotational_speed", 3000},
	{"6200D4FEFF", "speed", -0.0768},
	{"6360E31600", "acceleration", 1.5},
	{"6411", "light_level", 17},
	{"F00100", "device_type_id", 1},
	{"F100010204", NULL, 0}, /* firmware 4.2.1.0 */
	{"F2000106", NULL, 0},   /* firmware 6.1.0 */
};

static void t_bthome_every_object(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(bthome_table); i++) {
		struct ble_reading r[BLE_READINGS_MAX];
		char h[80];
		int n;

		snprintf(h, sizeof(h), "40%s", bthome_table[i].obj);
		n = bthome_hex(h, NULL, NULL, r, N(r));
		if (!bthome_table[i].name) {
			if (n != 0)
				fail_msg("%s: %d readings, want none", h, n);
			continue;
		}
		if (n != 1)
			fail_msg("%s: %d, want one reading", h, n);
		expect(r, n, bthome_table[i].name, 0, bthome_table[i].want);
	}
}

/* Objects that yield nothing are still stepped over, whatever follows. */
static void t_bthome_skipped_objects(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = bthome_hex("40 02CA09 530548656C6C6F 5400 F100010204 F2000106 F00200", NULL, NULL,
		       r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.06);
	expect(r, n, "device_type_id", 0, 2);
}

/* bthome-ble's example: three temperatures, two humidities, one battery;
 * then one name from two object ids, and two buttons (the first one idle). */
static void t_bthome_multiple(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = bthome_hex("40 02ca09 02cf09 02cf08 03b718 03b717 015d", NULL, NULL, r, N(r));
	assert_int_equal(n, 6);
	expect(r, n, "temperature", 0, 25.06);
	expect(r, n, "temperature", 1, 25.11);
	expect(r, n, "temperature", 2, 22.55);
	expect(r, n, "humidity", 0, 63.27);
	expect(r, n, "humidity", 1, 60.71);
	expect(r, n, "battery", 0, 93);
	assert_null(find(r, n, "temperature", 3));

	n = bthome_hex("40 02ca09 451101", NULL, NULL, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.06);
	expect(r, n, "temperature", 1, 27.3);

	n = bthome_hex("40 3A00 3A01", NULL, NULL, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "button", 0, 0);
	expect(r, n, "button", 1, 1);

	/* a short out array is filled, not overrun */
	n = bthome_hex("40 02ca09 02cf09 02cf08", NULL, NULL, r, 2);
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 1, 25.11);
}

/* The receiver stops at an object id it does not know (the format's rule,
 * so that older receivers read what they can of newer devices). */
static void t_bthome_unknown_id(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = bthome_hex("40 02CA09 7F 0102 03BF13", NULL, NULL, r, N(r));
	assert_int_equal(n, 1);
	expect(r, n, "temperature", 0, 25.06);
}

static void t_bthome_info(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	struct ble_bthome_info info;
	uint8_t d[16];

	(void)state;
	assert_int_equal(ble_bthome_info(d, hex("44 04138a01", d, sizeof(d)), &info), 0);
	assert_int_equal(info.version, 2);
	assert_true(info.trigger_based);
	assert_false(info.encrypted);
	assert_false(info.mac_included);
	/* a trigger-based device's adverts decode as any other */
	assert_int_equal(bthome_hex("44 04138a01", NULL, NULL, r, N(r)), 1);
	expect(r, 1, "pressure", 0, 1008.83);

	assert_int_equal(ble_bthome_info(d, hex("41", d, sizeof(d)), &info), 0);
	assert_true(info.encrypted);
	assert_false(info.trigger_based);
	assert_int_equal(ble_bthome_info(d, 0, &info), -EBADMSG);

	/* bthome-ble's "version 7" advert, and a v1-numbered one */
	assert_int_equal(ble_bthome_info(d, hex("e1 02000c", d, sizeof(d)), &info), -ENOTSUP);
	assert_int_equal(info.version, 7);
	assert_int_equal(bthome_hex("e1 02000c 04 04138a01", NULL, NULL, r, N(r)), -ENOTSUP);
	assert_int_equal(bthome_hex("20 02CA09", NULL, NULL, r, N(r)), -ENOTSUP);
}

static void t_bthome_malformed(void **state)
{
	static const char *const bad[] = {
		"40 02CA",        /* truncated value */
		"40 02CA09 03BF", /* truncated second value */
		"40 04138A",      /* uint24 cut short */
		"40 3C01",        /* dimmer without steps */
		"40 53",          /* text without its length */
		"40 530548656C",  /* text shorter than its length */
		"42 A5808F",      /* MAC-included flag, MAC cut short */
	};
	struct ble_reading r[BLE_READINGS_MAX];

	(void)state;
	assert_int_equal(ble_decode_bthome(NULL, 0, NULL, NULL, mac_enc, r, N(r)), -EBADMSG);
	for (size_t i = 0; i < N(bad); i++) {
		int n = bthome_hex(bad[i], NULL, NULL, r, N(r));

		if (n != -EBADMSG)
			fail_msg("%s: %d, want -EBADMSG", bad[i], n);
	}
	/* an advert with no objects at all is well formed and says nothing */
	assert_int_equal(bthome_hex("40", NULL, NULL, r, N(r)), 0);
}

static void t_bthome_packet_id(void **state)
{
	struct ble_bthome_state st = {0};
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = bthome_hex("40 0009 02CA09", NULL, &st, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "packet_id", 0, 9);
	assert_true(st.has_packet_id);
	assert_int_equal(st.packet_id, 9);
	/* the same packet again (BlueZ reports each copy): nothing new */
	assert_int_equal(bthome_hex("40 0009 02CA09", NULL, &st, r, N(r)), -EALREADY);
	/* a damaged advert does not move the state on */
	assert_int_equal(bthome_hex("40 000A 02CA", NULL, &st, r, N(r)), -EBADMSG);
	assert_int_equal(st.packet_id, 9);
	n = bthome_hex("40 000A 02CF09", NULL, &st, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.11);
	assert_int_equal(st.packet_id, 10);
	/* an advert without a packet id is never a duplicate */
	assert_int_equal(bthome_hex("40 02CF09", NULL, &st, r, N(r)), 1);
	assert_int_equal(bthome_hex("40 02CF09", NULL, &st, r, N(r)), 1);
	assert_int_equal(st.packet_id, 10);
}

/* ---- BTHome encryption ---------------------------------------------------- */

/* Builds an encrypted advert of plaintext pt (hex) the way a device does
 * (info byte, [MAC reversed], ciphertext, counter, MIC); returns its length. */
static size_t seal(uint8_t info, const uint8_t *key, const uint8_t mac[6], uint32_t counter,
		   const char *pt, uint8_t *out)
{
	struct ccm_aes128_ctx ctx;
	uint8_t plain[64], sealed[80], nonce[13];
	size_t plen = hex(pt, plain, sizeof(plain)), o = 0;

	out[o++] = info;
	if (info & 0x02)
		for (int i = 0; i < 6; i++)
			out[o++] = mac[5 - i];
	memcpy(nonce, mac, 6);
	nonce[6] = 0xD2;
	nonce[7] = 0xFC;
	nonce[8] = info;
	for (int i = 0; i < 4; i++)
		nonce[9 + i] = (uint8_t)(counter >> (8 * i));
	ccm_aes128_set_key(&ctx, key);
	ccm_aes128_encrypt_message(&ctx, sizeof(nonce), nonce, 0, NULL, 4, plen + 4, sealed,
				   plain);
	memcpy(out + o, sealed, plen);
	o += plen;
	memcpy(out + o, nonce + 9, 4);
	o += 4;
	memcpy(out + o, sealed + plen, 4);
	return o + 4;
}

/* bthome.io's encryption example (counter 0x00112233) and bthome-ble's
 * (counter 0x33221100), same key and MAC: 02CA09 03BF13 inside both. */
#define ENC_SITE "41 e445f3c9962b 33221100 6c7c4519"
#define ENC_LIB "41 a47266c95f73 00112233 78237214"

static void t_bthome_encryption_examples(void **state)
{
	struct ble_bthome_state st = {0};
	struct ble_reading r[BLE_READINGS_MAX];
	uint8_t key[16];
	int n;

	(void)state;
	hex(key_enc_hex, key, sizeof(key));
	n = bthome_hex(ENC_SITE, key, &st, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.06);
	expect(r, n, "humidity", 0, 50.55);
	assert_true(st.has_counter);
	assert_int_equal(st.counter, 1122867);

	n = bthome_hex(ENC_LIB, key, &st, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.06);
	expect(r, n, "humidity", 0, 50.55);
	assert_int_equal(st.counter, 0x33221100u);
}

static void t_bthome_encryption_refused(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	uint8_t key[16], wrong[16], d[64];
	uint8_t other_mac[6] = {0x54, 0x48, 0xE6, 0x8F, 0x80, 0xA6};
	size_t len;

	(void)state;
	hex(key_enc_hex, key, sizeof(key));
	hex("814aac74c4f17b6c1581e1ab87816b99", wrong, sizeof(wrong));
	assert_int_equal(bthome_hex(ENC_SITE, wrong, NULL, r, N(r)), -EACCES);
	/* one bit off in the MIC, in the ciphertext, in the counter, in the
	 * info byte (which is in the nonce), or another MAC: all refused */
	assert_int_equal(bthome_hex("41 e445f3c9962b 33221100 6c7c4518", key, NULL, r, N(r)),
			 -EACCES);
	assert_int_equal(bthome_hex("41 e445f3c9962a 33221100 6c7c4519", key, NULL, r, N(r)),
			 -EACCES);
	assert_int_equal(bthome_hex("41 e445f3c9962b 33221101 6c7c4519", key, NULL, r, N(r)),
			 -EACCES);
	assert_int_equal(bthome_hex("45 e445f3c9962b 33221100 6c7c4519", key, NULL, r, N(r)),
			 -EACCES);
	len = hex(ENC_SITE, d, sizeof(d));
	assert_int_equal(ble_decode_bthome(d, len, key, NULL, other_mac, r, N(r)), -EACCES);
	/* encrypted, and no key for it */
	assert_int_equal(bthome_hex(ENC_SITE, NULL, NULL, r, N(r)), -EACCES);
	/* too short to hold a counter and a MIC */
	assert_int_equal(bthome_hex("41 33221100 6c7c45", key, NULL, r, N(r)), -EBADMSG);
	/* no MAC to build the nonce from */
	assert_int_equal(ble_decode_bthome(d, len, key, NULL, NULL, r, N(r)), -EINVAL);
}

/* A device configured with a key that sends plaintext is refused, even
 * after it sent encrypted adverts, and its state does not move. */
static void t_bthome_downgrade(void **state)
{
	struct ble_bthome_state st = {0};
	struct ble_reading r[BLE_READINGS_MAX];
	uint8_t key[16];

	(void)state;
	hex(key_enc_hex, key, sizeof(key));
	assert_int_equal(bthome_hex("40 04138a01", key, &st, r, N(r)), -EACCES);
	assert_int_equal(bthome_hex("40 0001 02CA09", key, &st, r, N(r)), -EACCES);
	assert_false(st.has_packet_id);
	assert_int_equal(bthome_hex(ENC_SITE, key, &st, r, N(r)), 2);
	assert_int_equal(bthome_hex("40 04138a01", key, &st, r, N(r)), -EACCES);
	assert_int_equal(st.counter, 1122867);
}

static void t_bthome_replay(void **state)
{
	struct ble_bthome_state st = {0};
	struct ble_reading r[BLE_READINGS_MAX];
	uint8_t key[16], d[64];
	size_t len;
	int n;

	(void)state;
	hex(key_enc_hex, key, sizeof(key));
	assert_int_equal(bthome_hex(ENC_LIB, key, &st, r, N(r)), 2);
	/* the same advert again: a repeat, nothing new */
	assert_int_equal(bthome_hex(ENC_LIB, key, &st, r, N(r)), -EALREADY);
	/* an older counter, validly sealed: a replay */
	assert_int_equal(bthome_hex(ENC_SITE, key, &st, r, N(r)), -EACCES);
	assert_int_equal(st.counter, 0x33221100u);
	/* a forged advert with a higher counter does not move the counter on */
	assert_int_equal(bthome_hex("41 a47266c95f73 00112244 78237214", key, &st, r, N(r)),
			 -EACCES);
	assert_int_equal(st.counter, 0x33221100u);
	/* the next counter is taken */
	len = seal(0x41, key, mac_enc, 0x33221101u, "0005 02CF09", d);
	n = ble_decode_bthome(d, len, key, &st, mac_enc, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.11);
	assert_int_equal(st.counter, 0x33221101u);
	assert_int_equal(st.packet_id, 5);
	/* a new counter with the packet id of the last advert: a repeat too */
	len = seal(0x41, key, mac_enc, 0x33221102u, "0005 02CF09", d);
	assert_int_equal(ble_decode_bthome(d, len, key, &st, mac_enc, r, N(r)), -EALREADY);
}

/* The MAC-included form: the nonce takes the MAC from the advert. */
static void t_bthome_mac_included(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	uint8_t key[16], d[64];
	size_t len;
	int n;

	(void)state;
	hex(key_enc_hex, key, sizeof(key));
	len = seal(0x43, key, mac_enc, 7, "02CA09 2E23", d);
	n = ble_decode_bthome(d, len, key, NULL, NULL, r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "temperature", 0, 25.06);
	expect(r, n, "humidity", 0, 35);
	/* plaintext with the MAC ahead of the objects */
	n = bthome_hex("42 A5808FE64854 02CA09", NULL, NULL, r, N(r));
	assert_int_equal(n, 1);
	expect(r, n, "temperature", 0, 25.06);
	/* an authentic but empty encrypted advert */
	len = seal(0x41, key, mac_enc, 8, "", d);
	assert_int_equal(ble_decode_bthome(d, len, key, NULL, mac_enc, r, N(r)), 0);
}

/* ---- atc1441 / pvvx ---------------------------------------------------- */

static int atc_hex(const char *h, struct ble_reading *out, size_t max)
{
	uint8_t d[64];
	size_t len = hex(h, d, sizeof(d));

	return ble_decode_atc_pvvx(d, len, out, max);
}

/* atc1441: MAC, int16 0.1 °C, humidity %, battery %, mV, counter; MSB first. */
static void t_atc1441(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = atc_hex("A4C1388D18B2 00E6 2B 5A 0BB8 17", r, N(r));
	assert_int_equal(n, 5);
	expect(r, n, "temperature", 0, 23.0);
	expect(r, n, "humidity", 0, 43);
	expect(r, n, "battery", 0, 90);
	expect(r, n, "voltage", 0, 3.0);
	expect(r, n, "sequence", 0, 23);
	n = atc_hex("A4C1388D18B2 FF9C 2B 5A 0C1C 18", r, N(r));
	expect(r, n, "temperature", 0, -10.0);
	expect(r, n, "voltage", 0, 3.1);
}

/* pvvx: MAC reversed, int16 0.01 °C, uint16 0.01 %, mV, battery %,
 * counter, flags; LSB first. */
static void t_pvvx(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = atc_hex("B2188D38C1A4 6009 8813 B80B 5A 17 05", r, N(r));
	assert_int_equal(n, 6);
	expect(r, n, "temperature", 0, 24.0);
	expect(r, n, "humidity", 0, 50.0);
	expect(r, n, "voltage", 0, 3.0);
	expect(r, n, "battery", 0, 90);
	expect(r, n, "sequence", 0, 23);
	expect(r, n, "flags", 0, 5);
	n = atc_hex("B2188D38C1A4 E6FB 0A13 1C0C 64 18 00", r, N(r));
	expect(r, n, "temperature", 0, -10.5);
	expect(r, n, "humidity", 0, 48.74);
	expect(r, n, "voltage", 0, 3.1);
}

static void t_atc_pvvx_malformed(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];

	(void)state;
	assert_int_equal(ble_decode_atc_pvvx(NULL, 0, r, N(r)), -EBADMSG);
	/* a byte short of atc1441, between the two, a byte past pvvx */
	assert_int_equal(atc_hex("A4C1388D18B2 00E6 2B 5A 0BB8", r, N(r)), -ENOTSUP);
	assert_int_equal(atc_hex("B2188D38C1A4 6009 8813 B80B 5A 17", r, N(r)), -ENOTSUP);
	assert_int_equal(atc_hex("B2188D38C1A4 6009 8813 B80B 5A 17 05 00", r, N(r)), -ENOTSUP);
}

/* ---- Ruuvi ----------------------------------------------------------------- */

static int ruuvi_hex(const char *h, struct ble_reading *out, size_t max)
{
	uint8_t d[64];
	size_t len = hex(h, d, sizeof(d));

	return ble_decode_ruuvi(d, len, out, max);
}

/* Ruuvi's format 5 test vectors: valid, maximum, minimum, invalid. */
static void t_ruuvi5(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = ruuvi_hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", r, N(r));
	assert_int_equal(n, 10);
	expect(r, n, "temperature", 0, 24.3);
	expect(r, n, "pressure", 0, 1000.44);
	expect(r, n, "humidity", 0, 53.49);
	expect(r, n, "acceleration_x", 0, 0.004);
	expect(r, n, "acceleration_y", 0, -0.004);
	expect(r, n, "acceleration_z", 0, 1.036);
	expect(r, n, "tx_power", 0, 4);
	expect(r, n, "voltage", 0, 2.977);
	expect(r, n, "movement_counter", 0, 66);
	expect(r, n, "sequence", 0, 205);

	n = ruuvi_hex("057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F", r, N(r));
	assert_int_equal(n, 10);
	expect(r, n, "temperature", 0, 163.835);
	expect(r, n, "pressure", 0, 1155.34);
	expect(r, n, "humidity", 0, 163.835);
	expect(r, n, "acceleration_x", 0, 32.767);
	expect(r, n, "acceleration_y", 0, 32.767);
	expect(r, n, "acceleration_z", 0, 32.767);
	expect(r, n, "tx_power", 0, 20);
	expect(r, n, "voltage", 0, 3.646);
	expect(r, n, "movement_counter", 0, 254);
	expect(r, n, "sequence", 0, 65534);

	n = ruuvi_hex("058001000000008001800180010000000000CBB8334C884F", r, N(r));
	assert_int_equal(n, 10);
	expect(r, n, "temperature", 0, -163.835);
	expect(r, n, "pressure", 0, 500.0);
	expect(r, n, "humidity", 0, 0);
	expect(r, n, "acceleration_x", 0, -32.767);
	expect(r, n, "acceleration_y", 0, -32.767);
	expect(r, n, "acceleration_z", 0, -32.767);
	expect(r, n, "tx_power", 0, -40);
	expect(r, n, "voltage", 0, 1.6);
	expect(r, n, "movement_counter", 0, 0);
	expect(r, n, "sequence", 0, 0);

	/* every field "not available": no readings at all */
	assert_int_equal(ruuvi_hex("058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF", r, N(r)), 0);
}

/* Ruuvi's format 6 test vectors (reserved byte XX sent as FF). */
static void t_ruuvi6(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = ruuvi_hex("06170C5668C79E007000C90501D9FFCD004C884F", r, N(r));
	assert_int_equal(n, 10);
	expect(r, n, "temperature", 0, 29.5);
	expect(r, n, "pressure", 0, 1011.02);
	expect(r, n, "humidity", 0, 55.3);
	expect(r, n, "pm2_5", 0, 11.2);
	expect(r, n, "co2", 0, 201);
	expect(r, n, "voc_index", 0, 10);
	expect(r, n, "nox_index", 0, 2);
	expect(r, n, "illuminance", 0, 13026.67);
	expect(r, n, "sequence", 0, 205);
	expect(r, n, "calibrating", 0, 0);

	n = ruuvi_hex("067FFF9C40FFFE27109C40FAFAFEFFFF074C8F4F", r, N(r));
	assert_int_equal(n, 10);
	expect(r, n, "temperature", 0, 163.835);
	expect(r, n, "pressure", 0, 1155.34);
	expect(r, n, "humidity", 0, 100.0);
	expect(r, n, "pm2_5", 0, 1000.0);
	expect(r, n, "co2", 0, 40000);
	expect(r, n, "voc_index", 0, 500);
	expect(r, n, "nox_index", 0, 500);
	expect(r, n, "illuminance", 0, 65535.0);
	expect(r, n, "sequence", 0, 255);
	expect(r, n, "calibrating", 0, 1);

	n = ruuvi_hex("0680010000000000000000000000FF00004C884F", r, N(r));
	assert_int_equal(n, 10);
	expect(r, n, "temperature", 0, -163.835);
	expect(r, n, "pressure", 0, 500.0);
	expect(r, n, "humidity", 0, 0);
	expect(r, n, "pm2_5", 0, 0);
	expect(r, n, "co2", 0, 0);
	expect(r, n, "voc_index", 0, 0);
	expect(r, n, "nox_index", 0, 0);
	expect(r, n, "illuminance", 0, 0);
	expect(r, n, "sequence", 0, 0);

	/* invalid: only the sequence (which has no such value) and the flags */
	n = ruuvi_hex("068000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", r, N(r));
	assert_int_equal(n, 2);
	expect(r, n, "sequence", 0, 255);
	expect(r, n, "calibrating", 0, 1);
}

/* Ruuvi's format E1 vectors (valid, maximum); minimum and invalid frames
 * built from its layout (the published ones have a digit missing). */
static void t_ruuvi_e1(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];
	int n;

	(void)state;
	n = ruuvi_hex("E1170C5668C79E0065007004BD11CA00C90A0213E0ACFFFFFFDECDEE01FFFFFFFFFF"
		      "CBB8334C884F",
		      r, N(r));
	assert_int_equal(n, 13);
	expect(r, n, "temperature", 0, 29.5);
	expect(r, n, "pressure", 0, 1011.02);
	expect(r, n, "humidity", 0, 55.3);
	expect(r, n, "pm1_0", 0, 10.1);
	expect(r, n, "pm2_5", 0, 11.2);
	expect(r, n, "pm4_0", 0, 121.3);
	expect(r, n, "pm10", 0, 455.4);
	expect(r, n, "co2", 0, 201);
	expect(r, n, "voc_index", 0, 20);
	expect(r, n, "nox_index", 0, 4);
	expect(r, n, "illuminance", 0, 13027.0);
	expect(r, n, "sequence", 0, 14601710);
	expect(r, n, "calibrating", 0, 1);

	n = ruuvi_hex("E17FFF9C40FFFE27102710271027109C40FAFADC28F0FFFFFFFFFFFE3FFFFFFFFFFF"
		      "CBB8334C884F",
		      r, N(r));
	assert_int_equal(n, 13);
	expect(r, n, "temperature", 0, 163.835);
	expect(r, n, "pressure", 0, 1155.34);
	expect(r, n, "pm10", 0, 1000.0);
	expect(r, n, "co2", 0, 40000);
	expect(r, n, "voc_index", 0, 500);
	expect(r, n, "nox_index", 0, 500);
	expect(r, n, "illuminance", 0, 144284.0);
	expect(r, n, "sequence", 0, 16777214);

	n = ruuvi_hex("E1 8001 0000 0000 0000 0000 0000 0000 0000 00 00 000000 FFFFFF 000000 00"
		      " FFFFFFFFFF CBB8334C884F",
		      r, N(r));
	assert_int_equal(n, 13);
	expect(r, n, "temperature", 0, -163.835);
	expect(r, n, "pressure", 0, 500.0);
	expect(r, n, "illuminance", 0, 0);
	expect(r, n, "sequence", 0, 0);
	expect(r, n, "calibrating", 0, 0);

	n = ruuvi_hex("E1 8000 FFFF FFFF FFFF FFFF FFFF FFFF FFFF FF FF FFFFFF FFFFFF FFFFFF FF"
		      " FFFFFFFFFF FFFFFFFFFFFF",
		      r, N(r));
	assert_int_equal(n, 1);
	expect(r, n, "calibrating", 0, 1);
}

static void t_ruuvi_malformed(void **state)
{
	struct ble_reading r[BLE_READINGS_MAX];

	(void)state;
	assert_int_equal(ble_decode_ruuvi(NULL, 0, r, N(r)), -EBADMSG);
	/* a byte short, a byte long */
	assert_int_equal(ruuvi_hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C88", r, N(r)),
			 -EBADMSG);
	assert_int_equal(ruuvi_hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F00", r, N(r)),
			 -EBADMSG);
	assert_int_equal(ruuvi_hex("06170C5668C79E007000C90501D9FFCD004C88", r, N(r)), -EBADMSG);
	assert_int_equal(ruuvi_hex("E1170C", r, N(r)), -EBADMSG);
	/* RAWv1 (format 3), the encrypted format 8: not decoded */
	assert_int_equal(ruuvi_hex("03291A1ECE1EFC18F94202CA0B53", r, N(r)), -ENOTSUP);
	assert_int_equal(ruuvi_hex("08", r, N(r)), -ENOTSUP);
}

/* ---- generic ---------------------------------------------------------------- */

static void t_generic(void **state)
{
	/* 0: FE, 1-2: 0x0102, 3-5: 0xFFFF85 (-123 as s24), 6-9: 1.5f LE, 10-13: NaN */
	static const uint8_t d[] = {0xFE, 0x01, 0x02, 0xFF, 0xFF, 0x85, 0x00, 0x00,
				    0xC0, 0x3F, 0x00, 0x00, 0xC0, 0x7F};
	static const struct ble_gen_field f[] = {
		{"u8", 0, BLE_GEN_U8, false, 1, 0},
		{"s8", 0, BLE_GEN_S8, false, 1, 0},
		{"be16", 1, BLE_GEN_U16, true, 1, 0},
		{"le16", 1, BLE_GEN_U16, false, 1, 0},
		{"s16", 0, BLE_GEN_S16, true, 1, 0}, /* FE01 */
		{"s24", 3, BLE_GEN_S24, true, 0.1, 5},
		{"u24", 3, BLE_GEN_U24, true, 1, 0},
		{"u32", 2, BLE_GEN_U32, false, 1, 0}, /* 02 FF FF 85 */
		{"s32", 2, BLE_GEN_S32, false, 1, 0},
		{"f32", 6, BLE_GEN_F32, false, 2, 1},
		{"f32", 7, BLE_GEN_F32, true, 1, 0}, /* 00 C0 3F 00 */
		{"nan", 10, BLE_GEN_F32, false, 1, 0},
		{"past", 13, BLE_GEN_U16, false, 1, 0},
		{"far", 60000, BLE_GEN_U8, false, 1, 0},
	};
	struct ble_reading r[BLE_READINGS_MAX];
	uint32_t bits = 0x00C03F00u;
	float be_float;
	int n;

	(void)state;
	memcpy(&be_float, &bits, sizeof(be_float));
	n = ble_decode_generic(d, sizeof(d), f, N(f), r, N(r));
	assert_int_equal(n, 11);
	expect(r, n, "u8", 0, 254);
	expect(r, n, "s8", 0, -2);
	expect(r, n, "be16", 0, 0x0102);
	expect(r, n, "le16", 0, 0x0201);
	expect(r, n, "s16", 0, (double)(int16_t)0xFE01);
	expect(r, n, "s24", 0, -123 * 0.1 + 5);
	expect(r, n, "u24", 0, 0xFFFF85);
	expect(r, n, "u32", 0, 0x85FFFF02u);
	expect(r, n, "s32", 0, (double)(int32_t)0x85FFFF02u);
	expect(r, n, "f32", 0, 4.0);
	expect(r, n, "f32", 1, be_float);
	assert_null(find(r, n, "nan", 0));
	assert_null(find(r, n, "past", 0));
	assert_null(find(r, n, "far", 0));
	/* nothing there: no readings, no error */
	assert_int_equal(ble_decode_generic(NULL, 0, f, N(f), r, N(r)), 0);
}

static void t_generic_type_names(void **state)
{
	static const char *const names[] = {"u8",  "s8",  "u16", "s16", "u24",
					    "s24", "u32", "s32", "f32"};
	static const uint8_t d[] = {0x80, 0x00, 0x00, 0x00};
	enum ble_gen_type t;

	(void)state;
	for (size_t i = 0; i < N(names); i++) {
		struct ble_gen_field f = {"x", 0, BLE_GEN_U8, true, 1, 0};
		struct ble_reading r[1];
		int n;

		assert_int_equal(ble_gen_type_parse(names[i], &f.type), 0);
		n = ble_decode_generic(d, sizeof(d), &f, 1, r, 1);
		assert_int_equal(n, 1);
		/* 0x80 first, MSB first: the width and signedness show */
		if (i == 0)
			assert_true(r[0].value == 128);
		if (i == 1)
			assert_true(r[0].value == -128);
		if (i == 2)
			assert_true(r[0].value == 0x8000);
		if (i == 5)
			assert_true(r[0].value == -0x800000);
		if (i == 7)
			assert_true(r[0].value == -2147483648.0);
		if (i == 8)
			assert_true(r[0].value == 0.0); /* -0.0f */
	}
	assert_int_equal(ble_gen_type_parse("uint16", &t), -EINVAL);
	assert_int_equal(ble_gen_type_parse("", &t), -EINVAL);
	assert_int_equal(ble_gen_type_parse(NULL, &t), -EINVAL);
}

static void t_generic_bad_type(void **state)
{
	static const uint8_t d[] = {1, 2, 3, 4};
	const struct ble_gen_field f[] = {{"x", 0, (enum ble_gen_type)99, false, 1, 0}};
	struct ble_reading r[4];

	(void)state;
	assert_int_equal(ble_decode_generic(d, sizeof(d), f, 1, r, N(r)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_bthome_format_example),
		cmocka_unit_test(t_bthome_every_object),
		cmocka_unit_test(t_bthome_skipped_objects),
		cmocka_unit_test(t_bthome_multiple),
		cmocka_unit_test(t_bthome_unknown_id),
		cmocka_unit_test(t_bthome_info),
		cmocka_unit_test(t_bthome_malformed),
		cmocka_unit_test(t_bthome_packet_id),
		cmocka_unit_test(t_bthome_encryption_examples),
		cmocka_unit_test(t_bthome_encryption_refused),
		cmocka_unit_test(t_bthome_downgrade),
		cmocka_unit_test(t_bthome_replay),
		cmocka_unit_test(t_bthome_mac_included),
		cmocka_unit_test(t_atc1441),
		cmocka_unit_test(t_pvvx),
		cmocka_unit_test(t_atc_pvvx_malformed),
		cmocka_unit_test(t_ruuvi5),
		cmocka_unit_test(t_ruuvi6),
		cmocka_unit_test(t_ruuvi_e1),
		cmocka_unit_test(t_ruuvi_malformed),
		cmocka_unit_test(t_generic),
		cmocka_unit_test(t_generic_type_names),
		cmocka_unit_test(t_generic_bad_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
