/* podnet against real kernel objects: test netns with a CNI-style veth, scan, attach (taps,
 * qdiscs and filters read back with tc), frames through the tap in both directions, detach
 * leaving the netns as it was; and the bad inputs, each with a clear error and nothing left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "netns_fixture.h"
#include "podnet/kata_requests.h"
#include "podnet/podnet.h"

#define TEST_ETHERTYPE 0x88b5  /* IEEE local experimental */

static struct fixture fx;
static struct podnet_attachment current_att;  /* detached by the teardown if a test failed */

static int setup_cni(void **state)
{
  (void)state;
  memset(&fx, 0, sizeof(fx));
  memset(&current_att, 0, sizeof(current_att));
  if (fixture_cni(&fx) == 0)
    return 0;
  fixture_remove(&fx);  /* cmocka runs no teardown after a failed setup */
  return -1;
}

static int setup_empty(void **state)
{
  (void)state;
  memset(&fx, 0, sizeof(fx));
  memset(&current_att, 0, sizeof(current_att));
  fixture_names(&fx);
  if (sh("ip netns add %s && ip netns add %s", fx.pod, fx.host) == 0)
    return 0;
  fixture_remove(&fx);
  return -1;
}

static int teardown(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  podnet_detach(fx.pod_path, &current_att, &err);
  fixture_remove(&fx);
  return 0;
}

static const struct podnet_route *find_route(const struct podnet_iface *ifc, const char *dest)
{
  for (size_t i = 0; i < ifc->n_routes; i++)
    if (strcmp(ifc->routes[i].dest, dest) == 0)
      return &ifc->routes[i];
  return NULL;
}

static const struct podnet_neigh *find_neigh(const struct podnet_iface *ifc, const char *ip)
{
  for (size_t i = 0; i < ifc->n_neighs; i++)
    if (strcmp(ifc->neighs[i].ip, ip) == 0)
      return &ifc->neighs[i];
  return NULL;
}

static bool has_addr(const struct podnet_iface *ifc, const char *ip, unsigned plen)
{
  for (size_t i = 0; i < ifc->n_addrs; i++)
    if (strcmp(ifc->addrs[i].ip, ip) == 0 && ifc->addrs[i].prefixlen == plen)
      return true;
  return false;
}

/* What the netns holds: links, and the qdiscs and filters of eth0 and the taps. */
static void netns_state(const char *path, char *out, size_t n)
{
  assert_int_equal(sh_out(out, n, "nsenter --net=%s sh -c 'ip -o link show; tc qdisc show; "
                          "tc filter show dev eth0 ingress' 2>&1", path), 0);
}

