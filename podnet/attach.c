/* podnet_attach / podnet_adopt / podnet_detach: tap + tc ingress/u32/mirred per veth, Kata's
 * `tcfilter` model (network_linux.go setupTCFiltering, addQdiscIngress, addRedirectTCFilter,
 * removeTCFiltering). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <netlink/cache.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/action.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/tc.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/sha256.h"
#include "podnet/internal.h"
#include "podnet/podnet.h"

VEIL_DEFINE_CLEANUP(struct rtnl_link, rtnl_link_put)
VEIL_DEFINE_CLEANUP(struct rtnl_qdisc, rtnl_qdisc_put)
VEIL_DEFINE_CLEANUP(struct rtnl_cls, rtnl_cls_put)
VEIL_DEFINE_CLEANUP(struct rtnl_act, rtnl_act_put)
VEIL_DEFINE_CLEANUP(struct nl_cache, nl_cache_free)

#define QDISC_ADD_ATTEMPTS 5     /* as Kata: an ingress qdisc add can race and return EBUSY */
#define QDISC_ADD_BACKOFF_MS 10

struct attach_ctx {
  const char *netns;
  const struct podnet_scan *scan;
  struct podnet_attachment *att;
  bool adopt;                    /* taps were moved in, not created here */
  bool *tap_ok;                  /* probe: set once a tap was created */
};

static bool absent(int nlerr)
{
  return nlerr == -NLE_OBJ_NOTFOUND || nlerr == -NLE_NODEV;
}

/* Look a link up by name: 1 found (*out set), 0 absent, -1 error. */
static int get_link(struct nl_sock *sk, const char *name, struct rtnl_link **out, veil_error_t *err)
{
  int r = rtnl_link_get_kernel(sk, 0, name, out);
  if (r == 0)
    return 1;
  if (absent(r))
    return 0;
  return podnet_nl_error(err, r, "look up interface `%s`", name);
}

static int ifindex_of(struct nl_sock *sk, const char *netns, const char *name, veil_error_t *err)
{
  cleanup_with(rtnl_link_put) struct rtnl_link *l = NULL;
  int r = get_link(sk, name, &l, err);
  if (r == 0)
    return veil_error_make(err, ENODEV, "netns `%s`: interface `%s` is gone", netns, name);
  return r < 0 ? -1 : rtnl_link_get_ifindex(l);
}

/* ffff:0, the ingress qdisc's handle (libnl's TC_HANDLE(0xffff, 0) shifts a signed int: UB) */
#define INGRESS_HANDLE TC_H_MAKE(0xffffU << 16, 0U)

static void sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* `tc qdisc add dev X ingress` */
static int add_ingress(struct nl_sock *sk, int ifindex, const char *dev, veil_error_t *err)
{
  cleanup_with(rtnl_qdisc_put) struct rtnl_qdisc *q = rtnl_qdisc_alloc();
  if (q == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
  rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
  rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
  rtnl_tc_set_kind(TC_CAST(q), "ingress");
  int r = 0;
  for (int i = 0; i < QDISC_ADD_ATTEMPTS; i++) {
    if ((r = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL)) != -NLE_BUSY)
      break;
    sleep_ms((long)(i + 1) * QDISC_ADD_BACKOFF_MS);
  }
  if (r == -NLE_EXIST)
    return veil_error_make(err, EEXIST, "`%s` already has an ingress qdisc (another tool owns its ingress "
                           "path: remove it or use a netns veil alone manages)", dev);
  if (r < 0)
    return podnet_nl_error(err, r, "add ingress qdisc on `%s` (does the kernel have sch_ingress?)", dev);
  return 0;
}

static int del_ingress(struct nl_sock *sk, int ifindex, const char *dev, veil_error_t *err)
{
  cleanup_with(nl_cache_free) struct nl_cache *cache = NULL;
  int r = rtnl_qdisc_alloc_cache(sk, &cache);
  if (r < 0)
    return podnet_nl_error(err, r, "list qdiscs");
  cleanup_with(rtnl_qdisc_put) struct rtnl_qdisc *q = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_INGRESS);
  if (q == NULL)
    return 0;
  if ((r = rtnl_qdisc_delete(sk, q)) < 0 && !absent(r))
    return podnet_nl_error(err, r, "delete ingress qdisc of `%s`", dev);
  return 0;
}

