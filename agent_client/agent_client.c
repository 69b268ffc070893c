/* Typed, bounded Kata agent client over ttrpc (agent_client.h). */
#include "agent_client/agent_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_client/request_log.h"
#include "common/text.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "google/protobuf/empty.pb-c.h"
#include "ttrpc/address.h"

#define SEC INT64_C(1000000000)
#define KIB ((size_t)1024)

struct rpc_info {
  const char *service;
  const char *method;
  const ProtobufCMessageDescriptor *req;
  const ProtobufCMessageDescriptor *resp; /* google.protobuf.Empty for the void RPCs */
  int64_t timeout_ns;
  size_t max_resp;
};

#define AGENT "grpc.AgentService"
#define EMPTY &google__protobuf__empty__descriptor
/* An Empty response is 0 bytes from a well-behaved agent; a little slack for unknown fields. */
#define EMPTY_MAX (1 * KIB)

static const struct rpc_info rpcs[VEIL_AGENT_RPC_COUNT] = {
  [VEIL_AGENT_CHECK] = {"grpc.Health", "Check", &grpc__check_request__descriptor,
                        &grpc__health_check_response__descriptor, 30 * SEC, 64},
  [VEIL_AGENT_VERSION] = {"grpc.Health", "Version", &grpc__check_request__descriptor,
                          &grpc__version_check_response__descriptor, 30 * SEC, 4 * KIB},
  [VEIL_AGENT_CREATE_SANDBOX] = {AGENT, "CreateSandbox", &grpc__create_sandbox_request__descriptor,
                                 EMPTY, 60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_DESTROY_SANDBOX] = {AGENT, "DestroySandbox",
                                  &grpc__destroy_sandbox_request__descriptor, EMPTY, 60 * SEC,
                                  EMPTY_MAX},
  [VEIL_AGENT_CREATE_CONTAINER] = {AGENT, "CreateContainer",
                                   &grpc__create_container_request__descriptor, EMPTY, 60 * SEC,
                                   EMPTY_MAX},
  [VEIL_AGENT_START_CONTAINER] = {AGENT, "StartContainer",
                                  &grpc__start_container_request__descriptor, EMPTY, 60 * SEC,
                                  EMPTY_MAX},
  [VEIL_AGENT_REMOVE_CONTAINER] = {AGENT, "RemoveContainer",
                                   &grpc__remove_container_request__descriptor, EMPTY, 60 * SEC,
                                   EMPTY_MAX},
  [VEIL_AGENT_EXEC_PROCESS] = {AGENT, "ExecProcess", &grpc__exec_process_request__descriptor,
                               EMPTY, 60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_SIGNAL_PROCESS] = {AGENT, "SignalProcess", &grpc__signal_process_request__descriptor,
                                 EMPTY, 60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_WAIT_PROCESS] = {AGENT, "WaitProcess", &grpc__wait_process_request__descriptor,
                               &grpc__wait_process_response__descriptor, 0, 64},
  [VEIL_AGENT_READ_STDOUT] = {AGENT, "ReadStdout", &grpc__read_stream_request__descriptor,
                              &grpc__read_stream_response__descriptor, 0, 0 /* per call */},
  [VEIL_AGENT_READ_STDERR] = {AGENT, "ReadStderr", &grpc__read_stream_request__descriptor,
                              &grpc__read_stream_response__descriptor, 0, 0 /* per call */},
  /* no timeout (kata: 60 s): the agent blocks until the pipe has room, and a process may
   * legitimately leave its stdin unread for longer; a timed-out write would lose data */
  [VEIL_AGENT_WRITE_STDIN] = {AGENT, "WriteStdin", &grpc__write_stream_request__descriptor,
                              &grpc__write_stream_response__descriptor, 0, 64},
  [VEIL_AGENT_CLOSE_STDIN] = {AGENT, "CloseStdin", &grpc__close_stdin_request__descriptor, EMPTY,
                              60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_TTY_WIN_RESIZE] = {AGENT, "TtyWinResize", &grpc__tty_win_resize_request__descriptor,
                                 EMPTY, 60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_PAUSE_CONTAINER] = {AGENT, "PauseContainer",
                                  &grpc__pause_container_request__descriptor, EMPTY, 60 * SEC,
                                  EMPTY_MAX},
  [VEIL_AGENT_RESUME_CONTAINER] = {AGENT, "ResumeContainer",
                                   &grpc__resume_container_request__descriptor, EMPTY, 60 * SEC,
                                   EMPTY_MAX},
  [VEIL_AGENT_STATS_CONTAINER] = {AGENT, "StatsContainer",
                                  &grpc__stats_container_request__descriptor,
                                  &grpc__stats_container_response__descriptor,
                                  /* containerd asks every task in turn: one silent guest
                                   * must not stall node-wide stats (kubelet, eviction) */
                                  5 * SEC, 1024 * KIB},
  [VEIL_AGENT_UPDATE_CONTAINER] = {AGENT, "UpdateContainer",
                                   &grpc__update_container_request__descriptor, EMPTY, 60 * SEC,
                                   EMPTY_MAX},
  [VEIL_AGENT_GET_GUEST_DETAILS] = {AGENT, "GetGuestDetails", &grpc__guest_details_request__descriptor,
                                    &grpc__guest_details_response__descriptor, 60 * SEC, 64 * KIB},
  [VEIL_AGENT_SET_GUEST_DATE_TIME] = {AGENT, "SetGuestDateTime",
                                      &grpc__set_guest_date_time_request__descriptor, EMPTY,
                                      60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_SET_POLICY] = {AGENT, "SetPolicy", &grpc__set_policy_request__descriptor, EMPTY,
                             60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_GET_OOM_EVENT] = {AGENT, "GetOOMEvent", &grpc__get_oomevent_request__descriptor,
                                &grpc__oomevent__descriptor, 0, 4 * KIB},
  [VEIL_AGENT_COPY_FILE] = {AGENT, "CopyFile", &grpc__copy_file_request__descriptor, EMPTY,
                            60 * SEC, EMPTY_MAX},
  [VEIL_AGENT_UPDATE_INTERFACE] = {AGENT, "UpdateInterface",
                                   &grpc__update_interface_request__descriptor,
                                   &types__interface__descriptor, 60 * SEC, 64 * KIB},
  [VEIL_AGENT_UPDATE_ROUTES] = {AGENT, "UpdateRoutes", &grpc__update_routes_request__descriptor,
                                &grpc__routes__descriptor, 60 * SEC, 1024 * KIB},
  [VEIL_AGENT_ADD_ARP_NEIGHBORS] = {AGENT, "AddARPNeighbors",
                                    &grpc__add_arpneighbors_request__descriptor, EMPTY, 60 * SEC,
                                    EMPTY_MAX},
  [VEIL_AGENT_LIST_INTERFACES] = {AGENT, "ListInterfaces",
                                  &grpc__list_interfaces_request__descriptor,
                                  &grpc__interfaces__descriptor, 60 * SEC, 1024 * KIB},
  [VEIL_AGENT_LIST_ROUTES] = {AGENT, "ListRoutes", &grpc__list_routes_request__descriptor,
                              &grpc__routes__descriptor, 60 * SEC, 1024 * KIB},
};

