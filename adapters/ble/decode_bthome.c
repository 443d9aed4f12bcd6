/* BTHome v2 (service data 0xFCD2), after the format published at
 * bthome.io: a device information byte, then (object id, value) pairs,
 * all values little endian with a fixed size per object id (text and raw:
 * a length byte first).  Encrypted: AES-CCM with the device's 16-byte bind
 * key, 4-byte tag; the nonce is the MAC, the UUID (LSB first), the device
 * information byte and the 4-byte counter that follows the ciphertext. */
#include "decode_util.h"

#include <errno.h>
#include <string.h>

#include <nettle/ccm.h>

enum obj_kind {
	OBJ_UNKNOWN, /* not in the table: parsing stops there */
	OBJ_NUM,     /* raw * mul / div */
	OBJ_VAR,     /* text, raw: a length byte, then that many bytes; no reading */
	OBJ_SKIP,    /* fixed size, no reading (firmware version) */
	OBJ_DIMMER,  /* event id, steps: left is negative */
};

struct obj {
	uint8_t kind;
	uint8_t size; /* bytes after the object id (OBJ_NUM, OBJ_SKIP, OBJ_DIMMER) */
	bool is_signed;
	const char *name;
	double div, mul; /* mul 0 means 1 */
};

#define U(sz, nm, d) {OBJ_NUM, sz, false, nm, d, 0}
#define S(sz, nm, d) {OBJ_NUM, sz, true, nm, d, 0}
#define BIN(nm) U(1, nm, 1)

/* Every object id of the BTHome v2 format (sensor, binary sensor, event,
 * device and misc tables).  Names are the readings' names (README.md,
 * "Reading names"); a quantity sent in several units is converted to one
 * (distance in m, mass in kg, volume in L). */
static const struct obj objs[256] = {
	[0x00] = U(1, "packet_id", 1),
	[0x01] = U(1, "battery", 1),
	[0x02] = S(2, "temperature", 100),
	[0x03] = U(2, "humidity", 100),
	[0x04] = U(3, "pressure", 100),
	[0x05] = U(3, "illuminance", 100),
	[0x06] = U(2, "mass", 100),
	[0x07] = {OBJ_NUM, 2, false, "mass", 100, 0.45359237}, /* lb */
	[0x08] = S(2, "dewpoint", 100),
	[0x09] = U(1, "count", 1),
	[0x0A] = U(3, "energy", 1000),
	[0x0B] = U(3, "power", 100),
	[0x0C] = U(2, "voltage", 1000),
	[0x0D] = U(2, "pm2_5", 1),
	[0x0E] = U(2, "pm10", 1),
	[0x0F] = BIN("generic"),
	[0x10] = BIN("power_on"),
	[0x11] = BIN("opening"),
	[0x12] = U(2, "co2", 1),
	[0x13] = U(2, "tvoc", 1),
	[0x14] = U(2, "moisture", 100),
	[0x15] = BIN("battery_low"),
	[0x16] = BIN("battery_charging"),
	[0x17] = BIN("carbon_monoxide"),
	[0x18] = BIN("cold"),
	[0x19] = BIN("connectivity"),
	[0x1A] = BIN("door"),
	[0x1B] = BIN("garage_door"),
	[0x1C] = BIN("gas_detected"),
	[0x1D] = BIN("heat"),
	[0x1E] = BIN("light"),
	[0x1F] = BIN("lock"),
	[0x20] = BIN("moisture_detected"),
	[0x21] = BIN("motion"),
	[0x22] = BIN("moving"),
	[0x23] = BIN("occupancy"),
	[0x24] = BIN("plug"),
	[0x25] = BIN("presence"),
	[0x26] = BIN("problem"),
	[0x27] = BIN("running"),
	[0x28] = BIN("safety"),
	[0x29] = BIN("smoke"),
	[0x2A] = BIN("sound"),
	[0x2B] = BIN("tamper"),
	[0x2C] = BIN("vibration"),
	[0x2D] = BIN("window"),
	[0x2E] = U(1, "humidity", 1),
	[0x2F] = U(1, "moisture", 1),
	[0x3A] = U(1, "button", 1), /* the event id: 0 none, 1 press, ... 0x80 hold */
	[0x3C] = {OBJ_DIMMER, 2, false, "dimmer", 1, 0},
	[0x3D] = U(2, "count", 1),
	[0x3E] = U(4, "count", 1),
	[0x3F] = S(2, "rotation", 10),
	[0x40] = U(2, "distance", 1000), /* mm */
	[0x41] = U(2, "distance", 10),
	[0x42] = U(3, "duration", 1000),
	[0x43] = U(2, "current", 1000),
	[0x44] = U(2, "speed", 100),
	[0x45] = S(2, "temperature", 10),
	[0x46] = U(1, "uv_index", 10),
	[0x47] = U(2, "volume", 10),
	[0x48] = U(2, "volume", 1000), /* mL */
	[0x49] = U(2, "volume_flow_rate", 1000),
	[0x4A] = U(2, "voltage", 10),
	[0x4B] = U(3, "gas", 1000),
	[0x4C] = U(4, "gas", 1000),
	[0x4D] = U(4, "energy", 1000),
	[0x4E] = U(4, "volume", 1000),
	[0x4F] = U(4, "water", 1000),
	[0x50] = U(4, "timestamp", 1),
	[0x51] = U(2, "acceleration", 1000),
	[0x52] = U(2, "gyroscope", 1000),
	[0x53] = {OBJ_VAR, 0, false, NULL, 1, 0}, /* text */
	[0x54] = {OBJ_VAR, 0, false, NULL, 1, 0}, /* raw */
	[0x55] = U(4, "volume_storage", 1000),
	[0x56] = U(2, "conductivity", 1),
	[0x57] = S(1, "temperature", 1),
	[0x58] = {OBJ_NUM, 1, true, "temperature", 1, 0.35},
	[0x59] = S(1, "count", 1),
	[0x5A] = S(2, "count", 1),
	[0x5B] = S(4, "count", 1),
	[0x5C] = S(4, "power", 100),
	[0x5D] = S(2, "current", 1000),
	[0x5E] = U(2, "direction", 100),
	[0x5F] = U(2, "precipitation", 10),
	[0x60] = U(1, "channel", 1),
	[0x61] = U(2, "rotational_speed", 1),
	[0x62] = S(4, "speed", 1000000),
	[0x63] = S(4, "acceleration", 1000000),
	[0x64] = U(1, "light_level", 1),
	[0xF0] = U(2, "device_type_id", 1),
	[0xF1] = {OBJ_SKIP, 4, false, NULL, 1, 0}, /* firmware version a.b.c.d */
	[0xF2] = {OBJ_SKIP, 3, false, NULL, 1, 0}, /* firmware version a.b.c */
};

