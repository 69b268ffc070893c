/* agent_client/ agent client: response bounds against a fake hostile agent (a real
 * ttrpc server whose handlers misbehave on purpose: the real veil-agent never does, and the
 * host must survive a compromised guest), and veil_agent_dial_ready's retries. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "agent_client/agent_client.h"

/* ---- a fake hostile agent on a socketpair ---- */

struct fake {
  ttrpc_server *server;
  pthread_t thread;
  veil_agent *agent;
};

static int reply(const uint8_t *data, size_t len, uint8_t **resp, size_t *resp_len)
{
  *resp = malloc(len ? len : 1);
  memcpy(*resp, data, len);
  *resp_len = len;
  return 0;
}

static int pack_reply(const ProtobufCMessage *m, uint8_t **resp, size_t *resp_len)
{
  *resp_len = protobuf_c_message_get_packed_size(m);
  *resp = malloc(*resp_len ? *resp_len : 1);
  protobuf_c_message_pack(m, *resp);
  return 0;
}

static int check_serving(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                         size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  Grpc__HealthCheckResponse r = GRPC__HEALTH_CHECK_RESPONSE__INIT;
  r.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  return pack_reply(&r.base, resp, resp_len);
}

/* Version: bytes that are not a protobuf message (field 1, wire type 2, length past the end) */
static int version_garbage(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                           size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  static const uint8_t garbage[] = {0x0a, 0x7f, 'x'};
  return reply(garbage, sizeof(garbage), resp, resp_len);
}

/* ReadStdout: twice the requested length */
static int read_too_much(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                         size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)err;
  Grpc__ReadStreamRequest *in = grpc__read_stream_request__unpack(NULL, req_len, req);
  size_t n = in ? (size_t)in->len * 2 : 64;
  grpc__read_stream_request__free_unpacked(in, NULL);
  Grpc__ReadStreamResponse r = GRPC__READ_STREAM_RESPONSE__INIT;
  cleanup_free uint8_t *data = calloc(1, n);
  r.data.data = data;
  r.data.len = n;
  return pack_reply(&r.base, resp, resp_len);
}

/* ReadStderr: exactly the requested length (allowed) */
static int read_exact(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                      size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)err;
  Grpc__ReadStreamRequest *in = grpc__read_stream_request__unpack(NULL, req_len, req);
  size_t n = in->len;
  grpc__read_stream_request__free_unpacked(in, NULL);
  Grpc__ReadStreamResponse r = GRPC__READ_STREAM_RESPONSE__INIT;
  cleanup_free uint8_t *data = malloc(n);
  memset(data, 'o', n);
  r.data.data = data;
  r.data.len = n;
  return pack_reply(&r.base, resp, resp_len);
}

/* CreateContainer: an "Empty" of 64 KiB (an unknown bytes field) */
static int empty_too_big(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                         size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  size_t n = 64 * 1024;
  *resp = calloc(1, n + 8);
  uint8_t *p = *resp;
  *p++ = (15 << 3) | 2; /* field 15, length-delimited */
  size_t v = n;
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  *resp_len = (size_t)(p - *resp) + n;
  return 0;
}

/* WriteStdin: claims more bytes written than were sent */
static int write_overclaims(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                            size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  Grpc__WriteStreamResponse r = GRPC__WRITE_STREAM_RESPONSE__INIT;
  r.len = 1000000;
  return pack_reply(&r.base, resp, resp_len);
}

/* StartContainer: a remote NotFound whose text tries to forge a log line */
static int start_not_found(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                           size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)resp, (void)resp_len;
  return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND,
                         "container nope not found\nlevel=error msg=\x1b[31mforged \xff\xfe ok \xc3\xa9");
}

/* PauseContainer: a code that passes, with a 10 KiB message */
static int pause_denied(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                        size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)resp, (void)resp_len;
  char big[10240];
  memset(big, 'p', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  return veil_error_grpc(err, VEIL_GRPC_PERMISSION_DENIED, "%s", big);
}

