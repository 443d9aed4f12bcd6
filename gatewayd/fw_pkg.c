/* Firmware package inspection: see fw_pkg.h. */
#include "fw_pkg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "gatewayd/adapter.h"

struct fw_pkg {
	gnutls_hash_hd_t whole;  /* every byte */
	gnutls_hash_hd_t signed_part; /* MCUboot: what the SHA-256 TLV covers */
	uint64_t len;
	uint8_t hdr[FW_MCUBOOT_HDR_LEN];
	bool decided, mcuboot;
	struct fw_mcuboot_hdr h;
	uint64_t signed_end;     /* header + image + protected TLVs */
	uint8_t tlv[FW_PKG_TLV_MAX];
	size_t tlv_len;
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int fw_mcuboot_parse_header(const uint8_t *p, size_t len, struct fw_mcuboot_hdr *out)
{
	if (len < 4 || le32(p) != FW_MCUBOOT_MAGIC)
		return -ENOENT;
	if (len < FW_MCUBOOT_HDR_LEN)
		return -EBADMSG;
	*out = (struct fw_mcuboot_hdr){
		.load_addr = le32(p + 4),
		.hdr_size = le16(p + 8),
		.protect_tlv_size = le16(p + 10),
		.img_size = le32(p + 12),
		.flags = le32(p + 16),
		.major = p[20],
		.minor = p[21],
		.revision = le16(p + 22),
		.build = le32(p + 24),
	};
	/* The header is at least itself; a protected area holds its own
	 * 4-byte info at least. */
	if (out->hdr_size < FW_MCUBOOT_HDR_LEN ||
	    (out->protect_tlv_size != 0 && out->protect_tlv_size < 4))
		return -EBADMSG;
	return 0;
}

void fw_mcuboot_version(const struct fw_mcuboot_hdr *h, char *buf, size_t len)
{
	if (h->build)
		snprintf(buf, len, "%u.%u.%u+%u", h->major, h->minor, h->revision, h->build);
	else
		snprintf(buf, len, "%u.%u.%u", h->major, h->minor, h->revision);
}

int fw_pkg_new(struct fw_pkg **out)
{
	struct fw_pkg *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	if (gnutls_hash_init(&p->whole, GNUTLS_DIG_SHA256) < 0) {
		free(p);
		return -ENOMEM;
	}
	if (gnutls_hash_init(&p->signed_part, GNUTLS_DIG_SHA256) < 0) {
		gnutls_hash_deinit(p->whole, NULL);
		free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void fw_pkg_free(struct fw_pkg *p)
{
	if (!p)
		return;
	gnutls_hash_deinit(p->whole, NULL);
	gnutls_hash_deinit(p->signed_part, NULL);
	free(p);
}

uint64_t fw_pkg_length(const struct fw_pkg *p)
{
	return p->len;
}

int fw_pkg_feed(struct fw_pkg *p, const uint8_t *data, size_t len)
{
	uint64_t off = p->len;

	if (len == 0)
		return 0;
	gnutls_hash(p->whole, data, len);
	p->len += len;
	/* The header's bytes, until the format is known. */
	if (!p->decided) {
		size_t have = off < FW_MCUBOOT_HDR_LEN ? (size_t)off : FW_MCUBOOT_HDR_LEN;
		size_t take = FW_MCUBOOT_HDR_LEN - have < len ? FW_MCUBOOT_HDR_LEN - have : len;
		int r;

		memcpy(p->hdr + have, data, take);
		have += take;
		r = fw_mcuboot_parse_header(p->hdr, have, &p->h);
		if (r == -ENOENT && have >= 4) {
			p->decided = true; /* raw */
		} else if (r == 0) {
			p->decided = p->mcuboot = true;
			p->signed_end = (uint64_t)p->h.hdr_size + p->h.img_size +
					p->h.protect_tlv_size;
		} else if (have == FW_MCUBOOT_HDR_LEN) {
			return -EBADMSG;
		}
		/* Before the header is whole, its bytes are signed ones (if
		 * it is one); they are hashed below with the rest. */
		if (!p->decided || p->mcuboot)
			gnutls_hash(p->signed_part, data, take);
		off += take;
		data += take;
		len -= take;
		if (!p->mcuboot || len == 0)
			return 0;
	}
	if (!p->mcuboot)
		return 0;
	if (off < p->signed_end) {
		size_t n = p->signed_end - off < len ? (size_t)(p->signed_end - off) : len;
		gnutls_hash(p->signed_part, data, n);
		off += n;
		data += n;
		len -= n;
	}
	if (len) {
		/* The TLV area (and whatever trails it): keep what fits. */
		uint64_t at = off - p->signed_end;
		if (at < FW_PKG_TLV_MAX) {
			size_t n = FW_PKG_TLV_MAX - at < len ? (size_t)(FW_PKG_TLV_MAX - at) : len;
			memcpy(p->tlv + at, data, n);
			p->tlv_len = (size_t)at + n;
		}
		/* A TLV area that says it is longer than what is kept. */
		if (p->tlv_len >= 4 && le16(p->tlv + 2) > FW_PKG_TLV_MAX)
			return -EBADMSG;
	}
	return 0;
}

int fw_pkg_finish(struct fw_pkg *p, const uint8_t *raw_sha256, struct fw_pkg_info *out,
		  const char **why)
{
	uint8_t digest[32];
	size_t tot;

	*out = (struct fw_pkg_info){.format = GWD_FW_FMT_RAW, .size = p->len,
				    .image_size = p->len};
	*why = NULL;
	gnutls_hash_output(p->whole, out->sha256);
	if (!p->decided && p->len > 0 && p->len < 4) {
		p->decided = true; /* too short to be anything but raw */
	} else if (!p->decided && p->len >= 4) {
		*why = "truncated MCUboot header";
		return -EBADMSG;
	}
	if (!p->mcuboot) {
		if (raw_sha256 && memcmp(raw_sha256, out->sha256, 32) != 0) {
			*why = "SHA-256 differs from the configured firmware_sha256";
			return -EBADMSG;
		}
		return 0;
	}
	out->format = GWD_FW_FMT_MCUBOOT;
	out->image_offset = p->h.hdr_size;
	out->image_size = p->h.img_size;
	fw_mcuboot_version(&p->h, out->version, sizeof(out->version));
	if (p->len < p->signed_end + 4 || p->tlv_len < 4) {
		*why = "MCUboot image truncated";
		return -EBADMSG;
	}
	if (le16(p->tlv) != FW_MCUBOOT_TLV_MAGIC) {
		*why = "no MCUboot TLV area after the image";
		return -EBADMSG;
	}
	tot = le16(p->tlv + 2);
	if (tot < 4 || tot > p->tlv_len) {
		*why = "MCUboot TLV area truncated";
		return -EBADMSG;
	}
	gnutls_hash_output(p->signed_part, digest);
	for (size_t at = 4; at + 4 <= tot;) {
		uint16_t type = le16(p->tlv + at), n = le16(p->tlv + at + 2);
		if (at + 4 + n > tot)
			break;
		if (type == FW_MCUBOOT_TLV_SHA256 && n == 32) {
			if (memcmp(p->tlv + at + 4, digest, 32) != 0) {
				*why = "MCUboot SHA-256 does not match the image";
				return -EBADMSG;
			}
			return 0;
		}
		at += 4u + n;
	}
	*why = "MCUboot image without a SHA-256 TLV";
	return -EBADMSG;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fw_sha256_from_hex(const char *hex, uint8_t out[32])
{
	if (!hex || strlen(hex) != 64)
		return -EINVAL;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void fw_sha256_to_hex(const uint8_t d[32], char out[65])
{
	static const char x[] = "0123456789abcdef";

	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = x[d[i] >> 4];
		out[2 * i + 1] = x[d[i] & 15];
	}
	out[64] = '\0';
}
