/* podnet_scan: the pod netns's veths with their addresses, routes and neighbours, kept as Kata's
 * runtime keeps them (network_linux.go scanEndpointsInNs, validGuestRoute, validGuestNeighbor;
 * docs/network.md has the line references). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include "common/cleanup.h"
#include "podnet/internal.h"
#include "podnet/podnet.h"

VEIL_DEFINE_CLEANUP(struct nl_cache, nl_cache_free)

/* inet_ntop of a libnl address of family AF_INET/AF_INET6; an empty address (a default route's
 * destination) is the family's zero address. false for anything else. */
static bool addr_str(const struct nl_addr *a, int family, char out[PODNET_IP_LEN])
{
  unsigned char zero[16] = { 0 };
  const void *bin = zero;
  unsigned len = a ? nl_addr_get_len(a) : 0;
  unsigned want = family == AF_INET ? 4 : 16;
  if (len != 0) {
    if (len != want)
      return false;
    bin = nl_addr_get_binary_addr(a);
  }
  return inet_ntop(family, bin, out, PODNET_IP_LEN) != NULL;
}

void podnet_mac_str(const unsigned char *b, char out[PODNET_MAC_LEN])
{
  snprintf(out, PODNET_MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

static bool lladdr_str(const struct nl_addr *a, char out[PODNET_MAC_LEN])
{
  if (a == NULL || nl_addr_get_len(a) != 6)
    return false;
  podnet_mac_str(nl_addr_get_binary_addr(a), out);
  return true;
}

static bool is_loopback_ip(int family, const struct nl_addr *a)
{
  const unsigned char *b = nl_addr_get_binary_addr(a);
  if (family == AF_INET)
    return nl_addr_get_len(a) == 4 && b[0] == 127;
  static const unsigned char v6lo[16] = { [15] = 1 };
  return nl_addr_get_len(a) == 16 && memcmp(b, v6lo, 16) == 0;
}

/* Our own taps from an earlier attach (e.g. a scan after a shim restart) are not pod interfaces. */
static bool is_our_tap(struct rtnl_link *l)
{
  const char *kind = rtnl_link_get_type(l);
  const char *name = rtnl_link_get_name(l);
  unsigned idx;
  int end = 0;
  return kind && strcmp(kind, "tun") == 0 && name && sscanf(name, "tap%u_veil%n", &idx, &end) == 1 &&
         end > 0 && name[end] == '\0';
}

static const char *kind_words(const char *kind)
{
  if (kind == NULL)
    return "a device without a link kind (a physical or SR-IOV NIC?)";
  if (strcmp(kind, "bridge") == 0)
    return "a bridge";
  if (strcmp(kind, "tun") == 0)
    return "a tun/tap device";
  return NULL;
}

struct scan_ctx {
  struct podnet_scan *out;
  const char *netns;
};

static int count_addrs(struct nl_cache *addrs, int ifindex)
{
  int n = 0;
  for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o))
    n += rtnl_addr_get_ifindex((struct rtnl_addr *)o) == ifindex;
  return n;
}

static int add_addrs(struct podnet_iface *ifc, struct nl_cache *addrs, const char *netns, veil_error_t *err)
{
  for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
    struct rtnl_addr *a = (struct rtnl_addr *)o;
    int family = rtnl_addr_get_family(a);
    struct nl_addr *local = rtnl_addr_get_local(a);
    if (rtnl_addr_get_ifindex(a) != ifc->ifindex || (family != AF_INET && family != AF_INET6) || !local)
      continue;
    if (is_loopback_ip(family, local))  /* kata_agent's generateVCNetworkStructures skips these */
      continue;
    if (ifc->n_addrs == PODNET_MAX_ADDRS)
      return veil_error_make(err, E2BIG, "netns `%s`: `%s` has more than %d addresses", netns, ifc->name,
                             PODNET_MAX_ADDRS);
    struct podnet_addr *p = &ifc->addrs[ifc->n_addrs];
    p->family = family;
    p->prefixlen = (unsigned)rtnl_addr_get_prefixlen(a);
    if (!addr_str(local, family, p->ip))
      continue;
    ifc->n_addrs++;
  }
  return 0;
}

