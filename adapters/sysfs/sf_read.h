/* Reading one kernel sensor channel from sysfs: finding the device by its
 * stable name (never by the kernel's unstable index), reading and parsing
 * its files, and converting to the units the IPSO objects use.
 *
 * Everything here is blocking file I/O and runs on the device's worker
 * thread only; it never touches the host.  Pure functions (the parsers) are
 * separate so that tests can feed them strings.  Users' documentation:
 * README.md. */
#ifndef SF_READ_H
#define SF_READ_H

#include <stdbool.h>
#include <stddef.h>

enum sf_source {
	SF_IIO,     /* <root>/bus/iio/devices/iio:deviceN, found by `name` */
	SF_HWMON,   /* <root>/class/hwmon/hwmonN, found by `name` */
	SF_W1,      /* <root>/bus/w1/devices/<id> */
	SF_THERMAL, /* <root>/class/thermal/thermal_zoneN, found by `type` */
};

/* Which file of a 1-Wire thermometer. */
enum sf_w1_file { SF_W1_AUTO, SF_W1_SLAVE, SF_W1_TEMPERATURE };

/* One channel.  Config fields are set before the worker starts and never
 * change; `dir` is the worker's cache of the device's directory. */
struct sf_chan {
	enum sf_source src;
	char *match;  /* iio/hwmon: the `name` file; w1: the slave id; thermal: `type` */
	char *attr;   /* iio: "temp", "voltage0", ...; hwmon: "temp1", "in0", ... */
	char *parent; /* optional: a component of the device's real path ("1-0076") */
	enum sf_w1_file w1_file;
	double unit;  /* kernel unit -> IPSO unit multiplier */

	char *dir;    /* worker only: the directory found last time, or NULL */
};

/* Message buffer size for errors. */
#define SF_MSG_LEN 320

/* Names as written in the config. */
int sf_source_parse(const char *s, enum sf_source *out);
const char *sf_source_name(enum sf_source s);
int sf_w1_file_parse(const char *s, enum sf_w1_file *out);

/* The multiplier from the kernel's unit to the IPSO unit for an IIO channel
 * type or hwmon attribute; false when the hwmon attribute kind is unknown
 * (IIO types the adapter does not know keep the kernel's unit: 1). */
double sf_iio_unit(const char *attr);
bool sf_hwmon_unit(const char *attr, double *out);

/* A sysfs number: optional whitespace around one finite decimal number.
 * 0, or -EBADMSG with msg saying what was found. */
int sf_parse_number(const char *text, double *out, char *msg, size_t len);

/* The w1_therm driver's w1_slave file: line 1 ends with "crc=XX YES" (or
 * NO), line 2 carries "t=<millidegrees>".  Returns 0 with *milli set,
 * -EBADMSG (bad CRC, garbage, truncated) or -ENODATA (an all-zero
 * scratchpad: nothing answered), with msg saying which. */
int sf_parse_w1_slave(const char *text, long *milli, char *msg, size_t len);

/* Read channel c under root: 0 and *out in IPSO units, or a negative errno
 * with a message naming the file or device. */
int sf_read_channel(const char *root, struct sf_chan *c, double *out, char *msg, size_t len);

void sf_chan_clear(struct sf_chan *c);

#endif
