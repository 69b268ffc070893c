/* UpdateInterface and ListInterfaces (ops.h) with kata-agent's semantics
 * (src/agent/src/netlink.rs update_interface / list_interfaces; docs/agent.md):
 * the link is found by hwAddr, else by name (its MAC is then set to hwAddr), brought
 * down, given the addresses (added or replaced; existing ones stay), then MTU, name,
 * NOARP and up in one change. A name held by another link is swapped with it. */
#include <errno.h>
#include <net/if.h>
#include <netlink/route/addr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/netlink.h"
#include "agent/ops.h"
#include "common/fileutil.h"
#include "common/log.h"

VEIL_DEFINE_CLEANUP(struct rtnl_addr, rtnl_addr_put)

#define MIN_MTU 68     /* IPv4's minimum (RFC 791) */
#define MAX_MTU 65536  /* lo's; the kernel checks each device's own maximum */

/* --- request checks: everything is checked before anything is changed --- */

static int check_text(const char *what, const char *s, veil_error_t *err)
{
  if (s && strlen(s) > AGENT_NET_MAX_TEXT)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: %s longer than %d "
                           "bytes", what, AGENT_NET_MAX_TEXT);
  return 0;
}

static int check_interface(const Types__Interface *r, uint8_t mac[6], struct agent_ip *ips,
                           veil_error_t *err)
{
  if (!r)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "UpdateInterface: the request has no interface");
  const char *hw = r->hwaddr ? r->hwaddr : "";
  static const uint8_t zero[6];
  if (strlen(hw) > 17 || !agent_parse_mac(hw, mac))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: interface.hwAddr "
                           "`%.32s` is not a MAC address like 02:42:ac:11:00:02", hw);
  if (memcmp(mac, zero, 6) == 0)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: interface.hwAddr "
                           "must not be 00:00:00:00:00:00");
  const char *name = r->name ? r->name : "";
  if (!agent_ifname_valid(name))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: interface.name "
                           "`%.32s` is not a link name (1-15 bytes, no '/', ':' or spaces)", name);
  if (r->mtu != 0 && (r->mtu < MIN_MTU || r->mtu > MAX_MTU))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: interface.mtu %llu "
                           "out of range (0 keeps it, else %d..%d)", (unsigned long long)r->mtu,
                           MIN_MTU, MAX_MTU);
  if (check_text("interface.device", r->device, err) < 0 ||
      check_text("interface.devicePath", r->devicepath, err) < 0 ||
      check_text("interface.type", r->type, err) < 0)
    return -1;
  if (r->n_ipaddresses > AGENT_NET_MAX_ADDRS)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: %zu "
                           "interface.IPAddresses, at most %d", r->n_ipaddresses,
                           AGENT_NET_MAX_ADDRS);
  for (size_t i = 0; i < r->n_ipaddresses; i++) {
    const Types__IPAddress *ip = r->ipaddresses[i];
    const char *addr = ip && ip->address ? ip->address : "";
    const char *mask = ip && ip->mask ? ip->mask : "";
    /* The family comes from the address itself: v4 is proto3's default, so an unset
     * family cannot be told from v4 (kata-agent ignores the field too). */
    if (!agent_parse_ip(addr, &ips[i]))
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: "
                             "interface.IPAddresses[%zu].address `%.64s` is not an IP address",
                             i, addr);
    if (!agent_parse_prefix(mask, ips[i].family, &ips[i].prefix))
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateInterface: "
                             "interface.IPAddresses[%zu].mask `%.16s` is not a prefix length "
                             "(0..%d)", i, mask, ips[i].family == AF_INET ? 32 : 128);
  }
  return 0;
}

/* --- reply building --- */

static Types__IPAddress *ip_address_of(struct rtnl_addr *ra)
{
  struct nl_addr *local = rtnl_addr_get_local(ra);
  int family = local ? nl_addr_get_family(local) : AF_UNSPEC;
  if ((family != AF_INET && family != AF_INET6) ||
      nl_addr_get_len(local) != (family == AF_INET ? 4u : 16u))
    return NULL;
  Types__IPAddress *ip = malloc(sizeof(*ip));
  if (!ip)
    return NULL;
  types__ipaddress__init(ip);
  char text[AGENT_NET_MAX_ADDR_TEXT];
  agent_format_ip(family, nl_addr_get_binary_addr(local), 0, false, text);
  ip->family = family == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
  ip->address = strdup(text);
  if (!ip->address || asprintf(&ip->mask, "%d", rtnl_addr_get_prefixlen(ra)) < 0) {
    ip->mask = NULL;
    free(ip->address);
    free(ip);
    return NULL;
  }
  return ip;
}

