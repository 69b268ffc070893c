/* containerd.task.v2.Task over ttrpc: decode, act on the model, encode. Errors leave as
 * google.rpc.Status through the ttrpc server (veil_error_grpc_code). The same handlers also
 * serve containerd.task.v3.Task: containerd 2.x's v3 API has the same messages and field
 * numbers under another package name, and a 2.x daemon asks for it when it talks to a
 * sandbox's shim at version 3. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "shim/events.h"
#include "shim/json_pb.h"
#include "shim/shim.h"
#include "shim/task_lifecycle.h"
#include "shim/task_service.h"
#include "shim/timestamp.h"
#include "shim/timeutil.h"

static const char *const task_services[] = {"containerd.task.v2.Task", "containerd.task.v3.Task"};

VEIL_DEFINE_CLEANUP(json_t, json_decref)

static int reply(const ProtobufCMessage *m, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  size_t n = protobuf_c_message_get_packed_size(m);
  *resp = malloc(n ? n : 1);
  if (*resp == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  *resp_len = protobuf_c_message_pack(m, *resp);
  return 0;
}

static int reply_empty(uint8_t **resp, size_t *resp_len)
{
  *resp = NULL;
  *resp_len = 0;
  return 0;
}

#define DECODE(type, fn, var)                                                                  \
  type *var = fn##__unpack(NULL, req_len, req);                                               \
  if (var == NULL)                                                                             \
    return veil_error_make(err, EINVAL, "%s: malformed request", ctx->method);                \
  __attribute__((cleanup(free_##fn))) type *var##_owner = var;                                \
  (void)var##_owner

#define DEFINE_FREE(type, fn)                                                                  \
  static inline void free_##fn(type **p)                                                       \
  {                                                                                            \
    if (*p)                                                                                    \
      fn##__free_unpacked(*p, NULL);                                                           \
  }

DEFINE_FREE(Containerd__Task__V2__CreateTaskRequest, containerd__task__v2__create_task_request)
DEFINE_FREE(Containerd__Task__V2__StartRequest, containerd__task__v2__start_request)
DEFINE_FREE(Containerd__Task__V2__DeleteRequest, containerd__task__v2__delete_request)
DEFINE_FREE(Containerd__Task__V2__StateRequest, containerd__task__v2__state_request)
DEFINE_FREE(Containerd__Task__V2__PidsRequest, containerd__task__v2__pids_request)
DEFINE_FREE(Containerd__Task__V2__PauseRequest, containerd__task__v2__pause_request)
DEFINE_FREE(Containerd__Task__V2__ResumeRequest, containerd__task__v2__resume_request)
DEFINE_FREE(Containerd__Task__V2__KillRequest, containerd__task__v2__kill_request)
DEFINE_FREE(Containerd__Task__V2__ExecProcessRequest, containerd__task__v2__exec_process_request)
DEFINE_FREE(Containerd__Task__V2__ResizePtyRequest, containerd__task__v2__resize_pty_request)
DEFINE_FREE(Containerd__Task__V2__CloseIORequest, containerd__task__v2__close_iorequest)
DEFINE_FREE(Containerd__Task__V2__UpdateTaskRequest, containerd__task__v2__update_task_request)
DEFINE_FREE(Containerd__Task__V2__WaitRequest, containerd__task__v2__wait_request)
DEFINE_FREE(Containerd__Task__V2__StatsRequest, containerd__task__v2__stats_request)
DEFINE_FREE(Containerd__Task__V2__ConnectRequest, containerd__task__v2__connect_request)
DEFINE_FREE(Containerd__Task__V2__ShutdownRequest, containerd__task__v2__shutdown_request)

static uint32_t vmm_pid(struct shim *s)
{
  return s->sandbox.vm ? (uint32_t)veil_vm_pid(s->sandbox.vm) : 0;
}

static int h_create(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                    size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__CreateTaskRequest, containerd__task__v2__create_task_request, r);
  Containerd__Task__V2__CreateTaskResponse out = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
  if (shim_task_create(s, r, &out.pid, err) < 0)
    return -1;
  return reply(&out.base, resp, resp_len, err);
}

static char *new_agent_exec_id(const char *exec_id)
{
  /* the agent's id space is the guest's: never reuse containerd's string verbatim */
  static unsigned long counter;
  char *id = NULL;
  if (asprintf(&id, "%s-%d-%lu", exec_id, (int)getpid(),
               __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST)) < 0)
    return NULL;
  return id;
}