static void test_scan_cni_netns(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  if (podnet_scan(fx.pod_path, &scan, &err) < 0)
    fail_msg("scan: %s", err->msg);
  assert_int_equal(scan.n_ifaces, 1);
  const struct podnet_iface *ifc = &scan.ifaces[0];
  assert_string_equal(ifc->name, "eth0");
  assert_string_equal(ifc->mac, POD_MAC);
  assert_int_equal(ifc->mtu, POD_MTU);
  /* addresses: both CNI ones and the link-local one (kata keeps all but loopback) */
  assert_true(has_addr(ifc, "10.88.0.2", 16));
  assert_true(has_addr(ifc, "fd88::2", 64));
  assert_true(has_addr(ifc, "fe80::11:22ff:fe33:4455", 64));
  assert_int_equal(ifc->n_addrs, 3);
  /* routes: not the proto-kernel connected ones */
  const struct podnet_route *r = find_route(ifc, "0.0.0.0/0");
  assert_non_null(r);
  assert_true(r->is_default);
  assert_string_equal(r->gateway, "10.88.0.1");
  assert_int_equal(r->family, AF_INET);
  assert_int_equal(r->scope, 0);  /* RT_SCOPE_UNIVERSE */
  r = find_route(ifc, "192.168.50.0/24");
  assert_non_null(r);
  assert_string_equal(r->gateway, "10.88.0.1");
  assert_string_equal(r->source, "10.88.0.2");
  r = find_route(ifc, "172.16.0.0/16");
  assert_non_null(r);
  assert_int_equal(r->flags, 4);  /* RTNH_F_ONLINK, in rtm_flags as vishvananda/netlink reads it */
  assert_int_equal(r->mtu, 1300);
  assert_int_equal(r->protocol, 3);  /* RTPROT_BOOT, what ip(8) and CNI's netlink.RouteAdd use */
  r = find_route(ifc, "::/0");
  assert_non_null(r);
  assert_string_equal(r->gateway, "fd88::1");
  assert_int_equal(r->family, AF_INET6);
  assert_null(find_route(ifc, "10.88.0.0/16"));
  assert_null(find_route(ifc, "fd88::/64"));
  assert_null(find_route(ifc, "fe80::/64"));
  assert_int_equal(ifc->n_routes, 4);
  /* neighbours: the permanent one and the reachable default gateway, not the stale one */
  const struct podnet_neigh *n = find_neigh(ifc, "10.88.0.99");
  assert_non_null(n);
  assert_string_equal(n->lladdr, "02:00:00:00:00:99");
  assert_int_equal(n->state, 0x80);  /* NUD_PERMANENT */
  n = find_neigh(ifc, "10.88.0.1");
  assert_non_null(n);
  assert_string_equal(n->lladdr, "02:00:00:00:00:01");
  assert_int_equal(n->state, 0x02);  /* NUD_REACHABLE */
  assert_null(find_neigh(ifc, "10.88.0.50"));
  assert_int_equal(ifc->n_neighs, 2);

  /* the agent requests: field for field kata's generateVCNetworkStructures */
  struct podnet_kata_requests req;
  assert_int_equal(podnet_kata_requests(&scan, &req, &err), 0);
  assert_int_equal(req.n_interfaces, 1);
  Types__Interface *i = req.interfaces[0]->interface;
  assert_string_equal(i->name, "eth0");
  assert_string_equal(i->device, "eth0");
  assert_string_equal(i->hwaddr, POD_MAC);
  assert_int_equal(i->mtu, POD_MTU);
  assert_string_equal(i->type, "virtual");
  assert_string_equal(i->devicepath, "");
  assert_int_equal(i->raw_flags, 0);
  assert_int_equal(i->n_ipaddresses, 3);
  assert_non_null(req.routes);
  assert_int_equal(req.routes->routes->n_routes, 4);
  assert_non_null(req.neighbors);
  assert_int_equal(req.neighbors->neighbors->n_arpneighbors, 2);
  /* it serializes: what the shim puts on the wire */
  size_t len = grpc__update_interface_request__get_packed_size(req.interfaces[0]);
  assert_true(len > 0 && len < 1024);
  podnet_kata_requests_clear(&req);
  podnet_scan_clear(&scan);
}

/* Open an AF_PACKET socket bound to `ifname` in the thread's netns. */
struct packet_sock {
  const char *ifname;
  int fd;
  unsigned char mac[6];
  int ifindex;
};

static int open_packet_sock(void *arg)
{
  struct packet_sock *p = arg;
  p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (p->fd < 0)
    return -1;
  struct ifreq ifr = { 0 };
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
  if (ioctl(p->fd, SIOCGIFINDEX, &ifr) < 0)
    return -1;
  p->ifindex = ifr.ifr_ifindex;
  if (ioctl(p->fd, SIOCGIFHWADDR, &ifr) < 0)
    return -1;
  memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = p->ifindex };
  return bind(p->fd, (struct sockaddr *)&sll, sizeof(sll));
}

static size_t make_frame(unsigned char *buf, const unsigned char dst[6], const unsigned char src[6],
                         const char *payload)
{
  memcpy(buf, dst, 6);
  memcpy(buf + 6, src, 6);
  buf[12] = TEST_ETHERTYPE >> 8;
  buf[13] = TEST_ETHERTYPE & 0xff;
  size_t n = strlen(payload);
  memcpy(buf + 14, payload, n);
  return 14 + n < 60 ? 60 : 14 + n;  /* padded to the Ethernet minimum */
}

static bool is_test_frame(const unsigned char *f, size_t n, const char *payload)
{
  size_t pl = strlen(payload);
  return n >= 14 + pl && f[12] == (TEST_ETHERTYPE >> 8) && f[13] == (TEST_ETHERTYPE & 0xff) &&
         memcmp(f + 14, payload, pl) == 0;
}

