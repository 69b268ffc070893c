/* The pod's network in the shim (pod_network.h; the model: docs/network.md). */
#include "shim/pod_network.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent_client/agent_client.h"
#include "common/log.h"
#include "podnet/kata_requests.h"
#include "shim/shim.h"

const char *shim_spec_netns_path(const json_t *spec)
{
  size_t i;
  json_t *ns;
  json_array_foreach(json_object_get(json_object_get(spec, "linux"), "namespaces"), i, ns) {
    const char *type = json_string_value(json_object_get(ns, "type"));
    const char *path = json_string_value(json_object_get(ns, "path"));
    if (type && strcmp(type, "network") == 0)
      return path && path[0] ? path : NULL;
  }
  return NULL;
}

int shim_pod_network_prepare(struct shim_pod_network *pn, const char *netns_path,
                             const struct veil_config *config, const char *sandbox_id,
                             veil_error_t *err)
{
  if (netns_path == NULL || netns_path[0] == '\0')
    return 0;
  if ((pn->netns_path = strdup(netns_path)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (podnet_scan(netns_path, &pn->scan, err) < 0)
    goto fail;
  pn->libvirt = config->backend && strcmp(config->backend, "libvirt") == 0;
  if (!pn->libvirt && podnet_attach(netns_path, &pn->scan, &pn->att, err) < 0)
    goto fail;
  for (size_t i = 0; i < pn->scan.n_ifaces; i++) {
    struct veil_vm_nic *nic = &pn->nics[i];
    nic->mac = pn->scan.ifaces[i].mac;
    nic->mtu = pn->scan.ifaces[i].mtu;
    nic->tap_fd = -1;
    if (pn->libvirt) {
      podnet_host_tap_name(sandbox_id, (unsigned)i, pn->host_taps[i]);
      nic->host_tap = pn->host_taps[i];
    } else {
      nic->tap_fd = pn->att.taps[i].fd;
    }
  }
  log_info("sandbox %s: pod network %s: %zu interface(s)", sandbox_id, netns_path, pn->scan.n_ifaces);
  return 0;

fail:
  veil_error_wrap_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "the pod's network namespace `%s`",
                       netns_path);
  shim_pod_network_teardown(pn, sandbox_id);
  return -1;
}

void shim_pod_network_started(struct shim_pod_network *pn)
{
  podnet_attachment_close_fds(&pn->att);
  for (size_t i = 0; i < pn->scan.n_ifaces; i++)
    pn->nics[i].tap_fd = -1;
}

int shim_pod_network_adopt(struct shim_pod_network *pn, veil_error_t *err)
{
  if (!pn->libvirt || pn->scan.n_ifaces == 0)
    return 0;
  const char *taps[PODNET_MAX_IFACES];
  for (size_t i = 0; i < pn->scan.n_ifaces; i++)
    taps[i] = pn->host_taps[i];
  if (podnet_adopt(pn->netns_path, &pn->scan, NULL, taps, &pn->att, err) < 0)
    return veil_error_wrap(err, "connect libvirt's taps to the pod's network `%s`", pn->netns_path);
  return 0;
}

int shim_pod_network_configure_guest(struct shim *s, struct shim_pod_network *pn,
                                     veil_error_t *err)
{
  if (pn->scan.n_ifaces == 0)
    return 0;
  struct podnet_kata_requests req = {0};
  int r = -1;
  if (podnet_kata_requests(&pn->scan, &req, err) < 0)
    goto out;
  for (size_t i = 0; i < req.n_interfaces; i++) {
    Types__Interface *iface = NULL;
    if (SHIM_AGENT_CALL(s, err, veil_agent_update_interface, req.interfaces[i], &iface) < 0) {
      veil_error_wrap(err, "the guest interface of %s (%s)", pn->scan.ifaces[i].name,
                      pn->scan.ifaces[i].mac);
      goto out;
    }
    protobuf_c_message_free_unpacked(&iface->base, NULL);
  }
  if (req.routes) {
    Grpc__Routes *routes = NULL;
    if (SHIM_AGENT_CALL(s, err, veil_agent_update_routes, req.routes, &routes) < 0) {
      veil_error_wrap(err, "the pod's routes");
      goto out;
    }
    protobuf_c_message_free_unpacked(&routes->base, NULL);
  }
  if (req.neighbors &&
      SHIM_AGENT_CALL(s, err, veil_agent_add_arp_neighbors, req.neighbors) < 0) {
    veil_error_wrap(err, "the pod's neighbours");
    goto out;
  }
  r = 0;
out:
  podnet_kata_requests_clear(&req);
  return r;
}

void shim_pod_network_teardown(struct shim_pod_network *pn, const char *sandbox_id)
{
  if (pn->netns_path) {
    cleanup_error veil_error_t err = NULL;
    if (podnet_detach(pn->netns_path, &pn->att, &err) < 0)
      log_warn("sandbox %s: pod network: %s", sandbox_id ? sandbox_id : "?", err->msg);
  }
  podnet_scan_clear(&pn->scan);
  free(pn->netns_path);
  memset(pn, 0, sizeof(*pn));
}
