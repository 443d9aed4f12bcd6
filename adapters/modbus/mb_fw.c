/* Firmware transports: configuration and the pure pieces (see mb_fw.h). */
#include "mb_fw.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* An optional register address: -1 when absent. */
static void reg_key(const struct gwd_host *h, const struct gwd_cfg *n, const char *key,
		    unsigned width, bool required, int32_t *out, int *err)
{
	int64_t v = -1;
	int r = h->cfg_int(n, key, &v);

	*out = -1;
	if (r == -ENOENT) {
		if (required)
			*err = h->cfg_error(n, NULL, "%s is required by this firmware transport", key);
		return;
	}
	if (r < 0) {
		*err = -EINVAL;
		return;
	}
	if (v < 0 || v + width > 0x10000) {
		*err = h->cfg_error(n, key, "expected a register address from 0 to %u, found %lld",
				    0x10000 - width, (long long)v);
		return;
	}
	*out = (int32_t)v;
}

static void u16_key(const struct gwd_host *h, const struct gwd_cfg *n, const char *key,
		    int64_t min, int64_t max, uint16_t def, uint16_t *out, int *err)
{
	int64_t v = def;

	gwd_cfg_read_int(h, n, key, &v, err);
	gwd_cfg_check_range(h, n, key, (double)v, (double)min, (double)max, err);
	*out = v >= min && v <= max ? (uint16_t)v : def;
}

static void ms_key(const struct gwd_host *h, const struct gwd_cfg *n, const char *key, double min,
		   double max, double def, uint32_t *out, int *err)
{
	double v = def;

	gwd_cfg_read_double(h, n, key, &v, err);
	gwd_cfg_check_range(h, n, key, v, min, max, err);
	*out = (uint32_t)gwd_ms_of(v >= min && v <= max ? v : def);
}