/* Read frames from fd (skipping `skip` header bytes) until match() or a bounded wait ends. */
static bool read_until(int fd, size_t skip, bool (*match)(const unsigned char *, size_t, const void *),
                       const void *arg)
{
  unsigned char buf[2048];
  for (int i = 0; i < 200; i++) {  /* at most 200 frames or 200 * 50 ms */
    struct pollfd pfd = { fd, POLLIN, 0 };
    if (poll(&pfd, 1, 50) <= 0)
      continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > (ssize_t)skip && match(buf + skip, (size_t)n - skip, arg))
      return true;
  }
  return false;
}

static bool match_payload(const unsigned char *f, size_t n, const void *arg)
{
  return is_test_frame(f, n, arg);
}

/* an ARP request "who has 10.88.0.2" */
static bool match_arp_who_has_pod(const unsigned char *f, size_t n, const void *arg)
{
  (void)arg;
  static const unsigned char pod_ip[4] = { 10, 88, 0, 2 };
  return n >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[20] == 0 && f[21] == 1 && memcmp(f + 38, pod_ip, 4) == 0;
}

/* Frames pass both ways: tap fd -> eth0 -> the peer on the bridge, and the peer -> eth0 -> the
 * tap fd (an injected frame, and the ARP of a real ping of the pod IP). */
static void check_traffic(int tap_fd)
{
  struct packet_sock peer = { .ifname = "vethh0", .fd = -1 };
  assert_int_equal(in_ns(fx.host_path, open_packet_sock, &peer), 0);
  cleanup_close int pfd = peer.fd;
  static const unsigned char bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
  static const unsigned char pod_mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
  unsigned char buf[sizeof(struct virtio_net_hdr) + 128] = { 0 };

  /* guest -> network: the tap fd takes a virtio-net header, then the frame */
  size_t n = make_frame(buf + sizeof(struct virtio_net_hdr), bcast, pod_mac, "veil-podnet: from the guest");
  assert_int_equal(write(tap_fd, buf, sizeof(struct virtio_net_hdr) + n),
                   (ssize_t)(sizeof(struct virtio_net_hdr) + n));
  assert_true(read_until(pfd, 0, match_payload, "veil-podnet: from the guest"));

  /* network -> guest */
  unsigned char frame[128] = { 0 };
  n = make_frame(frame, pod_mac, peer.mac, "veil-podnet: to the guest");
  assert_int_equal(write(pfd, frame, n), (ssize_t)n);
  assert_true(read_until(tap_fd, sizeof(struct virtio_net_hdr), match_payload, "veil-podnet: to the guest"));

  /* a ping of the pod IP from the host side: its ARP request reaches the tap, not eth0's stack */
  pid_t ping = fork();
  assert_true(ping >= 0);
  if (ping == 0) {
    char net[160];
    snprintf(net, sizeof(net), "--net=%s", fx.host_path);
    execlp("nsenter", "nsenter", net, "busybox", "ping", "-c", "1", "-W", "2", "10.88.0.2", (char *)NULL);
    _exit(127);
  }
  bool seen = read_until(tap_fd, sizeof(struct virtio_net_hdr), match_arp_who_has_pod, NULL);
  int st;
  waitpid(ping, &st, 0);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 127);  /* ping ran (and got no answer: no guest) */
  assert_true(seen);
}

static void assert_clean(void)
{
  char out[8192];
  netns_state(fx.pod_path, out, sizeof(out));
  assert_null(strstr(out, "_veil"));
  assert_null(strstr(out, "ingress"));
  assert_null(strstr(out, "mirred"));
  assert_non_null(strstr(out, "eth0"));
}

