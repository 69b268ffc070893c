/* Small file helpers shared by every component. */
#ifndef VEIL_COMMON_FILEUTIL_H
#define VEIL_COMMON_FILEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Read a whole file, refusing files larger than max_size (E2BIG).
 * *out is NUL-terminated (not counted in *len). */
int veil_read_file(const char *path, size_t max_size, char **out, size_t *len, veil_error_t *err);
/* Read from an open fd until EOF, bounded the same way. */
int veil_read_fd_all(int fd, size_t max_size, char **out, size_t *len, veil_error_t *err);
/* Write a file atomically (temp file in the same directory + rename). */
int veil_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           veil_error_t *err);
/* mkdir -p with the given mode for created directories. */
int veil_mkdir_p(const char *path, mode_t mode, veil_error_t *err);
/* rm -rf that never follows a symlink and never enters another mount (a directory that is
 * still a mount point fails with EBUSY); a missing path is not an error (remove_tree.c). */
int veil_remove_tree(const char *path, veil_error_t *err);
/* The same for `name` relative to an open directory. */
int veil_remove_tree_at(int dirfd, const char *name, veil_error_t *err);
/* write() all bytes, retrying on EINTR/partial writes. */
int veil_write_all(int fd, const void *data, size_t len, veil_error_t *err);
/* The last lines (at most max bytes) of a log file as one line ('|' between lines), for
 * error messages. malloc'd, never NULL unless out of memory. */
char *veil_file_tail(const char *path, size_t max);
/* pidfd_open(2), and a wait of up to timeout_ms for the pidfd to become readable (exited). */
int veil_pidfd_open(pid_t pid);
bool veil_pidfd_wait(int pidfd, int timeout_ms);

#endif
