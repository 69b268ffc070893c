#include "fileutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

int veil_read_fd_all(int fd, size_t max_size, char **out, size_t *len, veil_error_t *err)
{
  size_t cap = 4096, n = 0;
  cleanup_free char *buf = malloc(cap + 1);
  if (buf == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (;;) {
    if (n == cap) {
      if (cap > max_size)
        return veil_error_make(err, E2BIG, "larger than the limit of %zu bytes", max_size);
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (nb == NULL)
        return veil_error_make(err, ENOMEM, "out of memory");
      buf = nb;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return veil_error_errno(err, "read");
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n > max_size)
      return veil_error_make(err, E2BIG, "larger than the limit of %zu bytes", max_size);
  }
  buf[n] = '\0';
  *out = steal_pointer(&buf);
  if (len)
    *len = n;
  return 0;
}

int veil_read_file(const char *path, size_t max_size, char **out, size_t *len, veil_error_t *err)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return veil_error_errno(err, "open `%s`", path);
  if (veil_read_fd_all(fd, max_size, out, len, err) < 0)
    return veil_error_wrap(err, "read `%s`", path);
  return 0;
}

int veil_write_all(int fd, const void *data, size_t len, veil_error_t *err)
{
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return veil_error_errno(err, "write");
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int veil_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           veil_error_t *err)
{
  cleanup_free char *tmp = NULL;
  static unsigned long counter; /* threads of one process each get their own temp file */
  if (asprintf(&tmp, "%s.tmp.%d.%lu", path, (int)getpid(),
               __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED)) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  /* never write through a planted link or into someone else's file */
  unlink(tmp);
  cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return veil_error_errno(err, "create `%s`", tmp);
  if (veil_write_all(fd, data, len, err) < 0 || fsync(fd) < 0) {
    if (err && *err == NULL)
      veil_error_errno(err, "fsync");
    unlink(tmp);
    return veil_error_wrap(err, "write `%s`", tmp);
  }
  if (rename(tmp, path) < 0) {
    veil_error_errno(err, "rename `%s` to `%s`", tmp, path);
    unlink(tmp);
    return -1;
  }
  return 0;
}

int veil_mkdir_p(const char *path, mode_t mode, veil_error_t *err)
{
  cleanup_free char *copy = strdup(path);
  if (copy == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (char *p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
      return veil_error_errno(err, "mkdir `%s`", copy);
    *p = '/';
  }
  if (mkdir(copy, mode) < 0 && errno != EEXIST)
    return veil_error_errno(err, "mkdir `%s`", copy);
  return 0;
}

int veil_pidfd_open(pid_t pid)
{
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

bool veil_pidfd_wait(int pidfd, int timeout_ms)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  int r;
  while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  return r > 0;
}

char *veil_file_tail(const char *path, size_t max)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  char *buf = calloc(1, max + 1);
  if (buf == NULL)
    return NULL;
  if (fd < 0)
    return buf;
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = size > (off_t)max ? size - (off_t)max : 0;
  ssize_t n = pread(fd, buf, max, from);
  if (n < 0)
    n = 0;
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  /* start at a line boundary when truncated */
  char *start = buf;
  if (from > 0 && (start = strchr(buf, '\n')) != NULL)
    memmove(buf, start + 1, strlen(start + 1) + 1);
  for (char *p = buf; *p; p++)  /* one line in an error message */
    if (*p == '\n')
      *p = '|';
  return buf;
}