static int h_start(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                   size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__StartRequest, containerd__task__v2__start_request, r);
  pthread_mutex_lock(&s->lock);
  struct shim_process *p = shim_find_process(s, r->id, r->exec_id, err);
  if (p == NULL) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  if (p->started) {
    pthread_mutex_unlock(&s->lock);
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "%s %s: already started", r->id,
                           r->exec_id);
  }
  p->started = true; /* claim it: a concurrent Start fails */
  bool is_init = p == p->container->init;
  pthread_mutex_unlock(&s->lock);

  int rc;
  if (is_init) {
    Grpc__StartContainerRequest sc = GRPC__START_CONTAINER_REQUEST__INIT;
    sc.container_id = r->id;
    rc = SHIM_AGENT_CALL(s, err, veil_agent_start_container, &sc);
  } else {
    Grpc__ExecProcessRequest ep = GRPC__EXEC_PROCESS_REQUEST__INIT;
    ep.container_id = r->id;
    ep.exec_id = p->agent_exec_id;
    ep.process = p->exec_process;
    rc = SHIM_AGENT_CALL(s, err, veil_agent_exec_process, &ep);
  }
  pthread_mutex_lock(&s->lock);
  if (rc < 0) {
    p->started = false;
    pthread_mutex_unlock(&s->lock);
    return veil_error_wrap(err, "start %s", r->id);
  }
  p->status = PROC_RUNNING;
  /* TaskStart/ExecStarted is queued before the waiter can queue TaskExit */
  if (is_init) {
    Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
    ev.container_id = r->id;
    ev.pid = vmm_pid(s);
    shim_events_publish(s->events, "/tasks/start", &ev.base);
  } else {
    Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
    ev.container_id = r->id;
    ev.exec_id = r->exec_id;
    ev.pid = vmm_pid(s);
    shim_events_publish(s->events, "/tasks/exec-started", &ev.base);
  }
  rc = shim_process_start_io(s, p, err);
  pthread_mutex_unlock(&s->lock);
  if (rc < 0)
    return -1;
  Containerd__Task__V2__StartResponse out = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
  out.pid = vmm_pid(s);
  return reply(&out.base, resp, resp_len, err);
}

static int h_delete(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                    size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__DeleteRequest, containerd__task__v2__delete_request, r);
  Containerd__Task__V2__DeleteResponse out = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  if (shim_task_delete(s, r->id, r->exec_id, &out, &ts, err) < 0)
    return -1;
  return reply(&out.base, resp, resp_len, err);
}