/* WaitProcess: well-formed */
static int wait_ok(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                   size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  Grpc__WaitProcessResponse r = GRPC__WAIT_PROCESS_RESPONSE__INIT;
  r.status = 143;
  return pack_reply(&r.base, resp, resp_len);
}

/* ---- network replies: counts and field lengths set by the test ---- */

static _Atomic size_t fake_interfaces = 1;   /* ListInterfaces: this many */
static _Atomic size_t fake_addresses = 2;    /* UpdateInterface: this many addresses */
static _Atomic size_t fake_device_len = 4;   /* ListRoutes: Routes[1].device this long */

static int list_interfaces(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                           size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  size_t n = fake_interfaces;
  Types__Interface *its = calloc(n, sizeof(*its));
  Types__Interface **ptrs = calloc(n, sizeof(*ptrs));
  for (size_t i = 0; i < n; i++) {
    its[i] = (Types__Interface)TYPES__INTERFACE__INIT;
    its[i].name = "eth0";
    its[i].hwaddr = "02:00:00:00:00:01";
    its[i].mtu = 1500;
    ptrs[i] = &its[i];
  }
  Grpc__Interfaces r = GRPC__INTERFACES__INIT;
  r.n_interfaces = n;
  r.interfaces = ptrs;
  pack_reply(&r.base, resp, resp_len);
  free(ptrs);
  free(its);
  return 0;
}

static int update_interface(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                            size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  size_t n = fake_addresses;
  Types__IPAddress *ips = calloc(n, sizeof(*ips));
  Types__IPAddress **ptrs = calloc(n, sizeof(*ptrs));
  for (size_t i = 0; i < n; i++) {
    ips[i] = (Types__IPAddress)TYPES__IPADDRESS__INIT;
    ips[i].address = "10.0.0.2";
    ips[i].mask = "24";
    ptrs[i] = &ips[i];
  }
  Types__Interface r = TYPES__INTERFACE__INIT;
  r.name = "eth0";
  r.n_ipaddresses = n;
  r.ipaddresses = ptrs;
  pack_reply(&r.base, resp, resp_len);
  free(ptrs);
  free(ips);
  return 0;
}

static int list_routes(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                       size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  cleanup_free char *dev = malloc(fake_device_len + 1);
  memset(dev, 'e', fake_device_len);
  dev[fake_device_len] = '\0';
  Types__Route a = TYPES__ROUTE__INIT, b = TYPES__ROUTE__INIT;
  a.dest = "10.0.0.0/24";
  a.device = "eth0";
  b.dest = "0.0.0.0/0";
  b.gateway = "10.0.0.1";
  b.device = dev;
  Types__Route *ptrs[] = { &a, &b };
  Grpc__Routes r = GRPC__ROUTES__INIT;
  r.n_routes = 2;
  r.routes = ptrs;
  return pack_reply(&r.base, resp, resp_len);
}

/* UpdateRoutes: a Routes message over the 1 MiB bound (one huge unknown field) */
static int routes_too_big(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                          size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)err;
  size_t n = 1024 * 1024 + 1;
  *resp = calloc(1, n + 8);
  uint8_t *p = *resp;
  *p++ = (15 << 3) | 2;
  for (size_t v = n; ; v >>= 7) {
    if (v < 0x80) {
      *p++ = (uint8_t)v;
      break;
    }
    *p++ = (uint8_t)(v | 0x80);
  }
  *resp_len = (size_t)(p - *resp) + n;
  return 0;
}

static void *serve(void *arg)
{
  struct fake *f = arg;
  cleanup_error veil_error_t err = NULL;
  if (ttrpc_server_run(f->server, &err) < 0)
    fprintf(stderr, "fake agent: %s\n", err->msg);
  return NULL;
}

