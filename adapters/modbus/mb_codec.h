/* Modbus value codec: register images <-> gatewayd values.  Pure functions,
 * no I/O, no libmodbus: unit-tested against hand-computed images. */
#ifndef MB_CODEC_H
#define MB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gatewayd/adapter.h"

enum mb_table {
	MB_COILS = 0,    /* FC 1 read, 5/15 write */
	MB_DISCRETE,     /* FC 2 */
	MB_HOLDING,      /* FC 3 read, 6/16 write */
	MB_INPUT,        /* FC 4 */
};

enum mb_type {
	MB_T_BOOL = 0,   /* a coil or discrete input */
	MB_T_BIT,        /* one bit of a register */
	MB_T_INT8H, MB_T_INT8L, MB_T_UINT8H, MB_T_UINT8L,
	MB_T_INT16, MB_T_UINT16,
	MB_T_INT32, MB_T_UINT32,
	MB_T_INT64, MB_T_UINT64,
	MB_T_FLOAT16, MB_T_FLOAT32, MB_T_FLOAT64,
	MB_T_FIXED16, MB_T_FIXED32, /* signed, `frac` fractional bits */
	MB_T_BCD16, MB_T_BCD32,
	MB_T_STRING,     /* `len` registers, two characters each */
};

/* How a value sits in its registers.  Orders are written with letters, A the
 * most significant byte: ABCD is big-endian, BADC swaps the bytes of each
 * register, CDAB swaps the registers, DCBA does both.  64-bit orders have
 * eight letters (ABCDEFGH, BADCFEHG, GHEFCDAB, HGFEDCBA), which are the same
 * two swaps over four registers. */
struct mb_format {
	enum mb_type type;
	bool swap_bytes; /* within each register */
	bool swap_words; /* register order reversed */
	uint8_t bit;     /* MB_T_BIT: 0..15 */
	uint8_t frac;    /* MB_T_FIXED*: fractional bits */
	uint16_t len;    /* MB_T_STRING: registers */
};

int mb_table_parse(const char *s, enum mb_table *out);
const char *mb_table_name(enum mb_table t);
bool mb_table_is_bits(enum mb_table t);
bool mb_table_is_writable(enum mb_table t);
/* The read function code of a table (1..4). */
int mb_table_read_fc(enum mb_table t);

int mb_type_parse(const char *s, enum mb_type *out);
const char *mb_type_name(enum mb_type t);
/* 0 and the swaps for "ABCD", "DCBA", "BADC", "CDAB" and the 8-letter forms. */
int mb_order_parse(const char *s, bool *swap_bytes, bool *swap_words);

/* Registers a value of this format occupies (1 for MB_T_BOOL: one bit). */
unsigned mb_format_regs(const struct mb_format *f);

/* Decode regs[0 .. mb_format_regs(f)) into *out.  Strings are written to buf
 * (NUL padding and trailing spaces trimmed) and out points into it.  Returns
 * 0, or -EBADMSG for an image that is not a value (a BCD nibble above 9). */
int mb_decode(const struct mb_format *f, const uint16_t *regs, struct gwd_value *out, char *buf,
	      size_t buflen);

/* Encode v into regs[0 .. mb_format_regs(f)).  For MB_T_BIT and the 8-bit
 * halves, regs[0] must hold the register's current value on entry (the other
 * bits are kept).  Numbers are rounded to the nearest integer for integer
 * types.  Returns 0, -EINVAL for a value of the wrong kind or not a number,
 * -ERANGE for a value the type cannot hold. */
int mb_encode(const struct mb_format *f, const struct gwd_value *v, uint16_t *regs);

/* IEEE 754 half precision. */
double mb_half_to_double(uint16_t h);
uint16_t mb_double_to_half(double d);

#endif