static int h_state(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                   size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__StateRequest, containerd__task__v2__state_request, r);
  pthread_mutex_lock(&s->lock);
  struct shim_process *p = shim_find_process(s, r->id, r->exec_id, err);
  if (p == NULL) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  Google__Protobuf__Timestamp ts = shim_timestamp(&p->exited_at);
  Containerd__Task__V2__StateResponse out = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
  out.id = p->exec_id[0] ? p->exec_id : p->container->id;
  out.exec_id = p->exec_id;
  out.bundle = p->container->bundle;
  out.pid = vmm_pid(s);
  out.status = (Containerd__V1__Types__Status)p->status;
  out.stdin = p->stdin_path;
  out.stdout = p->stdout_path;
  out.stderr = p->stderr_path;
  out.terminal = p->terminal;
  out.exit_status = p->exit_status;
  if (p->exited) {
    out.exited_at = &ts;
  }
  int rc = reply(&out.base, resp, resp_len, err);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int h_pids(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__PidsRequest, containerd__task__v2__pids_request, r);
  pthread_mutex_lock(&s->lock);
  bool known = shim_find_container(s, r->id) != NULL;
  uint32_t pid = vmm_pid(s);
  pthread_mutex_unlock(&s->lock);
  if (!known)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container %s: not found", r->id);
  /* containerd treats an empty list as a leaked shim: always report the VMM. */
  Containerd__V1__Types__ProcessInfo info = CONTAINERD__V1__TYPES__PROCESS_INFO__INIT;
  info.pid = pid;
  Containerd__V1__Types__ProcessInfo *infos[1] = {&info};
  Containerd__Task__V2__PidsResponse out = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
  out.processes = infos;
  out.n_processes = 1;
  return reply(&out.base, resp, resp_len, err);
}

static int pause_resume(struct shim *s, const char *id, bool pause, veil_error_t *err)
{
  pthread_mutex_lock(&s->lock);
  struct shim_container *c = shim_find_container(s, id);
  pthread_mutex_unlock(&s->lock);
  if (c == NULL)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container %s: not found", id);
  Grpc__PauseContainerRequest pr = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
  Grpc__ResumeContainerRequest rr = GRPC__RESUME_CONTAINER_REQUEST__INIT;
  pr.container_id = rr.container_id = (char *)id;
  if ((pause ? SHIM_AGENT_CALL(s, err, veil_agent_pause_container, &pr)
             : SHIM_AGENT_CALL(s, err, veil_agent_resume_container, &rr)) < 0)
    return veil_error_wrap(err, "%s %s", pause ? "pause" : "resume", id);
  pthread_mutex_lock(&s->lock);
  c = shim_find_container(s, id);
  if (c && !c->init->exited)
    c->init->status = pause ? PROC_PAUSED : PROC_RUNNING;
  Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
  ev.container_id = (char *)id;
  if (pause) {
    shim_events_publish(s->events, "/tasks/paused", &ev.base);
  } else {
    Containerd__Events__TaskResumed rv = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
    rv.container_id = (char *)id;
    shim_events_publish(s->events, "/tasks/resumed", &rv.base);
  }
  pthread_mutex_unlock(&s->lock);
  return 0;
}

static int h_pause(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                   size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  DECODE(Containerd__Task__V2__PauseRequest, containerd__task__v2__pause_request, r);
  if (pause_resume(user, r->id, true, err) < 0)
    return -1;
  return reply_empty(resp, resp_len);
}

static int h_resume(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                    size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  DECODE(Containerd__Task__V2__ResumeRequest, containerd__task__v2__resume_request, r);
  if (pause_resume(user, r->id, false, err) < 0)
    return -1;
  return reply_empty(resp, resp_len);
}

static int h_checkpoint(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                        size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user, (void)ctx, (void)req, (void)req_len, (void)resp, (void)resp_len;
  return veil_error_grpc(err, VEIL_GRPC_UNIMPLEMENTED,
                         "checkpoint is not supported by the veil runtime (confidential VMs "
                         "cannot be checkpointed from the host)");
}