static void register_all(ttrpc_server *s)
{
  cleanup_error veil_error_t err = NULL;
  struct {
    const char *service, *method;
    ttrpc_method_fn fn;
  } m[] = {
    {"grpc.Health", "Check", check_serving},
    {"grpc.Health", "Version", version_garbage},
    {"grpc.AgentService", "ReadStdout", read_too_much},
    {"grpc.AgentService", "ReadStderr", read_exact},
    {"grpc.AgentService", "CreateContainer", empty_too_big},
    {"grpc.AgentService", "WriteStdin", write_overclaims},
    {"grpc.AgentService", "StartContainer", start_not_found},
    {"grpc.AgentService", "PauseContainer", pause_denied},
    {"grpc.AgentService", "WaitProcess", wait_ok},
    {"grpc.AgentService", "ListInterfaces", list_interfaces},
    {"grpc.AgentService", "UpdateInterface", update_interface},
    {"grpc.AgentService", "ListRoutes", list_routes},
    {"grpc.AgentService", "UpdateRoutes", routes_too_big},
  };
  for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
    assert_int_equal(ttrpc_server_register(s, m[i].service, m[i].method, m[i].fn, NULL, 0, &err),
                     0);
}

static int fake_setup(void **state)
{
  struct fake *f = calloc(1, sizeof(*f));
  cleanup_error veil_error_t err = NULL;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  f->server = ttrpc_server_new(NULL, &err);
  assert_non_null(f->server);
  register_all(f->server);
  assert_int_equal(ttrpc_server_add_connection(f->server, sv[0], &err), 0);
  assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
  ttrpc_client *c = ttrpc_client_new(sv[1], &err);
  assert_non_null(c);
  f->agent = veil_agent_new(c, &err);
  assert_non_null(f->agent);
  *state = f;
  return 0;
}

static int fake_teardown(void **state)
{
  struct fake *f = *state;
  veil_agent_free(f->agent);
  ttrpc_server_stop(f->server);
  pthread_join(f->thread, NULL);
  ttrpc_server_free(f->server);
  free(f);
  return 0;
}

#define assert_error(err, code, text)                          \
  do {                                                         \
    assert_non_null(err);                                      \
    assert_int_equal(veil_error_grpc_code(err), (code));       \
    if (strstr((err)->msg, (text)) == NULL)                    \
      fail_msg("error \"%s\" lacks \"%s\"", (err)->msg, text); \
  } while (0)

static void well_formed_responses_pass(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *hc = NULL;
  assert_int_equal(veil_agent_check(f->agent, &check, &hc, &err), 0);
  assert_int_equal(hc->status, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  grpc__health_check_response__free_unpacked(hc, NULL);

  Grpc__WaitProcessRequest wait = GRPC__WAIT_PROCESS_REQUEST__INIT;
  Grpc__WaitProcessResponse *wr = NULL;
  assert_int_equal(veil_agent_wait_process(f->agent, &wait, &wr, &err), 0);
  assert_int_equal(wr->status, 143);
  grpc__wait_process_response__free_unpacked(wr, NULL);

  Grpc__ReadStreamRequest read = GRPC__READ_STREAM_REQUEST__INIT;
  read.len = 1000;
  Grpc__ReadStreamResponse *rr = NULL;
  assert_int_equal(veil_agent_read_stderr(f->agent, &read, &rr, &err), 0);
  assert_int_equal(rr->data.len, 1000);
  grpc__read_stream_response__free_unpacked(rr, NULL);
}

static void read_stdout_longer_than_requested_from_fake_hostile_agent(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__ReadStreamRequest read = GRPC__READ_STREAM_REQUEST__INIT;
  read.container_id = "c";
  read.exec_id = "c";
  read.len = 16;
  Grpc__ReadStreamResponse *rr = NULL;
  assert_int_equal(veil_agent_read_stdout(f->agent, &read, &rr, &err), -1);
  assert_null(rr);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent ReadStdout");
  /* big enough that the packed size alone exceeds the bound */
  veil_error_release(&err);
  read.len = 32 * 1024;
  assert_int_equal(veil_agent_read_stdout(f->agent, &read, &rr, &err), -1);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "exceeds the limit");
}

static void malformed_response_from_fake_hostile_agent(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
  Grpc__VersionCheckResponse *vr = NULL;
  assert_int_equal(veil_agent_version(f->agent, &check, &vr, &err), -1);
  assert_null(vr);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent Version: malformed");
}