void mb_fw_config(const struct gwd_host *h, const struct gwd_cfg *n, struct mb_fw_cfg *c,
		  int *err)
{
	const char *transport = NULL, *crc = "chunk16", *vfmt = "string";
	int32_t reg;
	int64_t max_size = 0, retries = 2;
	int e = 0;

	memset(c, 0, sizeof(*c));
	c->offset_reg = c->length_reg = c->crc_reg = c->size_reg = c->version_reg = -1;
	gwd_cfg_read_string(h, n, "fw_transport", &transport, &e);
	if (!transport) {
		if (e < 0)
			*err = e;
		return;
	}
	if (strcmp(transport, "file_record") == 0) {
		c->transport = MB_FW_FILE_RECORD;
	} else if (strcmp(transport, "register_window") == 0) {
		c->transport = MB_FW_REGISTER_WINDOW;
	} else {
		*err = h->cfg_error(n, "fw_transport",
				    "expected \"file_record\" or \"register_window\", found \"%s\"",
				    transport);
		return;
	}
	gwd_cfg_read_int(h, n, "fw_max_size", &max_size, &e);
	gwd_cfg_check_range(h, n, "fw_max_size", (double)max_size, 0, 4294967295.0, &e);
	c->max_size = max_size > 0 ? (uint64_t)max_size : 0;

	if (c->transport == MB_FW_FILE_RECORD) {
		u16_key(h, n, "fw_file", 1, 65535, 1, &c->file, &e);
		u16_key(h, n, "fw_first_record", 0, 9999, 0, &c->first_record, &e);
		u16_key(h, n, "fw_file_records", 1, 10000 - c->first_record,
			(uint16_t)(10000 - c->first_record), &c->file_records, &e);
		/* One record of N registers takes 7 + 2N bytes of a request. */
		u16_key(h, n, "fw_record_size", 1, (MB_FW_FILE_BYTES - 7) / 2, 32, &c->record_regs,
			&e);
		gwd_cfg_read_bool(h, n, "fw_readback", &c->readback, &e);
	} else {
		reg_key(h, n, "fw_window", 1, true, &reg, &e);
		c->window = reg < 0 ? 0 : (uint16_t)reg;
		u16_key(h, n, "fw_window_size", 1, 123, 64, &c->window_regs, &e);
		if (reg >= 0 && reg + c->window_regs > 0x10000)
			e = h->cfg_error(n, "fw_window_size", "the window runs past register 65535");
		reg_key(h, n, "fw_offset_reg", 2, true, &c->offset_reg, &e);
		reg_key(h, n, "fw_length_reg", 1, true, &c->length_reg, &e);
		gwd_cfg_read_string(h, n, "fw_crc", &crc, &e);
		if (strcmp(crc, "chunk16") == 0)
			c->crc = MB_FW_CRC_CHUNK16;
		else if (strcmp(crc, "image32") == 0)
			c->crc = MB_FW_CRC_IMAGE32;
		else if (strcmp(crc, "none") == 0)
			c->crc = MB_FW_CRC_NONE;
		else
			e = h->cfg_error(n, "fw_crc",
					 "expected \"chunk16\", \"image32\" or \"none\", found \"%s\"",
					 crc);
		if (c->crc != MB_FW_CRC_NONE)
			reg_key(h, n, "fw_crc_reg", c->crc == MB_FW_CRC_IMAGE32 ? 2 : 1, true,
				&c->crc_reg, &e);
		u16_key(h, n, "fw_chunk_value", 0, 65535, 3, &c->chunk_value, &e);
	}
	reg_key(h, n, "fw_size_reg", 2, false, &c->size_reg, &e);
	reg_key(h, n, "fw_command_reg", 1, true, &reg, &e);
	c->command_reg = reg < 0 ? 0 : (uint16_t)reg;
	u16_key(h, n, "fw_commit_value", 0, 65535, 1, &c->commit_value, &e);
	u16_key(h, n, "fw_apply_value", 0, 65535, 2, &c->apply_value, &e);
	reg_key(h, n, "fw_status_reg", 1, true, &reg, &e);
	c->status_reg = reg < 0 ? 0 : (uint16_t)reg;
	u16_key(h, n, "fw_status_idle", 0, 65535, 0, &c->status_idle, &e);
	u16_key(h, n, "fw_status_busy", 0, 65535, 1, &c->status_busy, &e);
	u16_key(h, n, "fw_status_done", 0, 65535, 2, &c->status_done, &e);
	if (c->status_busy == c->status_done || c->status_idle == c->status_done)
		e = h->cfg_error(n, "fw_status_done",
				 "must differ from fw_status_busy and fw_status_idle");
	ms_key(h, n, "fw_status_interval", 0.001, 60, 0.2, &c->status_interval_ms, &e);
	ms_key(h, n, "fw_status_timeout", 0.1, 3600, 60, &c->status_timeout_ms, &e);
	ms_key(h, n, "fw_reboot_time", 0, 600, 2, &c->reboot_ms, &e);
	ms_key(h, n, "fw_apply_timeout", 1, 3600, 300, &c->apply_timeout_ms, &e);
	reg_key(h, n, "fw_version_reg", 1, false, &c->version_reg, &e);
	u16_key(h, n, "fw_version_length", 1, 32, 8, &c->version_regs, &e);
	if (c->version_reg >= 0 && c->version_reg + c->version_regs > 0x10000)
		e = h->cfg_error(n, "fw_version_length", "the version runs past register 65535");
	gwd_cfg_read_string(h, n, "fw_version_format", &vfmt, &e);
	if (strcmp(vfmt, "dotted") == 0)
		c->version_dotted = true;
	else if (strcmp(vfmt, "string") != 0)
		e = h->cfg_error(n, "fw_version_format",
				 "expected \"string\" or \"dotted\", found \"%s\"", vfmt);
	gwd_cfg_read_int(h, n, "fw_retries", &retries, &e);
	gwd_cfg_check_range(h, n, "fw_retries", (double)retries, 0, 10, &e);
	c->retries = retries >= 0 && retries <= 10 ? (unsigned)retries : 2;
	if (e < 0)
		*err = -EINVAL;
}