static void test_attach_traffic_detach(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  if (podnet_scan(fx.pod_path, &scan, &err) < 0)
    fail_msg("scan: %s", err->msg);
  if (podnet_attach(fx.pod_path, &scan, &current_att, &err) < 0)
    fail_msg("attach: %s", err->msg);
  podnet_scan_clear(&scan);
  struct podnet_tap *t = &current_att.taps[0];
  assert_int_equal(current_att.n_taps, 1);
  assert_string_equal(t->tap, "tap0_veil");
  assert_string_equal(t->veth, "eth0");
  assert_string_equal(t->mac, POD_MAC);
  assert_int_equal(t->mtu, POD_MTU);
  assert_true(t->fd >= 0);
  assert_true(fcntl(t->fd, F_GETFD) & FD_CLOEXEC);

  /* read back: the tap (not persistent, vnet_hdr, MTU, up), both qdiscs, both filters */
  char out[8192];
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s ip -d link show tap0_veil", fx.pod_path), 0);
  assert_non_null(strstr(out, "tun type tap"));
  assert_non_null(strstr(out, "vnet_hdr on"));
  assert_non_null(strstr(out, "persist off"));
  assert_non_null(strstr(out, "mtu 1400"));
  assert_non_null(strstr(out, ",UP"));
  assert_null(strstr(out, POD_MAC));  /* the tap keeps its own MAC, as in Kata */
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s tc qdisc show dev eth0", fx.pod_path), 0);
  assert_non_null(strstr(out, "qdisc ingress ffff:"));
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s tc qdisc show dev tap0_veil", fx.pod_path), 0);
  assert_non_null(strstr(out, "qdisc ingress ffff:"));
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s tc -s filter show dev eth0 ingress", fx.pod_path), 0);
  assert_non_null(strstr(out, "protocol all pref 49152 u32"));
  assert_non_null(strstr(out, "match 00000000/00000000 at 0"));
  assert_non_null(strstr(out, "mirred (Egress Redirect to device tap0_veil) stolen"));
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s tc -s filter show dev tap0_veil ingress", fx.pod_path), 0);
  assert_non_null(strstr(out, "mirred (Egress Redirect to device eth0) stolen"));

  check_traffic(t->fd);

  /* the counters moved: the frames really went through the filters */
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s tc -s filter show dev tap0_veil ingress", fx.pod_path), 0);
  assert_null(strstr(out, "Sent 0 bytes 0 pkt"));

  if (podnet_detach(fx.pod_path, &current_att, &err) < 0)
    fail_msg("detach: %s", err->msg);
  assert_int_equal(t->fd, -1);
  assert_clean();
  /* idempotent */
  assert_int_equal(podnet_detach(fx.pod_path, &current_att, &err), 0);
  assert_clean();
}

/* The VMM died: the last fd of the (non-persistent) tap closed, the tap went with it; detach
 * still removes the veth's qdisc and filter. */
static void test_detach_after_vmm_died(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  assert_int_equal(podnet_scan(fx.pod_path, &scan, &err), 0);
  assert_int_equal(podnet_attach(fx.pod_path, &scan, &current_att, &err), 0);
  podnet_scan_clear(&scan);
  podnet_attachment_close_fds(&current_att);  /* what QEMU's exit amounts to */
  assert_true(wait_for(fx.pod_path, "sh -c 'ip link show tap0_veil || echo gone'", "gone"));
  char out[8192];
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s tc qdisc show dev eth0", fx.pod_path), 0);
  assert_non_null(strstr(out, "ingress"));
  assert_int_equal(podnet_detach(fx.pod_path, &current_att, &err), 0);
  assert_clean();
}

/* Two veths (e.g. Multus) give two taps; a pre-existing veth `tap1_veil` makes the second pair fail:
 * a clear error, the first pair undone, the foreign interface untouched. */
static void test_attach_fails_half_way(void **state)
{
  (void)state;
  assert_int_equal(add_pod_veth(&fx, "net1", "vethh1"), 0);
  assert_int_equal(sh("nsenter --net=%s sh -ec 'ip addr add 10.89.0.2/16 dev net1; ip link set net1 up; "
                      "ip link add tap1_veil type veth peer name tap1peer'", fx.pod_path), 0);
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  if (podnet_scan(fx.pod_path, &scan, &err) < 0)
    fail_msg("scan: %s", err->msg);
  assert_int_equal(scan.n_ifaces, 2);
  assert_string_equal(scan.ifaces[0].name, "eth0");
  assert_string_equal(scan.ifaces[1].name, "net1");
  struct podnet_attachment att;
  assert_int_equal(podnet_attach(fx.pod_path, &scan, &att, &err), -1);
  podnet_scan_clear(&scan);
  fprintf(stderr, "# error: %s\n", err->msg);
  assert_non_null(strstr(err->msg, "`tap1_veil` (veth) already exists"));
  assert_int_equal(att.taps[0].fd, -1);
  assert_int_equal(att.taps[1].fd, -1);
  char out[8192];
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s sh -c 'ip -o link show; tc qdisc show'",
                          fx.pod_path), 0);
  assert_null(strstr(out, "tap0_veil"));
  assert_non_null(strstr(out, "tap1_veil"));  /* not ours: left alone */
  assert_null(strstr(out, "ingress"));
}