static void oversized_empty_response_from_fake_hostile_agent(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  req.container_id = "c";
  assert_int_equal(veil_agent_create_container(f->agent, &req, &err), -1);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent CreateContainer: response of");
}

static void write_stdin_overclaim_from_fake_hostile_agent(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_agent_write_stdin_all(f->agent, "c", "c", "abc", 3, &err), -1);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent WriteStdin");
}

static void remote_error_is_distrusted_and_names_rpc(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__StartContainerRequest req = GRPC__START_CONTAINER_REQUEST__INIT;
  req.container_id = "nope";
  assert_int_equal(veil_agent_start_container(f->agent, &req, &err), -1);
  /* NotFound would tell containerd the task is gone: the guest cannot say that */
  assert_error(err, VEIL_GRPC_INTERNAL, "agent StartContainer");
  assert_non_null(strstr(err->msg, "container nope not found\\x0alevel=error msg=\\x1b[31mforged "
                                   "\\xff\\xfe ok \xc3\xa9"));
  assert_null(strchr(err->msg, '\n'));
  assert_null(strchr(err->msg, '\x1b'));
  veil_error_release(&err);
  Grpc__PauseContainerRequest p = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
  p.container_id = "c";
  assert_int_equal(veil_agent_pause_container(f->agent, &p, &err), -1);
  assert_error(err, VEIL_GRPC_PERMISSION_DENIED, "agent PauseContainer");
  assert_true(strlen(err->msg) < 1200);
  assert_non_null(strstr(err->msg, "bytes cut)"));
}

static void unimplemented_rpc_is_reported(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__SetPolicyRequest req = GRPC__SET_POLICY_REQUEST__INIT;
  assert_int_equal(veil_agent_set_policy(f->agent, &req, &err), -1);
  assert_error(err, VEIL_GRPC_UNIMPLEMENTED, "agent SetPolicy");
}

static void bad_requests_rejected_locally(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__ReadStreamRequest read = GRPC__READ_STREAM_REQUEST__INIT;
  Grpc__ReadStreamResponse *rr = NULL;
  read.len = 0;
  assert_int_equal(veil_agent_read_stdout(f->agent, &read, &rr, &err), -1);
  assert_error(err, VEIL_GRPC_INVALID_ARGUMENT, "len must be");
  veil_error_release(&err);
  read.len = VEIL_AGENT_MAX_READ_LEN + 1;
  assert_int_equal(veil_agent_read_stdout(f->agent, &read, &rr, &err), -1);
  assert_error(err, VEIL_GRPC_INVALID_ARGUMENT, "len must be");
  veil_error_release(&err);
  /* a request of the wrong type (casts happen in callers building requests generically) */
  Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
  assert_int_equal(
    veil_agent_start_container(f->agent, (const Grpc__StartContainerRequest *)&check, &err), -1);
  assert_error(err, VEIL_GRPC_INVALID_ARGUMENT, "must be a grpc.StartContainerRequest");
}

static void list_interfaces_bounded_against_fake_hostile_agent(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__ListInterfacesRequest req = GRPC__LIST_INTERFACES_REQUEST__INIT;
  Grpc__Interfaces *l = NULL;
  fake_interfaces = VEIL_AGENT_MAX_INTERFACES;
  assert_int_equal(veil_agent_list_interfaces(f->agent, &req, &l, &err), 0);
  assert_int_equal(l->n_interfaces, VEIL_AGENT_MAX_INTERFACES);
  grpc__interfaces__free_unpacked(l, NULL);
  l = NULL;
  fake_interfaces = VEIL_AGENT_MAX_INTERFACES + 1;
  assert_int_equal(veil_agent_list_interfaces(f->agent, &req, &l, &err), -1);
  assert_null(l);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent ListInterfaces: 257 Interfaces exceed 256");
  fake_interfaces = 1;

  Grpc__UpdateInterfaceRequest u = GRPC__UPDATE_INTERFACE_REQUEST__INIT;
  Types__Interface *it = NULL;
  veil_error_release(&err);
  fake_addresses = VEIL_AGENT_MAX_INTERFACE_ADDRS + 1;
  assert_int_equal(veil_agent_update_interface(f->agent, &u, &it, &err), -1);
  assert_null(it);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent UpdateInterface: 257 Interface.IPAddresses");
  fake_addresses = 2;
  veil_error_release(&err);
  assert_int_equal(veil_agent_update_interface(f->agent, &u, &it, &err), 0);
  assert_int_equal(it->n_ipaddresses, 2);
  types__interface__free_unpacked(it, NULL);
}

