/* Test helper: build an MCUboot image (header, image bytes, TLV area with
 * the SHA-256 over header and image) or a raw package, in memory.  Header
 * only, for unit and integration tests and the benchmark. */
#ifndef TESTS_FW_IMAGE_H
#define TESTS_FW_IMAGE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

static inline void fwi_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void fwi_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Deterministic filler: byte i of an image seeded with seed. */
static inline uint8_t fwi_byte(uint64_t i, uint32_t seed)
{
	uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
	x ^= x >> 29;
	return (uint8_t)(x * 0xBF58476D1CE4E5B9ull >> 56);
}

/* An MCUboot image of img_size bytes, version major.minor.rev+build; *len
 * its total size.  Caller frees. */
static inline uint8_t *fwi_mcuboot(uint32_t img_size, uint8_t major, uint8_t minor,
				   uint16_t rev, uint32_t build, size_t *len)
{
	size_t total = 32 + img_size + 4 + 4 + 32;
	uint8_t *p = malloc(total);

	if (!p)
		return NULL;
	memset(p, 0, 32);
	fwi_le32(p, 0x96f3b83du);
	fwi_le16(p + 8, 32);
	fwi_le32(p + 12, img_size);
	p[20] = major;
	p[21] = minor;
	fwi_le16(p + 22, rev);
	fwi_le32(p + 24, build);
	for (uint32_t i = 0; i < img_size; i++)
		p[32 + i] = fwi_byte(i, major * 65536u + minor * 256u + rev);
	fwi_le16(p + 32 + img_size, 0x6907);
	fwi_le16(p + 32 + img_size + 2, 4 + 4 + 32);
	fwi_le16(p + 32 + img_size + 4, 0x10);
	fwi_le16(p + 32 + img_size + 6, 32);
	gnutls_hash_fast(GNUTLS_DIG_SHA256, p, 32 + img_size, p + 32 + img_size + 8);
	*len = total;
	return p;
}

#endif
