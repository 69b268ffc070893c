/* UpdateRoutes and ListRoutes (ops.h) with kata-agent's semantics
 * (src/agent/src/netlink.rs update_routes / list_routes; docs/agent.md): routes without
 * a gateway are added first, so that a gateway is reachable when its route is added;
 * each is added or replaced (NLM_F_REPLACE; "exists" is not an error) as a unicast
 * RTPROT_BOOT route in the main table. Routes already there stay. The reply is every
 * main-table route, as ListRoutes reports them. */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/netlink.h"
#include "agent/ops.h"
#include "common/log.h"

VEIL_DEFINE_CLEANUP(struct rtnl_route, rtnl_route_put)

#define MAX_ROUTE_MTU 65536

struct parsed_route {
  int family;
  struct agent_ip dest;    /* prefix 0 for the default route */
  struct agent_ip gateway; /* family 0: none */
  struct agent_ip source;  /* family 0: none */
  bool source_is_prefix;   /* "addr/N" with N > 0: RTA_SRC; else RTA_PREFSRC */
};

static int bad(size_t i, const char *field, const char *value, const char *why, veil_error_t *err)
{
  return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateRoutes: routes[%zu].%s `%.64s` %s",
                         i, field, value, why);
}

/* The family is the addresses' (proto3 cannot tell an unset family from v4); the
 * `family` field decides only for a default route without gateway. */
static int check_route(size_t i, const Types__Route *r, struct parsed_route *p, veil_error_t *err)
{
  memset(p, 0, sizeof(*p));
  if (!r)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateRoutes: routes[%zu] is empty", i);
  const char *dev = r->device ? r->device : "", *dest = r->dest ? r->dest : "";
  const char *gw = r->gateway ? r->gateway : "", *src = r->source ? r->source : "";
  if (!agent_ifname_valid(dev))
    return bad(i, "device", dev, "is not a link name", err);
  if (*dest && !agent_parse_cidr(dest, &p->dest))
    return bad(i, "dest", dest, "is not an address or CIDR (10.0.0.0/24, fd00::/64)", err);
  if (*gw && !agent_parse_ip(gw, &p->gateway))
    return bad(i, "gateway", gw, "is not an IP address", err);
  if (*src && !agent_parse_cidr(src, &p->source))
    return bad(i, "source", src, "is not an address or CIDR", err);
  int fam = r->family == TYPES__IPFAMILY__v6 ? AF_INET6 : 0;
  const struct agent_ip *addrs[] = { &p->dest, &p->gateway, &p->source };
  const char *names[] = { "dest", "gateway", "source" }, *values[] = { dest, gw, src };
  for (int k = 0; k < 3; k++) {
    if (!addrs[k]->family)
      continue;
    if (fam && addrs[k]->family != fam)
      return bad(i, names[k], values[k], "is not of the route's address family", err);
    fam = addrs[k]->family;
  }
  p->family = fam ? fam : AF_INET;
  if (!p->dest.family) {
    p->dest.family = p->family; /* default route: all zeros, prefix 0 */
    p->dest.prefix = 0;
  }
  if (p->source.family)
    p->source_is_prefix = p->source.prefix > 0;
  if (r->scope > 255)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateRoutes: routes[%zu].scope %u "
                           "is not a route scope (0..255)", i, r->scope);
  if (r->mtu > MAX_ROUTE_MTU)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateRoutes: routes[%zu].mtu %u "
                           "out of range (0 = none, at most %d)", i, r->mtu, MAX_ROUTE_MTU);
  return 0;
}