struct veil_agent {
  ttrpc_client *client;
  int request_log_fd; /* -1: no log (request_log.h) */
};

const char *veil_agent_rpc_name(enum veil_agent_rpc rpc)
{
  return (unsigned)rpc < VEIL_AGENT_RPC_COUNT ? rpcs[rpc].method : "unknown RPC";
}

int64_t veil_agent_default_timeout_ns(enum veil_agent_rpc rpc)
{
  return (unsigned)rpc < VEIL_AGENT_RPC_COUNT ? rpcs[rpc].timeout_ns : 0;
}

size_t veil_agent_response_limit(enum veil_agent_rpc rpc)
{
  if (rpc == VEIL_AGENT_READ_STDOUT || rpc == VEIL_AGENT_READ_STDERR)
    return VEIL_AGENT_MAX_READ_LEN + 16;
  return (unsigned)rpc < VEIL_AGENT_RPC_COUNT ? rpcs[rpc].max_resp : 0;
}

veil_agent *veil_agent_new(ttrpc_client *client, veil_error_t *err)
{
  veil_agent *a = calloc(1, sizeof(*a));
  if (a == NULL) {
    ttrpc_client_free(client);
    veil_error_make(err, ENOMEM, "agent client");
    return NULL;
  }
  a->client = client;
  a->request_log_fd = -1;
  return a;
}

