/* AF_VSOCK dial and listen (used inside the guest and on hosts with
 * vhost-vsock; never on the veil CI host). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include "common/cleanup.h"
#include "ttrpc/transport.h"
#include "ttrpc/ttrpc.h"

static void fill(struct sockaddr_vm *sa, unsigned cid, unsigned port)
{
  memset(sa, 0, sizeof(*sa));
  sa->svm_family = AF_VSOCK;
  sa->svm_cid = cid;
  sa->svm_port = port;
}

int ttrpc_dial_vsock(unsigned cid, unsigned port, int timeout_ms, veil_error_t *err)
{
  cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return veil_error_errno(err, "create vsock socket");
  struct sockaddr_vm sa;
  fill(&sa, cid, port);
  char what[64];
  snprintf(what, sizeof(what), "vsock %u:%u", cid, port);
  if (ttrpc_connect_timeout(fd, (struct sockaddr *)&sa, sizeof(sa), timeout_ms, what, err) < 0)
    return -1;
  return steal_fd(&fd);
}

int ttrpc_listen_vsock(unsigned cid, unsigned port, veil_error_t *err)
{
  cleanup_close int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return veil_error_errno(err, "create vsock socket");
  struct sockaddr_vm sa;
  fill(&sa, cid, port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    return veil_error_errno(err, "bind vsock %u:%u", cid, port);
  if (listen(fd, 128) < 0)
    return veil_error_errno(err, "listen on vsock %u:%u", cid, port);
  return steal_fd(&fd);
}
