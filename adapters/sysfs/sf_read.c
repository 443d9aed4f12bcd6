/* Kernel sensors through sysfs: see sf_read.h.  Worker thread only. */
#include "sf_read.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- names ------------------------------------------------------------------- */

static const char *const source_names[] = {
	[SF_IIO] = "iio", [SF_HWMON] = "hwmon", [SF_W1] = "w1", [SF_THERMAL] = "thermal"};

int sf_source_parse(const char *s, enum sf_source *out)
{
	for (size_t i = 0; i < sizeof(source_names) / sizeof(source_names[0]); i++)
		if (strcmp(s, source_names[i]) == 0) {
			*out = (enum sf_source)i;
			return 0;
		}
	return -EINVAL;
}

const char *sf_source_name(enum sf_source s)
{
	return (unsigned)s < sizeof(source_names) / sizeof(source_names[0]) ? source_names[s] : "?";
}

int sf_w1_file_parse(const char *s, enum sf_w1_file *out)
{
	if (strcmp(s, "auto") == 0)
		*out = SF_W1_AUTO;
	else if (strcmp(s, "w1_slave") == 0)
		*out = SF_W1_SLAVE;
	else if (strcmp(s, "temperature") == 0)
		*out = SF_W1_TEMPERATURE;
	else
		return -EINVAL;
	return 0;
}

/* Length of the leading letters: the channel type of "voltage0" or
 * "temp_ambient", the attribute kind of "temp1". */
static size_t type_len(const char *attr)
{
	size_t n = 0;

	while (attr[n] >= 'a' && attr[n] <= 'z')
		n++;
	return n;
}

static bool type_is(const char *attr, const char *type)
{
	size_t n = type_len(attr);

	return n == strlen(type) && strncmp(attr, type, n) == 0;
}

double sf_iio_unit(const char *attr)
{
	/* The IIO ABI's units (Documentation/ABI/testing/sysfs-bus-iio). */
	if (type_is(attr, "temp"))             /* milli degrees Celsius -> Cel */
		return 1e-3;
	if (type_is(attr, "voltage"))          /* millivolts -> V */
		return 1e-3;
	if (type_is(attr, "current"))          /* milliamps -> A */
		return 1e-3;
	if (type_is(attr, "power"))            /* milliwatts -> W */
		return 1e-3;
	if (type_is(attr, "humidityrelative")) /* milli percent -> %RH */
		return 1e-3;
	if (type_is(attr, "pressure"))         /* kilopascal -> hPa */
		return 10.0;
	return 1.0;                            /* lux, m/s^2, ...: as the kernel gives */
}

bool sf_hwmon_unit(const char *attr, double *out)
{
	/* The hwmon ABI's units (Documentation/hwmon/sysfs-interface.rst). */
	static const struct {
		const char *type;
		double unit;
	} units[] = {
		{"temp", 1e-3},         /* millidegrees Celsius -> Cel */
		{"in", 1e-3},           /* millivolts -> V */
		{"curr", 1e-3},         /* milliamps -> A */
		{"power", 1e-6},        /* microwatts -> W */
		{"energy", 1.0 / 3.6e9}, /* microjoules -> Wh */
		{"humidity", 1e-3},     /* milli percent -> %RH */
		{"fan", 1.0},           /* RPM */
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (type_is(attr, units[i].type)) {
			*out = units[i].unit;
			return true;
		}
	return false;
}

/* ---- parsing ------------------------------------------------------------------ */

/* A short, printable excerpt of what a file held, for messages. */
static void excerpt(const char *s, size_t n, char *out, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j + 1 < len && j < 48; i++)
		out[j++] = isprint((unsigned char)s[i]) ? s[i] : '?';
	out[j] = '\0';
}

int sf_parse_number(const char *text, double *out, char *msg, size_t len)
{
	const char *p = text;
	char *end;
	char ex[64];
	double v;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p) {
		snprintf(msg, len, "empty, expected a number");
		return -EBADMSG;
	}
	errno = 0;
	v = strtod(p, &end);
	if (end != p) {
		const char *q = end;

		while (isspace((unsigned char)*q))
			q++;
		/* Only plain decimals: strtod also takes "nan", "inf" and hex. */
		if (!*q && isfinite(v) && errno != ERANGE && !strpbrk(p, "xXnNiI")) {
			*out = v;
			return 0;
		}
	}
	excerpt(p, strcspn(p, "\n"), ex, sizeof(ex));
	snprintf(msg, len, "not a number: \"%s\"", ex);
	return -EBADMSG;
}

