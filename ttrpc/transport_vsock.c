/* AF_VSOCK dial and listen (used inside the guest and on hosts with
 * vhost-vsock; never on the veil CI host). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include "common/cleanup.h"
#include "ttrpc/transport.h"
#include "ttrpc/ttrpc.h"

static int parse_u32(const char *s, size_t len, unsigned *out)
{
  if (len == 0 || len > 10)
    return -1;
  unsigned long long v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > UINT_MAX)
    return -1;
  *out = (unsigned)v;
  return 0;
}

int ttrpc_parse_vsock(const char *s, unsigned *cid, unsigned *port, veil_error_t *err)
{
  const char *colon = strchr(s, ':');
  if (colon == NULL || parse_u32(s, (size_t)(colon - s), cid) < 0 ||
      parse_u32(colon + 1, strlen(colon + 1), port) < 0)
    return veil_error_make(err, EINVAL,
                           "bad vsock address `vsock://%s`: expected vsock://CID:PORT with decimal "
                           "CID and PORT (e.g. vsock://3:1024)", s);
  return 0;
}

int ttrpc_parse_hvsock(const char *s, char **path, unsigned *port, veil_error_t *err)
{
  const char *colon = strrchr(s, ':');
  if (colon == NULL || colon == s || parse_u32(colon + 1, strlen(colon + 1), port) < 0)
    return veil_error_make(err, EINVAL,
                           "bad hybrid vsock address `hvsock://%s`: expected hvsock:///path/to/"
                           "socket:PORT (e.g. hvsock:///run/vm/vsock.sock:1024)", s);
  *path = strndup(s, (size_t)(colon - s));
  if (*path == NULL)
    return veil_error_make(err, ENOMEM, "parse hvsock address");
  return 0;
}

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