#define INFO_ENCRYPTED 0x01u
#define INFO_MAC_INCLUDED 0x02u
#define INFO_TRIGGER 0x04u
#define BTHOME_VERSION 2u
#define MIC_LEN 4u
#define COUNTER_LEN 4u

int ble_bthome_info(const uint8_t *data, size_t len, struct ble_bthome_info *info)
{
	if (!data || len < 1)
		return -EBADMSG;
	info->version = data[0] >> 5;
	info->encrypted = data[0] & INFO_ENCRYPTED;
	info->mac_included = data[0] & INFO_MAC_INCLUDED;
	info->trigger_based = data[0] & INFO_TRIGGER;
	return info->version == BTHOME_VERSION ? 0 : -ENOTSUP;
}

static uint32_t le_uint(const uint8_t *p, size_t n)
{
	uint32_t u = 0;

	for (size_t i = 0; i < n; i++)
		u |= (uint32_t)p[i] << (8 * i);
	return u;
}

/* Walks the objects of a (plaintext) payload.  *packet_id is set when the
 * payload carries one.  Returns the count in out or -EBADMSG. */
static int parse_objects(const uint8_t *p, size_t len, struct ble_reading *out, size_t max,
			 bool *has_packet_id, uint8_t *packet_id)
{
	size_t n = 0, i = 0;

	*has_packet_id = false;
	while (i < len) {
		const struct obj *o = &objs[p[i]];
		uint8_t id = p[i++];
		size_t size;
		double v;

		if (o->kind == OBJ_UNKNOWN)
			break; /* an id newer than this table: what follows cannot be sized */
		if (o->kind == OBJ_VAR) {
			if (i >= len)
				return -EBADMSG;
			size = p[i++];
		} else {
			size = o->size;
		}
		if (size > len - i)
			return -EBADMSG; /* truncated */
		if (o->kind == OBJ_NUM) {
			uint32_t u = le_uint(p + i, size);

			if (o->is_signed && (u & (UINT32_C(1) << (8 * size - 1))))
				v = (double)((int64_t)u - ((int64_t)1 << (8 * size)));
			else
				v = (double)u;
			if (o->mul != 0)
				v *= o->mul;
			v /= o->div;
			if (id == 0x00 && !*has_packet_id) {
				*has_packet_id = true;
				*packet_id = p[i];
			}
			ble_put(out, max, &n, o->name, v);
		} else if (o->kind == OBJ_DIMMER) {
			/* event 1 rotates left, 2 right, by the second byte's steps;
			 * 0 (none) and ids this table does not know read 0 */
			v = p[i] == 1 ? -(double)p[i + 1] : p[i] == 2 ? (double)p[i + 1] : 0.0;
			ble_put(out, max, &n, o->name, v);
		}
		i += size;
	}
	return (int)n;
}

