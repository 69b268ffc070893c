/* Request decoding, policy and dispatch (service.h). */
#include "agent/service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"
#include "agent/ops.h"
#include "common/log.h"
#include "google/protobuf/empty.pb-c.h"
#include "health.pb-c.h"

typedef int (*op_fn)(struct agent *a, const ProtobufCMessage *req, const volatile bool *cancel,
                     ProtobufCMessage **resp, void (**resp_free)(ProtobufCMessage *),
                     veil_error_t *err);

static int pack(const ProtobufCMessage *m, uint8_t **out, size_t *len, veil_error_t *err)
{
  *out = NULL;
  *len = 0;
  if (!m)
    return 0;
  size_t n = protobuf_c_message_get_packed_size(m);
  if (n == 0)
    return 0;
  if (n > TTRPC_MAX_DATA - 1024)
    return veil_error_grpc(err, VEIL_GRPC_RESOURCE_EXHAUSTED, "reply of %zu bytes is too large", n);
  *out = malloc(n);
  if (!*out)
    return veil_error_make(err, ENOMEM, "out of memory");
  *len = protobuf_c_message_pack(m, *out);
  return 0;
}

/* --- grpc.Health --- */

static int op_check(struct agent *a, const ProtobufCMessage *req, const volatile bool *cancel,
                    ProtobufCMessage **resp, void (**resp_free)(ProtobufCMessage *),
                    veil_error_t *err)
{
  (void)a, (void)req, (void)cancel, (void)err;
  Grpc__HealthCheckResponse *r = malloc(sizeof(*r));
  if (!r)
    return veil_error_make(err, ENOMEM, "out of memory");
  grpc__health_check_response__init(r);
  r->status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  *resp = &r->base;
  *resp_free = (void (*)(ProtobufCMessage *))free;
  return 0;
}

static int op_version(struct agent *a, const ProtobufCMessage *req, const volatile bool *cancel,
                      ProtobufCMessage **resp, void (**resp_free)(ProtobufCMessage *),
                      veil_error_t *err)
{
  (void)a, (void)req, (void)cancel;
  Grpc__VersionCheckResponse *r = malloc(sizeof(*r));
  if (!r)
    return veil_error_make(err, ENOMEM, "out of memory");
  grpc__version_check_response__init(r);
  r->grpc_version = (char *)"ttrpc";
  r->agent_version = (char *)AGENT_VERSION;
  *resp = &r->base;
  *resp_free = (void (*)(ProtobufCMessage *))free;
  return 0;
}

/* --- grpc.AgentService --- */

#define OP(name) \
  static int name(struct agent *a, const ProtobufCMessage *req_, const volatile bool *cancel, \
                  ProtobufCMessage **resp, void (**resp_free)(ProtobufCMessage *), \
                  veil_error_t *err)
#define UNUSED_OP_ARGS (void)cancel, (void)resp, (void)resp_free

