/* Modbus value codec; see mb_codec.h. */
#include "mb_codec.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

static const char *const table_names[] = {"coil", "discrete", "holding", "input"};

int mb_table_parse(const char *s, enum mb_table *out)
{
	for (unsigned i = 0; i < 4; i++)
		if (strcmp(s, table_names[i]) == 0) {
			*out = (enum mb_table)i;
			return 0;
		}
	return -EINVAL;
}

const char *mb_table_name(enum mb_table t)
{
	return (unsigned)t < 4 ? table_names[t] : "?";
}

bool mb_table_is_bits(enum mb_table t)
{
	return t == MB_COILS || t == MB_DISCRETE;
}

bool mb_table_is_writable(enum mb_table t)
{
	return t == MB_COILS || t == MB_HOLDING;
}

int mb_table_read_fc(enum mb_table t)
{
	return (int)t + 1;
}

static const char *const type_names[] = {
	[MB_T_BOOL] = "bool",       [MB_T_BIT] = "bit",         [MB_T_INT8H] = "int8h",
	[MB_T_INT8L] = "int8l",     [MB_T_UINT8H] = "uint8h",   [MB_T_UINT8L] = "uint8l",
	[MB_T_INT16] = "int16",     [MB_T_UINT16] = "uint16",   [MB_T_INT32] = "int32",
	[MB_T_UINT32] = "uint32",   [MB_T_INT64] = "int64",     [MB_T_UINT64] = "uint64",
	[MB_T_FLOAT16] = "float16", [MB_T_FLOAT32] = "float32", [MB_T_FLOAT64] = "float64",
	[MB_T_FIXED16] = "fixed16", [MB_T_FIXED32] = "fixed32", [MB_T_BCD16] = "bcd16",
	[MB_T_BCD32] = "bcd32",     [MB_T_STRING] = "string",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

int mb_type_parse(const char *s, enum mb_type *out)
{
	for (unsigned i = 0; i < N_TYPES; i++)
		if (strcmp(s, type_names[i]) == 0) {
			*out = (enum mb_type)i;
			return 0;
		}
	return -EINVAL;
}

const char *mb_type_name(enum mb_type t)
{
	return (unsigned)t < N_TYPES ? type_names[t] : "?";
}

int mb_order_parse(const char *s, bool *swap_bytes, bool *swap_words)
{
	static const struct {
		const char *name;
		bool bytes, words;
	} orders[] = {
		{"ABCD", false, false},     {"DCBA", true, true},
		{"BADC", true, false},      {"CDAB", false, true},
		{"ABCDEFGH", false, false}, {"HGFEDCBA", true, true},
		{"BADCFEHG", true, false},  {"GHEFCDAB", false, true},
	};

	for (unsigned i = 0; i < sizeof(orders) / sizeof(orders[0]); i++)
		if (strcmp(s, orders[i].name) == 0) {
			*swap_bytes = orders[i].bytes;
			*swap_words = orders[i].words;
			return 0;
		}
	return -EINVAL;
}

unsigned mb_format_regs(const struct mb_format *f)
{
	switch (f->type) {
	case MB_T_INT32:
	case MB_T_UINT32:
	case MB_T_FLOAT32:
	case MB_T_FIXED32:
	case MB_T_BCD32:
		return 2;
	case MB_T_INT64:
	case MB_T_UINT64:
	case MB_T_FLOAT64:
		return 4;
	case MB_T_STRING:
		return f->len;
	default:
		return 1;
	}
}

static uint16_t bswap16(uint16_t r)
{
	return (uint16_t)(r << 8 | r >> 8);
}

/* The value's bytes as one big-endian number (A the most significant). */
static uint64_t gather(const struct mb_format *f, const uint16_t *regs, unsigned n)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < n; i++) {
		uint16_t r = regs[f->swap_words ? n - 1 - i : i];

		x = x << 16 | (f->swap_bytes ? bswap16(r) : r);
	}
	return x;
}