/* An ingress qdisc someone else put on the veth: refused, and the rollback keeps it. */
static void test_attach_refuses_foreign_ingress(void **state)
{
  (void)state;
  assert_int_equal(sh("nsenter --net=%s tc qdisc add dev eth0 ingress", fx.pod_path), 0);
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  assert_int_equal(podnet_scan(fx.pod_path, &scan, &err), 0);
  struct podnet_attachment att;
  assert_int_equal(podnet_attach(fx.pod_path, &scan, &att, &err), -1);
  podnet_scan_clear(&scan);
  assert_non_null(strstr(err->msg, "`eth0` already has an ingress qdisc"));
  char out[8192];
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s sh -c 'ip -o link show; tc qdisc show dev eth0'",
                          fx.pod_path), 0);
  assert_null(strstr(out, "tap0_veil"));
  assert_non_null(strstr(out, "ingress"));
}

static void test_missing_netns(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  char path[256];
  snprintf(path, sizeof(path), "/run/netns/veil-pn-%d-missing", (int)getpid());
  assert_int_equal(podnet_scan(path, &scan, &err), -1);
  assert_int_equal(err->status, ENOENT);
  assert_non_null(strstr(err->msg, path));
  assert_non_null(strstr(err->msg, "does not exist"));
  assert_int_equal(scan.n_ifaces, 0);
  veil_error_release(&err);
  /* a file that is not a netns */
  assert_int_equal(podnet_scan("/proc/self/status", &scan, &err), -1);
  assert_non_null(strstr(err->msg, "is not a network namespace"));
  veil_error_release(&err);
  assert_int_equal(podnet_scan("relative/path", &scan, &err), -1);
  assert_non_null(strstr(err->msg, "not absolute"));
  veil_error_release(&err);
  /* detach of a netns that is gone: nothing to do */
  struct podnet_attachment att = { .n_taps = 1 };
  att.taps[0] = (struct podnet_tap){ .veth = "eth0", .tap = "tap0_veil", .fd = -1, .tap_made = true };
  assert_int_equal(podnet_detach(path, &att, &err), 0);
}

/* A netns whose CNI left a bridge (with the pod address) instead of a veth. */
static void test_bridge_instead_of_veth(void **state)
{
  (void)state;
  assert_int_equal(sh("nsenter --net=%s sh -ec 'ip link set lo up; ip link add br0 type bridge; "
                      "ip addr add 10.99.0.2/24 dev br0; ip link set br0 up; "
                      "ip link add quiet0 type bridge'", fx.pod_path), 0);  /* no address: skipped */
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  assert_int_equal(podnet_scan(fx.pod_path, &scan, &err), -1);
  fprintf(stderr, "# error: %s\n", err->msg);
  assert_non_null(strstr(err->msg, "the tcfilter model can only attach veth interfaces; `br0` is a bridge"));
  assert_non_null(strstr(err->msg, fx.pod_path));
  assert_int_equal(err->status, EOPNOTSUPP);
}

/* A netns with only lo: nothing to attach, and attach/detach of nothing work. */
static void test_only_loopback(void **state)
{
  (void)state;
  assert_int_equal(sh("nsenter --net=%s ip link set lo up", fx.pod_path), 0);
  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  assert_int_equal(podnet_scan(fx.pod_path, &scan, &err), 0);
  assert_int_equal(scan.n_ifaces, 0);
  assert_int_equal(podnet_attach(fx.pod_path, &scan, &current_att, &err), 0);
  assert_int_equal(current_att.n_taps, 0);
  struct podnet_kata_requests req;
  assert_int_equal(podnet_kata_requests(&scan, &req, &err), 0);
  assert_int_equal(req.n_interfaces, 0);
  assert_null(req.routes);     /* kata sends no UpdateRoutes */
  assert_null(req.neighbors);  /* nor AddARPNeighbors */
  podnet_kata_requests_clear(&req);
  podnet_scan_clear(&scan);
  assert_int_equal(podnet_detach(fx.pod_path, &current_att, &err), 0);
}

