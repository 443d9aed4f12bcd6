#include "lwm_types.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lwm_type_name(enum lwm_type t)
{
	/* The DDF spellings, so messages match the object definitions. */
	switch (t) {
	case LWM_T_NONE:
		return "none";
	case LWM_T_STRING:
		return "String";
	case LWM_T_INTEGER:
		return "Integer";
	case LWM_T_UNSIGNED:
		return "Unsigned Integer";
	case LWM_T_FLOAT:
		return "Float";
	case LWM_T_BOOLEAN:
		return "Boolean";
	case LWM_T_OPAQUE:
		return "Opaque";
	case LWM_T_TIME:
		return "Time";
	case LWM_T_OBJLNK:
		return "Objlnk";
	case LWM_T_CORELNK:
		return "Corelnk";
	}
	return "invalid";
}

int lwm_path_parse(const char *s, size_t len, struct lwm_path *out)
{
	struct lwm_path p = {{0, 0, 0, 0}, 0};
	size_t i = 1;

	if (!s || len == 0 || s[0] != '/')
		return -EINVAL;
	if (len == 1) {
		*out = p;
		return 0;
	}
	for (;;) {
		uint32_t v = 0;
		size_t start = i;

		if (p.len == 4)
			return -EINVAL;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (uint32_t)(s[i] - '0');
			/* Checked per digit so long digit runs cannot overflow. */
			if (v >= LWM_ID_NONE)
				return -EINVAL;
			i++;
		}
		if (i == start)
			return -EINVAL; /* empty component or non-digit */
		p.id[p.len++] = (uint16_t)v;
		if (i == len)
			break;
		if (s[i] != '/')
			return -EINVAL;
		i++;
		if (i == len)
			return -EINVAL; /* trailing '/' */
	}
	*out = p;
	return 0;
}

int lwm_path_format(const struct lwm_path *p, char *buf, size_t size)
{
	size_t off = 0;

	if (p->len > 4)
		return -EINVAL;
	if (p->len == 0) {
		if (size < 2)
			return -ENOSPC;
		memcpy(buf, "/", 2);
		return 1;
	}
	for (unsigned i = 0; i < p->len; i++) {
		int r;

		if (off >= size)
			return -ENOSPC;
		r = snprintf(buf + off, size - off, "/%u", (unsigned)p->id[i]);
		if (r < 0)
			return -EINVAL;
		if ((size_t)r >= size - off)
			return -ENOSPC;
		off += (size_t)r;
	}
	return (int)off;
}

int lwm_path_cmp(const struct lwm_path *a, const struct lwm_path *b)
{
	unsigned n = a->len < b->len ? a->len : b->len;

	for (unsigned i = 0; i < n; i++) {
		if (a->id[i] != b->id[i])
			return a->id[i] < b->id[i] ? -1 : 1;
	}
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return 0;
}

bool lwm_path_starts_with(const struct lwm_path *p, const struct lwm_path *prefix)
{
	if (prefix->len > p->len)
		return false;
	for (unsigned i = 0; i < prefix->len; i++) {
		if (p->id[i] != prefix->id[i])
			return false;
	}
	return true;
}

void lwm_buf_init(struct lwm_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->err = 0;
}