static int h_kill(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__KillRequest, containerd__task__v2__kill_request, r);
  if (r->signal == 0 || r->signal >= 65)
    return veil_error_make(err, EINVAL, "kill %s: invalid signal %u", r->id, r->signal);
  pthread_mutex_lock(&s->lock);
  struct shim_process *p = shim_find_process(s, r->id, r->exec_id, err);
  if (p == NULL) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  bool is_init = p == p->container->init;
  bool done = p->exited || !p->started;
  cleanup_free char *agent_exec = strdup(is_init && r->all ? "" : p->agent_exec_id);
  pthread_mutex_unlock(&s->lock);
  if (agent_exec == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (done) {
    /* kata answers OK for a process that already exited; containerd accepts it */
    if (r->signal == SIGKILL || r->signal == SIGTERM || !p->started)
      return reply_empty(resp, resp_len);
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "kill %s: process already exited", r->id);
  }
  Grpc__SignalProcessRequest sp = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
  sp.container_id = r->id;
  sp.exec_id = agent_exec;
  sp.signal = r->signal;
  if (SHIM_AGENT_CALL(s, err, veil_agent_signal_process, &sp) < 0)
    return veil_error_wrap(err, "kill %s", r->id);
  return reply_empty(resp, resp_len);
}

static int h_exec(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__ExecProcessRequest, containerd__task__v2__exec_process_request, r);
  if (r->exec_id == NULL || r->exec_id[0] == '\0' || strlen(r->exec_id) > 128)
    return veil_error_make(err, EINVAL, "exec in %s: invalid exec id", r->id);
  if (r->spec == NULL || r->spec->value.len == 0)
    return veil_error_make(err, EINVAL, "exec %s in %s: no process spec", r->exec_id, r->id);
  json_error_t jerr;
  cleanup_with(json_decref) json_t *pj =
      json_loadb((const char *)r->spec->value.data, r->spec->value.len, 0, &jerr);
  if (pj == NULL)
    return veil_error_make(err, EINVAL, "exec %s: process spec is not JSON: %s", r->exec_id,
                           jerr.text);
  Grpc__Process *proc = shim_exec_process_build(pj, r->terminal, err);
  if (proc == NULL)
    return veil_error_wrap_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "exec %s: process spec",
                                r->exec_id);

  pthread_mutex_lock(&s->lock);
  struct shim_container *c = shim_find_container(s, r->id);
  veil_error_t lookup = NULL;
  if (c == NULL || shim_find_process(s, r->id, r->exec_id, &lookup) != NULL) {
    pthread_mutex_unlock(&s->lock);
    veil_error_release(&lookup);
    protobuf_c_message_free_unpacked(&proc->base, NULL);
    if (c == NULL)
      return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container %s: not found", r->id);
    return veil_error_grpc(err, VEIL_GRPC_ALREADY_EXISTS, "exec %s in %s already exists",
                           r->exec_id, r->id);
  }
  veil_error_release(&lookup);
  cleanup_free char *agent_id = new_agent_exec_id(r->exec_id);
  struct shim_process *p = agent_id ? shim_process_new(c, r->exec_id, agent_id, r->terminal,
                                                       r->stdin, r->stdout, r->stderr)
                                    : NULL;
  if (p == NULL) {
    pthread_mutex_unlock(&s->lock);
    protobuf_c_message_free_unpacked(&proc->base, NULL);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  p->exec_process = proc;
  p->next = c->execs;
  c->execs = p;
  Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
  ev.container_id = r->id;
  ev.exec_id = r->exec_id;
  shim_events_publish(s->events, "/tasks/exec-added", &ev.base);
  pthread_mutex_unlock(&s->lock);
  return reply_empty(resp, resp_len);
}

static int h_resize_pty(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                        size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__ResizePtyRequest, containerd__task__v2__resize_pty_request, r);
  pthread_mutex_lock(&s->lock);
  struct shim_process *p = shim_find_process(s, r->id, r->exec_id, err);
  cleanup_free char *agent_exec = p ? strdup(p->agent_exec_id) : NULL;
  pthread_mutex_unlock(&s->lock);
  if (p == NULL)
    return -1;
  Grpc__TtyWinResizeRequest tw = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
  tw.container_id = r->id;
  tw.exec_id = agent_exec;
  tw.row = r->height;
  tw.column = r->width;
  if (SHIM_AGENT_CALL(s, err, veil_agent_tty_win_resize, &tw) < 0)
    return veil_error_wrap(err, "resize %s", r->id);
  return reply_empty(resp, resp_len);
}

