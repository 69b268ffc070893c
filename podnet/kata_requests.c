/* podnet_kata_requests: kata's generateVCNetworkStructures (src/runtime/virtcontainers/network.go
 * at 7c6ba40, L237-349) for a podnet scan. */
#include "podnet/kata_requests.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cleanup.h"

/* kata's VethEndpointType (endpoint.go L51): what the runtime puts in Interface.type for a veth */
#define KATA_VETH_ENDPOINT_TYPE "virtual"

static Types__IPFamily family_of(int af)
{
  return af == AF_INET6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;  /* utils.ConvertAddressFamily */
}

/* Every string field is a heap string, "" included, so free_unpacked can free them all. */
static bool dup_into(char **field, const char *value)
{
  return (*field = strdup(value ? value : "")) != NULL;
}

static Types__IPAddress *ip_address(int af, const char *ip, const char *mask)
{
  Types__IPAddress *a = malloc(sizeof(*a));
  if (a == NULL)
    return NULL;
  types__ipaddress__init(a);
  a->family = family_of(af);
  a->address = a->mask = NULL;
  if (!dup_into(&a->address, ip) || !dup_into(&a->mask, mask)) {
    types__ipaddress__free_unpacked(a, NULL);
    return NULL;
  }
  return a;
}

static Grpc__UpdateInterfaceRequest *interface_request(const struct podnet_iface *ifc)
{
  Grpc__UpdateInterfaceRequest *req = calloc(1, sizeof(*req));
  Types__Interface *i = calloc(1, sizeof(*i));
  if (req == NULL || i == NULL) {
    free(req);
    free(i);
    return NULL;
  }
  grpc__update_interface_request__init(req);
  types__interface__init(i);
  req->interface = i;
  i->device = i->name = i->hwaddr = i->devicepath = i->type = NULL;
  bool ok = dup_into(&i->device, ifc->name) && dup_into(&i->name, ifc->name) &&
            dup_into(&i->hwaddr, ifc->mac) && dup_into(&i->devicepath, "") &&  /* cold-plugged: no PCI path */
            dup_into(&i->type, KATA_VETH_ENDPOINT_TYPE);
  i->mtu = ifc->mtu;
  i->raw_flags = ifc->flags & IFF_NOARP;
  if (ok && ifc->n_addrs > 0) {
    ok = (i->ipaddresses = calloc(ifc->n_addrs, sizeof(*i->ipaddresses))) != NULL;
    for (size_t k = 0; ok && k < ifc->n_addrs; k++) {
      char mask[8];
      snprintf(mask, sizeof(mask), "%u", ifc->addrs[k].prefixlen);
      ok = (i->ipaddresses[k] = ip_address(ifc->addrs[k].family, ifc->addrs[k].ip, mask)) != NULL;
      i->n_ipaddresses += ok;
    }
  }
  if (!ok) {
    grpc__update_interface_request__free_unpacked(req, NULL);
    return NULL;
  }
  return req;
}

static Types__Route *route(const struct podnet_iface *ifc, const struct podnet_route *r)
{
  Types__Route *p = malloc(sizeof(*p));
  if (p == NULL)
    return NULL;
  types__route__init(p);
  p->dest = p->gateway = p->device = p->source = NULL;
  if (!dup_into(&p->dest, r->dest) || !dup_into(&p->gateway, r->gateway) || !dup_into(&p->device, ifc->name) ||
      !dup_into(&p->source, r->source)) {
    types__route__free_unpacked(p, NULL);
    return NULL;
  }
  p->scope = r->scope;
  p->family = family_of(r->family);
  p->flags = r->flags;
  p->mtu = r->mtu;
  return p;
}

static Types__ARPNeighbor *neighbor(const struct podnet_iface *ifc, const struct podnet_neigh *n)
{
  Types__ARPNeighbor *p = malloc(sizeof(*p));
  if (p == NULL)
    return NULL;
  types__arpneighbor__init(p);
  p->device = p->lladdr = NULL;
  p->state = (int32_t)n->state;
  p->flags = (int32_t)n->flags;
  if (!dup_into(&p->device, ifc->name) || !dup_into(&p->lladdr, n->lladdr) ||
      (p->toipaddress = ip_address(n->family, n->ip, "")) == NULL) {
    types__arpneighbor__free_unpacked(p, NULL);
    return NULL;
  }
  return p;
}

static int build(const struct podnet_scan *scan, struct podnet_kata_requests *out)
{
  size_t n_routes = 0, n_neighs = 0;
  for (size_t i = 0; i < scan->n_ifaces; i++) {
    n_routes += scan->ifaces[i].n_routes;
    n_neighs += scan->ifaces[i].n_neighs;
  }
  if (scan->n_ifaces && !(out->interfaces = calloc(scan->n_ifaces, sizeof(*out->interfaces))))
    return -1;
  for (size_t i = 0; i < scan->n_ifaces; i++) {
    if ((out->interfaces[i] = interface_request(&scan->ifaces[i])) == NULL)
      return -1;
    out->n_interfaces++;
  }
  if (n_routes) {
    Grpc__UpdateRoutesRequest *req = out->routes = calloc(1, sizeof(*req));
    if (req == NULL)
      return -1;
    grpc__update_routes_request__init(req);
    Grpc__Routes *rs = req->routes = calloc(1, sizeof(*rs));
    if (rs == NULL)
      return -1;
    grpc__routes__init(rs);
    if ((rs->routes = calloc(n_routes, sizeof(*rs->routes))) == NULL)
      return -1;
    for (size_t i = 0; i < scan->n_ifaces; i++)
      for (size_t k = 0; k < scan->ifaces[i].n_routes; k++) {
        if ((rs->routes[rs->n_routes] = route(&scan->ifaces[i], &scan->ifaces[i].routes[k])) == NULL)
          return -1;
        rs->n_routes++;
      }
  }
  if (n_neighs) {
    Grpc__AddARPNeighborsRequest *req = out->neighbors = calloc(1, sizeof(*req));
    if (req == NULL)
      return -1;
    grpc__add_arpneighbors_request__init(req);
    Grpc__ARPNeighbors *ns = req->neighbors = calloc(1, sizeof(*ns));
    if (ns == NULL)
      return -1;
    grpc__arpneighbors__init(ns);
    if ((ns->arpneighbors = calloc(n_neighs, sizeof(*ns->arpneighbors))) == NULL)
      return -1;
    for (size_t i = 0; i < scan->n_ifaces; i++)
      for (size_t k = 0; k < scan->ifaces[i].n_neighs; k++) {
        if ((ns->arpneighbors[ns->n_arpneighbors] = neighbor(&scan->ifaces[i], &scan->ifaces[i].neighs[k])) == NULL)
          return -1;
        ns->n_arpneighbors++;
      }
  }
  return 0;
}

int podnet_kata_requests(const struct podnet_scan *scan, struct podnet_kata_requests *out, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  if (build(scan, out) < 0) {
    podnet_kata_requests_clear(out);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}

void podnet_kata_requests_clear(struct podnet_kata_requests *r)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n_interfaces; i++)
    grpc__update_interface_request__free_unpacked(r->interfaces[i], NULL);
  free(r->interfaces);
  if (r->routes)
    grpc__update_routes_request__free_unpacked(r->routes, NULL);
  if (r->neighbors)
    grpc__add_arpneighbors_request__free_unpacked(r->neighbors, NULL);
  memset(r, 0, sizeof(*r));
}