bool veil_agent_closed(veil_agent *a)
{
  return ttrpc_client_closed(a->client);
}

void veil_agent_close(veil_agent *a)
{
  ttrpc_client_close(a->client);
}

void veil_agent_free(veil_agent *a)
{
  if (a == NULL)
    return;
  ttrpc_client_free(a->client);
  veil_cleanup_closep(&a->request_log_fd);
  free(a);
}

void veil_agent_log_requests(veil_agent *a, int fd)
{
  veil_cleanup_closep(&a->request_log_fd);
  a->request_log_fd = fd;
}

static veil_agent *dial_address(const struct ttrpc_address *addr, const char *text, int connect_timeout_ms,
                                veil_error_t *err)
{
  int fd = ttrpc_address_dial(addr, connect_timeout_ms, err);
  if (fd < 0) {
    veil_error_wrap(err, "connect to agent at %s", text);
    return NULL;
  }
  ttrpc_client *c = ttrpc_client_new(fd, err);
  if (c == NULL) {
    veil_error_wrap(err, "agent at %s", text);
    return NULL;
  }
  return veil_agent_new(c, err);
}

#define AGENT_ERROR_TEXT_MAX 1024

/* An error the agent sent is the guest's words: printable UTF-8 of bounded length, and only
 * codes that cannot make containerd believe something about the host (a NotFound answer to
 * Kill or Delete reads as "already gone"; AlreadyExists as a name clash) pass as they are. */
static void distrust_agent_error(veil_error_t *err)
{
  if (err == NULL || *err == NULL || !(*err)->remote)
    return;
  struct veil_error_s *e = *err;
  char *clean = veil_text_sanitize(e->msg, strlen(e->msg), AGENT_ERROR_TEXT_MAX);
  if (clean) {
    free(e->msg);
    e->msg = clean;
  }
  switch (e->grpc_code) {
  case VEIL_GRPC_CANCELLED:
  case VEIL_GRPC_INVALID_ARGUMENT:
  case VEIL_GRPC_DEADLINE_EXCEEDED:
  case VEIL_GRPC_PERMISSION_DENIED:
  case VEIL_GRPC_RESOURCE_EXHAUSTED:
  case VEIL_GRPC_FAILED_PRECONDITION:
  case VEIL_GRPC_ABORTED:
  case VEIL_GRPC_OUT_OF_RANGE:
  case VEIL_GRPC_UNIMPLEMENTED:
  case VEIL_GRPC_INTERNAL:
  case VEIL_GRPC_UNAVAILABLE:
    break;
  default:
    e->grpc_code = VEIL_GRPC_INTERNAL;
    e->status = veil_errno_from_grpc_code(VEIL_GRPC_INTERNAL);
  }
}

veil_agent *veil_agent_dial(const char *address, int connect_timeout_ms, veil_error_t *err)
{
  struct ttrpc_address addr;
  if (ttrpc_address_parse(address, TTRPC_ADDRESS_DIAL, &addr, err) < 0)
    return NULL;
  return dial_address(&addr, address, connect_timeout_ms, err);
}

/* One unary call: type-check and pack the request, bound and unpack the response.
 * `max_resp` is the largest packed response accepted. */
