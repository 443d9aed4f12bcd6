/* Firmware package inspection (gatewayd/fw_pkg.c): raw and MCUboot, fed in
 * pieces of every size, digests right and wrong, truncation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gatewayd/adapter.h"
#include "gatewayd/fw_pkg.h"
#include "../fw_image.h"

/* Inspect buf fed in pieces of `step` bytes. */
static int inspect(const uint8_t *buf, size_t len, size_t step, const uint8_t *raw_sha,
		   struct fw_pkg_info *info, const char **why)
{
	struct fw_pkg *p;
	int r = 0;

	assert_int_equal(fw_pkg_new(&p), 0);
	for (size_t off = 0; off < len && r == 0; off += step)
		r = fw_pkg_feed(p, buf + off, len - off < step ? len - off : step);
	if (r == 0) {
		assert_int_equal(fw_pkg_length(p), len);
		r = fw_pkg_finish(p, raw_sha, info, why);
	} else {
		*why = "feed";
	}
	fw_pkg_free(p);
	return r;
}

static void mcuboot_version_and_digest_any_split(void **state)
{
	size_t len;
	uint8_t *img = fwi_mcuboot(5000, 2, 7, 300, 12, &len);
	static const size_t steps[] = {1, 3, 4, 31, 32, 33, 1024, 100000};
	uint8_t whole[32];

	gnutls_hash_fast(GNUTLS_DIG_SHA256, img, len, whole);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct fw_pkg_info info;
		const char *why;
		assert_int_equal(inspect(img, len, steps[i], NULL, &info, &why), 0);
		assert_int_equal(info.format, GWD_FW_FMT_MCUBOOT);
		assert_string_equal(info.version, "2.7.300+12");
		assert_int_equal(info.size, len);
		assert_int_equal(info.image_offset, 32);
		assert_int_equal(info.image_size, 5000);
		assert_memory_equal(info.sha256, whole, 32);
	}
	free(img);
}

static void mcuboot_build_zero_has_no_plus(void **state)
{
	size_t len;
	uint8_t *img = fwi_mcuboot(10, 1, 0, 3, 0, &len);
	struct fw_pkg_info info;
	const char *why;

	assert_int_equal(inspect(img, len, 7, NULL, &info, &why), 0);
	assert_string_equal(info.version, "1.0.3");
	free(img);
}

static void mcuboot_corrupt_image_fails(void **state)
{
	size_t len;
	uint8_t *img = fwi_mcuboot(2000, 1, 2, 3, 4, &len);
	struct fw_pkg_info info;
	const char *why;

	img[32 + 1000] ^= 1;
	assert_int_equal(inspect(img, len, 64, NULL, &info, &why), -EBADMSG);
	assert_non_null(strstr(why, "does not match"));
	img[32 + 1000] ^= 1;
	/* The header is signed too. */
	img[25] ^= 0x80;
	assert_int_equal(inspect(img, len, 64, NULL, &info, &why), -EBADMSG);
	free(img);
}

static void mcuboot_truncated_fails(void **state)
{
	size_t len;
	uint8_t *img = fwi_mcuboot(2000, 1, 2, 3, 4, &len);
	struct fw_pkg_info info;
	const char *why;

	/* Cut in the TLV area, in the image, in the header. */
	assert_int_equal(inspect(img, len - 10, 100, NULL, &info, &why), -EBADMSG);
	assert_int_equal(inspect(img, 1000, 100, NULL, &info, &why), -EBADMSG);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(inspect(img, 20, 100, NULL, &info, &why), -EBADMSG);
	assert_non_null(strstr(why, "header"));
	free(img);
}

static void mcuboot_without_sha_tlv_fails(void **state)
{
	size_t len;
	uint8_t *img = fwi_mcuboot(100, 1, 2, 3, 4, &len);
	struct fw_pkg_info info;
	const char *why;

	img[32 + 100 + 4] = 0x01; /* the digest TLV becomes a key hash TLV */
	assert_int_equal(inspect(img, len, 100, NULL, &info, &why), -EBADMSG);
	assert_non_null(strstr(why, "without a SHA-256"));
	free(img);
}

static void mcuboot_bad_header_refused_early(void **state)
{
	size_t len;
	uint8_t *img = fwi_mcuboot(100, 1, 2, 3, 4, &len);
	struct fw_pkg *p;

	img[8] = 16; /* hdr_size below the header itself */
	assert_int_equal(fw_pkg_new(&p), 0);
	assert_int_equal(fw_pkg_feed(p, img, 31), 0);
	assert_int_equal(fw_pkg_feed(p, img + 31, 1), -EBADMSG);
	fw_pkg_free(p);
	free(img);
}

static void raw_package_and_configured_digest(void **state)
{
	uint8_t buf[3000], d[32];
	struct fw_pkg_info info;
	const char *why;
	char hex[65];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = fwi_byte(i, 9);
	assert_int_equal(inspect(buf, sizeof(buf), 512, NULL, &info, &why), 0);
	assert_int_equal(info.format, GWD_FW_FMT_RAW);
	assert_string_equal(info.version, "");
	assert_int_equal(info.image_size, sizeof(buf));
	gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, sizeof(buf), d);
	assert_memory_equal(info.sha256, d, 32);
	/* The configured digest, through hex and back. */
	fw_sha256_to_hex(d, hex);
	memset(d, 0, sizeof(d));
	assert_int_equal(fw_sha256_from_hex(hex, d), 0);
	assert_int_equal(inspect(buf, sizeof(buf), 512, d, &info, &why), 0);
	d[5] ^= 1;
	assert_int_equal(inspect(buf, sizeof(buf), 512, d, &info, &why), -EBADMSG);
	assert_non_null(strstr(why, "firmware_sha256"));
	/* A tiny raw package (shorter than a magic). */
	assert_int_equal(inspect(buf, 3, 1, NULL, &info, &why), 0);
	assert_int_equal(info.size, 3);
}

static void hex_parsing(void **state)
{
	uint8_t d[32];

	assert_int_equal(fw_sha256_from_hex("abc", d), -EINVAL);
	assert_int_equal(fw_sha256_from_hex("zz00000000000000000000000000000000000000000000000000000000"
					    "000000", d), -EINVAL);
	assert_int_equal(fw_sha256_from_hex("00112233445566778899AABBCCDDEEFF00112233445566778899aabb"
					    "ccddeeff", d), 0);
	assert_int_equal(d[10], 0xaa);
	assert_int_equal(d[31], 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mcuboot_version_and_digest_any_split),
		cmocka_unit_test(mcuboot_build_zero_has_no_plus),
		cmocka_unit_test(mcuboot_corrupt_image_fails),
		cmocka_unit_test(mcuboot_truncated_fails),
		cmocka_unit_test(mcuboot_without_sha_tlv_fails),
		cmocka_unit_test(mcuboot_bad_header_refused_early),
		cmocka_unit_test(raw_package_and_configured_digest),
		cmocka_unit_test(hex_parsing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
