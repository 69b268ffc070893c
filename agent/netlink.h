/* Shared pieces of the network RPCs (interfaces.c, routes.c, neighbors.c): a
 * NETLINK_ROUTE socket from libnl-route-3, libnl errors as veil errors, link lookup.
 * Each RPC opens its own socket: the calls are rare and this keeps them independent
 * of the thread and of each other. */
#ifndef VEIL_AGENT_NETLINK_H
#define VEIL_AGENT_NETLINK_H

#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "agent/net_parse.h"
#include "common/cleanup.h"
#include "common/error.h"

/* A connected NETLINK_ROUTE socket. */
struct nl_sock *agent_nl_open(veil_error_t *err);
/* A libnl error (negative NLE_*) as a veil error: "<context>: <libnl message>" with the
 * matching errno (so NLE_EXIST is AlreadyExists, NLE_INVAL InvalidArgument, ...). */
int agent_nl_error(veil_error_t *err, int nlerr, const char *fmt, ...) VEIL_PRINTF(3, 4);
/* Forget the kernel's answer to a failed request the caller tolerates (e.g. a lookup
 * that may find nothing), so that it does not colour a later error. */
void agent_nl_forget(void);
/* The link named `name`, or NotFound "Link not found" naming `what` (e.g. "routes[2].device").
 * Free with rtnl_link_put. */
struct rtnl_link *agent_nl_link_by_name(struct nl_sock *sk, const char *name, const char *what,
                                        veil_error_t *err);

/* An nl_addr for a parsed address, with its prefix length (full length when it had
 * none). NULL only when out of memory. */
struct nl_addr *agent_nl_addr(const struct agent_ip *ip);

/* cleanup_with(nl_socket_free) struct nl_sock *sk = ...; and so on. */
VEIL_DEFINE_CLEANUP(struct nl_sock, nl_socket_free)
VEIL_DEFINE_CLEANUP(struct nl_cache, nl_cache_free)
VEIL_DEFINE_CLEANUP(struct nl_addr, nl_addr_put)
VEIL_DEFINE_CLEANUP(struct rtnl_link, rtnl_link_put)

#endif