static int agent_call(veil_agent *a, enum veil_agent_rpc rpc, const ProtobufCMessage *req,
                      int64_t timeout_ns, size_t max_resp, ProtobufCMessage **out,
                      veil_error_t *err)
{
  const struct rpc_info *info = &rpcs[rpc];
  if (req == NULL || req->descriptor != info->req)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "agent %s: request must be a %s",
                           info->method, info->req->name);
  size_t req_len = protobuf_c_message_get_packed_size(req);
  if (req_len > TTRPC_MAX_DATA - 1024)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "agent %s: request of %zu bytes "
                           "exceeds the ttrpc limit", info->method, req_len);
  cleanup_free uint8_t *buf = malloc(req_len ? req_len : 1);
  if (buf == NULL)
    return veil_error_make(err, ENOMEM, "agent %s: request", info->method);
  protobuf_c_message_pack(req, buf);
  veil_request_log_write(a->request_log_fd, info->method, req);

  cleanup_free uint8_t *resp = NULL;
  size_t resp_len = 0;
  if (ttrpc_client_call(a->client, info->service, info->method, buf, req_len, timeout_ns, NULL, 0,
                        &resp, &resp_len, err) < 0) {
    distrust_agent_error(err);
    return veil_error_wrap(err, "agent %s", info->method);
  }
  if (resp_len > max_resp)
    return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: response of %zu bytes exceeds "
                           "the limit of %zu: rejected (misbehaving guest?)", info->method,
                           resp_len, max_resp);
  ProtobufCMessage *m = protobuf_c_message_unpack(info->resp, NULL, resp_len, resp);
  if (m == NULL)
    return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: malformed %s response "
                           "(%zu bytes): rejected", info->method, info->resp->name, resp_len);
  if (out)
    *out = m;
  else
    protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}

static int call_typed(veil_agent *a, enum veil_agent_rpc rpc, const ProtobufCMessage *req,
                      ProtobufCMessage **out, veil_error_t *err)
{
  return agent_call(a, rpc, req, rpcs[rpc].timeout_ns, rpcs[rpc].max_resp, out, err);
}

#define VOID_RPC(fn, RPC, Req)                                                        \
  int veil_agent_##fn(veil_agent *a, const Req *req, veil_error_t *err)               \
  {                                                                                   \
    return call_typed(a, RPC, (const ProtobufCMessage *)req, NULL, err);              \
  }
#define TYPED_RPC(fn, RPC, Req, Resp)                                                   \
  int veil_agent_##fn(veil_agent *a, const Req *req, Resp **resp, veil_error_t *err)    \
  {                                                                                     \
    return call_typed(a, RPC, (const ProtobufCMessage *)req, (ProtobufCMessage **)resp, \
                      err);                                                             \
  }

TYPED_RPC(check, VEIL_AGENT_CHECK, Grpc__CheckRequest, Grpc__HealthCheckResponse)
TYPED_RPC(version, VEIL_AGENT_VERSION, Grpc__CheckRequest, Grpc__VersionCheckResponse)
VOID_RPC(create_sandbox, VEIL_AGENT_CREATE_SANDBOX, Grpc__CreateSandboxRequest)
VOID_RPC(destroy_sandbox, VEIL_AGENT_DESTROY_SANDBOX, Grpc__DestroySandboxRequest)
TYPED_RPC(get_guest_details, VEIL_AGENT_GET_GUEST_DETAILS, Grpc__GuestDetailsRequest,
          Grpc__GuestDetailsResponse)
VOID_RPC(set_guest_date_time, VEIL_AGENT_SET_GUEST_DATE_TIME, Grpc__SetGuestDateTimeRequest)
VOID_RPC(set_policy, VEIL_AGENT_SET_POLICY, Grpc__SetPolicyRequest)
VOID_RPC(copy_file, VEIL_AGENT_COPY_FILE, Grpc__CopyFileRequest)
TYPED_RPC(get_oom_event, VEIL_AGENT_GET_OOM_EVENT, Grpc__GetOOMEventRequest, Grpc__OOMEvent)
VOID_RPC(create_container, VEIL_AGENT_CREATE_CONTAINER, Grpc__CreateContainerRequest)
VOID_RPC(start_container, VEIL_AGENT_START_CONTAINER, Grpc__StartContainerRequest)
VOID_RPC(exec_process, VEIL_AGENT_EXEC_PROCESS, Grpc__ExecProcessRequest)
VOID_RPC(signal_process, VEIL_AGENT_SIGNAL_PROCESS, Grpc__SignalProcessRequest)
TYPED_RPC(wait_process, VEIL_AGENT_WAIT_PROCESS, Grpc__WaitProcessRequest,
          Grpc__WaitProcessResponse)
