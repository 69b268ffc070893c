/* The pod's network in the shim: the pod netns CNI configured (the sandbox spec's network
 * namespace path, or the Sandbox API's netns_path) is scanned, each veth gets a tap with tc
 * mirred redirects (podnet/), the VM gets one virtio-net NIC per tap with the veth's MAC, and
 * the agent is told the interfaces, routes and neighbours in Kata's order before
 * CreateSandbox. A spec without a netns path (ctr run, host-network pods) has no NIC. */
#ifndef VEIL_SHIM_POD_NETWORK_H
#define VEIL_SHIM_POD_NETWORK_H

#include <jansson.h>
#include <stdbool.h>

#include "common/error.h"
#include "hypervisor/config.h"
#include "hypervisor/vm.h"
#include "podnet/podnet.h"

struct shim;

struct shim_pod_network {
  char *netns_path;                   /* NULL: no pod netns to attach */
  struct podnet_scan scan;
  struct podnet_attachment att;       /* what exists on the host, for the teardown */
  bool libvirt;                       /* taps made by libvirtd, adopted after the start */
  struct veil_vm_nic nics[PODNET_MAX_IFACES]; /* one per scan.ifaces[i] */
  char host_taps[PODNET_MAX_IFACES][IFNAMSIZ];
};

/* The network namespace path of an OCI spec (linux.namespaces[type=network].path), NULL when
 * it has none or an empty one. Points into spec. */
const char *shim_spec_netns_path(const json_t *spec);

/* Before the VM starts: scan netns_path (NULL/"" = no network) and, for QEMU, create the taps
 * and redirects; fill pn->nics. On failure nothing is left on the host. */
int shim_pod_network_prepare(struct shim_pod_network *pn, const char *netns_path,
                             const struct veil_config *config, const char *sandbox_id,
                             veil_error_t *err);
/* After veil_vm_start (whatever it returned): QEMU holds its copies of the tap fds. */
void shim_pod_network_started(struct shim_pod_network *pn);
/* After the VM started: libvirt's taps are moved into the pod netns and connected. */
int shim_pod_network_adopt(struct shim_pod_network *pn, veil_error_t *err);
/* UpdateInterface per NIC, UpdateRoutes, AddARPNeighbors (kata's setupNetworks). */
int shim_pod_network_configure_guest(struct shim *s, struct shim_pod_network *pn,
                                     veil_error_t *err);
/* Remove the taps, qdiscs and filters made; idempotent, fine after the VM or netns went. */
void shim_pod_network_teardown(struct shim_pod_network *pn, const char *sandbox_id);

#endif