static void list_routes_bounded_against_fake_hostile_agent(void **state)
{
  struct fake *f = *state;
  cleanup_error veil_error_t err = NULL;
  Grpc__ListRoutesRequest req = GRPC__LIST_ROUTES_REQUEST__INIT;
  Grpc__Routes *r = NULL;
  fake_device_len = 15; /* IFNAMSIZ - 1: the longest real name */
  assert_int_equal(veil_agent_list_routes(f->agent, &req, &r, &err), 0);
  assert_int_equal(r->n_routes, 2);
  grpc__routes__free_unpacked(r, NULL);
  r = NULL;
  fake_device_len = 100;
  assert_int_equal(veil_agent_list_routes(f->agent, &req, &r, &err), -1);
  assert_null(r);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent ListRoutes: Routes[1].device of 100 bytes");
  fake_device_len = 4;
  /* a reply over the byte bound is refused before it is decoded */
  Grpc__Routes list = GRPC__ROUTES__INIT;
  Grpc__UpdateRoutesRequest u = GRPC__UPDATE_ROUTES_REQUEST__INIT;
  u.routes = &list;
  veil_error_release(&err);
  assert_int_equal(veil_agent_update_routes(f->agent, &u, &r, &err), -1);
  assert_error(err, VEIL_GRPC_DATA_LOSS, "agent UpdateRoutes: response of");
}

static void timeouts_follow_kata(void **state)
{
  (void)state;
  assert_int_equal(veil_agent_default_timeout_ns(VEIL_AGENT_CHECK), 30 * INT64_C(1000000000));
  assert_int_equal(veil_agent_default_timeout_ns(VEIL_AGENT_CREATE_CONTAINER),
                   60 * INT64_C(1000000000));
  assert_int_equal(veil_agent_default_timeout_ns(VEIL_AGENT_WAIT_PROCESS), 0);
  assert_int_equal(veil_agent_default_timeout_ns(VEIL_AGENT_READ_STDOUT), 0);
  assert_int_equal(veil_agent_default_timeout_ns(VEIL_AGENT_GET_OOM_EVENT), 0);
  assert_int_equal(veil_agent_default_timeout_ns(VEIL_AGENT_WRITE_STDIN), 0);
  for (int rpc = VEIL_AGENT_UPDATE_INTERFACE; rpc <= VEIL_AGENT_LIST_ROUTES; rpc++)
    assert_int_equal(veil_agent_default_timeout_ns(rpc), 60 * INT64_C(1000000000));
  assert_string_equal(veil_agent_rpc_name(VEIL_AGENT_ADD_ARP_NEIGHBORS), "AddARPNeighbors");
  assert_string_equal(veil_agent_rpc_name(VEIL_AGENT_GET_OOM_EVENT), "GetOOMEvent");
  for (int i = 0; i < VEIL_AGENT_RPC_COUNT; i++) {
    assert_true(veil_agent_response_limit(i) > 0);
    assert_true(veil_agent_response_limit(i) <= TTRPC_MAX_DATA);
  }
}

/* ---- dial_ready: the listener accepts at once but serves late, like virtio-serial ---- */

struct late {
  int listen_fd;
  ttrpc_server *server;
  unsigned delay_ms;
};

static void *late_serve(void *arg)
{
  struct late *l = arg;
  int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0)
    return NULL;
  usleep(l->delay_ms * 1000); /* requests queue in the socket meanwhile */
  cleanup_error veil_error_t err = NULL;
  if (ttrpc_server_add_connection(l->server, fd, &err) < 0 ||
      ttrpc_server_run(l->server, &err) < 0)
    fprintf(stderr, "late agent: %s\n", err->msg);
  return NULL;
}