static void scatter(const struct mb_format *f, uint64_t x, uint16_t *regs, unsigned n)
{
	for (unsigned i = n; i-- > 0;) {
		uint16_t r = (uint16_t)(x & 0xffff);

		x >>= 16;
		regs[f->swap_words ? n - 1 - i : i] = f->swap_bytes ? bswap16(r) : r;
	}
}

double mb_half_to_double(uint16_t h)
{
	int e = (h >> 10) & 0x1f;
	double m = h & 0x3ff;
	double v;

	if (e == 0)
		v = ldexp(m, -24);
	else if (e == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexp(m + 1024.0, e - 25);
	return (h & 0x8000) ? -v : v;
}

uint16_t mb_double_to_half(double d)
{
	uint16_t sign = signbit(d) ? 0x8000 : 0;
	double a = fabs(d);
	int e;
	double m;

	if (isnan(d))
		return 0x7e00;
	if (a >= 65520.0) /* rounds past the largest half */
		return sign | 0x7c00;
	if (a < ldexp(1.0, -14)) /* subnormal: steps of 2^-24 */
		return sign | (uint16_t)nearbyint(ldexp(a, 24));
	m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
	{
		uint32_t mant = (uint32_t)nearbyint(ldexp(m, 11)); /* 1024..2048 */
		if (mant == 2048) {
			mant = 1024;
			e++;
		}
		return sign | (uint16_t)((uint32_t)(e + 14) << 10 | (mant - 1024));
	}
}

static int bcd_decode(uint64_t x, unsigned digits, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = digits; i-- > 0;) {
		unsigned d = (unsigned)(x >> (4 * i)) & 0xf;

		if (d > 9)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static uint64_t bcd_encode(uint64_t v, unsigned digits)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < digits; i++) {
		x |= (v % 10) << (4 * i);
		v /= 10;
	}
	return x;
}

int mb_decode(const struct mb_format *f, const uint16_t *regs, struct gwd_value *out, char *buf,
	      size_t buflen)
{
	unsigned n = mb_format_regs(f);
	uint64_t x = f->type == MB_T_STRING ? 0 : gather(f, regs, n);
	uint64_t u;
	union {
		uint32_t u;
		float f;
	} f32;
	union {
		uint64_t u;
		double d;
	} f64;

	switch (f->type) {
	case MB_T_BOOL:
		*out = gwd_value_bool(regs[0] != 0);
		return 0;
	case MB_T_BIT:
		*out = gwd_value_bool((regs[0] >> f->bit) & 1);
		return 0;
	case MB_T_INT8H:
		*out = gwd_value_int((int8_t)(regs[0] >> 8));
		return 0;
	case MB_T_INT8L:
		*out = gwd_value_int((int8_t)(regs[0] & 0xff));
		return 0;
	case MB_T_UINT8H:
		*out = gwd_value_int(regs[0] >> 8);
		return 0;
	case MB_T_UINT8L:
		*out = gwd_value_int(regs[0] & 0xff);
		return 0;
	case MB_T_INT16:
		*out = gwd_value_int((int16_t)x);
		return 0;
	case MB_T_UINT16:
	case MB_T_UINT32:
		*out = gwd_value_int((int64_t)x);
		return 0;
	case MB_T_INT32:
		*out = gwd_value_int((int32_t)(uint32_t)x);
		return 0;
	case MB_T_INT64:
		*out = gwd_value_int((int64_t)x);
		return 0;
	case MB_T_UINT64:
		out->type = GWD_V_UINT;
		out->v.u = x;
		return 0;
	case MB_T_FLOAT16:
		*out = gwd_value_double(mb_half_to_double((uint16_t)x));
		return 0;
	case MB_T_FLOAT32:
		f32.u = (uint32_t)x;
		*out = gwd_value_double(f32.f);
		return 0;
	case MB_T_FLOAT64:
		f64.u = x;
		*out = gwd_value_double(f64.d);
		return 0;
	case MB_T_FIXED16:
		*out = gwd_value_double(ldexp((double)(int16_t)x, -(int)f->frac));
		return 0;
	case MB_T_FIXED32:
		*out = gwd_value_double(ldexp((double)(int32_t)(uint32_t)x, -(int)f->frac));
		return 0;
	case MB_T_BCD16:
	case MB_T_BCD32:
		if (bcd_decode(x, 4 * n, &u) < 0)
			return -EBADMSG;
		*out = gwd_value_int((int64_t)u);
		return 0;
	case MB_T_STRING: {
		size_t len = 0;

		for (unsigned i = 0; i < n && len + 2 < buflen; i++) {
			uint16_t r = f->swap_bytes ? bswap16(regs[i]) : regs[i];

			buf[len++] = (char)(r >> 8);
			buf[len++] = (char)(r & 0xff);
		}
		/* Devices pad with NULs or spaces; the first NUL ends the text. */
		len = strnlen(buf, len);
		while (len && buf[len - 1] == ' ')
			len--;
		if (buflen)
			buf[len] = '\0';
		out->type = GWD_V_STRING;
		out->v.bytes.ptr = buf;
		out->v.bytes.len = len;
		return 0;
	}
	}
	return -EINVAL;
}