VOID_RPC(pause_container, VEIL_AGENT_PAUSE_CONTAINER, Grpc__PauseContainerRequest)
VOID_RPC(resume_container, VEIL_AGENT_RESUME_CONTAINER, Grpc__ResumeContainerRequest)
TYPED_RPC(stats_container, VEIL_AGENT_STATS_CONTAINER, Grpc__StatsContainerRequest,
          Grpc__StatsContainerResponse)
VOID_RPC(update_container, VEIL_AGENT_UPDATE_CONTAINER, Grpc__UpdateContainerRequest)
VOID_RPC(close_stdin, VEIL_AGENT_CLOSE_STDIN, Grpc__CloseStdinRequest)
VOID_RPC(tty_win_resize, VEIL_AGENT_TTY_WIN_RESIZE, Grpc__TtyWinResizeRequest)

VOID_RPC(add_arp_neighbors, VEIL_AGENT_ADD_ARP_NEIGHBORS, Grpc__AddARPNeighborsRequest)

/* ---- network replies: bounded field by field ---- */

#define IFNAME_MAX 15
#define HWADDR_MAX (32 * 3 - 1)
#define ADDR_MAX 63 /* an IPv6 CIDR */
#define MASK_MAX 3

/* `path` names the field, e.g. "Interfaces[2].name". */
static int check_len(const char *rpc, const char *path, const char *s, size_t max,
                     veil_error_t *err)
{
  size_t n = s ? strlen(s) : 0;
  if (n <= max)
    return 0;
  return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: %s of %zu bytes exceeds %zu: "
                         "rejected (misbehaving guest?)", rpc, path, n, max);
}

static int check_count(const char *rpc, const char *field, size_t n, size_t max, veil_error_t *err)
{
  if (n <= max)
    return 0;
  return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: %zu %s exceed %zu: rejected "
                         "(misbehaving guest?)", rpc, n, field, max);
}

/* `at` names the interface in messages: "Interface" or "Interfaces[3]". */
static int check_interface_at(const char *rpc, const char *at, const Types__Interface *it,
                              veil_error_t *err)
{
  char p[6][128];
  if (it == NULL)
    return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: %s is missing", rpc, at);
  snprintf(p[0], sizeof(p[0]), "%s.name", at);
  snprintf(p[1], sizeof(p[1]), "%s.device", at);
  snprintf(p[2], sizeof(p[2]), "%s.hwAddr", at);
  snprintf(p[3], sizeof(p[3]), "%s.devicePath", at);
  snprintf(p[4], sizeof(p[4]), "%s.type", at);
  snprintf(p[5], sizeof(p[5]), "%s.IPAddresses", at);
  if (check_len(rpc, p[0], it->name, IFNAME_MAX, err) < 0 ||
      check_len(rpc, p[1], it->device, VEIL_AGENT_MAX_NET_TEXT, err) < 0 ||
      check_len(rpc, p[2], it->hwaddr, HWADDR_MAX, err) < 0 ||
      check_len(rpc, p[3], it->devicepath, VEIL_AGENT_MAX_NET_TEXT, err) < 0 ||
      check_len(rpc, p[4], it->type, VEIL_AGENT_MAX_NET_TEXT, err) < 0 ||
      check_count(rpc, p[5], it->n_ipaddresses, VEIL_AGENT_MAX_INTERFACE_ADDRS, err) < 0)
    return -1;
  for (size_t k = 0; k < it->n_ipaddresses; k++) {
    const Types__IPAddress *ip = it->ipaddresses[k];
    if (ip == NULL)
      return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: %s.IPAddresses[%zu] is missing",
                             rpc, at, k);
    snprintf(p[0], sizeof(p[0]), "%s.IPAddresses[%zu].address", at, k);
    snprintf(p[1], sizeof(p[1]), "%s.IPAddresses[%zu].mask", at, k);
    if (check_len(rpc, p[0], ip->address, ADDR_MAX, err) < 0 ||
        check_len(rpc, p[1], ip->mask, MASK_MAX, err) < 0)
      return -1;
  }
  return 0;
}

