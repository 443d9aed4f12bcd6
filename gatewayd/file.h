/* Reading the small files the daemon trusts least: its own state files in
 * state_dir, the config file and the key files the config names.  None of
 * them may block start-up: a FIFO, a device node or a symlink to /dev/zero
 * in their place is refused with a message, never waited on. */
#ifndef GW_FILE_H
#define GW_FILE_H

#include <stddef.h>

enum {
	/* A symlink in the file's place is refused (state files: the daemon
	 * never makes one).  Config and key files may be symlinks. */
	GW_FILE_NOFOLLOW = 1 << 0,
	/* The content is secret: wiped from every buffer the read leaves
	 * behind, and refused when group or others may read or write it. */
	GW_FILE_SECRET = 1 << 1,
};

/* Read a whole regular file of at most max bytes.  On success *out is a
 * malloc'd copy with a NUL after the len bytes (free it; wipe it first when
 * secret).  Otherwise a negative errno and err says why, naming path:
 * -ENOENT (missing), -EINVAL (not a regular file), -EFBIG (larger than
 * max), -EPERM (a secret others can read), or the error of open/read. */
int gw_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len,
		 char *err, size_t errlen);

#endif
