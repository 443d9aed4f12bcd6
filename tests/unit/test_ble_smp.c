/* The BLE adapter's MCUmgr SMP frames (adapters/ble/smp.c): requests laid
 * out byte for byte as the SMP specification's header and the image and OS
 * groups' maps say, responses read in definite and indefinite CBOR (zcbor
 * writes the latter), v1 "rc" and v2 "err" mapped to firmware statuses,
 * and truncated or malformed frames refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/ble/smp.h"

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

static void expect_frame(const uint8_t *got, int len, const char *want_hex)
{
	uint8_t want[256];
	size_t n = hex(want_hex, want, sizeof(want));

	assert_int_equal(len, (int)n);
	assert_memory_equal(got, want, n);
}

static void requests(void **state)
{
	uint8_t buf[SMP_MAX_REQ], sha[32], hash[32];
	const uint8_t data[3] = {0xaa, 0xbb, 0xcc};

	memset(sha, 0x11, sizeof(sha));
	memset(hash, 0x22, sizeof(hash));
	/* First upload request: write (2), group 1, seq 7, id 1;
	 * {"image": 0, "len": 1000, "off": 0, "data": h'aabbcc', "sha": ...}. */
	expect_frame(buf, smp_upload_req(buf, sizeof(buf), 7, 0, data, 3, 1000, sha),
		     "02 00 0043 0001 07 01 a5 65696d616765 00 636c656e 1903e8 636f6666 00"
		     " 6464617461 43aabbcc 63736861 5820"
		     "1111111111111111111111111111111111111111111111111111111111111111");
	/* Later ones: {"off": 70000, "data": ...}. */
	expect_frame(buf, smp_upload_req(buf, sizeof(buf), 8, 70000, data, 3, 1000, sha),
		     "02 00 0013 0001 08 01 a2 636f6666 1a00011170 6464617461 43aabbcc");
	/* Image state read: read (0), group 1, id 0, an empty map. */
	expect_frame(buf, smp_state_read_req(buf, sizeof(buf), 9), "00 00 0001 0001 09 00 a0");
	/* Test: {"hash": ..., "confirm": false}; confirm: true. */
	expect_frame(buf, smp_state_write_req(buf, sizeof(buf), 10, hash, false),
		     "02 00 0031 0001 0a 00 a2 6468617368 5820"
		     "2222222222222222222222222222222222222222222222222222222222222222"
		     " 67636f6e6669726d f4");
	expect_frame(buf, smp_state_write_req(buf, sizeof(buf), 11, NULL, true),
		     "02 00 000a 0001 0b 00 a1 67636f6e6669726d f5");
	/* OS group reset: write, group 0, id 5. */
	expect_frame(buf, smp_reset_req(buf, sizeof(buf), 12), "02 00 0001 0000 0c 05 a0");
	/* The largest request fits in SMP_MAX_REQ; a small buffer is refused. */
	{
		static uint8_t big[SMP_MAX_DATA];

		assert_true(smp_upload_req(buf, sizeof(buf), 1, 0, big, sizeof(big), 1u << 31,
					   sha) > 0);
		assert_int_equal(smp_upload_req(buf, 20, 1, 0, data, 3, 1000, sha), -ENOBUFS);
	}
}

static void responses(void **state)
{
	uint8_t b[512];
	size_t n;
	struct smp_rsp r;

	/* Upload answer, indefinite map: {"rc": 0, "off": 37}. */
	n = hex("03 00 000c 0001 01 01 bf 627263 00 636f6666 1825 ff", b, sizeof(b));
	assert_int_equal(smp_frame_len(b, 4), -EAGAIN);
	assert_int_equal(smp_frame_len(b, n), (int)n);
	assert_int_equal(smp_parse_rsp(b, n, &r), 0);
	assert_int_equal(r.op, SMP_OP_WRITE_RSP);
	assert_int_equal(r.group, SMP_GROUP_IMAGE);
	assert_int_equal(r.seq, 1);
	assert_int_equal(r.id, SMP_ID_IMAGE_UPLOAD);
	assert_true(r.has_off);
	assert_int_equal(r.off, 37);
	assert_int_equal(smp_status(&r), 0);
	/* State answer, definite: {"images": [{"slot": 1, "version": "1.2.3",
	 * "hash": h'33..', "pending": true, "confirmed": false, "x": [1]}]}. */
	n = hex("01 00 005d 0001 02 00 a1 66696d61676573 81 a6"
		" 64736c6f74 01 6776657273696f6e 65312e322e33"
		" 6468617368 5820 3333333333333333333333333333333333333333333333333333333333333333"
		" 6770656e64696e67 f5 69636f6e6669726d6564 f4 6178 8101",
		b, sizeof(b));
	assert_int_equal(smp_parse_rsp(b, n, &r), 0);
	assert_int_equal(r.n_img, 1);
	assert_int_equal(r.img[0].slot, 1);
	assert_string_equal(r.img[0].version, "1.2.3");
	assert_true(r.img[0].has_hash);
	assert_int_equal(r.img[0].hash[31], 0x33);
	assert_true(r.img[0].pending);
	assert_false(r.img[0].confirmed);
	/* Truncated, a length that lies, a request instead of a response. */
	assert_int_equal(smp_parse_rsp(b, n - 1, &r), -EBADMSG);
	b[3]++;
	assert_int_equal(smp_parse_rsp(b, n, &r), -EBADMSG);
	n = hex("02 00 0001 0001 02 00 a0", b, sizeof(b));
	assert_int_equal(smp_parse_rsp(b, n, &r), -EBADMSG);
	/* Nesting deeper than any answer has: refused, not recursed into. */
	n = hex("03 00 000a 0001 01 01 a1 6178 8181818181818101", b, sizeof(b));
	assert_int_equal(smp_parse_rsp(b, n, &r), -EBADMSG);
}

static int status_of(const char *frame)
{
	uint8_t b[64];
	size_t n = hex(frame, b, sizeof(b));
	struct smp_rsp r;

	assert_int_equal(smp_parse_rsp(b, n, &r), 0);
	return smp_status(&r);
}

static void statuses(void **state)
{
	/* v1: {"rc": N}, the generic codes. */
	assert_int_equal(status_of("03 00 0005 0001 01 01 a1 627263 02"), -ENOMEM);
	assert_int_equal(status_of("03 00 0005 0001 01 01 a1 627263 08"), -ENOTSUP);
	assert_int_equal(status_of("03 00 0005 0001 01 01 a1 627263 09"), -EBADMSG);
	assert_int_equal(status_of("03 00 0005 0001 01 01 a1 627263 0a"), -EBUSY);
	assert_int_equal(status_of("03 00 0005 0001 01 01 a1 627263 01"), -EIO);
	/* v2: {"err": {"group": 1, "rc": N}}, the image group's codes. */
	assert_int_equal(status_of("0b 00 0011 0001 01 01 a1 63657272 a2 6567726f7570 01 627263 09"),
			 -ENOSPC);
	assert_int_equal(status_of("0b 00 0011 0001 01 01 a1 63657272 a2 6567726f7570 01 627263 0f"),
			 -ENOMEM);
	assert_int_equal(status_of("0b 00 0011 0001 01 01 a1 63657272 a2 6567726f7570 01 627263 17"),
			 -EBADMSG);
	assert_int_equal(status_of("0b 00 0011 0001 01 01 a1 63657272 a2 6567726f7570 00 627263 17"),
			 -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests),
		cmocka_unit_test(responses),
		cmocka_unit_test(statuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