int veil_agent_check_interface(const char *rpc, const Types__Interface *it, veil_error_t *err)
{
  return check_interface_at(rpc, "Interface", it, err);
}

int veil_agent_check_interfaces(const char *rpc, const Grpc__Interfaces *list, veil_error_t *err)
{
  if (check_count(rpc, "Interfaces", list->n_interfaces, VEIL_AGENT_MAX_INTERFACES, err) < 0)
    return -1;
  for (size_t i = 0; i < list->n_interfaces; i++) {
    char at[48];
    snprintf(at, sizeof(at), "Interfaces[%zu]", i);
    if (check_interface_at(rpc, at, list->interfaces[i], err) < 0)
      return -1;
  }
  return 0;
}

int veil_agent_check_routes(const char *rpc, const Grpc__Routes *routes, veil_error_t *err)
{
  if (check_count(rpc, "Routes", routes->n_routes, VEIL_AGENT_MAX_ROUTES, err) < 0)
    return -1;
  for (size_t i = 0; i < routes->n_routes; i++) {
    const Types__Route *r = routes->routes[i];
    if (r == NULL)
      return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: Routes[%zu] is missing", rpc, i);
    char p[4][64];
    snprintf(p[0], sizeof(p[0]), "Routes[%zu].dest", i);
    snprintf(p[1], sizeof(p[1]), "Routes[%zu].gateway", i);
    snprintf(p[2], sizeof(p[2]), "Routes[%zu].source", i);
    snprintf(p[3], sizeof(p[3]), "Routes[%zu].device", i);
    if (check_len(rpc, p[0], r->dest, ADDR_MAX, err) < 0 ||
        check_len(rpc, p[1], r->gateway, ADDR_MAX, err) < 0 ||
        check_len(rpc, p[2], r->source, ADDR_MAX, err) < 0 ||
        check_len(rpc, p[3], r->device, IFNAME_MAX, err) < 0)
      return -1;
  }
  return 0;
}

/* A typed call whose reply then passes `check`; a reply that fails it is freed. */
static int call_checked(veil_agent *a, enum veil_agent_rpc rpc, const ProtobufCMessage *req,
                        ProtobufCMessage **resp, int (*check)(const char *, const void *,
                                                              veil_error_t *),
                        veil_error_t *err)
{
  ProtobufCMessage *m = NULL;
  if (call_typed(a, rpc, req, &m, err) < 0)
    return -1;
  if (check(rpcs[rpc].method, m, err) < 0) {
    protobuf_c_message_free_unpacked(m, NULL);
    return -1;
  }
  *resp = m;
  return 0;
}

static int check_interface_any(const char *rpc, const void *m, veil_error_t *err)
{
  return veil_agent_check_interface(rpc, m, err);
}
static int check_interfaces_any(const char *rpc, const void *m, veil_error_t *err)
{
  return veil_agent_check_interfaces(rpc, m, err);
}
static int check_routes_any(const char *rpc, const void *m, veil_error_t *err)
{
  return veil_agent_check_routes(rpc, m, err);
}

int veil_agent_update_interface(veil_agent *a, const Grpc__UpdateInterfaceRequest *req,
                                Types__Interface **resp, veil_error_t *err)
{
  return call_checked(a, VEIL_AGENT_UPDATE_INTERFACE, (const ProtobufCMessage *)req,
                      (ProtobufCMessage **)resp, check_interface_any, err);
}

int veil_agent_update_routes(veil_agent *a, const Grpc__UpdateRoutesRequest *req,
                             Grpc__Routes **resp, veil_error_t *err)
{
  return call_checked(a, VEIL_AGENT_UPDATE_ROUTES, (const ProtobufCMessage *)req,
                      (ProtobufCMessage **)resp, check_routes_any, err);
}

