/* Firmware packages as gatewayd recognises them, inspected as their bytes
 * stream in (no second pass over the file, nothing held but a header and a
 * bounded TLV area):
 *
 *   raw      opaque bytes: only their size and SHA-256 are known; a digest
 *            may come from the configuration (firmware_sha256).
 *   MCUboot  header (magic 0x96f3b83d: sizes, version major.minor.revision
 *            + build), image, optional protected TLV area (magic 0x6908),
 *            then the TLV area (magic 0x6907) whose SHA-256 TLV (type 0x10)
 *            covers header, image and protected TLVs.  The version becomes
 *            the package version; the digest must match.
 *
 * Used by the Object 5 spool (firmware.c) and by adapters' transports
 * that need the image's version (BLE SMP). */
#ifndef GW_FW_PKG_H
#define GW_FW_PKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_MCUBOOT_MAGIC 0x96f3b83du
#define FW_MCUBOOT_HDR_LEN 32u
#define FW_MCUBOOT_TLV_MAGIC 0x6907u
#define FW_MCUBOOT_TLV_PROT_MAGIC 0x6908u
#define FW_MCUBOOT_TLV_SHA256 0x10u
/* The most of the TLV area kept to find the digest in. */
#define FW_PKG_TLV_MAX 4096u

struct fw_mcuboot_hdr {
	uint32_t load_addr;
	uint16_t hdr_size, protect_tlv_size;
	uint32_t img_size, flags;
	uint8_t major, minor;
	uint16_t revision;
	uint32_t build;
};

/* Parse an MCUboot header from the first len bytes of a package: 0, -ENOENT
 * (not an MCUboot image: other magic, or fewer than 4 bytes), -EBADMSG (the
 * magic, but a header that cannot be: too short, sizes inconsistent). */
int fw_mcuboot_parse_header(const uint8_t *p, size_t len, struct fw_mcuboot_hdr *out);
/* "major.minor.revision", with "+build" when build is not 0. */
void fw_mcuboot_version(const struct fw_mcuboot_hdr *h, char *buf, size_t len);

/* What the inspection found, once finished. */
struct fw_pkg_info {
	uint32_t format;         /* GWD_FW_FMT_RAW or GWD_FW_FMT_MCUBOOT */
	uint64_t size;           /* the whole package */
	uint8_t sha256[32];      /* of the whole package */
	uint64_t image_offset, image_size;
	char version[48];        /* MCUboot's; "" for raw */
};

struct fw_pkg; /* the streaming inspector */

int fw_pkg_new(struct fw_pkg **out);
void fw_pkg_free(struct fw_pkg *p);
/* The next bytes of the package, in order.  0, or -EBADMSG as soon as the
 * bytes cannot make a valid package (a broken MCUboot header, a TLV area
 * beyond FW_PKG_TLV_MAX), -ENOMEM. */
int fw_pkg_feed(struct fw_pkg *p, const uint8_t *data, size_t len);
/* Bytes fed so far. */
uint64_t fw_pkg_length(const struct fw_pkg *p);
/* All bytes are in: check them.  raw_sha256 (may be NULL) is the digest a
 * raw package must have.  0 with *out filled, or -EBADMSG (truncated
 * image, no or wrong digest), with *why a short reason. */
int fw_pkg_finish(struct fw_pkg *p, const uint8_t *raw_sha256, struct fw_pkg_info *out,
		  const char **why);

/* 64 hex digits to 32 bytes: 0 or -EINVAL. */
int fw_sha256_from_hex(const char *hex, uint8_t out[32]);
void fw_sha256_to_hex(const uint8_t d[32], char out[65]);

#endif
