/* podnet/: the host side of pod networking, Kata's `tcfilter` model (docs/network.md).
 *
 * containerd creates the pod netns and runs CNI before the sandbox starts. The shim then:
 *
 *   struct podnet_scan scan;           podnet_scan(netns, &scan, &err)
 *   struct podnet_attachment att;      podnet_attach(netns, &scan, &att, &err)     (QEMU backend)
 *   spec.nics[i] = { .tap_fd = att.taps[i].fd, .mac = att.taps[i].mac, .mtu = att.taps[i].mtu }
 *   veil_vm_start(&spec, ...);         podnet_attachment_close_fds(&att)  (QEMU holds its copies)
 *   podnet_kata_requests(&scan, &req)  -> UpdateInterface each, UpdateRoutes, AddARPNeighbors
 *   ...                                podnet_detach(netns, &att, &err)   (also after a failed start)
 *
 * libvirt backend (libvirt 9.0 cannot take a tap fd for a QEMU domain): the tap is created by
 * libvirt in the host netns under a name from podnet_host_tap_name(), and moved into the pod
 * netns after the domain started by podnet_adopt(), which then does what podnet_attach does.
 *
 * All netlink goes through libnl-route-3. Every function that touches a netns runs its work on a
 * dedicated, short-lived thread that setns()es into it and exits: the calling thread's netns
 * never changes (a fork would do too, but in the multi-threaded shim a child may only call
 * async-signal-safe functions, and the tap fds would have to travel back over SCM_RIGHTS).
 * Everything read from the kernel is bounded (PODNET_MAX_*); more is an error, not a truncation. */
#ifndef VEIL_PODNET_PODNET_H
#define VEIL_PODNET_PODNET_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define PODNET_MAX_IFACES 8      /* veths per pod netns */
#define PODNET_MAX_ADDRS 32      /* addresses per veth */
#define PODNET_MAX_ROUTES 128    /* kept routes per veth */
#define PODNET_MAX_NEIGHS 128    /* kept neighbours per veth */
#define PODNET_IP_LEN 46         /* INET6_ADDRSTRLEN */
#define PODNET_MAC_LEN 18        /* "aa:bb:cc:dd:ee:ff" + NUL */

struct podnet_addr {
  int family;                    /* AF_INET / AF_INET6 */
  char ip[PODNET_IP_LEN];        /* inet_ntop form */
  unsigned prefixlen;
};

struct podnet_route {            /* main table, not RTPROT_KERNEL, one next hop via this veth */
  int family;
  char dest[PODNET_IP_LEN + 4];  /* "10.88.0.0/16"; a default route is "0.0.0.0/0" / "::/0" */
  bool is_default;               /* prefix length 0 */
  char gateway[PODNET_IP_LEN];   /* "" = none */
  char source[PODNET_IP_LEN];    /* RTA_PREFSRC, "" = none */
  unsigned scope, flags, mtu, protocol; /* rtm_scope, rtm_flags, RTAX_MTU (0 = none), rtm_protocol */
};

struct podnet_neigh {            /* NUD_PERMANENT, or the NUD_REACHABLE default gateway */
  int family;
  char ip[PODNET_IP_LEN];
  char lladdr[PODNET_MAC_LEN];
  unsigned state, flags;         /* ndm_state, ndm_flags */
};

struct podnet_iface {            /* one veth of the pod netns */
  char name[IFNAMSIZ];
  int ifindex;
  char mac[PODNET_MAC_LEN];      /* lower-case, colon-separated */
  unsigned mtu;
  unsigned flags;                /* ifi_flags (IFF_*) */
  struct podnet_addr *addrs;     /* loopback addresses skipped */
  size_t n_addrs;
  struct podnet_route *routes;
  size_t n_routes;
  struct podnet_neigh *neighs;
  size_t n_neighs;
};