/* Checks the tag and decrypts c (clen bytes: ciphertext, counter, MIC)
 * into plain; returns the plaintext length or -EACCES. */
static int decrypt(const uint8_t *key, const uint8_t mac[6], uint8_t info, const uint8_t *c,
		   size_t clen, uint8_t *plain, uint32_t *counter)
{
	struct ccm_aes128_ctx ctx;
	uint8_t nonce[13];
	size_t mlen = clen - COUNTER_LEN - MIC_LEN;
	const uint8_t *ctr = c + mlen;
	uint8_t msg[256];
	int ok;

	/* the tag follows the ciphertext in nettle's message layout; here the
	 * counter stands between them */
	memcpy(msg, c, mlen);
	memcpy(msg + mlen, ctr + COUNTER_LEN, MIC_LEN);
	memcpy(nonce, mac, 6);
	nonce[6] = (uint8_t)(BLE_UUID_BTHOME & 0xFF);
	nonce[7] = (uint8_t)(BLE_UUID_BTHOME >> 8);
	nonce[8] = info;
	memcpy(nonce + 9, ctr, COUNTER_LEN);
	ccm_aes128_set_key(&ctx, key);
	ok = ccm_aes128_decrypt_message(&ctx, sizeof(nonce), nonce, 0, NULL, MIC_LEN, mlen, plain,
					msg);
	explicit_bzero(&ctx, sizeof(ctx));
	if (!ok) {
		explicit_bzero(plain, mlen);
		return -EACCES;
	}
	*counter = le_uint(ctr, COUNTER_LEN);
	return (int)mlen;
}

int ble_decode_bthome(const uint8_t *data, size_t len, const uint8_t *key,
		      struct ble_bthome_state *st, const uint8_t mac[6],
		      struct ble_reading *out, size_t max)
{
	struct ble_bthome_info info;
	const uint8_t *p;
	uint8_t plain[256];
	uint8_t nonce_mac[6];
	uint32_t counter = 0;
	bool has_pid;
	uint8_t pid = 0;
	size_t plen;
	int r;

	r = ble_bthome_info(data, len, &info);
	if (r < 0)
		return r;
	p = data + 1;
	plen = len - 1;
	if (info.mac_included) {
		/* the device's own address, LSB first */
		if (plen < 6)
			return -EBADMSG;
		for (int i = 0; i < 6; i++)
			nonce_mac[i] = p[5 - i];
		p += 6;
		plen -= 6;
	} else if (mac) {
		memcpy(nonce_mac, mac, 6);
	}
	/* a device with a key that sends plaintext: a downgrade, refused */
	if (key && !info.encrypted)
		return -EACCES;
	if (info.encrypted) {
		if (!key)
			return -EACCES; /* cannot read it without the key */
		if (!info.mac_included && !mac)
			return -EINVAL;
		if (plen < COUNTER_LEN + MIC_LEN || plen > sizeof(plain))
			return -EBADMSG;
		r = decrypt(key, nonce_mac, data[0], p, plen, plain, &counter);
		if (r < 0)
			return r;
		/* only now, authenticated, does the counter mean anything: the
		 * same one again is a repeat (BlueZ reports every copy), an older
		 * one a replay */
		if (st && st->has_counter && counter == st->counter)
			r = -EALREADY;
		else if (st && st->has_counter && counter < st->counter)
			r = -EACCES;
		else
			r = parse_objects(plain, (size_t)r, out, max, &has_pid, &pid);
		explicit_bzero(plain, sizeof(plain));
	} else {
		r = parse_objects(p, plen, out, max, &has_pid, &pid);
	}
	if (r < 0)
		return r;
	if (st && has_pid && st->has_packet_id && pid == st->packet_id)
		return -EALREADY;
	if (st && info.encrypted) {
		st->has_counter = true;
		st->counter = counter;
	}
	if (st && has_pid) {
		st->has_packet_id = true;
		st->packet_id = pid;
	}
	return r;
}