int sf_parse_w1_slave(const char *text, long *milli, char *msg, size_t len)
{
	const char *nl = strchr(text, '\n'), *line2, *t, *p;
	size_t n1, zeros = 0, bytes = 0;
	char ex[64], *end;
	long v;

	if (!nl) {
		snprintf(msg, len, "truncated: expected two lines, found %s",
			 *text ? "one" : "none");
		return -EBADMSG;
	}
	n1 = (size_t)(nl - text);
	while (n1 && isspace((unsigned char)text[n1 - 1]))
		n1--;
	excerpt(text, n1, ex, sizeof(ex));
	if (n1 >= 3 && strncmp(text + n1 - 3, "YES", 3) == 0) {
		/* good */
	} else if (n1 >= 2 && strncmp(text + n1 - 2, "NO", 2) == 0) {
		snprintf(msg, len, "CRC check failed (\"%s\")", ex);
		return -EBADMSG;
	} else {
		snprintf(msg, len, "unexpected first line \"%s\" (no CRC verdict)", ex);
		return -EBADMSG;
	}
	/* A missing sensor on a pulled-up bus reads as nine zero bytes, whose
	 * CRC is zero too: the check passes, the value means nothing. */
	for (p = text; p < text + n1 && *p != ':';) {
		char *e;
		unsigned long b = strtoul(p, &e, 16);

		if (e == p)
			break;
		bytes++;
		zeros += b == 0;
		p = e;
		while (*p == ' ')
			p++;
	}
	if (bytes >= 9 && zeros == bytes) {
		snprintf(msg, len, "all-zero scratchpad: the sensor did not answer");
		return -ENODATA;
	}
	line2 = nl + 1;
	t = strstr(line2, "t=");
	if (!t) {
		excerpt(line2, strcspn(line2, "\n"), ex, sizeof(ex));
		snprintf(msg, len, "no \"t=\" on the second line (\"%s\")", ex);
		return -EBADMSG;
	}
	errno = 0;
	v = strtol(t + 2, &end, 10);
	if (end == t + 2 || errno == ERANGE || (*end && !isspace((unsigned char)*end))) {
		excerpt(t, strcspn(t, "\n"), ex, sizeof(ex));
		snprintf(msg, len, "garbage temperature \"%s\"", ex);
		return -EBADMSG;
	}
	*milli = v;
	return 0;
}

/* ---- files ---------------------------------------------------------------------- */

/* The whole of a (small) sysfs file, NUL terminated; -errno. */
static int read_file(const char *path, char *buf, size_t len)
{
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, len - 1 - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return err;
}

