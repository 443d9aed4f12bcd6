/* Small state files the daemon keeps for a restart (what a server set),
 * written off the loop thread.  statefile_put hands a file's whole new
 * content to a writer thread, which replaces the file atomically (a fresh
 * temporary file, fsync, rename, fsync of the directory).  Puts to a path
 * whose earlier content is not written yet replace it: a burst of writes
 * costs one file write.  statefile_flush waits for everything put, so the
 * last value survives a shutdown. */
#ifndef GW_STATEFILE_H
#define GW_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>

/* who (for log lines, may be NULL), path and data are copied.  Returns 0,
 * or a negative errno when the writer cannot take it (logged). */
int statefile_put(const char *who, const char *path, const void *data, size_t len);
/* Wait until every put is on disk (or failed, logged); then stop the
 * writer thread (the next put starts it again). */
void statefile_flush(void);
/* Tests: hold the writer before its next write (true) or let it go. */
void statefile_pause(bool on);

#endif