static int add_routes(struct podnet_iface *ifc, struct nl_cache *routes, const char *netns, veil_error_t *err)
{
  for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
    struct rtnl_route *r = (struct rtnl_route *)o;
    int family = rtnl_route_get_family(r);
    /* what vishvananda/netlink RouteList(link, FAMILY_ALL) returns: main table, not cloned,
     * output interface = this link (a multipath route has no single RTA_OIF) */
    if ((family != AF_INET && family != AF_INET6) || rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        (rtnl_route_get_flags(r) & RTM_F_CLONED) || rtnl_route_get_nnexthops(r) != 1)
      continue;
    struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
    if (nh == NULL || rtnl_route_nh_get_ifindex(nh) != ifc->ifindex)
      continue;
    if (rtnl_route_get_protocol(r) == RTPROT_KERNEL)  /* validGuestRoute */
      continue;
    if (ifc->n_routes == PODNET_MAX_ROUTES)
      return veil_error_make(err, E2BIG, "netns `%s`: `%s` has more than %d routes", netns, ifc->name,
                             PODNET_MAX_ROUTES);
    struct podnet_route *p = &ifc->routes[ifc->n_routes];
    memset(p, 0, sizeof(*p));
    p->family = family;
    struct nl_addr *dst = rtnl_route_get_dst(r);
    char ip[PODNET_IP_LEN];
    if (!addr_str(dst, family, ip))
      continue;
    unsigned plen = dst ? nl_addr_get_prefixlen(dst) : 0;
    snprintf(p->dest, sizeof(p->dest), "%s/%u", ip, plen);
    p->is_default = plen == 0;
    struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);
    if (gw && !addr_str(gw, family, p->gateway))
      continue;
    struct nl_addr *src = rtnl_route_get_pref_src(r);
    if (src && !addr_str(src, family, p->source))
      continue;
    uint32_t mtu = 0;
    if (rtnl_route_get_metric(r, RTAX_MTU, &mtu) < 0)
      mtu = 0;
    p->mtu = mtu;
    p->scope = (unsigned)rtnl_route_get_scope(r);
    p->flags = rtnl_route_get_flags(r);
    p->protocol = (unsigned)rtnl_route_get_protocol(r);
    ifc->n_routes++;
  }
  return 0;
}

/* The default gateways of this link's routes, all of them (gatewaySetFromRoutes looks at every
 * route, kept or not). */
static bool is_default_gateway(const struct podnet_iface *ifc, struct nl_cache *routes, int family,
                               const char *ip)
{
  for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
    struct rtnl_route *r = (struct rtnl_route *)o;
    if (rtnl_route_get_family(r) != family || rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        rtnl_route_get_nnexthops(r) != 1)
      continue;
    struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, 0);
    struct nl_addr *dst = rtnl_route_get_dst(r);
    struct nl_addr *gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
    char g[PODNET_IP_LEN];
    if (nh == NULL || rtnl_route_nh_get_ifindex(nh) != ifc->ifindex || gw == NULL ||
        (dst && nl_addr_get_prefixlen(dst) != 0) || !addr_str(gw, family, g))
      continue;
    if (strcmp(g, ip) == 0)
      return true;
  }
  return false;
}

static int add_neighs(struct podnet_iface *ifc, struct nl_cache *neighs, struct nl_cache *routes,
                      const char *netns, veil_error_t *err)
{
  for (struct nl_object *o = nl_cache_get_first(neighs); o; o = nl_cache_get_next(o)) {
    struct rtnl_neigh *n = (struct rtnl_neigh *)o;
    int family = rtnl_neigh_get_family(n);
    if (rtnl_neigh_get_ifindex(n) != ifc->ifindex || (family != AF_INET && family != AF_INET6))
      continue;
    struct podnet_neigh p = { .family = family };
    /* validGuestNeighbor: the guest needs a MAC; PERMANENT entries, and the default gateway when
     * REACHABLE (pre-populating it avoids ARP storms when many pods start at once) */
    if (!lladdr_str(rtnl_neigh_get_lladdr(n), p.lladdr) || !addr_str(rtnl_neigh_get_dst(n), family, p.ip))
      continue;
    p.state = (unsigned)rtnl_neigh_get_state(n);
    p.flags = rtnl_neigh_get_flags(n);
    if (p.state != NUD_PERMANENT && !(p.state == NUD_REACHABLE && is_default_gateway(ifc, routes, family, p.ip)))
      continue;
    if (ifc->n_neighs == PODNET_MAX_NEIGHS)
      return veil_error_make(err, E2BIG, "netns `%s`: `%s` has more than %d permanent neighbours", netns,
                             ifc->name, PODNET_MAX_NEIGHS);
    ifc->neighs[ifc->n_neighs++] = p;
  }
  return 0;
}

static int cmp_iface(const void *a, const void *b)
{
  return strcmp(((const struct podnet_iface *)a)->name, ((const struct podnet_iface *)b)->name);
}