static int path_of(char *out, const char *a, const char *b, const char *c)
{
	int n = snprintf(out, PATH_MAX, "%s/%s%s", a, b, c ? c : "");

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* A number file; msg names the file on failure. */
static int read_number(const char *path, double *out, char *msg, size_t len)
{
	char buf[256], why[SF_MSG_LEN];
	int r = read_file(path, buf, sizeof(buf));

	if (r < 0) {
		snprintf(msg, len, "%s: %s", path, strerror(-r));
		return r;
	}
	r = sf_parse_number(buf, out, why, sizeof(why));
	if (r < 0)
		snprintf(msg, len, "%s: %s", path, why);
	return r;
}

/* The first line of a file, without its newline; false when unreadable. */
static bool read_line(const char *path, char *buf, size_t len)
{
	if (read_file(path, buf, len) < 0)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

/* Whether component appears as a whole component of path. */
static bool has_component(const char *path, const char *component)
{
	size_t n = strlen(component);

	for (const char *p = strstr(path, component); p; p = strstr(p + 1, component))
		if ((p == path || p[-1] == '/') && (p[n] == '/' || p[n] == '\0'))
			return true;
	return false;
}

/* Whether the device directory dir is the one c names: its `file` (name or
 * type) holds c->match, and its real path runs through c->parent. */
static bool dir_matches(const char *dir, const char *file, const struct sf_chan *c)
{
	char path[PATH_MAX], line[256], *real;
	bool ok;

	if (path_of(path, dir, file, NULL) < 0 || !read_line(path, line, sizeof(line)) ||
	    strcmp(line, c->match) != 0)
		return false;
	if (!c->parent)
		return true;
	real = realpath(dir, NULL);
	ok = real && has_component(real, c->parent);
	free(real);
	return ok;
}

struct subsys {
	const char *sub;    /* under the root */
	const char *prefix; /* of the device directories */
	const char *file;   /* the file holding the name */
	const char *what;   /* for messages */
};

static const struct subsys subsystems[] = {
	[SF_IIO] = {"bus/iio/devices", "iio:device", "name", "IIO device named"},
	[SF_HWMON] = {"class/hwmon", "hwmon", "name", "hwmon chip named"},
	[SF_THERMAL] = {"class/thermal", "thermal_zone", "type", "thermal zone of type"},
};

/* Find c's device directory by name; sets c->dir. */
static int scan(const char *root, struct sf_chan *c, char *msg, size_t len)
{
	const struct subsys *s = &subsystems[c->src];
	char base[PATH_MAX], dir[PATH_MAX], first[64] = "", second[64] = "";
	unsigned found = 0;
	struct dirent *e;
	DIR *dp;
	int r;

	if (path_of(base, root, s->sub, NULL) < 0)
		return -ENAMETOOLONG;
	dp = opendir(base);
	if (!dp) {
		r = -errno;
		snprintf(msg, len, "%s: %s", base, strerror(-r));
		return r == -ENOENT ? -ENODEV : r;
	}
	while ((e = readdir(dp))) {
		const char *d;

		if (strncmp(e->d_name, s->prefix, strlen(s->prefix)) != 0 ||
		    path_of(dir, base, e->d_name, NULL) < 0)
			continue;
		d = dir;
		if (!dir_matches(dir, s->file, c)) {
			char old[PATH_MAX];

			/* Old hwmon drivers keep name and attributes in device/. */
			if (c->src != SF_HWMON || path_of(old, dir, "device", NULL) < 0 ||
			    !dir_matches(old, s->file, c))
				continue;
			snprintf(dir, sizeof(dir), "%s", old);
		}
		if (found++ == 0) {
			free(c->dir);
			c->dir = strdup(d);
			snprintf(first, sizeof(first), "%.63s", e->d_name);
		} else if (found == 2) {
			snprintf(second, sizeof(second), "%.63s", e->d_name);
		}
	}
	closedir(dp);
	if (found == 1)
		return c->dir ? 0 : -ENOMEM;
	free(c->dir);
	c->dir = NULL;
	if (found == 0) {
		snprintf(msg, len, "no %s \"%s\"%s%s in %s", s->what, c->match,
			 c->parent ? " under " : "", c->parent ? c->parent : "", base);
		return -ENODEV;
	}
	snprintf(msg, len, "%u of %s \"%s\" in %s (%s, %s%s): set `parent` to tell them apart",
		 found, s->what, c->match, base, first, second, found > 2 ? ", ..." : "");
	return -ENOTUNIQ;
}

/* c->dir, found again when the device moved (a new index after a reboot or
 * a module reload) or went away. */
static int resolve(const char *root, struct sf_chan *c, char *msg, size_t len)
{
	if (c->dir && dir_matches(c->dir, subsystems[c->src].file, c))
		return 0;
	return scan(root, c, msg, len);
}

/* Offset or scale of an IIO channel: its own file, else the one shared by
 * its type ("in_voltage_scale" for voltage0); dflt when neither exists. */
static int iio_param(const struct sf_chan *c, const char *what, double dflt, double *out,
		     char *msg, size_t len)
{
	char path[PATH_MAX], name[128];
	size_t tl = type_len(c->attr);
	int r;

	snprintf(name, sizeof(name), "in_%s_%s", c->attr, what);
	if (path_of(path, c->dir, name, NULL) < 0)
		return -ENAMETOOLONG;
	r = read_number(path, out, msg, len);
	if (r != -ENOENT)
		return r;
	if (tl && c->attr[tl]) {
		snprintf(name, sizeof(name), "in_%.*s_%s", (int)tl, c->attr, what);
		if (path_of(path, c->dir, name, NULL) < 0)
			return -ENAMETOOLONG;
		r = read_number(path, out, msg, len);
		if (r != -ENOENT)
			return r;
	}
	*out = dflt;
	return 0;
}

static int read_iio(struct sf_chan *c, double *out, char *msg, size_t len)
{
	char path[PATH_MAX], name[128];
	double raw, offset, scale;
	int r;

	/* A processed value when the driver gives one, in the ABI's unit. */
	snprintf(name, sizeof(name), "in_%s_input", c->attr);
	if (path_of(path, c->dir, name, NULL) < 0)
		return -ENAMETOOLONG;
	r = read_number(path, out, msg, len);
	if (r != -ENOENT)
		return r;
	snprintf(name, sizeof(name), "in_%s_raw", c->attr);
	if (path_of(path, c->dir, name, NULL) < 0)
		return -ENAMETOOLONG;
	r = read_number(path, &raw, msg, len);
	if (r == -ENOENT)
		snprintf(msg, len, "%s: neither in_%s_input nor in_%s_raw", c->dir, c->attr,
			 c->attr);
	if (r < 0)
		return r;
	r = iio_param(c, "offset", 0.0, &offset, msg, len);
	if (r < 0)
		return r;
	r = iio_param(c, "scale", 1.0, &scale, msg, len);
	if (r < 0)
		return r;
	*out = (raw + offset) * scale;
	return 0;
}

static int read_w1(const char *root, struct sf_chan *c, double *out, char *msg, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX], buf[512], why[SF_MSG_LEN];
	enum sf_w1_file f = c->w1_file;
	long milli;
	int r;

	if (path_of(dir, root, "bus/w1/devices/", c->match) < 0)
		return -ENAMETOOLONG;
	if (access(dir, F_OK) < 0) {
		snprintf(msg, len, "no 1-Wire device %s in %s/bus/w1/devices", c->match, root);
		return -ENODEV;
	}
	/* Newer kernels' `temperature` holds millidegrees, CRC already checked. */
	if (f == SF_W1_AUTO) {
		if (path_of(path, dir, "temperature", NULL) < 0)
			return -ENAMETOOLONG;
		f = access(path, F_OK) == 0 ? SF_W1_TEMPERATURE : SF_W1_SLAVE;
	}
	if (f == SF_W1_TEMPERATURE) {
		if (path_of(path, dir, "temperature", NULL) < 0)
			return -ENAMETOOLONG;
		return read_number(path, out, msg, len);
	}
	if (path_of(path, dir, "w1_slave", NULL) < 0)
		return -ENAMETOOLONG;
	r = read_file(path, buf, sizeof(buf));
	if (r < 0) {
		snprintf(msg, len, "%s: %s", path, strerror(-r));
		return r;
	}
	r = sf_parse_w1_slave(buf, &milli, why, sizeof(why));
	if (r < 0) {
		snprintf(msg, len, "%s: %s", path, why);
		return r;
	}
	*out = (double)milli;
	return 0;
}

int sf_read_channel(const char *root, struct sf_chan *c, double *out, char *msg, size_t len)
{
	char path[PATH_MAX];
	double v;
	int r;

	msg[0] = '\0';
	if (c->src == SF_W1) {
		r = read_w1(root, c, &v, msg, len);
	} else {
		r = resolve(root, c, msg, len);
		if (r < 0)
			return r;
		switch (c->src) {
		case SF_IIO:
			r = read_iio(c, &v, msg, len);
			break;
		case SF_HWMON:
			r = path_of(path, c->dir, c->attr, "_input");
			if (r == 0)
				r = read_number(path, &v, msg, len);
			break;
		case SF_THERMAL:
			r = path_of(path, c->dir, "temp", NULL);
			if (r == 0)
				r = read_number(path, &v, msg, len);
			break;
		default:
			r = -EINVAL;
		}
		/* Gone (unbound, module unloaded): look again next time. */
		if (r == -ENOENT || r == -ENODEV) {
			free(c->dir);
			c->dir = NULL;
		}
	}
	if (r == -ENAMETOOLONG && !msg[0])
		snprintf(msg, len, "a path under %s is too long", root);
	if (r < 0)
		return r;
	*out = v * c->unit;
	return 0;
}

void sf_chan_clear(struct sf_chan *c)
{
	free(c->match);
	free(c->attr);
	free(c->parent);
	free(c->dir);
	memset(c, 0, sizeof(*c));
}