OP(op_create_container)
{
  UNUSED_OP_ARGS;
  return agent_create_container(a, (const Grpc__CreateContainerRequest *)req_, err);
}
OP(op_start_container)
{
  UNUSED_OP_ARGS;
  return agent_start_container(a, ((const Grpc__StartContainerRequest *)req_)->container_id, err);
}
OP(op_remove_container)
{
  UNUSED_OP_ARGS;
  const Grpc__RemoveContainerRequest *r = (const void *)req_;
  return agent_remove_container(a, r->container_id, r->timeout, err);
}
OP(op_exec_process)
{
  UNUSED_OP_ARGS;
  return agent_exec_process(a, (const Grpc__ExecProcessRequest *)req_, err);
}
OP(op_signal_process)
{
  UNUSED_OP_ARGS;
  const Grpc__SignalProcessRequest *r = (const void *)req_;
  return agent_signal_process(a, r->container_id, r->exec_id, r->signal, err);
}
OP(op_wait_process)
{
  const Grpc__WaitProcessRequest *r = (const void *)req_;
  Grpc__WaitProcessResponse *w = malloc(sizeof(*w));
  if (!w)
    return veil_error_make(err, ENOMEM, "out of memory");
  grpc__wait_process_response__init(w);
  if (agent_wait_process(a, r->container_id, r->exec_id, cancel, &w->status, err) < 0) {
    free(w);
    return -1;
  }
  *resp = &w->base;
  *resp_free = (void (*)(ProtobufCMessage *))free;
  return 0;
}
OP(op_update_container)
{
  UNUSED_OP_ARGS;
  return agent_update_container(a, (const Grpc__UpdateContainerRequest *)req_, err);
}
static void free_stats(ProtobufCMessage *m)
{
  agent_stats_free((Grpc__StatsContainerResponse *)m);
}
OP(op_stats_container)
{
  (void)cancel;
  Grpc__StatsContainerResponse *s;
  if (agent_stats_container(a, ((const Grpc__StatsContainerRequest *)req_)->container_id, &s,
                            err) < 0)
    return -1;
  *resp = &s->base;
  *resp_free = free_stats;
  return 0;
}
OP(op_pause_container)
{
  UNUSED_OP_ARGS;
  return agent_pause_container(a, ((const Grpc__PauseContainerRequest *)req_)->container_id, true,
                               err);
}
OP(op_resume_container)
{
  UNUSED_OP_ARGS;
  return agent_pause_container(a, ((const Grpc__ResumeContainerRequest *)req_)->container_id,
                               false, err);
}
OP(op_write_stdin)
{
  Grpc__WriteStreamResponse *w = malloc(sizeof(*w));
  if (!w)
    return veil_error_make(err, ENOMEM, "out of memory");
  grpc__write_stream_response__init(w);
  if (agent_write_stdin(a, (const Grpc__WriteStreamRequest *)req_, cancel, &w->len, err) < 0) {
    free(w);
    return -1;
  }
  *resp = &w->base;
  *resp_free = (void (*)(ProtobufCMessage *))free;
  return 0;
}
static void free_read(ProtobufCMessage *m)
{
  free(((Grpc__ReadStreamResponse *)m)->data.data);
  free(m);
}
static int read_stream(struct agent *a, const ProtobufCMessage *req_, const volatile bool *cancel,
                       ProtobufCMessage **resp, void (**resp_free)(ProtobufCMessage *),
                       bool is_stderr, veil_error_t *err)
{
  Grpc__ReadStreamResponse *r = malloc(sizeof(*r));
  if (!r)
    return veil_error_make(err, ENOMEM, "out of memory");
  grpc__read_stream_response__init(r);
  if (agent_read_stream(a, (const Grpc__ReadStreamRequest *)req_, is_stderr, cancel, &r->data.data,
                        &r->data.len, err) < 0) {
    free(r);
    return -1;
  }
  *resp = &r->base;
  *resp_free = free_read;
  return 0;
}
OP(op_read_stdout)
{
  return read_stream(a, req_, cancel, resp, resp_free, false, err);
}
OP(op_read_stderr)
{
  return read_stream(a, req_, cancel, resp, resp_free, true, err);
}
OP(op_close_stdin)
{
  UNUSED_OP_ARGS;
  const Grpc__CloseStdinRequest *r = (const void *)req_;
  return agent_close_stdin(a, r->container_id, r->exec_id, err);
}
OP(op_tty_win_resize)
{
  UNUSED_OP_ARGS;
  return agent_tty_resize(a, (const Grpc__TtyWinResizeRequest *)req_, err);
}
OP(op_create_sandbox)
{
  UNUSED_OP_ARGS;
  return agent_create_sandbox(a, (const Grpc__CreateSandboxRequest *)req_, err);
}
OP(op_destroy_sandbox)
{
  UNUSED_OP_ARGS;
  (void)req_;
  return agent_destroy_sandbox(a, err);
}
struct details_reply {
  Grpc__GuestDetailsResponse resp;
  Grpc__AgentDetails details;
};
static void free_details(ProtobufCMessage *m)
{
  struct details_reply *d = (struct details_reply *)m;
  agent_guest_details_free(&d->resp, &d->details);
  free(d);
}
OP(op_get_guest_details)
{
  (void)cancel;
  struct details_reply *d = calloc(1, sizeof(*d));
  if (!d)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (agent_guest_details(a, (const Grpc__GuestDetailsRequest *)req_, &d->resp, &d->details,
                          err) < 0) {
    free_details(&d->resp.base);
    return -1;
  }
  *resp = &d->resp.base;
  *resp_free = free_details;
  return 0;
}
OP(op_set_guest_date_time)
{
  UNUSED_OP_ARGS;
  const Grpc__SetGuestDateTimeRequest *r = (const void *)req_;
  return agent_set_time(a, r->sec, r->usec, err);
}
OP(op_copy_file)
{
  UNUSED_OP_ARGS;
  return agent_copy_file(a, (const Grpc__CopyFileRequest *)req_, err);
}
static void free_oom(ProtobufCMessage *m)
{
  free(((Grpc__OOMEvent *)m)->container_id);
  free(m);
}
OP(op_get_oom_event)
{
  (void)req_;
  Grpc__OOMEvent *e = malloc(sizeof(*e));
  if (!e)
    return veil_error_make(err, ENOMEM, "out of memory");
  grpc__oomevent__init(e);
  if (agent_wait_oom(a, cancel, &e->container_id, err) < 0) {
    free(e);
    return -1;
  }
  *resp = &e->base;
  *resp_free = free_oom;
  return 0;
}
OP(op_set_policy)
{
  UNUSED_OP_ARGS;
  const Grpc__SetPolicyRequest *r = (const void *)req_;
  const char *text = r->policy ? r->policy : "";
  struct agent_policy p = { 0 };
  if (agent_policy_parse(text, strlen(text), &p, err) < 0)
    return -1;
  pthread_mutex_lock(&a->lock);
  agent_policy_clear(&a->policy);
  a->policy = p;
  pthread_mutex_unlock(&a->lock);
  log_info("policy set rules=%zu", p.n_rules);
  return 0;
}

