/* veil-agent's network RPCs and CreateSandbox's dns/hostname on real kernel objects.
 *
 * Each test creates two network namespaces (a "guest" one where the real veil-agent binary
 * runs through nsenter, and a "peer" one) joined by veth pairs, calls the agent with the
 * host's typed client (agent_client/agent_client.h) over a unix socket, and reads the result back
 * with `ip -j` inside the guest namespace. Nothing touches the machine's own interfaces;
 * teardown stops the agent and deletes both namespaces (a run that crashed leaves
 * namespaces named after its pid, which the next run removes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>

#include "agent-harness.h"
#include "agent/agent.h"
#include "agent/ops.h"
#include "common/cleanup.h"
#include "agent_client/agent_client.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)

#define NS_PREFIX "veil-an-"
#define MAC0 "02:00:00:aa:00:01" /* vg0 in the guest namespace, vp0 its peer */
#define MAC1 "02:00:00:aa:00:02" /* vg1 / vp1 */
#define MAC2 "02:00:00:aa:00:03" /* vg2 / vp2 */

struct net {
  char guest[64], peer[64], guest_path[96];
  char dir[64], resolv[128], hostname[128];
  struct agent_fixture fx;
  bool agent_started;
  veil_agent *agent;
};

/* ---- running tools ---- */

/* Run argv (NULL-terminated); *out gets stdout when out != NULL. Returns the exit status,
 * or -1 when it did not exit normally. */
