/* NETLINK_ROUTE socket, errors and link lookup for the network RPCs (netlink.h). */
#include "agent/netlink.h"

#include <errno.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* The kernel's answer to the last failed request on this thread: its errno (libnl
 * folds several into one NLE_ code) and the extended-ack text ("Nexthop has invalid
 * gateway"), which says what was wrong. Each RPC runs on one thread with its own socket. */
static _Thread_local struct {
  int kernel_errno;
  char msg[256];
} last_nack;

static int on_error(struct sockaddr_nl *from, struct nlmsgerr *e, void *arg)
{
  (void)from, (void)arg;
  last_nack.kernel_errno = -e->error;
  last_nack.msg[0] = '\0';
  /* nlmsg_data() of the NLMSG_ERROR header is `e`: step back to read its flags. */
  const struct nlmsghdr *hdr = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS))
    return NL_STOP;
  size_t echoed = hdr->nlmsg_flags & NLM_F_CAPPED ? NLMSG_HDRLEN : e->msg.nlmsg_len;
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(e->error) + echoed);
  if (off >= hdr->nlmsg_len)
    return NL_STOP;
  struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
  if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)hdr + off),
                (int)(hdr->nlmsg_len - off), NULL) == 0 && tb[NLMSGERR_ATTR_MSG]) {
    int n = nla_len(tb[NLMSGERR_ATTR_MSG]);
    if (n > (int)sizeof(last_nack.msg) - 1)
      n = (int)sizeof(last_nack.msg) - 1;
    memcpy(last_nack.msg, nla_data(tb[NLMSGERR_ATTR_MSG]), (size_t)(n > 0 ? n : 0));
    last_nack.msg[n > 0 ? n : 0] = '\0';
    last_nack.msg[strcspn(last_nack.msg, "\n")] = '\0';
  }
  return NL_STOP;
}

void agent_nl_forget(void)
{
  last_nack.kernel_errno = 0;
}

struct nl_sock *agent_nl_open(veil_error_t *err)
{
  last_nack.kernel_errno = 0;
  struct nl_sock *sk = nl_socket_alloc();
  if (!sk) {
    veil_error_make(err, ENOMEM, "netlink socket: out of memory");
    return NULL;
  }
  int rc = nl_connect(sk, NETLINK_ROUTE);
  if (rc < 0) {
    nl_socket_free(sk);
    agent_nl_error(err, rc, "netlink socket");
    return NULL;
  }
  int one = 1;
  /* Optional: older kernels lack extended acks and only lose the detailed message. */
  setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, on_error, NULL);
  return sk;
}

static int errno_of(int nlerr)
{
  switch (nlerr < 0 ? -nlerr : nlerr) {
  case NLE_INTR: return EINTR;
  case NLE_AGAIN: return EAGAIN;
  case NLE_NOMEM: return ENOMEM;
  case NLE_EXIST: return EEXIST;
  case NLE_INVAL: return EINVAL;
  case NLE_RANGE: return ERANGE;
  case NLE_MSGSIZE: return EMSGSIZE;
  case NLE_OPNOTSUPP: return EOPNOTSUPP;
  case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
  case NLE_OBJ_NOTFOUND: return ENOENT;
  case NLE_NOADDR: return EADDRNOTAVAIL;
  case NLE_BUSY: return EBUSY;
  case NLE_NOACCESS: return EACCES;
  case NLE_PERM: return EPERM;
  case NLE_NODEV: return ENODEV;
  default: return EIO;
  }
}

int agent_nl_error(veil_error_t *err, int nlerr, const char *fmt, ...)
{
  char ctx[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx, sizeof(ctx), fmt, ap);
  va_end(ap);
  int status = last_nack.kernel_errno > 0 ? last_nack.kernel_errno : errno_of(nlerr);
  const char *what = last_nack.kernel_errno > 0 ? strerror(status) : nl_geterror(nlerr);
  if (last_nack.kernel_errno > 0 && last_nack.msg[0])
    veil_error_make(err, status, "%s: %s (%s)", ctx, what, last_nack.msg);
  else
    veil_error_make(err, status, "%s: %s", ctx, what);
  last_nack.kernel_errno = 0;
  return -1;
}

struct rtnl_link *agent_nl_link_by_name(struct nl_sock *sk, const char *name, const char *what,
                                        veil_error_t *err)
{
  struct rtnl_link *link = NULL;
  last_nack.kernel_errno = 0;
  int rc = rtnl_link_get_kernel(sk, 0, name, &link);
  if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV) {
    last_nack.kernel_errno = 0;
    /* "Link not found" is what kata's runtime retries on while a NIC appears. */
    veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "%s: Link not found (name `%s`)", what, name);
    return NULL;
  }
  if (rc < 0) {
    agent_nl_error(err, rc, "%s: look up link `%s`", what, name);
    return NULL;
  }
  return link;
}

struct nl_addr *agent_nl_addr(const struct agent_ip *ip)
{
  unsigned len = ip->family == AF_INET ? 4 : 16;
  struct nl_addr *a = nl_addr_build(ip->family, ip->bytes, len);
  if (a)
    nl_addr_set_prefixlen(a, ip->prefix >= 0 ? ip->prefix : (int)len * 8);
  return a;
}