/* --- network (interfaces.c, routes.c, neighbors.c) --- */

static void free_message(ProtobufCMessage *m)
{
  protobuf_c_message_free_unpacked(m, NULL);
}
OP(op_update_interface)
{
  (void)cancel;
  Types__Interface *it = NULL;
  if (agent_update_interface(a, ((const Grpc__UpdateInterfaceRequest *)req_)->interface, &it,
                             err) < 0)
    return -1;
  *resp = &it->base;
  *resp_free = free_message;
  return 0;
}
OP(op_update_routes)
{
  (void)cancel;
  Grpc__Routes *routes = NULL;
  if (agent_update_routes(a, ((const Grpc__UpdateRoutesRequest *)req_)->routes, &routes, err) < 0)
    return -1;
  *resp = &routes->base;
  *resp_free = free_message;
  return 0;
}
OP(op_list_interfaces)
{
  (void)cancel, (void)req_;
  Grpc__Interfaces *list = NULL;
  if (agent_list_interfaces(a, &list, err) < 0)
    return -1;
  *resp = &list->base;
  *resp_free = free_message;
  return 0;
}
OP(op_list_routes)
{
  (void)cancel, (void)req_;
  Grpc__Routes *routes = NULL;
  if (agent_list_routes(a, &routes, err) < 0)
    return -1;
  *resp = &routes->base;
  *resp_free = free_message;
  return 0;
}
OP(op_add_arp_neighbors)
{
  UNUSED_OP_ARGS;
  return agent_add_arp_neighbors(a, ((const Grpc__AddARPNeighborsRequest *)req_)->neighbors, err);
}

struct method {
  const char *service;
  const char *name;
  op_fn fn; /* NULL: Unimplemented */
};

static const struct method methods[] = {
  { HEALTH_SERVICE, "Check", op_check },
  { HEALTH_SERVICE, "Version", op_version },
  { AGENT_SERVICE, "CreateContainer", op_create_container },
  { AGENT_SERVICE, "StartContainer", op_start_container },
  { AGENT_SERVICE, "RemoveContainer", op_remove_container },
  { AGENT_SERVICE, "ExecProcess", op_exec_process },
  { AGENT_SERVICE, "SignalProcess", op_signal_process },
  { AGENT_SERVICE, "WaitProcess", op_wait_process },
  { AGENT_SERVICE, "UpdateContainer", op_update_container },
  { AGENT_SERVICE, "StatsContainer", op_stats_container },
  { AGENT_SERVICE, "PauseContainer", op_pause_container },
  { AGENT_SERVICE, "ResumeContainer", op_resume_container },
  { AGENT_SERVICE, "WriteStdin", op_write_stdin },
  { AGENT_SERVICE, "ReadStdout", op_read_stdout },
  { AGENT_SERVICE, "ReadStderr", op_read_stderr },
  { AGENT_SERVICE, "CloseStdin", op_close_stdin },
  { AGENT_SERVICE, "TtyWinResize", op_tty_win_resize },
  { AGENT_SERVICE, "CreateSandbox", op_create_sandbox },
  { AGENT_SERVICE, "DestroySandbox", op_destroy_sandbox },
  { AGENT_SERVICE, "GetGuestDetails", op_get_guest_details },
  { AGENT_SERVICE, "SetGuestDateTime", op_set_guest_date_time },
  { AGENT_SERVICE, "CopyFile", op_copy_file },
  { AGENT_SERVICE, "GetOOMEvent", op_get_oom_event },
  { AGENT_SERVICE, "SetPolicy", op_set_policy },
  { AGENT_SERVICE, "UpdateInterface", op_update_interface },
  { AGENT_SERVICE, "UpdateRoutes", op_update_routes },
  { AGENT_SERVICE, "ListInterfaces", op_list_interfaces },
  { AGENT_SERVICE, "ListRoutes", op_list_routes },
  { AGENT_SERVICE, "AddARPNeighbors", op_add_arp_neighbors },
};

