/* ttrpc_dial: address schemes -> connected byte-stream fd. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "ttrpc/transport.h"
#include "ttrpc/ttrpc.h"

static int dial_fd(const char *s, veil_error_t *err)
{
  char *end;
  errno = 0;
  long n = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno || n < 0 || n > 1 << 20)
    return veil_error_make(err, EINVAL, "bad address `fd://%s`: expected fd://N with N an open "
                           "file descriptor number", s);
  int fd = fcntl((int)n, F_DUPFD_CLOEXEC, 3);
  if (fd < 0)
    return veil_error_errno(err, "fd://%ld: duplicate fd", n);
  return fd;
}

int ttrpc_dial(const char *address, int timeout_ms, veil_error_t *err)
{
  if (address == NULL || *address == '\0')
    return veil_error_make(err, EINVAL, "ttrpc dial: empty address");
  if (strncmp(address, "unix://", 7) == 0)
    return ttrpc_dial_unix(address + 7, timeout_ms, err);
  if (address[0] == '/')
    return ttrpc_dial_unix(address, timeout_ms, err);
  if (strncmp(address, "fd://", 5) == 0)
    return dial_fd(address + 5, err);
  if (strncmp(address, "vsock://", 8) == 0) {
    unsigned cid, port;
    if (ttrpc_parse_vsock(address + 8, &cid, &port, err) < 0)
      return -1;
    return ttrpc_dial_vsock(cid, port, timeout_ms, err);
  }
  if (strncmp(address, "hvsock://", 9) == 0) {
    cleanup_free char *path = NULL;
    unsigned port;
    if (ttrpc_parse_hvsock(address + 9, &path, &port, err) < 0)
      return -1;
    return ttrpc_dial_hvsock(path, port, timeout_ms, err);
  }
  return veil_error_make(err, EINVAL, "ttrpc dial: unsupported address `%s` (use unix:///path, "
                         "vsock://CID:PORT, hvsock:///path:PORT or fd://N)", address);
}
