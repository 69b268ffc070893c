/* podnet_probe_host: tap creation and tc ingress/u32/mirred, tried in a netns that only the
 * probing thread holds, so everything made vanishes with it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "common/cleanup.h"
#include "podnet/internal.h"
#include "podnet/podnet.h"

VEIL_DEFINE_CLEANUP(struct rtnl_link, rtnl_link_put)

static int probe_in_ns(struct nl_sock *sk, void *arg, veil_error_t *err)
{
  struct podnet_probe *p = arg;
  /* a veth with an address stands in for the pod's CNI veth */
  int r = rtnl_link_veth_add(sk, "probe0", "probe1", 0);
  if (r < 0)
    return podnet_nl_error(err, r, "create a veth pair (is veth in the kernel?)");
  cleanup_with(rtnl_link_put) struct rtnl_link *l = NULL;
  if ((r = rtnl_link_get_kernel(sk, 0, "probe0", &l)) < 0)
    return podnet_nl_error(err, r, "look up the probe veth");
  struct podnet_iface ifc = { .ifindex = rtnl_link_get_ifindex(l), .mtu = rtnl_link_get_mtu(l) };
  snprintf(ifc.name, sizeof(ifc.name), "probe0");
  podnet_mac_str(nl_addr_get_binary_addr(rtnl_link_get_addr(l)), ifc.mac);
  struct podnet_scan scan = { .ifaces = &ifc, .n_ifaces = 1 };
  struct podnet_attachment att;
  return podnet_attach_here(sk, "(probe)", &scan, &att, &p->tap, err);
}

void podnet_probe_host(struct podnet_probe *out)
{
  memset(out, 0, sizeof(*out));
  cleanup_error veil_error_t err = NULL;
  if (podnet_in_new_netns(probe_in_ns, out, &err) == 0) {
    out->tc = true;
    return;
  }
  snprintf(out->why, sizeof(out->why), "%s", err->msg);
  if (err->status == EPERM || err->status == EACCES)
    snprintf(out->todo, sizeof(out->todo), "run as root (needs CAP_SYS_ADMIN and CAP_NET_ADMIN)");
  else if (!out->tap)
    snprintf(out->todo, sizeof(out->todo), "a kernel with CONFIG_TUN and /dev/net/tun (c 10 200)");
  else
    snprintf(out->todo, sizeof(out->todo), "a kernel with CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_U32 and "
             "CONFIG_NET_ACT_MIRRED");
}
