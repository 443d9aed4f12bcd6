#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gw_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len,
		 char *err, size_t errlen)
{
	bool secret = flags & GW_FILE_SECRET;
	struct stat st;
	char *buf = NULL;
	size_t got = 0, cap = 0;
	int fd, r = 0;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then
	 * tells what was opened, so nothing is checked by name. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
				(flags & GW_FILE_NOFOLLOW ? O_NOFOLLOW : 0));
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP && (flags & GW_FILE_NOFOLLOW)) {
			snprintf(err, errlen, "%s is a symbolic link, not a regular file", path);
			return -EINVAL;
		}
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "%s is not a regular file", path);
		goto out;
	}
	/* A key others can read is as good as published: refuse it rather than
	 * use it, so the mistake gets fixed. */
	if (secret && (st.st_mode & 077)) {
		r = -EPERM;
		snprintf(err, errlen,
			 "key file %s can be read or written by group or others (mode %04o); "
			 "chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		r = -EFBIG;
		snprintf(err, errlen, "%s is larger than %zu bytes", path, max);
		goto out;
	}
	/* One byte more than fstat said tells a file that grew since: the read
	 * stays bounded whatever the file does. */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		r = -ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, cap - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(-r));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == cap) {
			r = -EAGAIN;
			snprintf(err, errlen, "%s grew while it was read", path);
			break;
		}
	}
out:
	close(fd);
	if (r < 0) {
		if (buf && secret)
			explicit_bzero(buf, cap + 1);
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}
