/* Unix stream sockets: dial with a timeout, listen with mode 0600. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "ttrpc/transport.h"
#include "ttrpc/ttrpc.h"

static int fill_sockaddr(const char *path, struct sockaddr_un *sa, veil_error_t *err)
{
  size_t len = strlen(path);
  if (len == 0)
    return veil_error_make(err, EINVAL, "empty unix socket path");
  if (len > TTRPC_UNIX_PATH_MAX)
    return veil_error_make(err, ENAMETOOLONG,
                           "unix socket path `%s` is %zu bytes long; the limit is %d: use a "
                           "shorter directory (e.g. a shorter state or run directory)",
                           path, len, TTRPC_UNIX_PATH_MAX);
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, len);
  return 0;
}

static long long mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ttrpc_connect_timeout(int fd, const struct sockaddr *addr, socklen_t len, int timeout_ms,
                          const char *what, veil_error_t *err)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return veil_error_errno(err, "connect to %s: fcntl", what);
  long long until = timeout_ms >= 0 ? mono_ms() + timeout_ms : -1;
  int rc;
  for (;;) {
    rc = connect(fd, addr, len);
    if (rc == 0)
      break;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN && (until < 0 || mono_ms() < until)) {
      /* unix socket backlog full: retry shortly */
      struct timespec ts = { 0, 5 * 1000 * 1000 };
      nanosleep(&ts, NULL);
      continue;
    }
    if (errno != EINPROGRESS)
      return veil_error_errno(err, "connect to %s", what);
    struct pollfd pfd = { fd, POLLOUT, 0 };
    int left = until < 0 ? -1 : (int)(until - mono_ms());
    if (until >= 0 && left < 0)
      left = 0;
    int n = poll(&pfd, 1, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return veil_error_make(err, ETIMEDOUT, "connect to %s: timed out after %d ms", what,
                             timeout_ms);
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
      return veil_error_errno(err, "connect to %s", what);
    if (soerr != 0) {
      errno = soerr;
      return veil_error_errno(err, "connect to %s", what);
    }
    break;
  }
  if (fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
    return veil_error_errno(err, "connect to %s: fcntl", what);
  return 0;
}

int ttrpc_dial_unix(const char *path, int timeout_ms, veil_error_t *err)
{
  struct sockaddr_un sa;
  if (fill_sockaddr(path, &sa, err) < 0)
    return -1;
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return veil_error_errno(err, "create unix socket");
  char what[160];
  snprintf(what, sizeof(what), "unix socket `%s`", path);
  if (ttrpc_connect_timeout(fd, (struct sockaddr *)&sa, sizeof(sa), timeout_ms, what, err) < 0)
    return -1;
  return steal_fd(&fd);
}

int ttrpc_listen_unix(const char *path, veil_error_t *err)
{
  struct sockaddr_un sa;
  if (path == NULL)
    return veil_error_make(err, EINVAL, "listen: no unix socket path");
  if (fill_sockaddr(path, &sa, err) < 0)
    return -1;
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return veil_error_make(err, EEXIST, "listen on `%s`: a file that is not a socket is in the "
                             "way; remove it", path);
    /* A stale socket from a previous run is replaced, a live one is not. */
    cleanup_close int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
      return veil_error_make(err, EADDRINUSE, "listen on `%s`: another server is listening there",
                             path);
    if (unlink(path) < 0 && errno != ENOENT)
      return veil_error_errno(err, "remove stale socket `%s`", path);
  }
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return veil_error_errno(err, "create unix socket");
  /* Linux creates the socket file with the socket inode's mode: no window
   * where the file is reachable by others. chmod after bind makes sure. */
  if (fchmod(fd, 0600) < 0)
    return veil_error_errno(err, "fchmod unix socket for `%s`", path);
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    return veil_error_errno(err, "bind unix socket `%s`", path);
  if (chmod(path, 0600) < 0) {
    veil_error_errno(err, "chmod 0600 `%s`", path);
    unlink(path);
    return -1;
  }
  if (listen(fd, 128) < 0) {
    veil_error_errno(err, "listen on `%s`", path);
    unlink(path);
    return -1;
  }
  return steal_fd(&fd);
}