unsigned mb_fw_records_per_request(const struct mb_fw_cfg *c)
{
	unsigned n = MB_FW_FILE_BYTES / (7u + 2u * c->record_regs);

	return n > MB_FW_MAX_SUB ? MB_FW_MAX_SUB : n;
}

uint32_t mb_fw_chunk_size(const struct mb_fw_cfg *c)
{
	if (c->transport == MB_FW_FILE_RECORD)
		return mb_fw_records_per_request(c) * c->record_regs * 2u;
	return c->window_regs * 2u;
}

void mb_fw_record_at(const struct mb_fw_cfg *c, uint64_t index, uint16_t *file, uint16_t *record)
{
	*file = (uint16_t)(c->file + index / c->file_records);
	*record = (uint16_t)(c->first_record + index % c->file_records);
}

unsigned mb_fw_bytes_to_regs(const uint8_t *p, size_t n, uint16_t *regs)
{
	unsigned k = 0;

	for (size_t i = 0; i < n; i += 2)
		regs[k++] = (uint16_t)(p[i] << 8 | (i + 1 < n ? p[i + 1] : 0xff));
	return k;
}

int mb_fw_file_pdus(const struct mb_fw_cfg *c, uint64_t offset, const uint8_t *data, size_t len,
		    uint8_t *wr, size_t *wr_len, uint8_t *rd, size_t *rd_len, uint8_t *rd_answer,
		    size_t *rd_answer_len)
{
	size_t rec_bytes = c->record_regs * 2u, w = 2, r = 2, a = 2;
	uint64_t index;

	if (!len || len > mb_fw_chunk_size(c) || offset % rec_bytes)
		return -EINVAL;
	index = offset / rec_bytes;
	/* The last file number must exist too. */
	if (c->file + (index + (len - 1) / rec_bytes) / c->file_records > 65535)
		return -ENOSPC;
	for (size_t done = 0; done < len; done += rec_bytes, index++) {
		size_t n = len - done < rec_bytes ? len - done : rec_bytes;
		unsigned regs = (unsigned)((n + 1) / 2);
		uint16_t file, record;

		mb_fw_record_at(c, index, &file, &record);
		/* Sub-request: reference type 6, file, record, length in registers. */
		const uint8_t sub[7] = {6,
					(uint8_t)(file >> 8),
					(uint8_t)file,
					(uint8_t)(record >> 8),
					(uint8_t)record,
					(uint8_t)(regs >> 8),
					(uint8_t)regs};

		memcpy(wr + w, sub, 7);
		memcpy(rd + r, sub, 7);
		w += 7;
		r += 7;
		rd_answer[a++] = (uint8_t)(1 + 2 * regs); /* file response length */
		rd_answer[a++] = 6;
		for (size_t i = 0; i < 2u * regs; i++) {
			uint8_t b = i < n ? data[done + i] : 0xff;

			wr[w++] = b;
			rd_answer[a++] = b;
		}
	}
	wr[0] = 0x15;
	wr[1] = (uint8_t)(w - 2);
	rd[0] = 0x14;
	rd[1] = (uint8_t)(r - 2);
	rd_answer[0] = 0x14;
	rd_answer[1] = (uint8_t)(a - 2);
	*wr_len = w;
	*rd_len = r;
	*rd_answer_len = a;
	return 0;
}

uint16_t mb_fw_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

uint32_t mb_fw_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

void mb_fw_version_text(const struct mb_fw_cfg *c, const uint16_t *regs, char *buf, size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (unsigned i = 0; i < c->version_regs && n + 1 < len; i++) {
		if (c->version_dotted) {
			int k = snprintf(buf + n, len - n, "%s%u", i ? "." : "", regs[i]);

			n = k < 0 ? n : n + (size_t)k < len ? n + (size_t)k : len - 1;
			continue;
		}
		for (int s = 8; s >= 0 && n + 1 < len; s -= 8) {
			char ch = (char)(regs[i] >> s);

			if (ch)
				buf[n++] = ch;
		}
		buf[n] = '\0';
	}
	/* Trailing spaces of a padded string. */
	while (!c->version_dotted && n && buf[n - 1] == ' ')
		buf[--n] = '\0';
}
