/* The Modbus firmware transports' pure pieces: CRCs against their check
 * values, chunk sizes, records across files, the FC 0x15 / FC 0x14 PDUs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/modbus/mb_fw.h"

static void crcs_have_their_check_values(void **state)
{
	const uint8_t *s = (const uint8_t *)"123456789";

	assert_int_equal(mb_fw_crc16(s, 9), 0x4b37);        /* CRC-16/MODBUS */
	assert_int_equal(mb_fw_crc32(0, s, 9), 0xcbf43926u); /* CRC-32 (zlib) */
	/* Running over pieces gives the same. */
	assert_int_equal(mb_fw_crc32(mb_fw_crc32(0, s, 4), s + 4, 5), 0xcbf43926u);
}

static void chunk_sizes(void **state)
{
	struct mb_fw_cfg c = {.transport = MB_FW_FILE_RECORD, .record_regs = 32};

	/* 7 + 64 bytes a record: three fit in 245. */
	assert_int_equal(mb_fw_records_per_request(&c), 3);
	assert_int_equal(mb_fw_chunk_size(&c), 192);
	c.record_regs = 119; /* 7 + 238 = 245: one */
	assert_int_equal(mb_fw_chunk_size(&c), 238);
	c.record_regs = 1; /* 9 bytes a record: 27 */
	assert_int_equal(mb_fw_records_per_request(&c), 27);
	c = (struct mb_fw_cfg){.transport = MB_FW_REGISTER_WINDOW, .window_regs = 64};
	assert_int_equal(mb_fw_chunk_size(&c), 128);
}

static void records_go_on_in_the_next_file(void **state)
{
	struct mb_fw_cfg c = {.transport = MB_FW_FILE_RECORD, .record_regs = 32, .file = 4,
			      .first_record = 10, .file_records = 1000};
	uint16_t file, rec;

	mb_fw_record_at(&c, 0, &file, &rec);
	assert_int_equal(file, 4);
	assert_int_equal(rec, 10);
	mb_fw_record_at(&c, 999, &file, &rec);
	assert_int_equal(file, 4);
	assert_int_equal(rec, 1009);
	mb_fw_record_at(&c, 1000, &file, &rec);
	assert_int_equal(file, 5);
	assert_int_equal(rec, 10);
}

/* A request straddling two files, its last record short and padded. */
static void file_pdus(void **state)
{
	struct mb_fw_cfg c = {.transport = MB_FW_FILE_RECORD, .record_regs = 2, .file = 1,
			      .first_record = 0, .file_records = 2};
	uint8_t data[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	uint8_t wr[256], rd[256], ans[256];
	size_t wl, rl, al;
	/* 4 bytes a record; offset 4 is record index 1. */
	assert_int_equal(mb_fw_file_pdus(&c, 4, data + 4, 5, wr, &wl, rd, &rl, ans, &al), 0);
	{
		const uint8_t w[] = {0x15, 7 + 4 + 7 + 2,
				     6, 0, 1, 0, 1, 0, 2, 5, 6, 7, 8,
				     6, 0, 2, 0, 0, 0, 1, 9, 0xff};
		const uint8_t r[] = {0x14, 14, 6, 0, 1, 0, 1, 0, 2, 6, 0, 2, 0, 0, 0, 1};
		const uint8_t a[] = {0x14, 6 + 4, 5, 6, 5, 6, 7, 8, 3, 6, 9, 0xff};

		assert_int_equal(wl, sizeof(w));
		assert_memory_equal(wr, w, sizeof(w));
		assert_int_equal(rl, sizeof(r));
		assert_memory_equal(rd, r, sizeof(r));
		assert_int_equal(al, sizeof(a));
		assert_memory_equal(ans, a, sizeof(a));
	}
	/* Not on a record boundary, or more than a chunk: refused. */
	assert_int_equal(mb_fw_file_pdus(&c, 3, data, 4, wr, &wl, rd, &rl, ans, &al), -EINVAL);
	c.record_regs = 1;
	assert_int_equal(mb_fw_file_pdus(&c, 0, data, 2 * 27 + 1, wr, &wl, rd, &rl, ans, &al),
			 -EINVAL);
	/* Past file 65535. */
	c = (struct mb_fw_cfg){.transport = MB_FW_FILE_RECORD, .record_regs = 1, .file = 65535,
			       .file_records = 1};
	assert_int_equal(mb_fw_file_pdus(&c, 0, data, 2, wr, &wl, rd, &rl, ans, &al), 0);
	assert_int_equal(mb_fw_file_pdus(&c, 2, data, 2, wr, &wl, rd, &rl, ans, &al), -ENOSPC);
}

static void version_text(void **state)
{
	struct mb_fw_cfg c = {.version_regs = 3};
	const uint16_t s[3] = {0x312e, 0x3200, 0x2020}; /* "1.2", NUL, spaces */
	const uint16_t n[3] = {1, 2, 30};
	char buf[32];

	mb_fw_version_text(&c, s, buf, sizeof(buf));
	assert_string_equal(buf, "1.2");
	c.version_dotted = true;
	mb_fw_version_text(&c, n, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.30");
	mb_fw_version_text(&c, n, buf, 4);
	assert_string_equal(buf, "1.2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crcs_have_their_check_values),
		cmocka_unit_test(chunk_sizes),
		cmocka_unit_test(records_go_on_in_the_next_file),
		cmocka_unit_test(file_pdus),
		cmocka_unit_test(version_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
