/* The i2c adapter's one door to the hardware: a Linux I2C bus (/dev/i2c-N)
 * opened, given combined transfers, and closed.  i2c_bus_linux.c implements
 * it with the I2C_RDWR ioctl (or SMBus ioctls on adapters that only speak
 * SMBus); the tests link a fake (tests/fixtures/i2c) that serves register
 * images per address.  Every call blocks: only the bus's worker thread
 * makes them. */
#ifndef I2C_BUS_H
#define I2C_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct i2c_bus;

/* One message of a combined transfer: a read or a write of len bytes to a
 * 7-bit address, joined to the next by a repeated start. */
struct i2c_xfer_msg {
	uint16_t addr;
	bool read;
	uint16_t len;
	uint8_t *buf;
};

/* Open the bus device (e.g. "/dev/i2c-1"); -errno on failure. */
int i2c_bus_open(const char *path, struct i2c_bus **out);
/* Run n messages as one transfer.  0, or a negative errno: -ENXIO or
 * -EREMOTEIO when the chip does not acknowledge (NAK), -ETIMEDOUT,
 * -EBUSY when a kernel driver owns the address, -EOPNOTSUPP when the bus
 * cannot do this shape of transfer. */
int i2c_bus_transfer(struct i2c_bus *b, struct i2c_xfer_msg *msgs, unsigned n);
/* Wait for a chip's conversion (the fake returns at once). */
void i2c_bus_wait_us(struct i2c_bus *b, unsigned us);
void i2c_bus_close(struct i2c_bus *b);

#endif
