/* podnet_kata_requests on a fixed scan: every field of UpdateInterface, UpdateRoutes and
 * AddARPNeighbors as kata's generateVCNetworkStructures (network.go L237-349) fills it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <net/if.h>
#include <string.h>
#include <sys/socket.h>

#include "podnet/kata_requests.h"

static struct podnet_addr addrs[] = {
  { AF_INET, "10.88.0.2", 16 },
  { AF_INET6, "fd88::2", 64 },
};
static struct podnet_route routes[] = {
  { .family = AF_INET, .dest = "0.0.0.0/0", .is_default = true, .gateway = "10.88.0.1", .protocol = 3 },
  { .family = AF_INET, .dest = "172.16.0.0/16", .gateway = "10.99.9.9", .source = "10.88.0.2", .scope = 0,
    .flags = 4, .mtu = 1300, .protocol = 3 },
  { .family = AF_INET6, .dest = "::/0", .is_default = true, .gateway = "fd88::1", .protocol = 3 },
};
static struct podnet_neigh neighs[] = {
  { AF_INET, "10.88.0.1", "02:00:00:00:00:01", 0x02, 0 },
  { AF_INET6, "fd88::99", "02:00:00:00:00:99", 0x80, 0x08 },
};

static void test_fields(void **state)
{
  (void)state;
  struct podnet_iface ifc[2] = {
    { .name = "eth0", .ifindex = 2, .mac = "02:11:22:33:44:55", .mtu = 1400,
      .flags = IFF_UP | IFF_BROADCAST | IFF_NOARP | IFF_MULTICAST, .addrs = addrs, .n_addrs = 2,
      .routes = routes, .n_routes = 3, .neighs = neighs, .n_neighs = 2 },
    { .name = "net1", .ifindex = 3, .mac = "02:11:22:33:44:66", .mtu = 9000, .flags = IFF_UP },
  };
  struct podnet_scan scan = { ifc, 2 };
  struct podnet_kata_requests r;
  veil_error_t err = NULL;
  assert_int_equal(podnet_kata_requests(&scan, &r, &err), 0);

  assert_int_equal(r.n_interfaces, 2);
  Types__Interface *i = r.interfaces[0]->interface;
  assert_string_equal(i->device, "eth0");
  assert_string_equal(i->name, "eth0");
  assert_string_equal(i->hwaddr, "02:11:22:33:44:55");
  assert_int_equal(i->mtu, 1400);
  assert_string_equal(i->type, "virtual");   /* kata's VethEndpointType */
  assert_string_equal(i->devicepath, "");    /* cold-plugged NIC: no PCI path */
  assert_int_equal(i->raw_flags, IFF_NOARP); /* RawFlags & IFF_NOARP only */
  assert_int_equal(i->n_ipaddresses, 2);
  assert_int_equal(i->ipaddresses[0]->family, TYPES__IPFAMILY__v4);
  assert_string_equal(i->ipaddresses[0]->address, "10.88.0.2");
  assert_string_equal(i->ipaddresses[0]->mask, "16");
  assert_int_equal(i->ipaddresses[1]->family, TYPES__IPFAMILY__v6);
  assert_string_equal(i->ipaddresses[1]->address, "fd88::2");
  assert_string_equal(i->ipaddresses[1]->mask, "64");
  i = r.interfaces[1]->interface;
  assert_string_equal(i->name, "net1");
  assert_int_equal(i->mtu, 9000);
  assert_int_equal(i->raw_flags, 0);
  assert_int_equal(i->n_ipaddresses, 0);

  assert_non_null(r.routes);
  Grpc__Routes *rs = r.routes->routes;
  assert_int_equal(rs->n_routes, 3);
  assert_string_equal(rs->routes[0]->dest, "0.0.0.0/0");  /* netlink v1.3.1 fills Dst for default */
  assert_string_equal(rs->routes[0]->gateway, "10.88.0.1");
  assert_string_equal(rs->routes[0]->device, "eth0");
  assert_string_equal(rs->routes[0]->source, "");
  assert_int_equal(rs->routes[0]->family, TYPES__IPFAMILY__v4);
  assert_int_equal(rs->routes[0]->mtu, 0);
  assert_string_equal(rs->routes[1]->dest, "172.16.0.0/16");
  assert_string_equal(rs->routes[1]->source, "10.88.0.2");
  assert_int_equal(rs->routes[1]->flags, 4);
  assert_int_equal(rs->routes[1]->mtu, 1300);
  assert_int_equal(rs->routes[1]->scope, 0);
  assert_string_equal(rs->routes[2]->dest, "::/0");
  assert_int_equal(rs->routes[2]->family, TYPES__IPFAMILY__v6);

  assert_non_null(r.neighbors);
  Grpc__ARPNeighbors *ns = r.neighbors->neighbors;
  assert_int_equal(ns->n_arpneighbors, 2);
  assert_string_equal(ns->arpneighbors[0]->device, "eth0");
  assert_string_equal(ns->arpneighbors[0]->lladdr, "02:00:00:00:00:01");
  assert_int_equal(ns->arpneighbors[0]->state, 2);
  assert_int_equal(ns->arpneighbors[0]->flags, 0);
  assert_string_equal(ns->arpneighbors[0]->toipaddress->address, "10.88.0.1");
  assert_string_equal(ns->arpneighbors[0]->toipaddress->mask, "");
  assert_int_equal(ns->arpneighbors[0]->toipaddress->family, TYPES__IPFAMILY__v4);
  assert_int_equal(ns->arpneighbors[1]->toipaddress->family, TYPES__IPFAMILY__v6);
  assert_int_equal(ns->arpneighbors[1]->state, 0x80);
  assert_int_equal(ns->arpneighbors[1]->flags, 0x08);

  /* round trip through the wire format */
  uint8_t buf[4096];
  size_t n = grpc__update_routes_request__pack(r.routes, buf);
  assert_true(n > 0 && n < sizeof(buf));
  Grpc__UpdateRoutesRequest *back = grpc__update_routes_request__unpack(NULL, n, buf);
  assert_non_null(back);
  assert_string_equal(back->routes->routes[2]->gateway, "fd88::1");
  grpc__update_routes_request__free_unpacked(back, NULL);
  podnet_kata_requests_clear(&r);
  assert_int_equal(r.n_interfaces, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_fields) };
  return cmocka_run_group_tests_name("podnet-kata", tests, NULL, NULL);
}