/* libvirt backend: a tap made in another netns (libvirtd's, here a test netns) is moved into
 * the pod netns, renamed and connected; frames pass; detach removes it. */
struct host_tap {
  char name[IFNAMSIZ];
  int fd;
};

static int make_host_tap(void *arg)
{
  struct host_tap *h = arg;
  h->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", h->name);
  return h->fd >= 0 ? ioctl(h->fd, TUNSETIFF, &ifr) : -1;
}

static void test_adopt_libvirt_tap(void **state)
{
  (void)state;
  assert_int_equal(sh("ip netns add %s", fx.spare), 0);
  struct host_tap h = { .fd = -1 };
  podnet_host_tap_name("sandbox-1234", 0, h.name);
  assert_int_equal(strlen(h.name), 15);
  assert_memory_equal(h.name, "veil", 4);
  char other[IFNAMSIZ];
  podnet_host_tap_name("sandbox-1235", 0, other);
  assert_string_not_equal(h.name, other);
  assert_int_equal(in_ns(fx.spare_path, make_host_tap, &h), 0);
  cleanup_close int fd = h.fd;  /* QEMU's fd, in the libvirt case */

  cleanup_error veil_error_t err = NULL;
  struct podnet_scan scan;
  assert_int_equal(podnet_scan(fx.pod_path, &scan, &err), 0);
  const char *names[] = { h.name };
  if (podnet_adopt(fx.pod_path, &scan, fx.spare_path, names, &current_att, &err) < 0)
    fail_msg("adopt: %s", err->msg);
  podnet_scan_clear(&scan);
  assert_int_equal(current_att.taps[0].fd, -1);
  char out[8192];
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s ip -o link show", fx.spare_path), 0);
  assert_null(strstr(out, h.name));
  assert_int_equal(sh_out(out, sizeof(out), "nsenter --net=%s tc filter show dev eth0 ingress", fx.pod_path), 0);
  assert_non_null(strstr(out, "Redirect to device tap0_veil"));
  check_traffic(fd);
  assert_int_equal(podnet_detach(fx.pod_path, &current_att, &err), 0);
  assert_clean();

  /* a host tap that does not exist: clear error, nothing left */
  assert_int_equal(podnet_scan(fx.pod_path, &scan, &err), 0);
  struct podnet_attachment att;
  const char *missing[] = { "veilnosuchtap0" };
  assert_int_equal(podnet_adopt(fx.pod_path, &scan, fx.spare_path, missing, &att, &err), -1);
  podnet_scan_clear(&scan);
  assert_non_null(strstr(err->msg, "host tap `veilnosuchtap0` does not exist"));
  assert_clean();
}

int main(void)
{
  if (geteuid() != 0) {
    fprintf(stderr, "podnet tests need root (network namespaces, taps, tc)\n");
    return 1;
  }
  if (sh("command -v busybox >/dev/null && command -v tc >/dev/null && command -v nsenter >/dev/null") != 0) {
    fprintf(stderr, "podnet tests need busybox (busybox-static), tc and ip (iproute2), nsenter (util-linux)\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_scan_cni_netns, setup_cni, teardown),
    cmocka_unit_test_setup_teardown(test_attach_traffic_detach, setup_cni, teardown),
    cmocka_unit_test_setup_teardown(test_detach_after_vmm_died, setup_cni, teardown),
    cmocka_unit_test_setup_teardown(test_attach_fails_half_way, setup_cni, teardown),
    cmocka_unit_test_setup_teardown(test_attach_refuses_foreign_ingress, setup_cni, teardown),
    cmocka_unit_test_setup_teardown(test_missing_netns, setup_empty, teardown),
    cmocka_unit_test_setup_teardown(test_bridge_instead_of_veth, setup_empty, teardown),
    cmocka_unit_test_setup_teardown(test_only_loopback, setup_empty, teardown),
    cmocka_unit_test_setup_teardown(test_adopt_libvirt_tap, setup_cni, teardown),
  };
  return cmocka_run_group_tests_name("podnet-netns", tests, NULL, NULL);
}
