/* libFuzzer target: the BTHome decoder.  The first input byte picks the
 * mode: bit 0 a bind key; bit 1 the encryption round trip (the rest is a
 * plaintext object list, decoded as is and sealed with the key: both must
 * read the same); bits 2-7 the size of the out array. */
#include <nettle/ccm.h>

#include "fuzz_ble.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[16] = {0x23, 0x1d, 0x39, 0xc1, 0xd7, 0xcc, 0x1a, 0xb1,
				0xae, 0xe2, 0x24, 0xcd, 0x09, 0x6d, 0xb9, 0x32};
static const uint8_t mac[6] = {0x54, 0x48, 0xE6, 0x8F, 0x80, 0xA5};

/* 0x41, CCM(objects), counter, MIC: what an encrypting device sends. */
static size_t seal(const uint8_t *pt, size_t len, uint32_t counter, uint8_t *out)
{
	struct ccm_aes128_ctx ctx;
	uint8_t nonce[13], sealed[300];

	memcpy(nonce, mac, 6);
	nonce[6] = 0xD2;
	nonce[7] = 0xFC;
	nonce[8] = 0x41;
	for (int i = 0; i < 4; i++)
		nonce[9 + i] = (uint8_t)(counter >> (8 * i));
	ccm_aes128_set_key(&ctx, key);
	ccm_aes128_encrypt_message(&ctx, sizeof(nonce), nonce, 0, NULL, 4, len + 4, sealed, pt);
	out[0] = 0x41;
	memcpy(out + 1, sealed, len);
	memcpy(out + 1 + len, nonce + 9, 4);
	memcpy(out + 5 + len, sealed + len, 4);
	return len + 9;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ble_reading a[BLE_READINGS_MAX], b[BLE_READINGS_MAX];
	struct ble_bthome_state st = {0};
	size_t max;
	uint8_t *in;
	int r1, r2;

	if (size < 1)
		return 0;
	max = 1 + (size_t)(data[0] >> 2) * 2; /* 1 .. 127 */
	if (data[0] & 2) {
		uint8_t plain[256], enc[300];
		size_t len = size - 1, elen;

		if (len > 200)
			return 0;
		plain[0] = 0x40;
		memcpy(plain + 1, data + 1, len);
		in = fuzz_ble_copy(plain, len + 1);
		if (!in)
			return 0;
		r1 = ble_decode_bthome(in, len + 1, NULL, NULL, mac, a, max);
		free(in);
		elen = seal(data + 1, len, (uint32_t)size, enc);
		in = fuzz_ble_copy(enc, elen);
		if (!in)
			return 0;
		r2 = ble_decode_bthome(in, elen, key, &st, mac, b, max);
		fuzz_ble_check(r1, a, max);
		fuzz_ble_same(r1, a, r2, b);
		/* the same sealed advert again is a repeat, whatever it held */
		if (r2 >= 0 && ble_decode_bthome(in, elen, key, &st, mac, b, max) != -EALREADY)
			abort();
		free(in);
		return 0;
	}
	in = fuzz_ble_copy(data + 1, size - 1);
	if (!in)
		return 0;
	r1 = ble_decode_bthome(in, size - 1, data[0] & 1 ? key : NULL, &st, mac, a, max);
	fuzz_ble_check(r1, a, max);
	if (r1 >= 0) {
		/* again with the state it left: a repeat if it had a packet id or
		 * a counter, else the same readings */
		r2 = ble_decode_bthome(in, size - 1, data[0] & 1 ? key : NULL, &st, mac, b, max);
		if (st.has_packet_id || st.has_counter) {
			if (r2 != -EALREADY)
				abort();
		} else {
			fuzz_ble_same(r1, a, r2, b);
		}
	}
	free(in);
	return 0;
}