static int h_close_io(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                      size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__CloseIORequest, containerd__task__v2__close_iorequest, r);
  pthread_mutex_lock(&s->lock);
  struct shim_process *p = shim_find_process(s, r->id, r->exec_id, err);
  if (p && r->stdin && p->stdin_started)
    shim_process_close_stdin(p);
  pthread_mutex_unlock(&s->lock);
  if (p == NULL)
    return -1;
  return reply_empty(resp, resp_len);
}

static int h_update(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                    size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__UpdateTaskRequest, containerd__task__v2__update_task_request, r);
  pthread_mutex_lock(&s->lock);
  bool known = shim_find_container(s, r->id) != NULL;
  pthread_mutex_unlock(&s->lock);
  if (!known)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container %s: not found", r->id);
  if (r->resources == NULL)
    return veil_error_make(err, EINVAL, "update %s: no resources", r->id);
  json_error_t jerr;
  cleanup_with(json_decref) json_t *rj =
      json_loadb((const char *)r->resources->value.data, r->resources->value.len, 0, &jerr);
  if (rj == NULL)
    return veil_error_make(err, EINVAL, "update %s: resources are not JSON LinuxResources: %s",
                           r->id, jerr.text);
  Grpc__LinuxResources *res =
      (Grpc__LinuxResources *)json_to_pb(rj, &grpc__linux_resources__descriptor, err);
  if (res == NULL)
    return veil_error_wrap(err, "update %s", r->id);
  Grpc__UpdateContainerRequest uc = GRPC__UPDATE_CONTAINER_REQUEST__INIT;
  uc.container_id = r->id;
  uc.resources = res;
  int rc = SHIM_AGENT_CALL(s, err, veil_agent_update_container, &uc);
  protobuf_c_message_free_unpacked(&res->base, NULL);
  if (rc < 0)
    return veil_error_wrap(err, "update %s", r->id);
  return reply_empty(resp, resp_len);
}

static int h_wait(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__WaitRequest, containerd__task__v2__wait_request, r);
  pthread_mutex_lock(&s->lock);
  struct shim_process *p = shim_find_process(s, r->id, r->exec_id, err);
  if (p == NULL) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  /* Blocks this worker only (ttrpc runs handlers on a pool); wakes on exit or when the
   * caller goes away. The process cannot be freed while it is unexited: Delete refuses. */
  while (!p->exited) {
    struct timespec until = veil_deadline_realtime(1000);
    pthread_cond_timedwait(&p->exited_cond, &s->lock, &until);
    if (!p->exited && ctx->cancelled && *ctx->cancelled) {
      pthread_mutex_unlock(&s->lock);
      return veil_error_grpc(err, VEIL_GRPC_CANCELLED, "wait %s: cancelled", r->id);
    }
  }
  Google__Protobuf__Timestamp ts = shim_timestamp(&p->exited_at);
  Containerd__Task__V2__WaitResponse out = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
  out.exit_status = p->exit_status;
  out.exited_at = &ts;
  int rc = reply(&out.base, resp, resp_len, err);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int h_stats(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                   size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__StatsRequest, containerd__task__v2__stats_request, r);
  pthread_mutex_lock(&s->lock);
  bool known = shim_find_container(s, r->id) != NULL;
  pthread_mutex_unlock(&s->lock);
  if (!known)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container %s: not found", r->id);
  Grpc__StatsContainerRequest sc = GRPC__STATS_CONTAINER_REQUEST__INIT;
  sc.container_id = r->id;
  Grpc__StatsContainerResponse *st = NULL;
  if (SHIM_AGENT_CALL(s, err, veil_agent_stats_container, &sc, &st) < 0) {
    if (veil_error_grpc_code(*err) != VEIL_GRPC_DEADLINE_EXCEEDED)
      return veil_error_wrap(err, "stats %s", r->id);
    pthread_mutex_lock(&s->lock);
    struct shim_container *c = shim_find_container(s, r->id);
    if (c && c->last_metrics && (*resp = malloc(c->last_metrics_len)) != NULL) {
      memcpy(*resp, c->last_metrics, c->last_metrics_len);
      *resp_len = c->last_metrics_len;
      log_warn("stats %s: the guest did not answer in time: serving the last value", r->id);
      veil_error_release(err);
    }
    pthread_mutex_unlock(&s->lock);
    return *err ? veil_error_wrap(err, "stats %s", r->id) : 0;
  }
  int rc = shim_stats_to_metrics(st, resp, resp_len, err);
  protobuf_c_message_free_unpacked(&st->base, NULL);
  if (rc == 0) {
    pthread_mutex_lock(&s->lock);
    struct shim_container *c = shim_find_container(s, r->id);
    uint8_t *copy = c ? malloc(*resp_len ? *resp_len : 1) : NULL;
    if (copy) {
      memcpy(copy, *resp, *resp_len);
      free(c->last_metrics);
      c->last_metrics = copy;
      c->last_metrics_len = *resp_len;
    }
    pthread_mutex_unlock(&s->lock);
  }
  return rc;
}