struct podnet_scan {
  struct podnet_iface *ifaces;   /* sorted by name (as Kata sorts its endpoints) */
  size_t n_ifaces;               /* 0: nothing to attach (e.g. only lo) */
};

/* Enter netns_path (e.g. /run/netns/cni-…, /proc/PID/ns/net) and list its interfaces. Kept: every
 * veth that has an address (Kata skips unconfigured links, such as the fallback tunnel devices
 * some kernels put in every netns); lo is skipped. Any other configured interface fails with an
 * error naming it and its type. A path that does not exist or is not a netns fails too. */
int podnet_scan(const char *netns_path, struct podnet_scan *out, veil_error_t *err);
void podnet_scan_clear(struct podnet_scan *scan);

struct podnet_tap {              /* one veth <-> tap pair */
  char veth[IFNAMSIZ];
  char tap[IFNAMSIZ];            /* "tap<i>_veil" in the pod netns */
  int fd;                        /* the tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, O_CLOEXEC), -1 = none */
  char mac[PODNET_MAC_LEN];      /* the guest NIC's MAC: the veth's */
  unsigned mtu;                  /* the veth's MTU, also set on the tap */
  /* what exists, so that detach and a failed attach remove exactly what was made */
  bool tap_made, veth_qdisc_made, tap_qdisc_made, veth_filter_made, tap_filter_made;
};

struct podnet_attachment {
  struct podnet_tap taps[PODNET_MAX_IFACES];
  size_t n_taps;                 /* = scan->n_ifaces, same order */
};

/* For each veth of the scan, in the pod netns: create tap<i>_veil (not persistent: it lives as
 * long as an fd to it is open, so it goes with QEMU), MTU = the veth's, up; an ingress qdisc on
 * the veth and the tap; two u32 match-all filters with `mirred egress redirect` (TC_ACT_STOLEN),
 * veth -> tap and tap -> veth. The tap keeps its kernel-chosen MAC, as in Kata; the veth's MAC is
 * for the guest NIC. On failure nothing is left and *out holds no fd. */
int podnet_attach(const char *netns_path, const struct podnet_scan *scan, struct podnet_attachment *out,
                  veil_error_t *err);

/* libvirt backend: the host-netns tap name for NIC `index` of sandbox `sandbox_id`
 * ("veil" + 10 hex digits of SHA-256(id) + index digit). */
void podnet_host_tap_name(const char *sandbox_id, unsigned index, char out[IFNAMSIZ]);
/* Move host_taps[i] (one per scan interface) from host_netns (libvirtd's; NULL = the caller's)
 * into the pod netns, rename it tap<i>_veil and connect it as podnet_attach does;
 * out->taps[i].fd stays -1. On failure the moved taps are deleted (the VM loses its NICs: stop
 * it) and the veths are left as they were. */
int podnet_adopt(const char *netns_path, const struct podnet_scan *scan, const char *host_netns,
                 const char *const *host_taps, struct podnet_attachment *out, veil_error_t *err);

/* Close the shim's tap fds (after veil_vm_start, whatever it returned). */
void podnet_attachment_close_fds(struct podnet_attachment *att);

/* Remove the taps (with their qdiscs and filters) and the ingress qdiscs attach made on the
 * veths. Idempotent; fine after the VMM died (its taps are gone already) and after the netns was
 * deleted (nothing to do). Closes fds still open. */
int podnet_detach(const char *netns_path, struct podnet_attachment *att, veil_error_t *err);

/* `veil check`: can this host create a tap and redirect between two devices with tc ingress +
 * u32 + mirred? Probed in a throwaway netns (unshare on a dedicated thread) that vanishes with
 * the thread. why/todo are "" when usable. */
struct podnet_probe {
  bool tap;                      /* /dev/net/tun + TUNSETIFF */
  bool tc;                       /* ingress qdisc + u32 filter + mirred action */
  char why[256];
  char todo[256];
};
void podnet_probe_host(struct podnet_probe *out);

#endif
