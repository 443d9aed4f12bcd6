/* Did freed memory keep a secret?  A test linked with WIPE_CHECK_WRAP
 * (tests/local.mk) has every free() and realloc() of the objects
 * linked into it go through wipe_check.c, which looks for an armed byte
 * pattern in each block given back.  realloc always moves the block, as a
 * real one may, so what it leaves behind is seen too. */
#ifndef GW_TEST_WIPE_CHECK_H
#define GW_TEST_WIPE_CHECK_H

#include <stddef.h>

/* Start counting freed blocks that hold the n bytes at pattern (which must
 * not itself live in a block the test frees). */
void wipe_check_arm(const void *pattern, size_t n);
/* How many such blocks were freed since wipe_check_arm. */
unsigned wipe_check_found(void);
/* Stop looking; returns wipe_check_found(). */
unsigned wipe_check_disarm(void);

#endif