static void dial_ready_waits_for_a_late_agent(void **state)
{
  (void)state;
  char dir[] = "/tmp/veil-vsock-test.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128], address[160];
  snprintf(path, sizeof(path), "%s/agent.sock", dir);
  snprintf(address, sizeof(address), "unix://%s", path);
  cleanup_error veil_error_t err = NULL;
  struct late l = {.delay_ms = 1500};
  l.listen_fd = ttrpc_listen_unix(path, &err);
  assert_true(l.listen_fd >= 0);
  l.server = ttrpc_server_new(NULL, &err);
  register_all(l.server);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, late_serve, &l), 0);

  veil_agent *a = veil_agent_dial_ready(address, 30000, NULL, NULL, &err);
  if (a == NULL)
    fail_msg("dial_ready: %s", err->msg);
  /* the connection stays usable after the stale Checks were answered */
  Grpc__WaitProcessRequest wait = GRPC__WAIT_PROCESS_REQUEST__INIT;
  Grpc__WaitProcessResponse *wr = NULL;
  assert_int_equal(veil_agent_wait_process(a, &wait, &wr, &err), 0);
  assert_int_equal(wr->status, 143);
  grpc__wait_process_response__free_unpacked(wr, NULL);
  veil_agent_free(a);

  ttrpc_server_stop(l.server);
  pthread_join(t, NULL);
  ttrpc_server_free(l.server);
  close(l.listen_fd);
  unlink(path);
  rmdir(dir);
}

static void dial_ready_times_out_naming_the_address(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  veil_agent *a = veil_agent_dial_ready("unix:///nonexistent/veil/agent.sock", 300, NULL, NULL,
                                        &err);
  assert_null(a);
  assert_error(err, VEIL_GRPC_DEADLINE_EXCEEDED, "unix:///nonexistent/veil/agent.sock");
}

static bool vm_dead(void *user)
{
  (void)user;
  return false;
}

static void dial_ready_stops_when_the_vm_is_gone(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  veil_agent *a = veil_agent_dial_ready("unix:///nonexistent/veil/agent.sock", 600000, vm_dead,
                                        NULL, &err);
  assert_null(a);
  assert_error(err, VEIL_GRPC_UNAVAILABLE, "VM stopped");
}

static void dial_ready_rejects_bad_address(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  assert_null(veil_agent_dial_ready("tcp://x:1", 1000, NULL, NULL, &err));
  assert_int_equal(err->status, EINVAL);
  veil_error_release(&err);
  /* the agent's listen address is not a dial address: refused at once, no socket made */
  assert_null(veil_agent_dial_ready("vsock://-1:1024", 600000, NULL, NULL, &err));
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "is for listening"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(well_formed_responses_pass, fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(read_stdout_longer_than_requested_from_fake_hostile_agent,
                                    fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(malformed_response_from_fake_hostile_agent, fake_setup,
                                    fake_teardown),
    cmocka_unit_test_setup_teardown(oversized_empty_response_from_fake_hostile_agent, fake_setup,
                                    fake_teardown),
    cmocka_unit_test_setup_teardown(write_stdin_overclaim_from_fake_hostile_agent, fake_setup,
                                    fake_teardown),
    cmocka_unit_test_setup_teardown(remote_error_is_distrusted_and_names_rpc, fake_setup,
                                    fake_teardown),
    cmocka_unit_test_setup_teardown(unimplemented_rpc_is_reported, fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(bad_requests_rejected_locally, fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(list_interfaces_bounded_against_fake_hostile_agent,
                                    fake_setup, fake_teardown),
    cmocka_unit_test_setup_teardown(list_routes_bounded_against_fake_hostile_agent, fake_setup,
                                    fake_teardown),
    cmocka_unit_test(timeouts_follow_kata),
    cmocka_unit_test(dial_ready_waits_for_a_late_agent),
    cmocka_unit_test(dial_ready_times_out_naming_the_address),
    cmocka_unit_test(dial_ready_stops_when_the_vm_is_gone),
    cmocka_unit_test(dial_ready_rejects_bad_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
