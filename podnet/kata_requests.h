/* The Kata agent's network requests for a podnet scan: field for field what kata's runtime sends
 * for the same netns (network.go generateVCNetworkStructures; kata_agent.go setupNetworks sends
 * UpdateInterface per NIC, then one UpdateRoutes, then one AddARPNeighbors). The mapping, with
 * kata file:line, is in docs/network.md. */
#ifndef VEIL_PODNET_KATA_REQUESTS_H
#define VEIL_PODNET_KATA_REQUESTS_H

#include "agent.pb-c.h"
#include "common/error.h"
#include "podnet/podnet.h"

struct podnet_kata_requests {
  Grpc__UpdateInterfaceRequest **interfaces; /* one per scan interface, same order */
  size_t n_interfaces;
  Grpc__UpdateRoutesRequest *routes;         /* NULL: no route, kata sends no UpdateRoutes */
  Grpc__AddARPNeighborsRequest *neighbors;   /* NULL: no neighbour, kata sends no AddARPNeighbors */
};

/* Every message and string is malloc'd (protobuf-c's free_unpacked frees them). */
int podnet_kata_requests(const struct podnet_scan *scan, struct podnet_kata_requests *out, veil_error_t *err);
void podnet_kata_requests_clear(struct podnet_kata_requests *r);

#endif