static int add_route(struct nl_sock *sk, size_t i, const Types__Route *r,
                     const struct parsed_route *p, veil_error_t *err)
{
  char what[256];
  snprintf(what, sizeof(what), "routes[%zu].device", i);
  cleanup_with(rtnl_link_put) struct rtnl_link *link = agent_nl_link_by_name(sk, r->device, what,
                                                                             err);
  if (!link)
    return veil_error_wrap(err, "UpdateRoutes");
  cleanup_with(rtnl_route_put) struct rtnl_route *route = rtnl_route_alloc();
  cleanup_with(nl_addr_put) struct nl_addr *dst = agent_nl_addr(&p->dest);
  cleanup_with(nl_addr_put) struct nl_addr *src = p->source.family ? agent_nl_addr(&p->source)
                                                                   : NULL;
  cleanup_with(nl_addr_put) struct nl_addr *gw = p->gateway.family ? agent_nl_addr(&p->gateway)
                                                                   : NULL;
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
  if (!route || !dst || (p->source.family && !src) || (p->gateway.family && !gw) || !nh) {
    if (nh)
      rtnl_route_nh_free(nh);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  rtnl_route_set_family(route, (uint8_t)p->family);
  rtnl_route_set_table(route, RT_TABLE_MAIN);
  rtnl_route_set_protocol(route, RTPROT_BOOT);
  rtnl_route_set_type(route, RTN_UNICAST);
  rtnl_route_set_scope(route, (uint8_t)r->scope);
  if (r->flags)
    rtnl_route_set_flags(route, r->flags);
  int rc = rtnl_route_set_dst(route, dst);
  if (rc == 0 && src)
    rc = p->source_is_prefix ? rtnl_route_set_src(route, src) : rtnl_route_set_pref_src(route, src);
  if (rc == 0 && r->mtu)
    rc = rtnl_route_set_metric(route, RTAX_MTU, r->mtu);
  rtnl_route_nh_set_ifindex(nh, rtnl_link_get_ifindex(link));
  if (gw)
    rtnl_route_nh_set_gateway(nh, gw);
  rtnl_route_add_nexthop(route, nh); /* the route owns it now */
  if (rc == 0)
    rc = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_REPLACE);
  if (rc == -NLE_EXIST) {
    agent_nl_forget();
    rc = 0;
  }
  if (rc < 0)
    return agent_nl_error(err, rc, "UpdateRoutes: routes[%zu] (dest `%s` gateway `%s` device %s)",
                          i, r->dest ? r->dest : "", r->gateway ? r->gateway : "", r->device);
  return 0;
}

/* --- ListRoutes --- */

static Types__Route *route_of(struct rtnl_route *rt, struct rtnl_nexthop *nh,
                              struct nl_cache *links)
{
  Types__Route *r = malloc(sizeof(*r));
  if (!r)
    return NULL;
  types__route__init(r);
  int family = rtnl_route_get_family(rt);
  char text[AGENT_NET_MAX_ADDR_TEXT];
  static const uint8_t zero[16];
  struct nl_addr *dst = rtnl_route_get_dst(rt);
  /* CIDR always, 0.0.0.0/0 and ::/0 for default routes, so UpdateRoutes takes it back. */
  agent_format_ip(family, dst && nl_addr_get_len(dst) ? nl_addr_get_binary_addr(dst) : zero,
                  dst ? (int)nl_addr_get_prefixlen(dst) : 0, true, text);
  r->dest = strdup(text);
  struct nl_addr *gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
  if (gw && nl_addr_get_len(gw)) {
    agent_format_ip(nl_addr_get_family(gw), nl_addr_get_binary_addr(gw), 0, false, text);
    r->gateway = strdup(text);
  }
  struct nl_addr *pref = rtnl_route_get_pref_src(rt), *src = rtnl_route_get_src(rt);
  if (pref && nl_addr_get_len(pref)) {
    agent_format_ip(family, nl_addr_get_binary_addr(pref), 0, false, text);
    r->source = strdup(text);
  } else if (src && nl_addr_get_len(src) && nl_addr_get_prefixlen(src) > 0) {
    agent_format_ip(family, nl_addr_get_binary_addr(src), (int)nl_addr_get_prefixlen(src), true,
                    text);
    r->source = strdup(text);
  }
  char name[IFNAMSIZ];
  if (nh && rtnl_route_nh_get_ifindex(nh) > 0 &&
      rtnl_link_i2name(links, rtnl_route_nh_get_ifindex(nh), name, sizeof(name)))
    r->device = strdup(name);
  r->scope = rtnl_route_get_scope(rt);
  r->family = family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
  r->flags = rtnl_route_get_flags(rt) | (nh ? rtnl_route_nh_get_flags(nh) : 0);
  uint32_t mtu = 0;
  if (rtnl_route_get_metric(rt, RTAX_MTU, &mtu) == 0)
    r->mtu = mtu;
  if (!r->dest || !r->gateway || !r->source || !r->device) {
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return NULL;
  }
  return r;
}