void lwm_buf_free(struct lwm_buf *b)
{
	/* Any buffer may have held a key (bootstrap writes, Security
	 * instances, key files): none is freed unwiped. */
	if (b->data)
		explicit_bzero(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
}

void lwm_buf_reset(struct lwm_buf *b)
{
	b->len = 0;
	b->err = 0;
}

/* Ensure room for extra more bytes; sets the sticky error on failure. */
static int buf_grow(struct lwm_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *d;

	if (b->err)
		return b->err;
	if (extra > SIZE_MAX - b->len) {
		b->err = -E2BIG;
		return b->err;
	}
	need = b->len + extra;
	if (b->max && need > b->max) {
		b->err = -E2BIG;
		return b->err;
	}
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->max && cap > b->max)
		cap = b->max;
	/* Grown by copying, not realloc: the old block is wiped before it is
	 * freed, as it may hold a secret. */
	d = malloc(cap);
	if (!d) {
		b->err = -ENOMEM;
		return b->err;
	}
	if (b->data) {
		memcpy(d, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = d;
	b->cap = cap;
	return 0;
}

int lwm_buf_reserve(struct lwm_buf *b, size_t extra)
{
	return buf_grow(b, extra);
}

int lwm_buf_append(struct lwm_buf *b, const void *data, size_t len)
{
	int r = buf_grow(b, len);

	if (r)
		return r;
	if (len) {
		memcpy(b->data + b->len, data, len);
		b->len += len;
	}
	return 0;
}

int lwm_buf_putc(struct lwm_buf *b, uint8_t c)
{
	return lwm_buf_append(b, &c, 1);
}

int lwm_buf_printf(struct lwm_buf *b, const char *fmt, ...)
{
	char tmp[256];
	char *big;
	va_list ap;
	int r;

	if (b->err)
		return b->err;
	/* Format aside first: printing in place would need room for the NUL,
	 * which could trip max although the text itself fits. */
	va_start(ap, fmt);
	r = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (r < 0) {
		b->err = -EINVAL;
		return b->err;
	}
	if ((size_t)r < sizeof(tmp))
		return lwm_buf_append(b, tmp, (size_t)r);
	big = malloc((size_t)r + 1);
	if (!big) {
		b->err = -ENOMEM;
		return b->err;
	}
	va_start(ap, fmt);
	r = vsnprintf(big, (size_t)r + 1, fmt, ap);
	va_end(ap);
	if (r < 0)
		b->err = -EINVAL;
	else
		lwm_buf_append(b, big, (size_t)r);
	free(big);
	return b->err;
}

/* d's p significant decimal digits dig (trailing zeros allowed) with decimal
 * exponent x, 0 <= x < p or -4 <= x < 0, written as printf's "%.<p>g" does:
 * trailing zeros dropped, no exponent. */
static int fmt_fixed(bool neg, const char *dig, int p, int x, char buf[32])
{
	int nd = p, n = 0;

	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	if (neg)
		buf[n++] = '-';
	if (x < 0) {
		buf[n++] = '0';
		buf[n++] = '.';
		for (int i = 0; i < -x - 1; i++)
			buf[n++] = '0';
		memcpy(buf + n, dig, (size_t)nd);
		n += nd;
	} else {
		memcpy(buf + n, dig, (size_t)x + 1);
		n += x + 1;
		if (nd > x + 1) {
			buf[n++] = '.';
			memcpy(buf + n, dig + x + 1, (size_t)(nd - x - 1));
			n += nd - x - 1;
		}
	}
	buf[n] = '\0';
	return n;
}

typedef unsigned __int128 u128;

#define P10(n) UINT64_C(n)
static const uint64_t pow10_64[20] = {
	P10(1), P10(10), P10(100), P10(1000), P10(10000), P10(100000), P10(1000000),
	P10(10000000), P10(100000000), P10(1000000000), P10(10000000000),
	P10(100000000000), P10(1000000000000), P10(10000000000000), P10(100000000000000),
	P10(1000000000000000), P10(10000000000000000), P10(100000000000000000),
	P10(1000000000000000000), P10(10000000000000000000),
};
#undef P10

/* 10^j, 0 <= j <= 20. */
static u128 pow10_128(int j)
{
	return j < 20 ? pow10_64[j] : (u128)pow10_64[19] * 10;
}

/* lwm_fmt_double for 1e-4 <= |d| < 1e15, the range of every sensible reading,
 * in exact integer arithmetic: snprintf and strtod cost the notification path
 * more than everything else together.  With |d| = m * 2^-k, the p-digit
 * candidate q * 10^-j (j = p - 1 - x) is d * 10^j rounded half to even, and
 * reads back as d when it lies within half the gap to d's neighbours (strtod
 * rounds ties to even too).  false: out of range, use snprintf. */
static bool fmt_exact(double d, char buf[32], int *len)
{
	double a = fabs(d);
	uint64_t m;
	int e, k, x;

	if (!(a >= 1e-4 && a < 1e15))
		return false;
	m = (uint64_t)ldexp(frexp(a, &e), 53);
	k = 53 - e; /* 4 <= k <= 67: m << 67 and m * 10^20 fit in 128 bits */
	/* The decimal exponent: log10 may be one off near powers of ten. */
	x = (int)floor(log10(a));
	for (int tries = 0;; tries++) {
		u128 q;
		if (x < -4 || x > 14 || tries > 2)
			return false;
		q = ((u128)m * pow10_128(16 - x)) >> k;
		if (q < pow10_128(16))
			x--;
		else if (q >= pow10_128(17))
			x++;
		else
			break;
	}
	for (int p = 15; p <= 17; p++) {
		int j = p - 1 - x, px = x;
		u128 n = (u128)m * pow10_128(j), half = (u128)1 << (k - 1);
		u128 q = n >> k, r = n & (((u128)1 << k) - 1), c, diff, lim = pow10_128(j);
		bool ok;
		char dig[18];

		if (r > half || (r == half && (q & 1)))
			q++;
		c = q << k;
		diff = c > n ? c - n : n - c;
		/* Below a power of two the gap is half as wide. */
		if (c < n && m == (uint64_t)1 << 52)
			ok = 4 * diff <= lim;
		else
			ok = 2 * diff < lim || (2 * diff == lim && !(m & 1));
		if (!ok)
			continue;
		if (q == pow10_128(p)) { /* 99..9 rounded up to 100..0 */
			q = pow10_128(p - 1);
			px++;
		}
		if (px >= p)
			return false; /* "%g" would use the e-style */
		for (uint64_t v = (uint64_t)q, i = (uint64_t)p; i-- > 0; v /= 10)
			dig[i] = (char)('0' + (int)(v % 10));
		*len = fmt_fixed(signbit(d), dig, p, px, buf);
		return true;
	}
	return false;
}

/* Assumes the C locale for LC_NUMERIC (gatewayd never changes it), so '.'
 * is the decimal point for both snprintf and strtod. */
int lwm_fmt_double(double d, char buf[32])
{
	int r = -EINVAL;

	if (!isfinite(d))
		return -EINVAL;
	if (fmt_exact(d, buf, &r))
		return r;
	/* 17 significant digits always round-trip; try fewer first. */
	for (int prec = 15; prec <= 17; prec++) {
		r = snprintf(buf, 32, "%.*g", prec, d);
		if (r < 0 || r >= 32)
			return -EINVAL;
		if (strtod(buf, NULL) == d)
			break;
	}
	return r;
}