int veil_agent_list_interfaces(veil_agent *a, const Grpc__ListInterfacesRequest *req,
                               Grpc__Interfaces **resp, veil_error_t *err)
{
  return call_checked(a, VEIL_AGENT_LIST_INTERFACES, (const ProtobufCMessage *)req,
                      (ProtobufCMessage **)resp, check_interfaces_any, err);
}

int veil_agent_list_routes(veil_agent *a, const Grpc__ListRoutesRequest *req, Grpc__Routes **resp,
                           veil_error_t *err)
{
  return call_checked(a, VEIL_AGENT_LIST_ROUTES, (const ProtobufCMessage *)req,
                      (ProtobufCMessage **)resp, check_routes_any, err);
}

int veil_agent_remove_container(veil_agent *a, const Grpc__RemoveContainerRequest *req,
                                veil_error_t *err)
{
  int64_t timeout = rpcs[VEIL_AGENT_REMOVE_CONTAINER].timeout_ns;
  /* the agent itself waits up to req->timeout seconds for the processes to exit */
  if (req && req->timeout > 0 && timeout > 0 && timeout < (int64_t)req->timeout * SEC + 10 * SEC)
    timeout = (int64_t)req->timeout * SEC + 10 * SEC;
  return agent_call(a, VEIL_AGENT_REMOVE_CONTAINER, (const ProtobufCMessage *)req, timeout,
                    EMPTY_MAX, NULL, err);
}

static int read_stream(veil_agent *a, enum veil_agent_rpc rpc, const Grpc__ReadStreamRequest *req,
                       Grpc__ReadStreamResponse **resp, veil_error_t *err)
{
  if (req == NULL || req->len == 0 || req->len > VEIL_AGENT_MAX_READ_LEN)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "agent %s: len must be 1..%u",
                           rpcs[rpc].method, VEIL_AGENT_MAX_READ_LEN);
  /* data (tag + varint length) plus slack for fields a newer agent may add */
  size_t max = (size_t)req->len + 64;
  Grpc__ReadStreamResponse *r = NULL;
  if (agent_call(a, rpc, (const ProtobufCMessage *)req, rpcs[rpc].timeout_ns, max,
                 (ProtobufCMessage **)&r, err) < 0)
    return -1;
  if (r->data.len > req->len) {
    size_t got = r->data.len;
    grpc__read_stream_response__free_unpacked(r, NULL);
    return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: %zu bytes returned for a read "
                           "of at most %u: rejected (misbehaving guest?)", rpcs[rpc].method, got,
                           req->len);
  }
  *resp = r;
  return 0;
}

int veil_agent_read_stdout(veil_agent *a, const Grpc__ReadStreamRequest *req,
                           Grpc__ReadStreamResponse **resp, veil_error_t *err)
{
  return read_stream(a, VEIL_AGENT_READ_STDOUT, req, resp, err);
}

int veil_agent_read_stderr(veil_agent *a, const Grpc__ReadStreamRequest *req,
                           Grpc__ReadStreamResponse **resp, veil_error_t *err)
{
  return read_stream(a, VEIL_AGENT_READ_STDERR, req, resp, err);
}

int veil_agent_write_stdin(veil_agent *a, const Grpc__WriteStreamRequest *req,
                           Grpc__WriteStreamResponse **resp, veil_error_t *err)
{
  Grpc__WriteStreamResponse *r = NULL;
  if (call_typed(a, VEIL_AGENT_WRITE_STDIN, (const ProtobufCMessage *)req, (ProtobufCMessage **)&r,
                 err) < 0)
    return -1;
  if (r->len > req->data.len) {
    uint32_t got = r->len;
    grpc__write_stream_response__free_unpacked(r, NULL);
    return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent WriteStdin: %u bytes reported "
                           "written of %zu sent: rejected (misbehaving guest?)", got,
                           req->data.len);
  }
  *resp = r;
  return 0;
}

