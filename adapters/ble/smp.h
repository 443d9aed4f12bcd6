/* MCUmgr SMP (Simple Management Protocol) frames for the BLE adapter's
 * firmware transport: the requests it sends and the responses it reads.
 * Pure functions, no I/O, no allocation.
 *
 * A frame is an 8-byte header (op, flags, data length big-endian 16,
 * group big-endian 16, sequence, command id) and a CBOR map.  Over GATT:
 * requests are written without response to the SMP characteristic, and
 * responses come back as its notifications (a long one in several). */
#ifndef BLE_SMP_H
#define BLE_SMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMP_SERVICE_UUID "8d53dc1d-1db7-4cd3-868b-8a527460aa84"
#define SMP_CHAR_UUID "da2e7828-fbce-4e01-ae9e-261174997c48"

#define SMP_HDR_LEN 8
#define SMP_OP_READ 0
#define SMP_OP_READ_RSP 1
#define SMP_OP_WRITE 2
#define SMP_OP_WRITE_RSP 3

#define SMP_GROUP_OS 0
#define SMP_ID_OS_RESET 5
#define SMP_GROUP_IMAGE 1
#define SMP_ID_IMAGE_STATE 0
#define SMP_ID_IMAGE_UPLOAD 1

#define SMP_MAX_DATA 1024 /* image bytes in one upload request, at most */
/* What an upload request carries besides its data: header, map, keys, and
 * the first request's len and sha. */
#define SMP_UPLOAD_OVERHEAD (SMP_HDR_LEN + 72)
#define SMP_MAX_REQ (SMP_MAX_DATA + SMP_UPLOAD_OVERHEAD)
#define SMP_MAX_IMAGES 4

/* Requests, written into out (cap bytes): the frame's length, or -ENOBUFS.
 * An upload's first request (off 0) carries the whole package's length and
 * SHA-256; later ones only off and data. */
int smp_upload_req(uint8_t *out, size_t cap, uint8_t seq, uint64_t off, const uint8_t *data,
		   size_t n, uint64_t total, const uint8_t sha[32]);
int smp_state_read_req(uint8_t *out, size_t cap, uint8_t seq);
/* hash NULL with confirm: confirm the image that runs. */
int smp_state_write_req(uint8_t *out, size_t cap, uint8_t seq, const uint8_t hash[32],
			bool confirm);
int smp_reset_req(uint8_t *out, size_t cap, uint8_t seq);

struct smp_image {
	uint32_t image, slot;
	bool has_hash;
	uint8_t hash[32];
	char version[32];
	bool active, confirmed, pending;
};

struct smp_rsp {
	uint8_t op, seq, id;
	uint16_t group;
	bool has_rc;
	int64_t rc;          /* "rc" (SMP v1) or "err"'s "rc" (v2) */
	bool v2;             /* rc came in "err": err_group's own code */
	uint16_t err_group;
	bool has_off;
	uint64_t off;        /* upload: the offset the device expects next */
	struct smp_image img[SMP_MAX_IMAGES];
	size_t n_img;
};

/* How long the frame that starts at p is (header included), once n >= 8
 * bytes of it are in; -EAGAIN before. */
int smp_frame_len(const uint8_t *p, size_t n);
/* A whole response frame: 0, or -EBADMSG (bad header or CBOR, a map nested
 * deeper than a state response's). */
int smp_parse_rsp(const uint8_t *p, size_t n, struct smp_rsp *r);
/* A response's rc as a firmware status of the adapter ABI (0, -ENOMEM,
 * -ENOSPC, -EBADMSG, -ENOTSUP, -EBUSY, -EIO). */
int smp_status(const struct smp_rsp *r);

#endif