/* A numeric value as a double; bools as 0/1. */
static int as_double(const struct gwd_value *v, double *out)
{
	switch (v->type) {
	case GWD_V_BOOL:
		*out = v->v.b;
		return 0;
	case GWD_V_INT:
		*out = (double)v->v.i;
		return 0;
	case GWD_V_UINT:
		*out = (double)v->v.u;
		return 0;
	case GWD_V_DOUBLE:
		if (isnan(v->v.d))
			return -EINVAL;
		*out = v->v.d;
		return 0;
	default:
		return -EINVAL;
	}
}

/* An integral value in [min, max] (as doubles: the limits of the type).
 * Exact integers are taken as they are, so 64-bit values keep every bit. */
static int as_int(const struct gwd_value *v, double min, double max, int64_t *si, uint64_t *ui)
{
	double d;
	int r;

	if (v->type == GWD_V_INT) {
		if ((double)v->v.i < min || (double)v->v.i > max)
			return -ERANGE;
		*si = v->v.i;
		*ui = (uint64_t)v->v.i;
		return 0;
	}
	if (v->type == GWD_V_UINT) {
		if ((double)v->v.u > max)
			return -ERANGE;
		*si = (int64_t)v->v.u;
		*ui = v->v.u;
		return 0;
	}
	r = as_double(v, &d);
	if (r < 0)
		return r;
	d = nearbyint(d);
	if (!(d >= min && d <= max))
		return -ERANGE;
	if (d >= 0x1p63) {
		*ui = (uint64_t)d;
		*si = (int64_t)*ui;
	} else {
		*si = (int64_t)d;
		*ui = (uint64_t)*si;
	}
	return 0;
}