const char *const agent_method_names[] = {
  "Check", "Version", "CreateContainer", "StartContainer", "RemoveContainer", "ExecProcess",
  "SignalProcess", "WaitProcess", "UpdateContainer", "StatsContainer", "PauseContainer",
  "ResumeContainer", "WriteStdin", "ReadStdout", "ReadStderr", "CloseStdin", "TtyWinResize",
  "CreateSandbox", "DestroySandbox", "GetGuestDetails", "SetGuestDateTime", "CopyFile",
  "GetOOMEvent", "SetPolicy", "UpdateInterface", "ListRoutes", "UpdateRoutes", "AddARPNeighbors",
  "ListInterfaces", NULL,
};

static const ProtobufCServiceDescriptor *service_desc(const char *service)
{
  if (strcmp(service, AGENT_SERVICE) == 0)
    return &grpc__agent_service__descriptor;
  if (strcmp(service, HEALTH_SERVICE) == 0)
    return &grpc__health__descriptor;
  return NULL;
}

int agent_dispatch(struct agent *a, const char *service, const char *method,
                   const volatile bool *cancel, const uint8_t *req, size_t req_len,
                   uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  *resp = NULL;
  *resp_len = 0;
  const ProtobufCServiceDescriptor *sd = service_desc(service);
  const ProtobufCMethodDescriptor *md =
      sd ? protobuf_c_service_descriptor_get_method_by_name(sd, method) : NULL;
  if (!md)
    return veil_error_grpc(err, VEIL_GRPC_UNIMPLEMENTED, "%s/%s is not a method of veil-agent",
                           service, method);
  ProtobufCMessage *msg =
      protobuf_c_message_unpack(md->input, NULL, req_len, req_len ? req : (const uint8_t *)"");
  if (!msg)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "%s: malformed %s protobuf", method,
                           md->input->name);
  /* Every AgentService request is subject to the policy, named by its message
   * type as in kata (e.g. CreateContainerRequest, ReadStreamRequest). */
  int rc = 0;
  if (sd == &grpc__agent_service__descriptor) {
    pthread_mutex_lock(&a->lock);
    rc = agent_policy_check(&a->policy, md->input->short_name, err);
    pthread_mutex_unlock(&a->lock);
  }
  const struct method *m = NULL;
  for (size_t i = 0; rc == 0 && i < sizeof(methods) / sizeof(methods[0]); i++)
    if (strcmp(methods[i].service, service) == 0 && strcmp(methods[i].name, method) == 0)
      m = &methods[i];
  if (rc == 0 && !m)
    rc = veil_error_grpc(err, VEIL_GRPC_UNIMPLEMENTED, "%s is not implemented by veil-agent",
                         method);
  ProtobufCMessage *reply = NULL;
  void (*reply_free)(ProtobufCMessage *) = NULL;
  if (rc == 0)
    rc = m->fn(a, msg, cancel, &reply, &reply_free, err);
  protobuf_c_message_free_unpacked(msg, NULL);
  if (rc == 0)
    rc = pack(reply, resp, resp_len, err);
  if (reply && reply_free)
    reply_free(reply);
  if (rc < 0)
    log_debug("%s failed: %s", method, *err && (*err)->msg ? (*err)->msg : "");
  return rc;
}

struct binding {
  struct agent *a;
  const char *service;
  const char *method;
};

static int handle(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct binding *b = user;
  return agent_dispatch(b->a, b->service, b->method, ctx ? ctx->cancelled : NULL, req, req_len,
                        resp, resp_len, err);
}

int agent_service_register(struct agent *a, ttrpc_server *s, veil_error_t *err)
{
  const ProtobufCServiceDescriptor *sds[] = { &grpc__health__descriptor,
                                              &grpc__agent_service__descriptor };
  const char *names[] = { HEALTH_SERVICE, AGENT_SERVICE };
  size_t n = sds[0]->n_methods + sds[1]->n_methods, k = 0;
  /* The server keeps pointers to the bindings: they live in the agent until agent_fini. */
  struct binding *b = calloc(n, sizeof(*b));
  if (!b)
    return veil_error_make(err, ENOMEM, "out of memory");
  free(a->service_bindings);
  a->service_bindings = b;
  for (size_t d = 0; d < 2; d++)
    for (unsigned i = 0; i < sds[d]->n_methods; i++, k++) {
      b[k] = (struct binding){ a, names[d], sds[d]->methods[i].name };
      if (ttrpc_server_register(s, names[d], b[k].method, handle, &b[k], 0, err) < 0)
        return -1;
    }
  return 0;
}
