/* Dial and listen on a parsed address (address.h), and the text-address conveniences
 * ttrpc_dial / ttrpc_listen. */
#include <errno.h>
#include <fcntl.h>

#include "ttrpc/address.h"
#include "ttrpc/transport.h"
#include "ttrpc/ttrpc.h"

int ttrpc_address_dial(const struct ttrpc_address *a, int timeout_ms, veil_error_t *err)
{
  switch (a->kind) {
  case TTRPC_ADDRESS_UNIX:
    return ttrpc_dial_unix(a->path, timeout_ms, err);
  case TTRPC_ADDRESS_VSOCK:
    if (a->cid == TTRPC_VSOCK_CID_ANY)
      return veil_error_make(err, EINVAL, "dial vsock: CID -1 (VMADDR_CID_ANY) is for listening");
    return ttrpc_dial_vsock(a->cid, a->port, timeout_ms, err);
  case TTRPC_ADDRESS_HVSOCK:
    return ttrpc_dial_hvsock(a->path, a->port, timeout_ms, err);
  case TTRPC_ADDRESS_FD: {
    int fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
      return veil_error_errno(err, "fd://%d: duplicate fd", a->fd);
    return fd;
  }
  }
  return veil_error_make(err, EINVAL, "dial: invalid address");
}

int ttrpc_address_listen(const struct ttrpc_address *a, veil_error_t *err)
{
  switch (a->kind) {
  case TTRPC_ADDRESS_UNIX:
    return ttrpc_listen_unix(a->path, err);
  case TTRPC_ADDRESS_VSOCK:
    return ttrpc_listen_vsock(a->cid, a->port, err);
  case TTRPC_ADDRESS_HVSOCK:
  case TTRPC_ADDRESS_FD:
    break;
  }
  return veil_error_make(err, EINVAL, "listen: only unix:// and vsock:// addresses can listen");
}

int ttrpc_dial(const char *address, int timeout_ms, veil_error_t *err)
{
  struct ttrpc_address a;
  if (ttrpc_address_parse(address, TTRPC_ADDRESS_DIAL, &a, err) < 0)
    return -1;
  return ttrpc_address_dial(&a, timeout_ms, err);
}

int ttrpc_listen(const char *address, veil_error_t *err)
{
  struct ttrpc_address a;
  if (ttrpc_address_parse(address, TTRPC_ADDRESS_LISTEN, &a, err) < 0)
    return -1;
  return ttrpc_address_listen(&a, err);
}
