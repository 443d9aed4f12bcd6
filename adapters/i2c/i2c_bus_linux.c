/* i2c_bus.h on Linux's i2c-dev: /dev/i2c-N with the I2C_RDWR ioctl, which
 * sends any combined transfer, or, on bus adapters that only speak SMBus
 * (I2C_FUNCS without I2C_FUNC_I2C), the few transfer shapes the chip
 * drivers use mapped onto SMBus commands. */
#include <errno.h>
#include <fcntl.h>
#include <linux/i2c-dev.h>
#include <linux/i2c.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "i2c_bus.h"

struct i2c_bus {
	int fd;
	unsigned long funcs;
	int slave; /* the address I2C_SLAVE last set, -1: none */
	uint8_t checked[16]; /* addresses found free of a kernel driver */
};

/* I2C_RDWR goes to any address, even one a kernel driver has bound:
 * talking to a chip behind its driver's back confuses both.  I2C_SLAVE
 * (not I2C_SLAVE_FORCE) refuses such an address with EBUSY; ask it once
 * per address. */
static int check_free(struct i2c_bus *b, uint16_t addr)
{
	if (addr > 0x7f || b->checked[addr / 8] & (1u << (addr % 8)))
		return 0;
	if (ioctl(b->fd, I2C_SLAVE, (unsigned long)addr) < 0)
		return -errno;
	b->slave = addr;
	b->checked[addr / 8] |= (uint8_t)(1u << (addr % 8));
	return 0;
}

int i2c_bus_open(const char *path, struct i2c_bus **out)
{
	struct i2c_bus *b = calloc(1, sizeof(*b));
	int e;

	if (!b)
		return -ENOMEM;
	b->slave = -1;
	b->fd = open(path, O_RDWR | O_CLOEXEC);
	if (b->fd < 0 || ioctl(b->fd, I2C_FUNCS, &b->funcs) < 0) {
		e = -errno;
		if (b->fd >= 0)
			close(b->fd);
		free(b);
		return e;
	}
	*out = b;
	return 0;
}

void i2c_bus_close(struct i2c_bus *b)
{
	if (b) {
		close(b->fd);
		free(b);
	}
}

void i2c_bus_wait_us(struct i2c_bus *b, unsigned us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static int rdwr(struct i2c_bus *b, struct i2c_xfer_msg *msgs, unsigned n)
{
	struct i2c_msg km[I2C_RDWR_IOCTL_MAX_MSGS];
	struct i2c_rdwr_ioctl_data data = {.msgs = km, .nmsgs = n};

	if (n > I2C_RDWR_IOCTL_MAX_MSGS)
		return -EOPNOTSUPP;
	for (unsigned i = 0; i < n; i++) {
		int r = check_free(b, msgs[i].addr);

		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < n; i++)
		km[i] = (struct i2c_msg){.addr = msgs[i].addr,
					 .flags = msgs[i].read ? I2C_M_RD : 0,
					 .len = msgs[i].len,
					 .buf = msgs[i].buf};
	return ioctl(b->fd, I2C_RDWR, &data) < 0 ? -errno : 0;
}

static int smbus(struct i2c_bus *b, char rw, uint8_t cmd, int size, union i2c_smbus_data *d)
{
	struct i2c_smbus_ioctl_data a = {.read_write = rw, .command = cmd, .size = (uint32_t)size,
					 .data = d};

	return ioctl(b->fd, I2C_SMBUS, &a) < 0 ? -errno : 0;
}

/* The shapes the drivers use: write 1..33 bytes; read 1 byte; write one
 * byte (a register) then read 1..32.  Anything else needs I2C_RDWR. */
static int smbus_emulate(struct i2c_bus *b, struct i2c_xfer_msg *m, unsigned n)
{
	union i2c_smbus_data d;
	int r;

	if (n == 0 || n > 2 || (n == 2 && (m[0].read || !m[1].read || m[0].addr != m[1].addr)))
		return -EOPNOTSUPP;
	if (m[0].addr != b->slave) {
		if (ioctl(b->fd, I2C_SLAVE, (unsigned long)m[0].addr) < 0)
			return -errno;
		b->slave = m[0].addr;
	}
	if (n == 1 && m[0].read) {
		if (m[0].len != 1)
			return -EOPNOTSUPP;
		r = smbus(b, I2C_SMBUS_READ, 0, I2C_SMBUS_BYTE, &d);
		if (r == 0)
			m[0].buf[0] = d.byte;
		return r;
	}
	if (n == 1) {
		if (m[0].len == 1)
			return smbus(b, I2C_SMBUS_WRITE, m[0].buf[0], I2C_SMBUS_BYTE, NULL);
		if (m[0].len - 1 > I2C_SMBUS_BLOCK_MAX)
			return -EOPNOTSUPP;
		d.block[0] = (uint8_t)(m[0].len - 1);
		memcpy(d.block + 1, m[0].buf + 1, m[0].len - 1u);
		return smbus(b, I2C_SMBUS_WRITE, m[0].buf[0], I2C_SMBUS_I2C_BLOCK_DATA, &d);
	}
	if (m[0].len != 1 || m[1].len > I2C_SMBUS_BLOCK_MAX)
		return -EOPNOTSUPP;
	d.block[0] = (uint8_t)m[1].len;
	r = smbus(b, I2C_SMBUS_READ, m[0].buf[0], I2C_SMBUS_I2C_BLOCK_DATA, &d);
	if (r == 0)
		memcpy(m[1].buf, d.block + 1, m[1].len);
	return r;
}

int i2c_bus_transfer(struct i2c_bus *b, struct i2c_xfer_msg *msgs, unsigned n)
{
	if (b->funcs & I2C_FUNC_I2C)
		return rdwr(b, msgs, n);
	return smbus_emulate(b, msgs, n);
}