/* `tc filter add dev FROM parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect
 * dev TO` (TC_ACT_STOLEN: the packet goes only to TO) */
static int add_redirect(struct nl_sock *sk, int from, int to, const char *from_name, const char *to_name,
                        veil_error_t *err)
{
  cleanup_with(rtnl_cls_put) struct rtnl_cls *cls = rtnl_cls_alloc();
  cleanup_with(rtnl_act_put) struct rtnl_act *act = rtnl_act_alloc();
  if (cls == NULL || act == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  rtnl_tc_set_ifindex(TC_CAST(cls), from);
  rtnl_tc_set_parent(TC_CAST(cls), INGRESS_HANDLE);
  int r;
  if ((r = rtnl_tc_set_kind(TC_CAST(cls), "u32")) < 0 || (r = rtnl_tc_set_kind(TC_CAST(act), "mirred")) < 0)
    return podnet_nl_error(err, r, "u32/mirred");
  rtnl_cls_set_protocol(cls, ETH_P_ALL);
  if ((r = rtnl_u32_add_key_uint8(cls, 0, 0, 0, 0)) < 0 || (r = rtnl_u32_set_cls_terminal(cls)) < 0 ||
      (r = rtnl_mirred_set_action(act, TCA_EGRESS_REDIR)) < 0 ||
      (r = rtnl_mirred_set_policy(act, TC_ACT_STOLEN)) < 0 || (r = rtnl_mirred_set_ifindex(act, (uint32_t)to)) < 0 ||
      (r = rtnl_u32_add_action(cls, act)) < 0)
    return podnet_nl_error(err, r, "build u32 filter %s -> %s", from_name, to_name);
  if ((r = rtnl_cls_add(sk, cls, NLM_F_CREATE | NLM_F_EXCL)) < 0)
    return podnet_nl_error(err, r, "add u32 mirred filter %s -> %s (does the kernel have cls_u32 and "
                           "act_mirred?)", from_name, to_name);
  return 0;
}

/* Create the tap in this thread's netns. IFF_TUN_EXCL: never attach to an existing device. */
static int make_tap(struct nl_sock *sk, struct podnet_tap *t, const char *netns, veil_error_t *err)
{
  cleanup_close int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return veil_error_errno(err, "open /dev/net/tun (is the tun driver in the kernel?)");
  struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL };
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->tap);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    cleanup_with(rtnl_link_put) struct rtnl_link *l = NULL;
    veil_error_t e2 = NULL;
    if ((e == EBUSY || e == EINVAL || e == EEXIST) && get_link(sk, t->tap, &l, &e2) == 1) {
      const char *kind = rtnl_link_get_type(l);
      return veil_error_make(err, EEXIST, "netns `%s`: an interface named `%s` (%s) already exists: veil "
                             "names its taps so; remove it", netns, t->tap, kind ? kind : "no link kind");
    }
    veil_error_release(&e2);
    errno = e;
    return veil_error_errno(err, "netns `%s`: create tap `%s`", netns, t->tap);
  }
  t->tap_made = true;
  t->fd = steal_fd(&fd);
  return 0;
}

