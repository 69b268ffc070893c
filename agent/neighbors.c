/* AddARPNeighbors (ops.h) with kata-agent's semantics (src/agent/src/netlink.rs
 * add_arp_neighbor): each entry is added or replaced on the named link; state 0 means
 * NUD_PERMANENT (what kata's runtime sends for the host's static entries and the
 * gateway); lladdr is optional. */
#include <errno.h>
#include <linux/neighbour.h>
#include <netlink/route/neighbour.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/netlink.h"
#include "agent/ops.h"
#include "common/log.h"

VEIL_DEFINE_CLEANUP(struct rtnl_neigh, rtnl_neigh_put)

struct parsed_neigh {
  struct agent_ip ip;
  uint8_t lladdr[6];
  bool has_lladdr;
};

static int check_neigh(size_t i, const Types__ARPNeighbor *n, struct parsed_neigh *p,
                       veil_error_t *err)
{
  memset(p, 0, sizeof(*p));
  if (!n)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: neighbors[%zu] is "
                           "empty", i);
  const char *ip = n->toipaddress && n->toipaddress->address ? n->toipaddress->address : "";
  const char *dev = n->device ? n->device : "", *ll = n->lladdr ? n->lladdr : "";
  if (!agent_parse_ip(ip, &p->ip))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: neighbors[%zu]."
                           "toIPAddress.address `%.64s` is not an IP address", i, ip);
  if (!agent_ifname_valid(dev))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: neighbors[%zu]."
                           "device `%.32s` is not a link name", i, dev);
  if (*ll) {
    if (strlen(ll) > 17 || !agent_parse_mac(ll, p->lladdr))
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: neighbors[%zu]."
                             "lladdr `%.32s` is not a MAC address", i, ll);
    p->has_lladdr = true;
  }
  /* NUD_* states and NTF_* flags are 8-bit in the kernel's ndmsg. */
  if (n->state < 0 || n->state > 0xff)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: neighbors[%zu]."
                           "state %d is not a NUD state (0 = permanent)", i, n->state);
  if (n->flags < 0 || n->flags > 0xff)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: neighbors[%zu]."
                           "flags 0x%x are not NTF_* flags (0..0xff)", i, (unsigned)n->flags);
  return 0;
}

static int add_neigh(struct nl_sock *sk, size_t i, const Types__ARPNeighbor *n,
                     const struct parsed_neigh *p, veil_error_t *err)
{
  char what[64];
  snprintf(what, sizeof(what), "neighbors[%zu].device", i);
  cleanup_with(rtnl_link_put) struct rtnl_link *link = agent_nl_link_by_name(sk, n->device, what,
                                                                             err);
  if (!link)
    return veil_error_wrap(err, "AddARPNeighbors");
  cleanup_with(rtnl_neigh_put) struct rtnl_neigh *neigh = rtnl_neigh_alloc();
  cleanup_with(nl_addr_put) struct nl_addr *dst = agent_nl_addr(&p->ip);
  cleanup_with(nl_addr_put) struct nl_addr *ll =
      p->has_lladdr ? nl_addr_build(AF_LLC, p->lladdr, 6) : NULL;
  if (!neigh || !dst || (p->has_lladdr && !ll))
    return veil_error_make(err, ENOMEM, "out of memory");
  rtnl_neigh_set_ifindex(neigh, rtnl_link_get_ifindex(link));
  rtnl_neigh_set_family(neigh, p->ip.family);
  int rc = rtnl_neigh_set_dst(neigh, dst);
  if (ll)
    rtnl_neigh_set_lladdr(neigh, ll);
  rtnl_neigh_set_state(neigh, n->state ? n->state : NUD_PERMANENT);
  if (n->flags)
    rtnl_neigh_set_flags(neigh, (unsigned)n->flags);
  if (rc == 0)
    rc = rtnl_neigh_add(sk, neigh, NLM_F_CREATE | NLM_F_REPLACE);
  if (rc < 0)
    return agent_nl_error(err, rc, "AddARPNeighbors: neighbors[%zu] (%s lladdr `%s` device %s)",
                          i, n->toipaddress->address, n->lladdr ? n->lladdr : "", n->device);
  return 0;
}

int agent_add_arp_neighbors(struct agent *a, const Grpc__ARPNeighbors *req, veil_error_t *err)
{
  if (!req)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: the request has "
                           "no neighbors");
  if (req->n_arpneighbors > AGENT_NET_MAX_NEIGHBORS)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "AddARPNeighbors: %zu neighbors, at "
                           "most %d", req->n_arpneighbors, AGENT_NET_MAX_NEIGHBORS);
  cleanup_free struct parsed_neigh *parsed = calloc(req->n_arpneighbors + 1, sizeof(*parsed));
  if (!parsed)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (size_t i = 0; i < req->n_arpneighbors; i++)
    if (check_neigh(i, req->arpneighbors[i], &parsed[i], err) < 0)
      return -1;
  pthread_mutex_lock(&a->net_lock);
  cleanup_with(nl_socket_free) struct nl_sock *sk = agent_nl_open(err);
  int rc = sk ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < req->n_arpneighbors; i++)
    rc = add_neigh(sk, i, req->arpneighbors[i], &parsed[i], err);
  pthread_mutex_unlock(&a->net_lock);
  if (rc == 0)
    log_info("AddARPNeighbors: %zu neighbors added or replaced", req->n_arpneighbors);
  return rc;
}