int veil_agent_write_stdin_all(veil_agent *a, const char *container_id, const char *exec_id,
                               const void *data, size_t len, veil_error_t *err)
{
  const uint8_t *p = data;
  unsigned zero_writes = 0;
  while (len > 0) {
    Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
    req.container_id = (char *)container_id;
    req.exec_id = (char *)exec_id;
    req.data.data = (uint8_t *)p;
    req.data.len = len > VEIL_AGENT_MAX_READ_LEN ? VEIL_AGENT_MAX_READ_LEN : len;
    Grpc__WriteStreamResponse *resp = NULL;
    if (veil_agent_write_stdin(a, &req, &resp, err) < 0)
      return -1;
    size_t n = resp->len;
    grpc__write_stream_response__free_unpacked(resp, NULL);
    if (n == 0) {
      /* veil-agent blocks until it can write at least one byte; an agent that keeps
       * accepting nothing is broken or hostile: give up instead of spinning forever */
      if (++zero_writes > 1000)
        return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent WriteStdin: %s/%s accepted no "
                               "data 1000 times in a row", container_id, exec_id);
      nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
      continue;
    }
    zero_writes = 0;
    p += n;
    len -= n;
  }
  return 0;
}

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
  nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000}, NULL);
}

/* Per-attempt Check timeout: short, because a request sent before the guest opened its
 * virtio-serial port just waits in the channel and is answered later (stale answers are
 * dropped by the ttrpc client). */
#define READY_CHECK_NS (500 * 1000 * 1000)

veil_agent *veil_agent_dial_ready(const char *address, int timeout_ms, veil_agent_alive_fn alive,
                                  void *alive_user, veil_error_t *err)
{
  struct ttrpc_address addr;  /* parsed once, dialed on every attempt */
  if (ttrpc_address_parse(address, TTRPC_ADDRESS_DIAL, &addr, err) < 0)
    return NULL;

  int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
  veil_agent *a = NULL;
  cleanup_error veil_error_t last = NULL;
  unsigned attempts = 0;
  for (;;) {
    if (alive && !alive(alive_user)) {
      veil_agent_free(a);
      veil_error_grpc(err, VEIL_GRPC_UNAVAILABLE, "agent at %s: the VM stopped while waiting for "
                      "the agent (last error: %s)", address, last ? last->msg : "none");
      return NULL;
    }
    int64_t left = deadline - now_ns();
    if (left <= 0)
      break;
    attempts++;
    if (a == NULL) {
      int connect_ms = left / 1000000 > 1000 ? 1000 : (int)(left / 1000000) + 1;
      veil_error_release(&last);
      a = dial_address(&addr, address, connect_ms, &last);
      if (a == NULL) {
        sleep_ms(50);
        continue;
      }
    }
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *resp = NULL;
    veil_error_release(&last);
    if (agent_call(a, VEIL_AGENT_CHECK, (const ProtobufCMessage *)&req,
                   left < READY_CHECK_NS ? left : READY_CHECK_NS, rpcs[VEIL_AGENT_CHECK].max_resp,
                   (ProtobufCMessage **)&resp, &last) == 0) {
      int status = resp->status;
      grpc__health_check_response__free_unpacked(resp, NULL);
      if (status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        log_debug("agent at %s ready after %u attempts", address, attempts);
        return a;
      }
      veil_error_grpc(&last, VEIL_GRPC_UNAVAILABLE, "agent Check: status %d, not SERVING", status);
      sleep_ms(100);
    } else if (veil_agent_closed(a)) {
      veil_agent_free(a);
      a = NULL;
      sleep_ms(50);
    } else if (veil_error_grpc_code(last) != VEIL_GRPC_DEADLINE_EXCEEDED) {
      sleep_ms(100);
    }
  }
  veil_agent_free(a);
  veil_error_grpc(err, VEIL_GRPC_DEADLINE_EXCEEDED, "agent at %s not ready within %d ms "
                  "(%u attempts; last error: %s)", address, timeout_ms, attempts,
                  last ? last->msg : "none");
  return NULL;
}
