/* Firmware delivery to a Modbus device: the profile's transport (file
 * records or a register window), and the pure pieces of it: the chunk size,
 * where a chunk's records go, the FC 0x15 / FC 0x14 PDUs and the CRCs.  No
 * I/O: the bus worker sends what is built here.  Users' documentation:
 * README.md, "Firmware updates". */
#ifndef MB_FW_H
#define MB_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatewayd/adapter.h"

enum mb_fw_transport { MB_FW_NONE = 0, MB_FW_FILE_RECORD, MB_FW_REGISTER_WINDOW };
enum mb_fw_crc { MB_FW_CRC_NONE = 0, MB_FW_CRC_CHUNK16, MB_FW_CRC_IMAGE32 };

/* The largest byte count of an FC 0x15 request (and of an FC 0x14 answer). */
#define MB_FW_FILE_BYTES 245
/* Sub-requests of one FC 0x15 request, at most (7 bytes each, 1 register). */
#define MB_FW_MAX_SUB 27

struct mb_fw_cfg {
	enum mb_fw_transport transport;
	uint64_t max_size;       /* 0: no limit */
	/* file_record */
	uint16_t file;           /* first file number, 1..65535 */
	uint16_t first_record;   /* record number of the image's first record */
	uint16_t file_records;   /* records per file before the next file */
	uint16_t record_regs;    /* registers per record */
	bool readback;           /* FC 0x14 after each FC 0x15 */
	/* register_window */
	uint16_t window, window_regs;
	int32_t offset_reg, length_reg, crc_reg; /* -1: none */
	enum mb_fw_crc crc;
	uint16_t chunk_value;
	/* common */
	int32_t size_reg;        /* -1: none */
	uint16_t command_reg, commit_value, apply_value;
	uint16_t status_reg, status_idle, status_busy, status_done;
	uint32_t status_interval_ms, status_timeout_ms;
	uint32_t reboot_ms, apply_timeout_ms;
	int32_t version_reg;     /* -1: Device Identification (FC 43/14) */
	uint16_t version_regs;
	bool version_dotted;     /* registers as numbers "1.2.3", else a string */
	unsigned retries;        /* of a chunk that got no (good) answer */
};

/* Read and check the fw_* keys of a device (all errors reported at their
 * keys, *err set to -EINVAL).  transport stays MB_FW_NONE without
 * fw_transport. */
void mb_fw_config(const struct gwd_host *h, const struct gwd_cfg *node, struct mb_fw_cfg *c,
		  int *err);

/* Bytes per fw_write: what one FC 0x15 request or one window holds. */
uint32_t mb_fw_chunk_size(const struct mb_fw_cfg *c);

/* Records of one FC 0x15 request. */
unsigned mb_fw_records_per_request(const struct mb_fw_cfg *c);

/* Where the image's record number `index` (0-based) goes: the files hold
 * file_records records each, numbered from first_record. */
void mb_fw_record_at(const struct mb_fw_cfg *c, uint64_t index, uint16_t *file,
		     uint16_t *record);

/* The FC 0x15 PDU (function code first) writing len bytes of the image at
 * offset (a multiple of the chunk size), the last record padded with 0xff to
 * a whole register; and the FC 0x14 PDU reading the same records back with
 * the answer expected to it.  Buffers of 256 bytes.  Returns 0 or -EINVAL. */
int mb_fw_file_pdus(const struct mb_fw_cfg *c, uint64_t offset, const uint8_t *data, size_t len,
		    uint8_t *wr, size_t *wr_len, uint8_t *rd, size_t *rd_len, uint8_t *rd_answer,
		    size_t *rd_answer_len);

/* CRC-16/MODBUS (init 0xffff, reflected polynomial 0xa001). */
uint16_t mb_fw_crc16(const uint8_t *p, size_t n);
/* CRC-32 as zlib's crc32(): pass 0 first, then the previous result. */
uint32_t mb_fw_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Bytes to registers, big-endian, the odd last byte padded with 0xff.
 * Returns the registers used. */
unsigned mb_fw_bytes_to_regs(const uint8_t *p, size_t n, uint16_t *regs);

/* The version read from fw_version_reg, as text. */
void mb_fw_version_text(const struct mb_fw_cfg *c, const uint16_t *regs, char *buf, size_t len);

#endif