static int append(Grpc__Routes *list, size_t *cap, Types__Route *r)
{
  if (!r)
    return -1;
  if (list->n_routes == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    Types__Route **grown = realloc(list->routes, *cap * sizeof(*grown));
    if (!grown) {
      protobuf_c_message_free_unpacked(&r->base, NULL);
      return -1;
    }
    list->routes = grown;
  }
  list->routes[list->n_routes++] = r;
  return 0;
}

/* Every IPv4 and IPv6 route of the main table, one entry per nexthop. */
static int list_locked(struct nl_sock *sk, Grpc__Routes **out, veil_error_t *err)
{
  cleanup_with(nl_cache_free) struct nl_cache *links = NULL;
  cleanup_with(nl_cache_free) struct nl_cache *routes = NULL;
  int rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
  if (rc == 0)
    rc = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes);
  if (rc < 0)
    return agent_nl_error(err, rc, "list routes");
  Grpc__Routes *list = malloc(sizeof(*list));
  if (!list)
    return veil_error_make(err, ENOMEM, "out of memory");
  grpc__routes__init(list);
  size_t cap = 0;
  for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
    struct rtnl_route *rt = (struct rtnl_route *)o;
    int family = rtnl_route_get_family(rt);
    if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || (family != AF_INET && family != AF_INET6))
      continue;
    int n = rtnl_route_get_nnexthops(rt);
    for (int k = 0; k < (n > 0 ? n : 1); k++)
      if (append(list, &cap, route_of(rt, n > 0 ? rtnl_route_nexthop_n(rt, k) : NULL, links)) < 0) {
        protobuf_c_message_free_unpacked(&list->base, NULL);
        return veil_error_make(err, ENOMEM, "out of memory");
      }
  }
  *out = list;
  return 0;
}

int agent_list_routes(struct agent *a, Grpc__Routes **out, veil_error_t *err)
{
  *out = NULL;
  pthread_mutex_lock(&a->net_lock);
  cleanup_with(nl_socket_free) struct nl_sock *sk = agent_nl_open(err);
  int rc = sk ? list_locked(sk, out, err) : -1;
  pthread_mutex_unlock(&a->net_lock);
  return rc < 0 ? veil_error_wrap(err, "ListRoutes") : 0;
}

int agent_update_routes(struct agent *a, const Grpc__Routes *req, Grpc__Routes **out,
                        veil_error_t *err)
{
  *out = NULL;
  if (!req)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateRoutes: the request has no "
                           "routes");
  if (req->n_routes > AGENT_NET_MAX_ROUTES)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateRoutes: %zu routes, at most %d",
                           req->n_routes, AGENT_NET_MAX_ROUTES);
  cleanup_free struct parsed_route *parsed = calloc(req->n_routes + 1, sizeof(*parsed));
  if (!parsed)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (size_t i = 0; i < req->n_routes; i++)
    if (check_route(i, req->routes[i], &parsed[i], err) < 0)
      return -1;
  pthread_mutex_lock(&a->net_lock);
  int rc = 0;
  cleanup_with(nl_socket_free) struct nl_sock *sk = agent_nl_open(err);
  if (!sk)
    rc = -1;
  /* pass 0: routes without a gateway; pass 1: the others */
  for (int pass = 0; rc == 0 && pass < 2; pass++)
    for (size_t i = 0; rc == 0 && i < req->n_routes; i++)
      if ((parsed[i].gateway.family != 0) == (pass == 1))
        rc = add_route(sk, i, req->routes[i], &parsed[i], err);
  if (rc == 0 && list_locked(sk, out, err) < 0)
    rc = veil_error_wrap(err, "UpdateRoutes: routes added");
  pthread_mutex_unlock(&a->net_lock);
  if (rc == 0)
    log_info("UpdateRoutes: %zu routes added or replaced, %zu in the main table", req->n_routes,
             (*out)->n_routes);
  return rc;
}