/* MTU = the veth's, up (Kata: LinkSetMTU, LinkSetUp). */
static int tap_mtu_up(struct nl_sock *sk, struct podnet_tap *t, veil_error_t *err)
{
  cleanup_with(rtnl_link_put) struct rtnl_link *orig = NULL;
  cleanup_with(rtnl_link_put) struct rtnl_link *change = rtnl_link_alloc();
  if (change == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  int r = get_link(sk, t->tap, &orig, err);
  if (r <= 0)
    return r < 0 ? -1 : veil_error_make(err, ENODEV, "tap `%s` vanished", t->tap);
  rtnl_link_set_mtu(change, t->mtu);
  rtnl_link_set_flags(change, IFF_UP);
  if ((r = rtnl_link_change(sk, orig, change, 0)) < 0)
    return podnet_nl_error(err, r, "set MTU %u and up on tap `%s`", t->mtu, t->tap);
  return 0;
}

static int connect_pair(struct nl_sock *sk, struct podnet_tap *t, const char *netns, veil_error_t *err)
{
  int veth = ifindex_of(sk, netns, t->veth, err);
  if (veth < 0 || tap_mtu_up(sk, t, err) < 0)
    return -1;
  int tap = ifindex_of(sk, netns, t->tap, err);
  if (tap < 0)
    return -1;
  if (add_ingress(sk, tap, t->tap, err) < 0)
    return -1;
  t->tap_qdisc_made = true;
  if (add_ingress(sk, veth, t->veth, err) < 0)
    return -1;
  t->veth_qdisc_made = true;
  if (add_redirect(sk, veth, tap, t->veth, t->tap, err) < 0)
    return -1;
  t->veth_filter_made = true;
  if (add_redirect(sk, tap, veth, t->tap, t->veth, err) < 0)
    return -1;
  t->tap_filter_made = true;
  return 0;
}

/* Undo one pair, whatever part of it exists: the tap (its qdisc and filter go with it) and the
 * veth's ingress qdisc (its filter goes with it). */
static int undo_pair(struct nl_sock *sk, struct podnet_tap *t, veil_error_t *err)
{
  int rc = 0;
  veil_cleanup_closep(&t->fd);
  if (t->tap_made) {
    cleanup_with(rtnl_link_put) struct rtnl_link *l = NULL;
    int r = get_link(sk, t->tap, &l, err);
    const char *kind = r == 1 ? rtnl_link_get_type(l) : NULL;
    if (r < 0) {
      rc = -1;
    } else if (r == 1 && kind && strcmp(kind, "tun") == 0) {  /* a non-persistent tap may be gone */
      int d = rtnl_link_delete(sk, l);
      if (d < 0 && !absent(d))
        rc = podnet_nl_error(err, d, "delete tap `%s`", t->tap);
    }
    if (rc == 0)
      t->tap_made = t->tap_qdisc_made = t->tap_filter_made = false;
  }
  if (t->veth_qdisc_made) {
    cleanup_with(rtnl_link_put) struct rtnl_link *l = NULL;
    veil_error_t e = NULL;
    int r = get_link(sk, t->veth, &l, &e);
    if (r == 1 && del_ingress(sk, rtnl_link_get_ifindex(l), t->veth, &e) < 0)
      r = -1;
    if (r < 0) {
      if (rc == 0)
        *err = steal_pointer(&e);
      veil_error_release(&e);
      rc = -1;
    } else {
      t->veth_qdisc_made = t->veth_filter_made = false;
    }
  }
  return rc;
}

static int undo_all(struct nl_sock *sk, struct podnet_attachment *att, veil_error_t *err)
{
  int rc = 0;
  for (size_t i = 0; i < att->n_taps; i++) {
    veil_error_t e = NULL;
    if (undo_pair(sk, &att->taps[i], &e) < 0) {
      if (rc == 0)
        *err = steal_pointer(&e);
      rc = -1;
    }
    veil_error_release(&e);
  }
  return rc;
}

static void fill_pairs(struct podnet_attachment *att, const struct podnet_scan *scan)
{
  memset(att, 0, sizeof(*att));
  att->n_taps = scan->n_ifaces;
  for (size_t i = 0; i < scan->n_ifaces; i++) {
    struct podnet_tap *t = &att->taps[i];
    t->fd = -1;
    snprintf(t->veth, sizeof(t->veth), "%s", scan->ifaces[i].name);
    snprintf(t->tap, sizeof(t->tap), "tap%zu_veil", i);
    snprintf(t->mac, sizeof(t->mac), "%s", scan->ifaces[i].mac);
  }
}

static int attach_in_ns(struct nl_sock *sk, void *arg, veil_error_t *err)
{
  struct attach_ctx *c = arg;
  for (size_t i = 0; i < c->att->n_taps; i++) {
    struct podnet_tap *t = &c->att->taps[i];
    cleanup_with(rtnl_link_put) struct rtnl_link *veth = NULL;
    int r = get_link(sk, t->veth, &veth, err);
    if (r == 0)
      veil_error_make(err, ENODEV, "netns `%s`: veth `%s` is gone since the scan", c->netns, t->veth);
    if (r <= 0)
      goto fail;
    t->mtu = rtnl_link_get_mtu(veth);  /* Kata reads the veth's MTU at attach time */
    if (c->adopt)
      t->tap_made = true;  /* moved in by podnet_adopt: ours to delete */
    else if (make_tap(sk, t, c->netns, err) < 0)
      goto fail;
    if (c->tap_ok)
      *c->tap_ok = true;
    if (connect_pair(sk, t, c->netns, err) < 0) {
      veil_error_wrap(err, "netns `%s`: connect `%s` and `%s`", c->netns, t->veth, t->tap);
      goto fail;
    }
  }
  return 0;
fail: {
    veil_error_t e = NULL;
    if (undo_all(sk, c->att, &e) < 0)
      veil_log_error(VEIL_LOG_WARN, e, "podnet: undo");
    veil_error_release(&e);
    return -1;
  }
}

static int check_scan(const struct podnet_scan *scan, veil_error_t *err)
{
  if (scan == NULL || scan->n_ifaces > PODNET_MAX_IFACES)
    return veil_error_make(err, EINVAL, "bad scan (at most %d interfaces)", PODNET_MAX_IFACES);
  return 0;
}

int podnet_attach(const char *netns_path, const struct podnet_scan *scan, struct podnet_attachment *out,
                  veil_error_t *err)
{
  if (check_scan(scan, err) < 0)
    return -1;
  fill_pairs(out, scan);
  struct attach_ctx c = { .netns = netns_path, .scan = scan, .att = out };
  if (podnet_in_netns(netns_path, attach_in_ns, &c, err) < 0) {
    for (size_t i = 0; i < out->n_taps; i++)
      veil_cleanup_closep(&out->taps[i].fd);
    return -1;
  }
  return 0;
}

int podnet_attach_here(struct nl_sock *sk, const char *netns_label, const struct podnet_scan *scan,
                       struct podnet_attachment *att, bool *tap_ok, veil_error_t *err)
{
  fill_pairs(att, scan);
  struct attach_ctx c = { .netns = netns_label, .scan = scan, .att = att, .tap_ok = tap_ok };
  int r = attach_in_ns(sk, &c, err);
  podnet_attachment_close_fds(att);
  return r;
}

void podnet_host_tap_name(const char *sandbox_id, unsigned index, char out[IFNAMSIZ])
{
  char hex[2 * VEIL_SHA256_LEN + 1];
  veil_sha256_hex(sandbox_id, strlen(sandbox_id), hex);
  snprintf(out, IFNAMSIZ, "veil%.10s%u", hex, index % 10);
}

struct move_ctx {
  const char *netns;
  struct podnet_attachment *att;
  const char *const *host_taps;
};

/* In the host netns (sk's): move each host tap into the pod netns under its tap<i>_veil name (one
 * RTM_NEWLINK with IFLA_NET_NS_FD and IFLA_IFNAME). */
static int move_taps(struct nl_sock *sk, void *arg, veil_error_t *err)
{
  struct move_ctx *m = arg;
  cleanup_close int nsfd = open(m->netns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0)
    return veil_error_errno(err, "open network namespace `%s`", m->netns);
  for (size_t i = 0; i < m->att->n_taps; i++) {
    struct podnet_tap *t = &m->att->taps[i];
    const char *host_tap = m->host_taps[i];
    cleanup_with(rtnl_link_put) struct rtnl_link *orig = NULL;
    cleanup_with(rtnl_link_put) struct rtnl_link *change = rtnl_link_alloc();
    if (change == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    int r = get_link(sk, host_tap, &orig, err);
    if (r <= 0)
      return r < 0 ? -1 : veil_error_make(err, ENODEV, "host tap `%s` does not exist (did the VM start "
                                          "with it?)", host_tap);
    const char *kind = rtnl_link_get_type(orig);
    if (kind == NULL || strcmp(kind, "tun") != 0)
      return veil_error_make(err, EINVAL, "host interface `%s` is not a tap", host_tap);
    rtnl_link_set_ns_fd(change, nsfd);
    rtnl_link_set_name(change, t->tap);
    if ((r = rtnl_link_change(sk, orig, change, 0)) < 0)
      return podnet_nl_error(err, r, "move tap `%s` into netns `%s` as `%s`", host_tap, m->netns, t->tap);
    t->tap_made = true;
  }
  return 0;
}

static int move_taps_here(struct move_ctx *m, veil_error_t *err)
{
  struct nl_sock *sk = nl_socket_alloc();
  if (sk == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  int r = nl_connect(sk, NETLINK_ROUTE);
  r = r < 0 ? podnet_nl_error(err, r, "rtnetlink socket") : move_taps(sk, m, err);
  nl_socket_free(sk);
  return r;
}

int podnet_adopt(const char *netns_path, const struct podnet_scan *scan, const char *host_netns,
                 const char *const *host_taps, struct podnet_attachment *out, veil_error_t *err)
{
  if (check_scan(scan, err) < 0)
    return -1;
  fill_pairs(out, scan);
  for (size_t i = 0; i < out->n_taps; i++)
    if (host_taps == NULL || host_taps[i] == NULL || strlen(host_taps[i]) >= IFNAMSIZ)
      return veil_error_make(err, EINVAL, "podnet_adopt: host tap %zu missing or too long", i);
  struct attach_ctx c = { .netns = netns_path, .scan = scan, .att = out, .adopt = true };
  struct move_ctx m = { .netns = netns_path, .att = out, .host_taps = host_taps };
  if ((host_netns ? podnet_in_netns(host_netns, move_taps, &m, err) : move_taps_here(&m, err)) < 0) {
    veil_error_t e = NULL;
    if (podnet_detach(netns_path, out, &e) < 0)
      veil_log_error(VEIL_LOG_WARN, e, "podnet: undo");
    veil_error_release(&e);
    return -1;
  }
  return podnet_in_netns(netns_path, attach_in_ns, &c, err);
}

void podnet_attachment_close_fds(struct podnet_attachment *att)
{
  for (size_t i = 0; att && i < att->n_taps && i < PODNET_MAX_IFACES; i++)
    veil_cleanup_closep(&att->taps[i].fd);
}

static int detach_in_ns(struct nl_sock *sk, void *arg, veil_error_t *err)
{
  return undo_all(sk, arg, err);
}

int podnet_detach(const char *netns_path, struct podnet_attachment *att, veil_error_t *err)
{
  if (att == NULL || att->n_taps > PODNET_MAX_IFACES)
    return veil_error_make(err, EINVAL, "podnet_detach: bad attachment");
  podnet_attachment_close_fds(att);
  bool anything = false;
  for (size_t i = 0; i < att->n_taps; i++)
    anything |= att->taps[i].tap_made || att->taps[i].veth_qdisc_made;
  if (!anything)
    return 0;
  if (access(netns_path, F_OK) < 0 && errno == ENOENT) {
    /* the netns is gone, and every device in it with it */
    for (size_t i = 0; i < att->n_taps; i++) {
      struct podnet_tap *t = &att->taps[i];
      t->tap_made = t->tap_qdisc_made = t->tap_filter_made = t->veth_qdisc_made = t->veth_filter_made = false;
    }
    return 0;
  }
  return podnet_in_netns(netns_path, detach_in_ns, att, err);
}