/* The kernel's view of one link with its addresses from `addrs`. */
static Types__Interface *interface_of(struct rtnl_link *link, struct nl_cache *addrs,
                                      veil_error_t *err)
{
  Types__Interface *it = malloc(sizeof(*it));
  if (!it) {
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  types__interface__init(it);
  char hw[AGENT_NET_HW_TEXT] = "";
  struct nl_addr *lladdr = rtnl_link_get_addr(link);
  if (lladdr)
    agent_format_hw(nl_addr_get_binary_addr(lladdr), nl_addr_get_len(lladdr), hw);
  const char *name = rtnl_link_get_name(link), *kind = rtnl_link_get_type(link);
  it->name = strdup(name ? name : "");
  it->device = strdup(name ? name : "");
  it->hwaddr = strdup(hw);
  if (kind)
    it->type = strdup(kind);
  it->mtu = rtnl_link_get_mtu(link);
  it->raw_flags = rtnl_link_get_flags(link);
  size_t cap = 0;
  bool ok = it->name && it->device && it->hwaddr && it->type;
  int ifindex = rtnl_link_get_ifindex(link);
  for (struct nl_object *o = nl_cache_get_first(addrs); ok && o; o = nl_cache_get_next(o)) {
    struct rtnl_addr *ra = (struct rtnl_addr *)o;
    if (rtnl_addr_get_ifindex(ra) != ifindex)
      continue;
    if (it->n_ipaddresses == cap) {
      cap = cap ? cap * 2 : 4;
      Types__IPAddress **grown = realloc(it->ipaddresses, cap * sizeof(*grown));
      if (!grown) {
        ok = false;
        break;
      }
      it->ipaddresses = grown;
    }
    Types__IPAddress *ip = ip_address_of(ra);
    if (ip)
      it->ipaddresses[it->n_ipaddresses++] = ip;
  }
  if (!ok) {
    protobuf_c_message_free_unpacked(&it->base, NULL);
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  return it;
}

/* --- UpdateInterface --- */

static struct rtnl_link *find_by_mac(struct nl_cache *links, const uint8_t mac[6])
{
  for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
    struct nl_addr *a = rtnl_link_get_addr((struct rtnl_link *)o);
    if (a && nl_addr_get_len(a) == 6 && memcmp(nl_addr_get_binary_addr(a), mac, 6) == 0) {
      nl_object_get(o);
      return (struct rtnl_link *)o;
    }
  }
  return NULL;
}

/* kata-agent skips IPv6 addresses when the guest has IPv6 off in both `all` and `default`. */
static bool ipv6_enabled(void)
{
  static const char *files[] = { "/proc/sys/net/ipv6/conf/all/disable_ipv6",
                                 "/proc/sys/net/ipv6/conf/default/disable_ipv6" };
  for (size_t i = 0; i < 2; i++) {
    cleanup_free char *s = NULL;
    size_t len;
    veil_error_t e = NULL;
    if (veil_read_file(files[i], 64, &s, &len, &e) == 0 && s[0] == '0')
      return true;
    veil_error_release(&e);
  }
  return false;
}

static int add_address(struct nl_sock *sk, int ifindex, const char *ifname,
                       const struct agent_ip *ip, veil_error_t *err)
{
  char text[AGENT_NET_MAX_ADDR_TEXT];
  agent_format_ip(ip->family, ip->bytes, ip->prefix, true, text);
  cleanup_with(rtnl_addr_put) struct rtnl_addr *ra = rtnl_addr_alloc();
  cleanup_with(nl_addr_put) struct nl_addr *local = agent_nl_addr(ip);
  cleanup_with(nl_addr_put) struct nl_addr *brd = NULL;
  if (!ra || !local)
    return veil_error_make(err, ENOMEM, "out of memory");
  rtnl_addr_set_ifindex(ra, ifindex);
  rtnl_addr_set_family(ra, ip->family);
  int rc = rtnl_addr_set_local(ra, local);
  /* IPv4 gets its subnet's broadcast address (`ip addr add ... brd +`). */
  if (rc == 0 && ip->family == AF_INET && ip->prefix < 31) {
    uint8_t b[4];
    uint32_t host = ip->prefix == 0 ? 0xffffffffu : (1u << (32 - ip->prefix)) - 1;
    for (int i = 0; i < 4; i++)
      b[i] = ip->bytes[i] | (uint8_t)(host >> (8 * (3 - i)));
    if (!(brd = nl_addr_build(AF_INET, b, 4)))
      return veil_error_make(err, ENOMEM, "out of memory");
    rc = rtnl_addr_set_broadcast(ra, brd);
  }
  if (rc == 0)
    rc = rtnl_addr_add(sk, ra, NLM_F_CREATE | NLM_F_REPLACE);
  if (rc < 0)
    return agent_nl_error(err, rc, "UpdateInterface: add address %s to %s", text, ifname);
  return 0;
}

/* Set a link up or down, renaming it first when `name` is set (the kernel renames before
 * it changes flags, and only a link that is down). */
static int set_link(struct nl_sock *sk, struct rtnl_link *link, const char *name, bool up,
                    veil_error_t *err)
{
  cleanup_with(rtnl_link_put) struct rtnl_link *ch = rtnl_link_alloc();
  if (!ch)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (up)
    rtnl_link_set_flags(ch, IFF_UP);
  else
    rtnl_link_unset_flags(ch, IFF_UP);
  if (name)
    rtnl_link_set_name(ch, name);
  int rc = rtnl_link_change(sk, link, ch, 0);
  if (rc < 0)
    return agent_nl_error(err, rc, "UpdateInterface: %s link %s%s%s", up ? "bring up" : "set down",
                          rtnl_link_get_name(link), name ? " renamed to " : "", name ? name : "");
  return 0;
}

static int update_locked(const Types__Interface *r, const uint8_t mac[6],
                         const struct agent_ip *ips, Types__Interface **out, veil_error_t *err)
{
  cleanup_with(nl_socket_free) struct nl_sock *sk = agent_nl_open(err);
  if (!sk)
    return -1;
  cleanup_with(nl_cache_free) struct nl_cache *links = NULL;
  int rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
  if (rc < 0)
    return agent_nl_error(err, rc, "UpdateInterface: list links");
  bool retarget = false;
  cleanup_with(rtnl_link_put) struct rtnl_link *link = find_by_mac(links, mac);
  if (!link) {
    /* kata's fallback for a NIC restored from a VM template: the link of that name
     * takes the requested MAC. */
    link = rtnl_link_get_by_name(links, r->name);
    if (!link)
      return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "UpdateInterface: Link not found (no "
                             "link has hwAddr %s or name %s)", r->hwaddr, r->name);
    log_info("UpdateInterface: no link has hwAddr %s: setting it on %s", r->hwaddr, r->name);
    retarget = true;
  }
  int ifindex = rtnl_link_get_ifindex(link);
  char old_name[IFNAMSIZ];
  snprintf(old_name, sizeof(old_name), "%s", rtnl_link_get_name(link));

  /* Down first, then the MAC: not every driver changes the address of a running link. */
  if (set_link(sk, link, NULL, false, err) < 0)
    return -1;
  if (retarget) {
    cleanup_with(rtnl_link_put) struct rtnl_link *ch = rtnl_link_alloc();
    cleanup_with(nl_addr_put) struct nl_addr *hw = nl_addr_build(AF_LLC, mac, 6);
    if (!ch || !hw)
      return veil_error_make(err, ENOMEM, "out of memory");
    rtnl_link_set_addr(ch, hw);
    if ((rc = rtnl_link_change(sk, link, ch, 0)) < 0)
      return agent_nl_error(err, rc, "UpdateInterface: set hwAddr %s on %s", r->hwaddr,
                            old_name);
  }

  bool v6 = ipv6_enabled();
  for (size_t i = 0; i < r->n_ipaddresses; i++) {
    if (ips[i].family == AF_INET6 && !v6) {
      log_warn("UpdateInterface: IPv6 is disabled in the guest: %s skipped",
               r->ipaddresses[i]->address);
      continue;
    }
    if (add_address(sk, ifindex, old_name, &ips[i], err) < 0)
      return -1;
  }

  /* Another link holding the name is renamed out of the way and given ours afterwards. */
  cleanup_with(rtnl_link_put) struct rtnl_link *other = NULL;
  bool other_up = false;
  char tmp_name[IFNAMSIZ];
  if (strcmp(old_name, r->name) != 0) {
    rc = rtnl_link_get_kernel(sk, 0, r->name, &other);
    if (rc < 0 && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NODEV)
      return agent_nl_error(err, rc, "UpdateInterface: look up link %s", r->name);
    agent_nl_forget();
    if (other) {
      other_up = rtnl_link_get_flags(other) & IFF_UP;
      snprintf(tmp_name, sizeof(tmp_name), "veiltmp%d", rtnl_link_get_ifindex(other));
      /* a running link cannot be renamed: down, then the name */
      if (set_link(sk, other, NULL, false, err) < 0 || set_link(sk, other, tmp_name, false, err) < 0)
        return -1;
      rtnl_link_set_name(other, tmp_name);
    }
  }

  cleanup_with(rtnl_link_put) struct rtnl_link *ch = rtnl_link_alloc();
  if (!ch)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (r->mtu)
    rtnl_link_set_mtu(ch, (unsigned)r->mtu);
  rtnl_link_set_name(ch, r->name);
  if (r->raw_flags & IFF_NOARP)
    rtnl_link_set_flags(ch, IFF_NOARP);
  else
    rtnl_link_unset_flags(ch, IFF_NOARP);
  rtnl_link_set_flags(ch, IFF_UP);
  if ((rc = rtnl_link_change(sk, link, ch, 0)) < 0) {
    agent_nl_error(err, rc, "UpdateInterface: set %s mtu %llu name %s up", old_name,
                   (unsigned long long)r->mtu, r->name);
    if (other) {
      veil_error_t e = NULL;
      if (set_link(sk, other, r->name, other_up, &e) < 0) {
        veil_log_error(VEIL_LOG_WARN, e, "UpdateInterface: restore %s", r->name);
        veil_error_release(&e);
      }
    }
    return -1;
  }
  if (other && set_link(sk, other, old_name, other_up, err) < 0)
    return -1;

  cleanup_with(rtnl_link_put) struct rtnl_link *now = NULL;
  cleanup_with(nl_cache_free) struct nl_cache *addrs = NULL;
  if ((rc = rtnl_link_get_kernel(sk, ifindex, NULL, &now)) < 0 ||
      (rc = rtnl_addr_alloc_cache(sk, &addrs)) < 0)
    return agent_nl_error(err, rc, "UpdateInterface: read %s back", r->name);
  if (!(*out = interface_of(now, addrs, err)))
    return -1;
  if (r->devicepath && *r->devicepath && !((*out)->devicepath = strdup(r->devicepath))) {
    protobuf_c_message_free_unpacked(&(*out)->base, NULL);
    *out = NULL;
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  log_info("UpdateInterface: %s (was %s) hwAddr %s mtu %u addresses %zu", r->name, old_name,
           (*out)->hwaddr, (unsigned)(*out)->mtu, (*out)->n_ipaddresses);
  return 0;
}

int agent_update_interface(struct agent *a, const Types__Interface *req, Types__Interface **out,
                           veil_error_t *err)
{
  *out = NULL;
  uint8_t mac[6];
  struct agent_ip ips[AGENT_NET_MAX_ADDRS];
  if (check_interface(req, mac, ips, err) < 0)
    return -1;
  pthread_mutex_lock(&a->net_lock);
  int rc = update_locked(req, mac, ips, out, err);
  pthread_mutex_unlock(&a->net_lock);
  return rc;
}

/* --- ListInterfaces --- */

int agent_list_interfaces(struct agent *a, Grpc__Interfaces **out, veil_error_t *err)
{
  *out = NULL;
  pthread_mutex_lock(&a->net_lock);
  cleanup_with(nl_socket_free) struct nl_sock *sk = agent_nl_open(err);
  cleanup_with(nl_cache_free) struct nl_cache *links = NULL;
  cleanup_with(nl_cache_free) struct nl_cache *addrs = NULL;
  int rc = sk ? rtnl_link_alloc_cache(sk, AF_UNSPEC, &links) : 0;
  if (sk && rc == 0)
    rc = rtnl_addr_alloc_cache(sk, &addrs);
  pthread_mutex_unlock(&a->net_lock);
  if (!sk)
    return -1;
  if (rc < 0)
    return agent_nl_error(err, rc, "ListInterfaces");
  Grpc__Interfaces *list = malloc(sizeof(*list));
  size_t n = (size_t)nl_cache_nitems(links);
  if (list) {
    grpc__interfaces__init(list);
    list->interfaces = calloc(n ? n : 1, sizeof(*list->interfaces));
  }
  if (!list || !list->interfaces) {
    free(list);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  for (struct nl_object *o = nl_cache_get_first(links); o && list->n_interfaces < n;
       o = nl_cache_get_next(o)) {
    Types__Interface *it = interface_of((struct rtnl_link *)o, addrs, err);
    if (!it) {
      protobuf_c_message_free_unpacked(&list->base, NULL);
      return -1;
    }
    list->interfaces[list->n_interfaces++] = it;
  }
  *out = list;
  return 0;
}

int agent_loopback_up(veil_error_t *err)
{
  cleanup_with(nl_socket_free) struct nl_sock *sk = agent_nl_open(err);
  if (!sk)
    return -1;
  cleanup_with(rtnl_link_put) struct rtnl_link *lo = agent_nl_link_by_name(sk, "lo", "loopback",
                                                                           err);
  if (!lo)
    return -1;
  return set_link(sk, lo, NULL, true, err);
}
