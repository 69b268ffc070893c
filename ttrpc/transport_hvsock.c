/* Hybrid vsock (Firecracker, Cloud Hypervisor): connect to the VMM's unix
 * socket, send "CONNECT <port>\n", and expect a reply line containing "OK"
 * (Firecracker answers "OK <host port>\n"). The reply is read byte by byte so
 * no ttrpc bytes that might follow are consumed. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "ttrpc/transport.h"

#define HVSOCK_REPLY_MAX 128

static long long mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, long long until, const char *what, veil_error_t *err)
{
  for (;;) {
    int left = until < 0 ? -1 : (int)(until - mono_ms());
    if (until >= 0 && left < 0)
      left = 0;
    struct pollfd pfd = { fd, events, 0 };
    int n = poll(&pfd, 1, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return veil_error_errno(err, "%s", what);
    if (n == 0)
      return veil_error_make(err, ETIMEDOUT, "%s: timed out", what);
    return 0;
  }
}

int ttrpc_dial_hvsock(const char *path, unsigned port, int timeout_ms, veil_error_t *err)
{
  long long until = timeout_ms >= 0 ? mono_ms() + timeout_ms : -1;
  cleanup_close int fd = ttrpc_dial_unix(path, timeout_ms, err);
  if (fd < 0)
    return veil_error_wrap(err, "hybrid vsock port %u", port);
  char line[32];
  int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
  if (wait_fd(fd, POLLOUT, until, "hybrid vsock handshake", err) < 0)
    return -1;
  /* MSG_NOSIGNAL: a muxer that already dropped us (guest not ready) is an error, not SIGPIPE */
  if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
    return veil_error_errno(err, "hybrid vsock `%s`: send CONNECT %u", path, port);
  char reply[HVSOCK_REPLY_MAX + 1];
  size_t len = 0;
  for (;;) {
    if (len == HVSOCK_REPLY_MAX)
      return veil_error_make(err, EPROTO, "hybrid vsock `%s`: reply to CONNECT %u is longer than "
                             "%d bytes without a newline", path, port, HVSOCK_REPLY_MAX);
    if (wait_fd(fd, POLLIN, until, "hybrid vsock handshake: waiting for OK", err) < 0)
      return -1;
    ssize_t r = read(fd, reply + len, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return veil_error_errno(err, "hybrid vsock `%s`: read reply to CONNECT %u", path, port);
    if (r == 0)
      return veil_error_make(err, ECONNREFUSED, "hybrid vsock `%s`: connection closed after "
                             "CONNECT %u (is anything listening on that port in the guest?)",
                             path, port);
    if (reply[len] == '\n')
      break;
    len++;
  }
  reply[len] = '\0';
  if (strstr(reply, "OK") == NULL)
    return veil_error_make(err, ECONNREFUSED, "hybrid vsock `%s`: CONNECT %u answered `%s`, "
                           "expected OK", path, port, reply);
  return steal_fd(&fd);
}