static int run(const char *const *argv, char **out)
{
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(pipefd[1]);
  char *data = NULL;
  size_t len = 0;
  veil_error_t err = NULL;
  veil_read_fd_all(pipefd[0], 4 << 20, &data, &len, &err);
  veil_error_release(&err);
  close(pipefd[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  if (out)
    *out = data ? data : strdup("");
  else
    free(data);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `ip ARGS...` inside namespace `ns` (through nsenter, not `ip netns exec`). */
static int ip_in(const char *ns, char **out, ...)
{
  char net[128];
  snprintf(net, sizeof(net), "--net=/run/netns/%s", ns);
  const char *argv[40] = { "nsenter", net, "--", "ip" };
  size_t n = 4;
  va_list ap;
  va_start(ap, out);
  for (const char *a; n < 39 && (a = va_arg(ap, const char *));)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  return run(argv, out);
}

#define IP(ns, ...) assert_int_equal(ip_in((ns), NULL, __VA_ARGS__, (char *)NULL), 0)

/* `ip -j ARGS...` in the guest namespace, parsed. */
static json_t *ip_json(struct net *n, ...)
{
  char net[128];
  snprintf(net, sizeof(net), "--net=%s", n->guest_path);
  const char *argv[40] = { "nsenter", net, "--", "ip", "-j" };
  size_t k = 5;
  va_list ap;
  va_start(ap, n);
  for (const char *a; k < 39 && (a = va_arg(ap, const char *));)
    argv[k++] = a;
  va_end(ap);
  argv[k] = NULL;
  cleanup_free char *out = NULL;
  assert_int_equal(run(argv, &out), 0);
  json_error_t je;
  json_t *j = json_loads(out, 0, &je);
  if (!j)
    fail_msg("ip -j output is not JSON (%s): %s", je.text, out);
  return j;
}

static const char *jstr(json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

/* ---- fixture ---- */

static bool tool_present(const char *tool)
{
  const char *argv[] = { "sh", "-c", "command -v \"$0\" >/dev/null", tool, NULL };
  return run(argv, NULL) == 0;
}

/* Namespaces left by a run of this test that died (its pid is gone). */
static void remove_stale_namespaces(void)
{
  cleanup_dir DIR *d = opendir("/run/netns");
  struct dirent *e;
  for (int i = 0; d && i < 1000 && (e = readdir(d)); i++) {
    int pid = 0;
    char kind;
    if (sscanf(e->d_name, NS_PREFIX "%c-%d", &kind, &pid) == 2 && pid > 0 &&
        kill(pid, 0) < 0 && errno == ESRCH) {
      const char *argv[] = { "ip", "netns", "del", e->d_name, NULL };
      run(argv, NULL);
    }
  }
}

static int net_teardown(void **state)
{
  struct net *n = *state;
  int rc = 0;
  if (!n)
    return 0;
  veil_agent_free(n->agent);
  if (n->agent_started && fx_stop(&n->fx) < 0)
    rc = -1;
  /* The agent is gone, so deleting the mounts ends both namespaces and their veths. */
  for (int i = 0; i < 2; i++) {
    const char *argv[] = { "ip", "netns", "del", i ? n->peer : n->guest, NULL };
    if (run(argv, NULL) != 0)
      rc = -1;
  }
  cleanup_error veil_error_t err = NULL;
  if (n->dir[0] && veil_remove_tree(n->dir, &err) < 0)
    rc = -1;
  char path[128];
  snprintf(path, sizeof(path), "/run/netns/%s", n->guest);
  if (access(path, F_OK) == 0) {
    fprintf(stderr, "netns %s still exists\n", n->guest);
    rc = -1;
  }
  free(n);
  *state = NULL;
  return rc;
}

static int net_setup(void **state)
{
  /* The packages, named, rather than a skip: the test must fail without them. */
  if (!tool_present("ip") || !tool_present("nsenter")) {
    fprintf(stderr, "needs `ip` (Debian package iproute2) and `nsenter` (util-linux)\n");
    return -1;
  }
  remove_stale_namespaces();
  struct net *n = calloc(1, sizeof(*n));
  *state = n;
  snprintf(n->guest, sizeof(n->guest), NS_PREFIX "g-%d", (int)getpid());
  snprintf(n->peer, sizeof(n->peer), NS_PREFIX "p-%d", (int)getpid());
  snprintf(n->guest_path, sizeof(n->guest_path), "/run/netns/%s", n->guest);
  const char *add_g[] = { "ip", "netns", "add", n->guest, NULL };
  const char *add_p[] = { "ip", "netns", "add", n->peer, NULL };
  if (run(add_g, NULL) != 0 || run(add_p, NULL) != 0)
    goto fail;
  const char *macs[] = { MAC0, MAC1, MAC2 };
  for (int i = 0; i < 3; i++) {
    char g[8], p[8];
    snprintf(g, sizeof(g), "vg%d", i);
    snprintf(p, sizeof(p), "vp%d", i);
    if (ip_in(n->guest, NULL, "link", "add", g, "address", macs[i], "type", "veth", "peer",
              "name", p, "netns", n->peer, (char *)NULL) != 0 ||
        ip_in(n->peer, NULL, "link", "set", p, "up", (char *)NULL) != 0)
      goto fail;
  }
  strcpy(n->dir, "/tmp/veil-agentnet-XXXXXX");
  if (!mkdtemp(n->dir))
    goto fail;
  snprintf(n->resolv, sizeof(n->resolv), "%s/resolv.conf", n->dir);
  snprintf(n->hostname, sizeof(n->hostname), "%s/hostname", n->dir);
  const char *extra[] = { "--resolv-conf", n->resolv, "--hostname-file", n->hostname, NULL };
  struct fx_options o = { .runtime = "/usr/bin/crun", .netns = n->guest_path, .extra = extra };
  if (fx_start_opts(&n->fx, &o) < 0)
    goto fail;
  n->agent_started = true;
  char addr[PATH_MAX + 64];
  snprintf(addr, sizeof(addr), "unix://%s", n->fx.sock);
  veil_error_t err = NULL; /* not cleanup_*: the gotos above jump past it */
  if (!(n->agent = veil_agent_dial(addr, 5000, &err))) {
    fprintf(stderr, "dial %s: %s\n", addr, err->msg);
    veil_error_release(&err);
    goto fail;
  }
  return 0;
fail:
  net_teardown(state);
  return -1;
}

/* ---- requests ---- */

/* Codes as the shim sees them: the agent client turns a guest's NotFound and AlreadyExists
 * into Internal (agent_client/agent_client.c distrust_agent_error), so these come back Internal
 * with the agent's message kept. */
#define assert_code(rc, err, code, text)                                                   \
  do {                                                                                     \
    assert_int_equal((rc), -1);                                                            \
    assert_non_null(err);                                                                  \
    if (veil_error_grpc_code(err) != (code))                                               \
      fail_msg("code %d (want %d): %s", veil_error_grpc_code(err), (code), (err)->msg);    \
    if (strstr((err)->msg, (text)) == NULL)                                                \
      fail_msg("error \"%s\" lacks \"%s\"", (err)->msg, (text));                            \
  } while (0)

static Types__IPAddress ipaddr(const char *addr, const char *mask, bool v6)
{
  Types__IPAddress a = TYPES__IPADDRESS__INIT;
  a.address = (char *)addr;
  a.mask = (char *)mask;
  a.family = v6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
  return a;
}

/* UpdateInterface MAC0 → eth0, MTU 1400, 10.77.1.2/24 + fd77::2/64 (raw_flags as given). */
static int update_eth0(struct net *n, uint32_t raw_flags, Types__Interface **resp,
                       veil_error_t *err)
{
  Types__IPAddress a4 = ipaddr("10.77.1.2", "24", false), a6 = ipaddr("fd77::2", "64", true);
  Types__IPAddress *addrs[] = { &a4, &a6 };
  Types__Interface it = TYPES__INTERFACE__INIT;
  it.device = "eth0";
  it.name = "eth0";
  it.hwaddr = "02:00:00:AA:00:01"; /* upper case, as kata's runtime may send */
  it.mtu = 1400;
  it.devicepath = "0000:00:05.0";
  it.raw_flags = raw_flags;
  it.n_ipaddresses = 2;
  it.ipaddresses = addrs;
  Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
  req.interface = &it;
  Types__Interface *r = NULL;
  int rc = veil_agent_update_interface(n->agent, &req, &r, err);
  if (resp)
    *resp = r;
  else if (r)
    types__interface__free_unpacked(r, NULL);
  return rc;
}

static json_t *link_json(struct net *n, const char *dev)
{
  json_t *j = ip_json(n, "addr", "show", "dev", dev, (char *)NULL);
  assert_int_equal(json_array_size(j), 1);
  return j;
}

static bool has_flag(json_t *link, const char *flag)
{
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(link, "flags"), i, v)
    if (strcmp(json_string_value(v), flag) == 0)
      return true;
  return false;
}

/* Addresses of a link as "addr/prefix" strings, comma-joined in ip's order. */
static void addr_list(json_t *link, const char *family, char *out, size_t len)
{
  out[0] = '\0';
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(link, "addr_info"), i, a) {
    if (family && strcmp(jstr(a, "family"), family) != 0)
      continue;
    size_t k = strlen(out);
    snprintf(out + k, len - k, "%s%s/%lld", k ? "," : "", jstr(a, "local"),
             (long long)json_integer_value(json_object_get(a, "prefixlen")));
  }
}

static bool resp_has_addr(const Types__Interface *it, const char *addr, const char *mask, int fam)
{
  for (size_t i = 0; i < it->n_ipaddresses; i++)
    if (strcmp(it->ipaddresses[i]->address, addr) == 0 &&
        strcmp(it->ipaddresses[i]->mask, mask) == 0 && (int)it->ipaddresses[i]->family == fam)
      return true;
  return false;
}

/* ---- UpdateInterface ---- */

static void update_interface_by_mac_sets_addresses_mtu_name(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  Types__Interface *r = NULL;
  assert_int_equal(update_eth0(n, 0, &r, &err), 0);
  /* the reply is the kernel's view, not an echo */
  assert_string_equal(r->name, "eth0");
  assert_string_equal(r->hwaddr, MAC0);
  assert_int_equal(r->mtu, 1400);
  assert_true(r->raw_flags & IFF_UP);
  assert_false(r->raw_flags & IFF_NOARP);
  assert_string_equal(r->type, "veth");
  assert_string_equal(r->devicepath, "0000:00:05.0");
  assert_true(resp_has_addr(r, "10.77.1.2", "24", TYPES__IPFAMILY__v4));
  assert_true(resp_has_addr(r, "fd77::2", "64", TYPES__IPFAMILY__v6));
  types__interface__free_unpacked(r, NULL);

  cleanup_with(json_decref) json_t *j = link_json(n, "eth0");
  json_t *l = json_array_get(j, 0);
  assert_string_equal(jstr(l, "address"), MAC0);
  assert_int_equal(json_integer_value(json_object_get(l, "mtu")), 1400);
  assert_true(has_flag(l, "UP"));
  char v4[256], v6[256];
  addr_list(l, "inet", v4, sizeof(v4));
  assert_string_equal(v4, "10.77.1.2/24");
  json_t *a0 = json_array_get(json_object_get(l, "addr_info"), 0);
  assert_string_equal(jstr(a0, "broadcast"), "10.77.1.255");
  addr_list(l, "inet6", v6, sizeof(v6));
  assert_non_null(strstr(v6, "fd77::2/64"));
  cleanup_free char *out = NULL;
  assert_int_not_equal(ip_in(n->guest, &out, "link", "show", "vg0", (char *)NULL), 0);

  /* sent again (kata's runtime retries): same state, no duplicate address; NOARP applied */
  assert_int_equal(update_eth0(n, IFF_NOARP, NULL, &err), 0);
  cleanup_with(json_decref) json_t *j2 = link_json(n, "eth0");
  json_t *l2 = json_array_get(j2, 0);
  addr_list(l2, "inet", v4, sizeof(v4));
  assert_string_equal(v4, "10.77.1.2/24");
  assert_true(has_flag(l2, "NOARP"));
  assert_true(has_flag(l2, "UP"));
}

static void update_interface_swaps_a_taken_name(void **state)
{
  struct net *n = *state;
  IP(n->guest, "link", "set", "vg0", "up");
  Types__Interface it = TYPES__INTERFACE__INIT;
  it.name = "vg0";
  it.hwaddr = MAC1;
  it.mtu = 1500;
  Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
  req.interface = &it;
  cleanup_error veil_error_t err = NULL;
  Types__Interface *r = NULL;
  assert_int_equal(veil_agent_update_interface(n->agent, &req, &r, &err), 0);
  assert_string_equal(r->name, "vg0");
  assert_string_equal(r->hwaddr, MAC1);
  types__interface__free_unpacked(r, NULL);
  cleanup_with(json_decref) json_t *a = link_json(n, "vg0");
  cleanup_with(json_decref) json_t *b = link_json(n, "vg1");
  assert_string_equal(jstr(json_array_get(a, 0), "address"), MAC1);
  assert_true(has_flag(json_array_get(a, 0), "UP"));
  /* the link that had the name took the other's, and stays up as it was */
  assert_string_equal(jstr(json_array_get(b, 0), "address"), MAC0);
  assert_true(has_flag(json_array_get(b, 0), "UP"));
}

static void update_interface_falls_back_to_the_name(void **state)
{
  struct net *n = *state;
  Types__Interface it = TYPES__INTERFACE__INIT;
  it.name = "vg2";
  it.hwaddr = "02:00:00:cc:00:09"; /* no link has it: vg2 takes it (kata's template case) */
  Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
  req.interface = &it;
  cleanup_error veil_error_t err = NULL;
  Types__Interface *r = NULL;
  assert_int_equal(veil_agent_update_interface(n->agent, &req, &r, &err), 0);
  assert_string_equal(r->hwaddr, "02:00:00:cc:00:09");
  types__interface__free_unpacked(r, NULL);
  cleanup_with(json_decref) json_t *j = link_json(n, "vg2");
  assert_string_equal(jstr(json_array_get(j, 0), "address"), "02:00:00:cc:00:09");
  assert_true(has_flag(json_array_get(j, 0), "UP"));
}

static void update_interface_unknown_mac_is_not_found(void **state)
{
  struct net *n = *state;
  Types__IPAddress a4 = ipaddr("10.77.9.9", "24", false);
  Types__IPAddress *addrs[] = { &a4 };
  Types__Interface it = TYPES__INTERFACE__INIT;
  it.name = "nosuch0";
  it.hwaddr = "02:00:00:ee:ee:ee";
  it.n_ipaddresses = 1;
  it.ipaddresses = addrs;
  Grpc__UpdateInterfaceRequest req = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
  req.interface = &it;
  cleanup_error veil_error_t err = NULL;
  Types__Interface *r = NULL;
  int rc = veil_agent_update_interface(n->agent, &req, &r, &err);
  assert_code(rc, err, VEIL_GRPC_INTERNAL, "Link not found");
  assert_non_null(strstr(err->msg, "02:00:00:ee:ee:ee"));
  assert_null(r);
  /* nothing was changed anywhere */
  cleanup_free char *out = NULL;
  assert_int_equal(ip_in(n->guest, &out, "-4", "addr", "show", (char *)NULL), 0);
  assert_null(strstr(out, "10.77.9.9"));
}

/* ---- UpdateRoutes ---- */

static Types__Route route(const char *dest, const char *gw, const char *dev, uint32_t scope,
                          bool v6)
{
  Types__Route r = TYPES__ROUTE__INIT;
  r.dest = (char *)dest;
  r.gateway = (char *)gw;
  r.device = (char *)dev;
  r.scope = scope;
  r.family = v6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4;
  return r;
}

static int update_routes(struct net *n, Types__Route **routes, size_t count, Grpc__Routes **resp,
                         veil_error_t *err)
{
  Grpc__Routes list = GRPC__ROUTES__INIT;
  list.n_routes = count;
  list.routes = routes;
  Grpc__UpdateRoutesRequest req = GRPC__UPDATE_ROUTES_REQUEST__INIT;
  req.routes = &list;
  Grpc__Routes *r = NULL;
  int rc = veil_agent_update_routes(n->agent, &req, &r, err);
  if (resp)
    *resp = r;
  else if (r)
    grpc__routes__free_unpacked(r, NULL);
  return rc;
}

static bool resp_has_route(const Grpc__Routes *rs, const char *dest, const char *gw,
                           const char *dev)
{
  for (size_t i = 0; i < rs->n_routes; i++)
    if (strcmp(rs->routes[i]->dest, dest) == 0 && strcmp(rs->routes[i]->gateway, gw) == 0 &&
        strcmp(rs->routes[i]->device, dev) == 0)
      return true;
  return false;
}

static json_t *find_route(json_t *routes, const char *dst, const char *gw)
{
  size_t i;
  json_t *r;
  json_array_foreach(routes, i, r)
    if (strcmp(jstr(r, "dst"), dst) == 0 && strcmp(jstr(r, "gateway"), gw) == 0)
      return r;
  return NULL;
}

static void update_routes_adds_connected_routes_before_gateways(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(update_eth0(n, 0, NULL, &err), 0);
  /* the control: a gateway outside every connected route is refused by the kernel */
  Types__Route lone = route("", "10.77.2.1", "eth0", 0, false);
  Types__Route *only[] = { &lone };
  int rc = update_routes(n, only, 1, NULL, &err);
  assert_int_equal(rc, -1);
  assert_non_null(strstr(err->msg, "routes[0]"));
  veil_error_release(&err);

  /* the gateway route first in the request, its connected route second */
  Types__Route def4 = route("", "10.77.2.1", "eth0", 0, false);
  Types__Route net2 = route("10.77.2.0/24", "", "eth0", RT_SCOPE_LINK, false);
  Types__Route def6 = route("", "fd77::1", "eth0", 0, true);
  Types__Route *routes[] = { &def4, &net2, &def6 };
  Grpc__Routes *r = NULL;
  assert_int_equal(update_routes(n, routes, 3, &r, &err), 0);
  assert_true(resp_has_route(r, "0.0.0.0/0", "10.77.2.1", "eth0"));
  assert_true(resp_has_route(r, "10.77.2.0/24", "", "eth0"));
  assert_true(resp_has_route(r, "::/0", "fd77::1", "eth0"));
  grpc__routes__free_unpacked(r, NULL);

  /* -d: ip hides "proto boot" otherwise */
  cleanup_with(json_decref) json_t *v4 = ip_json(n, "-d", "route", "show", "table", "main",
                                                 (char *)NULL);
  json_t *d = find_route(v4, "default", "10.77.2.1");
  json_t *c = find_route(v4, "10.77.2.0/24", "");
  assert_non_null(d);
  assert_non_null(c);
  assert_string_equal(jstr(d, "protocol"), "boot");
  assert_string_equal(jstr(c, "protocol"), "boot");
  assert_string_equal(jstr(c, "scope"), "link");
  assert_string_equal(jstr(d, "dev"), "eth0");
  cleanup_with(json_decref) json_t *v6 = ip_json(n, "-d", "-6", "route", "show", "table", "main",
                                                 (char *)NULL);
  json_t *d6 = find_route(v6, "default", "fd77::1");
  assert_non_null(d6);
  assert_string_equal(jstr(d6, "protocol"), "boot");

  /* sent again: replaced, not duplicated */
  assert_int_equal(update_routes(n, routes, 3, NULL, &err), 0);
  cleanup_with(json_decref) json_t *again = ip_json(n, "route", "show", "table", "main",
                                                    (char *)NULL);
  assert_int_equal(json_array_size(again), json_array_size(v4));
}

/* ---- AddARPNeighbors ---- */

static void add_arp_neighbors_adds_permanent_entries(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(update_eth0(n, 0, NULL, &err), 0);
  Types__IPAddress to4 = ipaddr("10.77.1.1", "", false), to6 = ipaddr("fd77::1", "", true);
  Types__ARPNeighbor n4 = TYPES__ARPNEIGHBOR__INIT, n6 = TYPES__ARPNEIGHBOR__INIT;
  n4.toipaddress = &to4;
  n4.device = "eth0";
  n4.lladdr = "02:00:00:BB:00:01";
  n6 = n4;
  n6.toipaddress = &to6;
  Types__ARPNeighbor *list[] = { &n4, &n6 };
  Grpc__ARPNeighbors ns = GRPC__ARPNEIGHBORS__INIT;
  ns.n_arpneighbors = 2;
  ns.arpneighbors = list;
  Grpc__AddARPNeighborsRequest req = GRPC__ADD_ARPNEIGHBORS_REQUEST__INIT;
  req.neighbors = &ns;
  assert_int_equal(veil_agent_add_arp_neighbors(n->agent, &req, &err), 0);
  for (int fam = 0; fam < 2; fam++) {
    cleanup_with(json_decref) json_t *j = ip_json(n, fam ? "-6" : "-4", "neigh", "show", "dev",
                                                  "eth0", (char *)NULL);
    size_t i;
    json_t *e, *found = NULL;
    json_array_foreach(j, i, e)
      if (strcmp(jstr(e, "dst"), fam ? "fd77::1" : "10.77.1.1") == 0)
        found = e;
    assert_non_null(found);
    assert_string_equal(jstr(found, "lladdr"), "02:00:00:bb:00:01");
    assert_string_equal(json_string_value(json_array_get(json_object_get(found, "state"), 0)),
                        "PERMANENT");
  }
  /* an unknown device is NotFound and names the entry */
  n4.device = "nosuch0";
  ns.n_arpneighbors = 1;
  int rc = veil_agent_add_arp_neighbors(n->agent, &req, &err);
  assert_code(rc, err, VEIL_GRPC_INTERNAL, "neighbors[0].device");
}

/* ---- ListInterfaces / ListRoutes against `ip -j` ---- */

static const Types__Interface *resp_iface(const Grpc__Interfaces *l, const char *name)
{
  for (size_t i = 0; i < l->n_interfaces; i++)
    if (strcmp(l->interfaces[i]->name, name) == 0)
      return l->interfaces[i];
  return NULL;
}

static void list_interfaces_matches_ip(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(update_eth0(n, 0, NULL, &err), 0);
  Grpc__ListInterfacesRequest req = GRPC__LIST_INTERFACES_REQUEST__INIT;
  Grpc__Interfaces *l = NULL;
  assert_int_equal(veil_agent_list_interfaces(n->agent, &req, &l, &err), 0);
  cleanup_with(json_decref) json_t *j = ip_json(n, "addr", "show", (char *)NULL);
  assert_int_equal(l->n_interfaces, json_array_size(j));
  assert_int_equal(json_array_size(j), 4); /* lo, eth0, vg1, vg2 */
  size_t i;
  json_t *link;
  json_array_foreach(j, i, link) {
    const Types__Interface *it = resp_iface(l, jstr(link, "ifname"));
    if (!it)
      fail_msg("ListInterfaces lacks %s", jstr(link, "ifname"));
    assert_string_equal(it->hwaddr, jstr(link, "address"));
    assert_int_equal(it->mtu, json_integer_value(json_object_get(link, "mtu")));
    assert_int_equal(it->n_ipaddresses, json_array_size(json_object_get(link, "addr_info")));
    size_t k;
    json_t *a;
    json_array_foreach(json_object_get(link, "addr_info"), k, a) {
      char mask[8];
      snprintf(mask, sizeof(mask), "%lld",
               (long long)json_integer_value(json_object_get(a, "prefixlen")));
      bool v6 = strcmp(jstr(a, "family"), "inet6") == 0;
      if (!resp_has_addr(it, jstr(a, "local"), mask,
                         v6 ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4))
        fail_msg("ListInterfaces %s lacks %s/%s", it->name, jstr(a, "local"), mask);
    }
  }
  const Types__Interface *lo = resp_iface(l, "lo");
  assert_true(resp_has_addr(lo, "127.0.0.1", "8", TYPES__IPFAMILY__v4) || lo->n_ipaddresses == 0);
  assert_true(resp_has_addr(resp_iface(l, "eth0"), "fd77::2", "64", TYPES__IPFAMILY__v6));
  grpc__interfaces__free_unpacked(l, NULL);
}

/* ip's "default" / host-route forms in ListRoutes' CIDR form. */
static void cidr_of(const char *dst, bool v6, char *out, size_t len)
{
  if (strcmp(dst, "default") == 0)
    snprintf(out, len, "%s", v6 ? "::/0" : "0.0.0.0/0");
  else if (!strchr(dst, '/'))
    snprintf(out, len, "%s/%d", dst, v6 ? 128 : 32);
  else
    snprintf(out, len, "%s", dst);
}

static void list_routes_matches_ip(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(update_eth0(n, 0, NULL, &err), 0);
  Types__Route net2 = route("10.77.2.0/24", "", "eth0", RT_SCOPE_LINK, false);
  Types__Route def4 = route("", "10.77.2.1", "eth0", 0, false);
  Types__Route host = route("10.77.3.3", "10.77.1.1", "eth0", 0, false);
  Types__Route *routes[] = { &net2, &def4, &host };
  assert_int_equal(update_routes(n, routes, 3, NULL, &err), 0);
  Grpc__ListRoutesRequest req = GRPC__LIST_ROUTES_REQUEST__INIT;
  Grpc__Routes *r = NULL;
  assert_int_equal(veil_agent_list_routes(n->agent, &req, &r, &err), 0);
  size_t total = 0;
  for (int fam = 0; fam < 2; fam++) {
    cleanup_with(json_decref) json_t *j = ip_json(n, fam ? "-6" : "-4", "route", "show", "table",
                                                  "main", (char *)NULL);
    total += json_array_size(j);
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
      char dest[80];
      cidr_of(jstr(e, "dst"), fam, dest, sizeof(dest));
      if (!resp_has_route(r, dest, jstr(e, "gateway"), jstr(e, "dev")))
        fail_msg("ListRoutes lacks %s via `%s` dev %s", dest, jstr(e, "gateway"), jstr(e, "dev"));
    }
  }
  assert_int_equal(r->n_routes, total);
  assert_true(resp_has_route(r, "10.77.3.3/32", "10.77.1.1", "eth0"));
  assert_true(resp_has_route(r, "10.77.1.0/24", "", "eth0")); /* the kernel's own */
  for (size_t i = 0; i < r->n_routes; i++)
    assert_int_equal(r->routes[i]->family,
                     strchr(r->routes[i]->dest, ':') ? TYPES__IPFAMILY__v6 : TYPES__IPFAMILY__v4);
  grpc__routes__free_unpacked(r, NULL);
}

/* ---- bad and oversized requests ---- */

static void bad_requests_are_invalid_argument_and_change_nothing(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  Types__Interface it = TYPES__INTERFACE__INIT;
  Grpc__UpdateInterfaceRequest ureq = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
  Types__Interface *ir = NULL;
  int rc = veil_agent_update_interface(n->agent, &ureq, &ir, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "no interface");
  ureq.interface = &it;
  it.name = "vg0";
  it.hwaddr = "zz:00:00:aa:00:01";
  rc = veil_agent_update_interface(n->agent, &ureq, &ir, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "interface.hwAddr");
  it.hwaddr = MAC0;
  it.name = "a-name-too-long-for-linux";
  rc = veil_agent_update_interface(n->agent, &ureq, &ir, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "interface.name");
  it.name = "vg0";
  it.mtu = 10;
  rc = veil_agent_update_interface(n->agent, &ureq, &ir, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "interface.mtu");
  it.mtu = 1500;
  Types__IPAddress good = ipaddr("10.77.1.2", "24", false), badmask = ipaddr("10.77.1.3", "33",
                                                                             false);
  Types__IPAddress *two[] = { &good, &badmask };
  it.n_ipaddresses = 2;
  it.ipaddresses = two;
  rc = veil_agent_update_interface(n->agent, &ureq, &ir, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "IPAddresses[1].mask");
  Types__IPAddress *many[AGENT_NET_MAX_ADDRS + 1];
  for (size_t i = 0; i <= AGENT_NET_MAX_ADDRS; i++)
    many[i] = &good;
  it.n_ipaddresses = AGENT_NET_MAX_ADDRS + 1;
  it.ipaddresses = many;
  rc = veil_agent_update_interface(n->agent, &ureq, &ir, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "interface.IPAddresses");

  Grpc__UpdateRoutesRequest rreq = GRPC__UPDATE_ROUTES_REQUEST__INIT;
  Grpc__Routes *rr = NULL;
  rc = veil_agent_update_routes(n->agent, &rreq, &rr, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "no routes");
  Types__Route mixed = route("fd77::/64", "10.77.1.1", "vg0", 0, false);
  Types__Route wide = route("10.0.0.0/40", "", "vg0", 0, false);
  Types__Route *bad1[] = { &mixed }, *bad2[] = { &wide };
  rc = update_routes(n, bad1, 1, NULL, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "routes[0].gateway");
  rc = update_routes(n, bad2, 1, NULL, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "routes[0].dest");
  Types__Route ok = route("10.77.5.0/24", "", "vg0", RT_SCOPE_LINK, false);
  Types__Route *routes[AGENT_NET_MAX_ROUTES + 1];
  for (size_t i = 0; i <= AGENT_NET_MAX_ROUTES; i++)
    routes[i] = &ok;
  rc = update_routes(n, routes, AGENT_NET_MAX_ROUTES + 1, NULL, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "routes, at most");

  Grpc__AddARPNeighborsRequest nreq = GRPC__ADD_ARPNEIGHBORS_REQUEST__INIT;
  rc = veil_agent_add_arp_neighbors(n->agent, &nreq, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "no neighbors");
  Types__IPAddress to = ipaddr("10.77.1.1", "", false);
  Types__ARPNeighbor nb = TYPES__ARPNEIGHBOR__INIT;
  nb.toipaddress = &to;
  nb.device = "vg0";
  nb.state = 300;
  Types__ARPNeighbor *nbs[AGENT_NET_MAX_NEIGHBORS + 1];
  for (size_t i = 0; i <= AGENT_NET_MAX_NEIGHBORS; i++)
    nbs[i] = &nb;
  Grpc__ARPNeighbors list = GRPC__ARPNEIGHBORS__INIT;
  list.n_arpneighbors = 1;
  list.arpneighbors = nbs;
  nreq.neighbors = &list;
  rc = veil_agent_add_arp_neighbors(n->agent, &nreq, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "neighbors[0].state");
  list.n_arpneighbors = AGENT_NET_MAX_NEIGHBORS + 1;
  rc = veil_agent_add_arp_neighbors(n->agent, &nreq, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "neighbors, at most");

  /* none of it reached the kernel: vg0 is as setup made it */
  cleanup_with(json_decref) json_t *j = link_json(n, "vg0");
  json_t *l = json_array_get(j, 0);
  char v4[256];
  addr_list(l, "inet", v4, sizeof(v4));
  assert_string_equal(v4, "");
  assert_false(has_flag(l, "UP"));
  assert_int_equal(json_integer_value(json_object_get(l, "mtu")), 1500);
  cleanup_with(json_decref) json_t *rt = ip_json(n, "route", "show", "table", "main", (char *)NULL);
  assert_int_equal(json_array_size(rt), 0);
  cleanup_with(json_decref) json_t *ne = ip_json(n, "neigh", "show", (char *)NULL);
  assert_int_equal(json_array_size(ne), 0);
}

/* ---- policy ---- */

static void policy_applies_to_network_requests(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__SetPolicyRequest p = GRPC__SET_POLICY_REQUEST__INIT;
  p.policy = "package agent_policy\n"
             "default SetPolicyRequest := true\n"
             "default ListInterfacesRequest := true\n"
             "default UpdateRoutesRequest := false\n";
  assert_int_equal(veil_agent_set_policy(n->agent, &p, &err), 0);
  Grpc__ListInterfacesRequest li = GRPC__LIST_INTERFACES_REQUEST__INIT;
  Grpc__Interfaces *l = NULL;
  assert_int_equal(veil_agent_list_interfaces(n->agent, &li, &l, &err), 0);
  grpc__interfaces__free_unpacked(l, NULL);
  Types__Route ok = route("10.77.5.0/24", "", "vg0", RT_SCOPE_LINK, false);
  Types__Route *routes[] = { &ok };
  int rc = update_routes(n, routes, 1, NULL, &err);
  assert_code(rc, err, VEIL_GRPC_PERMISSION_DENIED, "UpdateRoutesRequest is blocked");
  /* no rule: denied */
  rc = update_eth0(n, 0, NULL, &err);
  assert_code(rc, err, VEIL_GRPC_PERMISSION_DENIED, "UpdateInterfaceRequest");
  Grpc__ListRoutesRequest lr = GRPC__LIST_ROUTES_REQUEST__INIT;
  Grpc__Routes *r = NULL;
  rc = veil_agent_list_routes(n->agent, &lr, &r, &err);
  assert_code(rc, err, VEIL_GRPC_PERMISSION_DENIED, "ListRoutesRequest");
  Grpc__AddARPNeighborsRequest an = GRPC__ADD_ARPNEIGHBORS_REQUEST__INIT;
  rc = veil_agent_add_arp_neighbors(n->agent, &an, &err);
  assert_code(rc, err, VEIL_GRPC_PERMISSION_DENIED, "AddARPNeighborsRequest");
  /* and nothing was configured */
  cleanup_with(json_decref) json_t *rt = ip_json(n, "route", "show", "table", "main", (char *)NULL);
  assert_int_equal(json_array_size(rt), 0);
}

/* ---- CreateSandbox: dns and hostname ---- */

static int create_sandbox(struct net *n, const char *hostname, char **dns, size_t n_dns,
                          veil_error_t *err)
{
  Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;
  req.hostname = (char *)hostname;
  req.dns = dns;
  req.n_dns = n_dns;
  req.sandbox_id = "pod";
  return veil_agent_create_sandbox(n->agent, &req, err);
}

static void create_sandbox_writes_resolv_conf_and_refuses_bad_lines(void **state)
{
  struct net *n = *state;
  cleanup_error veil_error_t err = NULL;
  char *bad_keyword[] = { "nameserver 10.0.0.10", "rm -rf /" };
  int rc = create_sandbox(n, "pod-a", bad_keyword, 2, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "dns[1]");
  char *smuggled[] = { "nameserver 10.0.0.10\nnameserver 6.6.6.6" };
  rc = create_sandbox(n, "pod-a", smuggled, 1, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "control character");
  char *bad_server[] = { "nameserver dns.example.com" };
  rc = create_sandbox(n, "pod-a", bad_server, 1, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "not a valid nameserver value");
  char *good[] = { "# Generated by the kubelet", "nameserver 10.0.0.10", "nameserver fd00::a",
                   "search ns.svc.cluster.local svc.cluster.local cluster.local",
                   "  options ndots:5 edns0  ", "" };
  rc = create_sandbox(n, "bad host!", good, 6, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "hostname");
  char *too_many[AGENT_DNS_MAX_LINES + 1];
  for (size_t i = 0; i <= AGENT_DNS_MAX_LINES; i++)
    too_many[i] = "nameserver 10.0.0.10";
  rc = create_sandbox(n, "pod-a", too_many, AGENT_DNS_MAX_LINES + 1, &err);
  assert_code(rc, err, VEIL_GRPC_INVALID_ARGUMENT, "dns lines, at most");
  /* refused requests wrote nothing and created no sandbox */
  assert_int_equal(access(n->resolv, F_OK), -1);
  assert_int_equal(access(n->hostname, F_OK), -1);

  assert_int_equal(create_sandbox(n, "pod-a", good, 6, &err), 0);
  cleanup_free char *resolv = NULL, *host = NULL;
  size_t len;
  assert_int_equal(veil_read_file(n->resolv, 65536, &resolv, &len, &err), 0);
  assert_string_equal(resolv, "# Generated by the kubelet\n"
                              "nameserver 10.0.0.10\n"
                              "nameserver fd00::a\n"
                              "search ns.svc.cluster.local svc.cluster.local cluster.local\n"
                              "options ndots:5 edns0\n");
  assert_int_equal(veil_read_file(n->hostname, 256, &host, &len, &err), 0);
  assert_string_equal(host, "pod-a\n");
  rc = create_sandbox(n, "pod-a", good, 6, &err);
  assert_code(rc, err, VEIL_GRPC_INTERNAL, "already created");
}

/* sethostname(2) runs only as the guest's init; here in a child with its own UTS namespace,
 * through the same code the agent runs. */
static void create_sandbox_sets_the_hostname_in_a_uts_namespace(void **state)
{
  (void)state;
  char before[256], after[256];
  assert_int_equal(gethostname(before, sizeof(before)), 0);
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWUTS) < 0)
      _exit(2);
    struct agent a;
    struct agent_config cfg = { .set_hostname = true };
    veil_error_t err = NULL;
    agent_init(&a, &cfg, &err);
    Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;
    req.hostname = "veil-pod-7";
    char name[256] = "";
    int ok = agent_create_sandbox(&a, &req, &err) == 0 && gethostname(name, sizeof(name)) == 0 &&
             strcmp(name, "veil-pod-7") == 0;
    _exit(ok ? 0 : 1);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_int_equal(gethostname(after, sizeof(after)), 0);
  assert_string_equal(before, after); /* the test's own namespace is untouched */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(update_interface_by_mac_sets_addresses_mtu_name, net_setup,
                                    net_teardown),
    cmocka_unit_test_setup_teardown(update_interface_swaps_a_taken_name, net_setup, net_teardown),
    cmocka_unit_test_setup_teardown(update_interface_falls_back_to_the_name, net_setup,
                                    net_teardown),
    cmocka_unit_test_setup_teardown(update_interface_unknown_mac_is_not_found, net_setup,
                                    net_teardown),
    cmocka_unit_test_setup_teardown(update_routes_adds_connected_routes_before_gateways,
                                    net_setup, net_teardown),
    cmocka_unit_test_setup_teardown(add_arp_neighbors_adds_permanent_entries, net_setup,
                                    net_teardown),
    cmocka_unit_test_setup_teardown(list_interfaces_matches_ip, net_setup, net_teardown),
    cmocka_unit_test_setup_teardown(list_routes_matches_ip, net_setup, net_teardown),
    cmocka_unit_test_setup_teardown(bad_requests_are_invalid_argument_and_change_nothing,
                                    net_setup, net_teardown),
    cmocka_unit_test_setup_teardown(policy_applies_to_network_requests, net_setup, net_teardown),
    cmocka_unit_test_setup_teardown(create_sandbox_writes_resolv_conf_and_refuses_bad_lines,
                                    net_setup, net_teardown),
    cmocka_unit_test(create_sandbox_sets_the_hostname_in_a_uts_namespace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