static int scan_in_ns(struct nl_sock *sk, void *arg, veil_error_t *err)
{
  struct scan_ctx *c = arg;
  struct podnet_scan *out = c->out;
  cleanup_with(nl_cache_free) struct nl_cache *links = NULL;
  cleanup_with(nl_cache_free) struct nl_cache *addrs = NULL;
  cleanup_with(nl_cache_free) struct nl_cache *routes = NULL;
  cleanup_with(nl_cache_free) struct nl_cache *neighs = NULL;
  int r;
  if ((r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links)) < 0)
    return podnet_nl_error(err, r, "netns `%s`: list links", c->netns);
  if ((r = rtnl_addr_alloc_cache(sk, &addrs)) < 0)
    return podnet_nl_error(err, r, "netns `%s`: list addresses", c->netns);
  if ((r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes)) < 0)
    return podnet_nl_error(err, r, "netns `%s`: list routes", c->netns);
  if ((r = rtnl_neigh_alloc_cache(sk, &neighs)) < 0)
    return podnet_nl_error(err, r, "netns `%s`: list neighbours", c->netns);

  if ((out->ifaces = calloc(PODNET_MAX_IFACES, sizeof(*out->ifaces))) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
    struct rtnl_link *l = (struct rtnl_link *)o;
    int ifindex = rtnl_link_get_ifindex(l);
    const char *name = rtnl_link_get_name(l);
    const char *kind = rtnl_link_get_type(l);
    /* kata: unconfigured links (no address) are skipped, then loopback ones */
    if (count_addrs(addrs, ifindex) == 0 || (rtnl_link_get_flags(l) & IFF_LOOPBACK) || is_our_tap(l))
      continue;
    if (kind == NULL || strcmp(kind, "veth") != 0) {
      const char *words = kind_words(kind);
      if (words)
        return veil_error_make(err, EOPNOTSUPP, "netns `%s`: the tcfilter model can only attach veth "
                               "interfaces; `%s` is %s", c->netns, name ? name : "?", words);
      return veil_error_make(err, EOPNOTSUPP, "netns `%s`: the tcfilter model can only attach veth "
                             "interfaces; `%s` is a %s", c->netns, name ? name : "?", kind);
    }
    if (out->n_ifaces == PODNET_MAX_IFACES)
      return veil_error_make(err, E2BIG, "netns `%s` has more than %d veth interfaces", c->netns,
                             PODNET_MAX_IFACES);
    struct podnet_iface *ifc = &out->ifaces[out->n_ifaces++];
    snprintf(ifc->name, sizeof(ifc->name), "%s", name ? name : "");
    ifc->ifindex = ifindex;
    ifc->mtu = rtnl_link_get_mtu(l);
    ifc->flags = rtnl_link_get_flags(l);
    if (!lladdr_str(rtnl_link_get_addr(l), ifc->mac))
      return veil_error_make(err, EINVAL, "netns `%s`: veth `%s` has no Ethernet address", c->netns, ifc->name);
    ifc->addrs = calloc(PODNET_MAX_ADDRS, sizeof(*ifc->addrs));
    ifc->routes = calloc(PODNET_MAX_ROUTES, sizeof(*ifc->routes));
    ifc->neighs = calloc(PODNET_MAX_NEIGHS, sizeof(*ifc->neighs));
    if (!ifc->addrs || !ifc->routes || !ifc->neighs)
      return veil_error_make(err, ENOMEM, "out of memory");
    if (add_addrs(ifc, addrs, c->netns, err) < 0 || add_routes(ifc, routes, c->netns, err) < 0 ||
        add_neighs(ifc, neighs, routes, c->netns, err) < 0)
      return -1;
  }
  qsort(out->ifaces, out->n_ifaces, sizeof(*out->ifaces), cmp_iface);
  return 0;
}

int podnet_scan(const char *netns_path, struct podnet_scan *out, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  struct scan_ctx c = { .out = out, .netns = netns_path };
  if (podnet_in_netns(netns_path, scan_in_ns, &c, err) < 0) {
    podnet_scan_clear(out);
    return -1;
  }
  return 0;
}

void podnet_scan_clear(struct podnet_scan *scan)
{
  if (scan == NULL)
    return;
  for (size_t i = 0; scan->ifaces && i < PODNET_MAX_IFACES; i++) {
    free(scan->ifaces[i].addrs);
    free(scan->ifaces[i].routes);
    free(scan->ifaces[i].neighs);
  }
  free(scan->ifaces);
  memset(scan, 0, sizeof(*scan));
}