static int h_connect(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                     size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__ConnectRequest, containerd__task__v2__connect_request, r);
  Containerd__Task__V2__ConnectResponse out = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
  out.shim_pid = (uint32_t)getpid();
  out.task_pid = vmm_pid(s);
  out.version = VEIL_VERSION;
  return reply(&out.base, resp, resp_len, err);
}

static void *delayed_stop(void *arg)
{
  struct shim *s = arg;
  usleep(100 * 1000); /* let the Shutdown reply leave first */
  ttrpc_server_stop(s->server);
  return NULL;
}

void shim_request_exit_locked(struct shim *s)
{
  if (s->shutting_down)
    return;
  s->shutting_down = true;
  pthread_t t;
  if (pthread_create(&t, NULL, delayed_stop, s) == 0)
    pthread_detach(t);
}

bool shim_may_exit_locked(const struct shim *s)
{
  return s->containers == NULL && (!s->api.created || s->api.shutdown);
}

/* containerd calls Shutdown after a task delete (2.4: after every one, also in a pod): the
 * shim stays while tasks remain (or a Sandbox API sandbox lives) and exits with the last. */
static int h_shutdown(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                      size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(Containerd__Task__V2__ShutdownRequest, containerd__task__v2__shutdown_request, r);
  pthread_mutex_lock(&s->lock);
  bool exiting = shim_may_exit_locked(s);
  if (exiting)
    shim_request_exit_locked(s);
  pthread_mutex_unlock(&s->lock);
  log_debug("shutdown requested for %s: %s", r->id, exiting ? "exiting" : "containers remain");
  return reply_empty(resp, resp_len);
}

int shim_task_service_register(struct shim *s, ttrpc_server *srv, veil_error_t *err)
{
  static const struct {
    const char *method;
    ttrpc_method_fn fn;
  } methods[] = {
      {"State", h_state},       {"Create", h_create},         {"Start", h_start},
      {"Delete", h_delete},     {"Pids", h_pids},             {"Pause", h_pause},
      {"Resume", h_resume},     {"Checkpoint", h_checkpoint}, {"Kill", h_kill},
      {"Exec", h_exec},         {"ResizePty", h_resize_pty},  {"CloseIO", h_close_io},
      {"Update", h_update},     {"Wait", h_wait},             {"Stats", h_stats},
      {"Connect", h_connect},   {"Shutdown", h_shutdown},
  };
  for (size_t v = 0; v < sizeof(task_services) / sizeof(task_services[0]); v++)
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
      if (ttrpc_server_register(srv, task_services[v], methods[i].method, methods[i].fn, s, 0,
                                err) < 0)
        return -1;
  return 0;
}