int mb_encode(const struct mb_format *f, const struct gwd_value *v, uint16_t *regs)
{
	unsigned n = mb_format_regs(f);
	int64_t si;
	uint64_t ui;
	double d;
	int r;
	union {
		uint32_t u;
		float f;
	} f32;
	union {
		uint64_t u;
		double d;
	} f64;

	switch (f->type) {
	case MB_T_BOOL:
	case MB_T_BIT:
		r = as_int(v, 0, 1, &si, &ui);
		if (r < 0)
			return v->type == GWD_V_STRING || v->type == GWD_V_BYTES ? -EINVAL : r;
		if (f->type == MB_T_BOOL)
			regs[0] = (uint16_t)ui;
		else
			regs[0] = (uint16_t)((regs[0] & ~(1u << f->bit)) | (ui << f->bit));
		return 0;
	case MB_T_INT8H:
	case MB_T_INT8L:
	case MB_T_UINT8H:
	case MB_T_UINT8L: {
		bool sgn = f->type == MB_T_INT8H || f->type == MB_T_INT8L;
		bool high = f->type == MB_T_INT8H || f->type == MB_T_UINT8H;

		r = as_int(v, sgn ? -128 : 0, sgn ? 127 : 255, &si, &ui);
		if (r < 0)
			return r;
		ui &= 0xff;
		regs[0] = high ? (uint16_t)((regs[0] & 0x00ff) | ui << 8)
			       : (uint16_t)((regs[0] & 0xff00) | ui);
		return 0;
	}
	case MB_T_INT16:
		r = as_int(v, INT16_MIN, INT16_MAX, &si, &ui);
		break;
	case MB_T_UINT16:
		r = as_int(v, 0, UINT16_MAX, &si, &ui);
		break;
	case MB_T_INT32:
		r = as_int(v, INT32_MIN, INT32_MAX, &si, &ui);
		break;
	case MB_T_UINT32:
		r = as_int(v, 0, UINT32_MAX, &si, &ui);
		break;
	case MB_T_INT64:
		/* 2^63 itself is a double too: exclude it. */
		r = as_int(v, -0x1p63, 0x1p63, &si, &ui);
		if (r == 0 && v->type == GWD_V_DOUBLE && nearbyint(v->v.d) >= 0x1p63)
			r = -ERANGE;
		if (r == 0 && v->type == GWD_V_UINT && v->v.u > (uint64_t)INT64_MAX)
			r = -ERANGE;
		break;
	case MB_T_UINT64:
		if (v->type == GWD_V_INT && v->v.i < 0)
			return -ERANGE;
		r = as_int(v, 0, 0x1p64, &si, &ui);
		if (r == 0 && v->type == GWD_V_DOUBLE && nearbyint(v->v.d) >= 0x1p64)
			r = -ERANGE;
		break;
	case MB_T_BCD16:
	case MB_T_BCD32:
		r = as_int(v, 0, n == 1 ? 9999 : 99999999, &si, &ui);
		if (r == 0)
			ui = bcd_encode(ui, 4 * n);
		break;
	case MB_T_FIXED16:
	case MB_T_FIXED32:
		r = as_double(v, &d);
		if (r < 0)
			return r;
		{
			struct gwd_value scaled = gwd_value_double(ldexp(d, f->frac));

			r = f->type == MB_T_FIXED16
				    ? as_int(&scaled, INT16_MIN, INT16_MAX, &si, &ui)
				    : as_int(&scaled, INT32_MIN, INT32_MAX, &si, &ui);
		}
		break;
	case MB_T_FLOAT16:
		r = as_double(v, &d);
		if (r < 0)
			return r;
		if (isfinite(d) && fabs(d) > 65504.0)
			return -ERANGE;
		ui = mb_double_to_half(d);
		break;
	case MB_T_FLOAT32:
		r = as_double(v, &d);
		if (r < 0)
			return r;
		if (isfinite(d) && fabs(d) > FLT_MAX)
			return -ERANGE;
		f32.f = (float)d;
		ui = f32.u;
		break;
	case MB_T_FLOAT64:
		r = as_double(v, &d);
		if (r < 0)
			return r;
		f64.d = d;
		ui = f64.u;
		break;
	case MB_T_STRING: {
		const unsigned char *p = v->v.bytes.ptr;
		size_t len = v->v.bytes.len;

		if (v->type != GWD_V_STRING && v->type != GWD_V_BYTES)
			return -EINVAL;
		if (len > 2u * n)
			return -ERANGE;
		for (unsigned i = 0; i < n; i++) {
			unsigned hi = 2 * i < len ? p[2 * i] : 0;
			unsigned lo = 2 * i + 1 < len ? p[2 * i + 1] : 0;
			uint16_t reg = (uint16_t)(hi << 8 | lo);

			regs[i] = f->swap_bytes ? bswap16(reg) : reg;
		}
		return 0;
	}
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	scatter(f, ui, regs, n);
	return 0;
}
