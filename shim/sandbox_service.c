/* containerd.runtime.sandbox.v1.Sandbox: containerd 2.x's sandbox controller, for a runtime
 * configured with `sandboxer = "shim"`. containerd starts the shim for the pod (`start`
 * with the sandbox id; its bundle may have no config.json), then calls CreateSandbox (the
 * pod's network namespace is already set up) and StartSandbox on the same socket: Start
 * boots the VM, with no pause container. App containers join with `start` as in the
 * pod-sandbox mode (veil answers version 2, so containerd runs `start`/`delete` per task) and
 * use the Task service. The VM lives until StopSandbox and the shim until ShutdownSandbox,
 * whatever the tasks do (task_service.c shim_may_exit_locked). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "health.pb-c.h"
#include "sandbox.pb-c.h"
#include "shim/bundle.h"
#include "shim/sandbox_service.h"
#include "shim/shim.h"
#include "shim/spec.h"
#include "shim/timestamp.h"
#include "shim/timeutil.h"

#define SANDBOX_SERVICE "containerd.runtime.sandbox.v1.Sandbox"
#define METRICS_TYPE_URL "io.containerd.cgroups.v1.Metrics"

#if defined(__x86_64__)
#define GUEST_ARCH "amd64"
#elif defined(__aarch64__)
#define GUEST_ARCH "arm64"
#elif defined(__s390x__)
#define GUEST_ARCH "s390x"
#else
#error "unknown architecture"
#endif

static int reply(const ProtobufCMessage *m, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  size_t n = protobuf_c_message_get_packed_size(m);
  *resp = malloc(n ? n : 1);
  if (*resp == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  *resp_len = protobuf_c_message_pack(m, *resp);
  return 0;
}

/* Decode a request of `type` into `var` (freed at scope exit); every request names the
 * sandbox in its field 1, checked against the id this shim serves. */
#define DECODE(type, fn, var)                                                                  \
  type *var = fn##__unpack(NULL, req_len, req);                                               \
  if (var == NULL)                                                                             \
    return veil_error_make(err, EINVAL, "%s: malformed request", ctx->method);                \
  __attribute__((cleanup(free_##fn))) type *var##_owner = var;                                \
  (void)var##_owner;                                                                           \
  if (check_id(s, var->sandbox_id, err) < 0)                                                   \
  return -1

#define DEFINE_FREE(type, fn)                                                                  \
  static inline void free_##fn(type **p)                                                       \
  {                                                                                            \
    if (*p)                                                                                    \
      fn##__free_unpacked(*p, NULL);                                                           \
  }

typedef Containerd__Runtime__Sandbox__V1__CreateSandboxRequest CreateReq;
typedef Containerd__Runtime__Sandbox__V1__StartSandboxRequest StartReq;
typedef Containerd__Runtime__Sandbox__V1__PlatformRequest PlatformReq;
typedef Containerd__Runtime__Sandbox__V1__StopSandboxRequest StopReq;
typedef Containerd__Runtime__Sandbox__V1__WaitSandboxRequest WaitReq;
typedef Containerd__Runtime__Sandbox__V1__SandboxStatusRequest StatusReq;
typedef Containerd__Runtime__Sandbox__V1__PingRequest PingReq;
typedef Containerd__Runtime__Sandbox__V1__ShutdownSandboxRequest ShutdownReq;
typedef Containerd__Runtime__Sandbox__V1__SandboxMetricsRequest MetricsReq;
DEFINE_FREE(CreateReq, containerd__runtime__sandbox__v1__create_sandbox_request)
DEFINE_FREE(StartReq, containerd__runtime__sandbox__v1__start_sandbox_request)
DEFINE_FREE(PlatformReq, containerd__runtime__sandbox__v1__platform_request)
DEFINE_FREE(StopReq, containerd__runtime__sandbox__v1__stop_sandbox_request)
DEFINE_FREE(WaitReq, containerd__runtime__sandbox__v1__wait_sandbox_request)
DEFINE_FREE(StatusReq, containerd__runtime__sandbox__v1__sandbox_status_request)
DEFINE_FREE(PingReq, containerd__runtime__sandbox__v1__ping_request)
DEFINE_FREE(ShutdownReq, containerd__runtime__sandbox__v1__shutdown_sandbox_request)
DEFINE_FREE(MetricsReq, containerd__runtime__sandbox__v1__sandbox_metrics_request)

/* This shim serves the sandbox it was started for (-id). */
static int check_id(const struct shim *s, const char *id, veil_error_t *err)
{
  if (id == NULL || strcmp(id, s->args.id) != 0)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "sandbox %s: not served by this shim (%s)",
                           id ? id : "", s->args.id);
  return 0;
}

/* The VM exited on its own: the sandbox is over (exit status 255, as for its tasks). */
static void note_vm_gone_locked(struct shim *s)
{
  if (s->api.started && !s->api.stopped && s->sandbox.vm_gone) {
    s->api.stopped = true;
    s->api.exit_status = 255;
    clock_gettime(CLOCK_REALTIME, &s->api.exited_at);
    pthread_cond_broadcast(&s->api.changed);
  }
}

/* The bundle's config.json when containerd wrote one, else {}; the request's annotations
 * are added where the spec has none of its own (shim_sandbox_ensure reads the enabled
 * io.katacontainers.* ones: vCPUs, memory, initdata, policy). */
static json_t *sandbox_spec(const CreateReq *r, veil_error_t *err)
{
  char path[PATH_MAX];
  json_t *spec = NULL;
  snprintf(path, sizeof(path), "%s/config.json", r->bundle_path ? r->bundle_path : "");
  if (r->bundle_path && r->bundle_path[0] && access(path, F_OK) == 0) {
    spec = shim_bundle_load_spec(r->bundle_path, err);
    if (spec == NULL)
      return NULL;
  } else {
    spec = json_object();
  }
  json_t *ann = json_object_get(spec, "annotations");
  if (!json_is_object(ann)) {
    ann = json_object();
    json_object_set_new(spec, "annotations", ann);
  }
  for (size_t i = 0; i < r->n_annotations; i++) {
    const char *k = r->annotations[i]->key, *v = r->annotations[i]->value;
    if (k && v && json_object_get(ann, k) == NULL)
      json_object_set_new(ann, k, json_string(v));
  }
  return spec;
}

static int h_create(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                    size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(CreateReq, containerd__runtime__sandbox__v1__create_sandbox_request, r);
  json_t *spec = sandbox_spec(r, err);
  if (spec == NULL)
    return veil_error_wrap(err, "create sandbox %s", r->sandbox_id);
  char *netns = strdup(r->netns_path ? r->netns_path : "");
  pthread_mutex_lock(&s->lock);
  if (s->api.created || s->containers) {
    pthread_mutex_unlock(&s->lock);
    json_decref(spec);
    free(netns);
    return veil_error_grpc(err, VEIL_GRPC_ALREADY_EXISTS, "sandbox %s already exists",
                           r->sandbox_id);
  }
  if (netns == NULL) {
    pthread_mutex_unlock(&s->lock);
    json_decref(spec);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  s->api.created = true;
  s->api.spec = spec;
  s->api.netns_path = netns;
  pthread_mutex_unlock(&s->lock);
  log_info("sandbox %s created (Sandbox API, netns `%s`)", r->sandbox_id, netns);
  Containerd__Runtime__Sandbox__V1__CreateSandboxResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__CREATE_SANDBOX_RESPONSE__INIT;
  return reply(&out.base, resp, resp_len, err);
}

static int h_start(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                   size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(StartReq, containerd__runtime__sandbox__v1__start_sandbox_request, r);
  pthread_mutex_lock(&s->lock);
  bool created = s->api.created, again = s->api.started;
  pthread_mutex_unlock(&s->lock);
  if (!created)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                           "sandbox %s: StartSandbox before CreateSandbox", r->sandbox_id);
  if (!again && shim_sandbox_ensure(s, r->sandbox_id, s->api.spec, s->options_config_path,
                                    err) < 0)
    return veil_error_wrap(err, "start sandbox %s", r->sandbox_id);
  pthread_mutex_lock(&s->lock);
  if (!s->api.started) {
    s->api.started = true;
    clock_gettime(CLOCK_REALTIME, &s->api.created_at);
  }
  Google__Protobuf__Timestamp ts = shim_timestamp(&s->api.created_at);
  Containerd__Runtime__Sandbox__V1__StartSandboxResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__START_SANDBOX_RESPONSE__INIT;
  out.pid = s->sandbox.vm ? (uint32_t)veil_vm_pid(s->sandbox.vm) : 0;
  out.created_at = &ts;
  int rc = reply(&out.base, resp, resp_len, err);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int h_platform(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                      size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(PlatformReq, containerd__runtime__sandbox__v1__platform_request, r);
  Containerd__Runtime__Sandbox__V1__Platform p = CONTAINERD__RUNTIME__SANDBOX__V1__PLATFORM__INIT;
  p.os = "linux";
  p.architecture = GUEST_ARCH; /* the guest runs the host's architecture */
  Containerd__Runtime__Sandbox__V1__PlatformResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__PLATFORM_RESPONSE__INIT;
  out.platform = &p;
  return reply(&out.base, resp, resp_len, err);
}

/* StopSandbox: the CRI has stopped the pod's containers; the VM goes now (its tasks, if any
 * remain, exit with it). Stopping a stopped sandbox is not an error. */
static int h_stop(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(StopReq, containerd__runtime__sandbox__v1__stop_sandbox_request, r);
  pthread_mutex_lock(&s->lock);
  bool created = s->api.created;
  pthread_mutex_unlock(&s->lock);
  if (!created)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "sandbox %s was not created",
                           r->sandbox_id);
  shim_sandbox_destroy(s);
  pthread_mutex_lock(&s->lock);
  if (!s->api.stopped) {
    s->api.stopped = true;
    s->api.exit_status = 0;
    clock_gettime(CLOCK_REALTIME, &s->api.exited_at);
    pthread_cond_broadcast(&s->api.changed);
  }
  pthread_mutex_unlock(&s->lock);
  log_info("sandbox %s stopped", r->sandbox_id);
  Containerd__Runtime__Sandbox__V1__StopSandboxResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__STOP_SANDBOX_RESPONSE__INIT;
  return reply(&out.base, resp, resp_len, err);
}

/* WaitSandbox blocks (this worker only) until the sandbox stops or its VM exits. */
static int h_wait(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(WaitReq, containerd__runtime__sandbox__v1__wait_sandbox_request, r);
  pthread_mutex_lock(&s->lock);
  if (!s->api.created) {
    pthread_mutex_unlock(&s->lock);
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "sandbox %s was not created",
                           r->sandbox_id);
  }
  for (;;) {
    note_vm_gone_locked(s);
    if (s->api.stopped)
      break;
    struct timespec until = veil_deadline_realtime(1000);
    pthread_cond_timedwait(&s->api.changed, &s->lock, &until);
    if (!s->api.stopped && ctx->cancelled && *ctx->cancelled) {
      pthread_mutex_unlock(&s->lock);
      return veil_error_grpc(err, VEIL_GRPC_CANCELLED, "wait sandbox %s: cancelled",
                             r->sandbox_id);
    }
  }
  Google__Protobuf__Timestamp ts = shim_timestamp(&s->api.exited_at);
  Containerd__Runtime__Sandbox__V1__WaitSandboxResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__WAIT_SANDBOX_RESPONSE__INIT;
  out.exit_status = s->api.exit_status;
  out.exited_at = &ts;
  int rc = reply(&out.base, resp, resp_len, err);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int h_status(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                    size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(StatusReq, containerd__runtime__sandbox__v1__sandbox_status_request, r);
  pthread_mutex_lock(&s->lock);
  if (!s->api.created) {
    pthread_mutex_unlock(&s->lock);
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "sandbox %s was not created",
                           r->sandbox_id);
  }
  note_vm_gone_locked(s);
  bool ready = s->api.started && !s->api.stopped && s->sandbox.ready;
  Google__Protobuf__Timestamp created = shim_timestamp(&s->api.created_at);
  Google__Protobuf__Timestamp exited = shim_timestamp(&s->api.exited_at);
  Containerd__Runtime__Sandbox__V1__SandboxStatusResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__SANDBOX_STATUS_RESPONSE__INIT;
  out.sandbox_id = r->sandbox_id;
  out.pid = s->sandbox.vm && ready ? (uint32_t)veil_vm_pid(s->sandbox.vm) : 0;
  out.state = ready ? "SANDBOX_READY" : "SANDBOX_NOTREADY";
  if (s->api.started)
    out.created_at = &created;
  if (s->api.stopped)
    out.exited_at = &exited;
  Containerd__Runtime__Sandbox__V1__SandboxStatusResponse__InfoEntry netns =
      CONTAINERD__RUNTIME__SANDBOX__V1__SANDBOX_STATUS_RESPONSE__INFO_ENTRY__INIT;
  Containerd__Runtime__Sandbox__V1__SandboxStatusResponse__InfoEntry *info[1] = {&netns};
  if (r->verbose) {
    netns.key = "netns";
    netns.value = s->api.netns_path;
    out.info = info;
    out.n_info = 1;
  }
  int rc = reply(&out.base, resp, resp_len, err);
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* PingSandbox: the agent answers its health check. */
static int h_ping(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                  size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(PingReq, containerd__runtime__sandbox__v1__ping_request, r);
  pthread_mutex_lock(&s->lock);
  bool ready = s->api.started && !s->api.stopped && s->sandbox.ready && !s->sandbox.vm_gone;
  pthread_mutex_unlock(&s->lock);
  if (!ready)
    return veil_error_grpc(err, VEIL_GRPC_UNAVAILABLE, "sandbox %s is not running",
                           r->sandbox_id);
  Grpc__CheckRequest cr = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *hc = NULL;
  if (SHIM_AGENT_CALL(s, err, veil_agent_check, &cr, &hc) < 0)
    return veil_error_wrap(err, "ping sandbox %s", r->sandbox_id);
  bool serving = hc->status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  protobuf_c_message_free_unpacked(&hc->base, NULL);
  if (!serving)
    return veil_error_grpc(err, VEIL_GRPC_UNAVAILABLE, "sandbox %s: the agent is not serving",
                           r->sandbox_id);
  Containerd__Runtime__Sandbox__V1__PingResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__PING_RESPONSE__INIT;
  return reply(&out.base, resp, resp_len, err);
}

/* ShutdownSandbox: the VM (if still there) goes and the shim exits once it has no tasks. */
static int h_shutdown(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                      size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(ShutdownReq, containerd__runtime__sandbox__v1__shutdown_sandbox_request, r);
  shim_sandbox_destroy(s);
  pthread_mutex_lock(&s->lock);
  if (s->api.created && !s->api.stopped) {
    s->api.stopped = true;
    clock_gettime(CLOCK_REALTIME, &s->api.exited_at);
    pthread_cond_broadcast(&s->api.changed);
  }
  s->api.shutdown = true;
  bool exiting = shim_may_exit_locked(s);
  if (exiting)
    shim_request_exit_locked(s);
  pthread_mutex_unlock(&s->lock);
  log_info("sandbox %s shut down%s", r->sandbox_id, exiting ? "" : " (tasks remain)");
  Containerd__Runtime__Sandbox__V1__ShutdownSandboxResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__SHUTDOWN_SANDBOX_RESPONSE__INIT;
  return reply(&out.base, resp, resp_len, err);
}

/* What the host sees of the pod: its VMM process's resident memory and CPU time (the guest's
 * own accounting is per container, through the Task service's Stats). */
int shim_vmm_usage(pid_t pid, uint64_t *rss_bytes, uint64_t *cpu_ns, veil_error_t *err)
{
  char path[64];
  cleanup_free char *status = NULL, *stat = NULL;
  size_t len;
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  if (veil_read_file(path, 1 << 16, &status, &len, err) < 0)
    return -1;
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  if (veil_read_file(path, 1 << 16, &stat, &len, err) < 0)
    return -1;
  const char *rss = strstr(status, "\nVmRSS:");
  unsigned long long kb = 0, utime = 0, stime = 0;
  /* /proc/<pid>/stat: fields 14 and 15 (utime, stime) follow the ")" that ends comm */
  const char *after = strrchr(stat, ')');
  if (rss == NULL || sscanf(rss, "\nVmRSS: %llu", &kb) != 1 || after == NULL ||
      sscanf(after + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
             &stime) != 2)
    return veil_error_make(err, EIO, "VMM pid %d: unexpected /proc format", (int)pid);
  long tick = sysconf(_SC_CLK_TCK);
  *rss_bytes = kb * 1024;
  *cpu_ns = (utime + stime) * (1000000000ull / (unsigned long long)(tick > 0 ? tick : 100));
  return 0;
}

static int h_metrics(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                     size_t req_len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct shim *s = user;
  DECODE(MetricsReq, containerd__runtime__sandbox__v1__sandbox_metrics_request, r);
  pthread_mutex_lock(&s->lock);
  bool ready = s->api.started && !s->api.stopped && s->sandbox.vm && !s->sandbox.vm_gone;
  pid_t vmm = ready ? veil_vm_pid(s->sandbox.vm) : 0;
  pthread_mutex_unlock(&s->lock);
  if (!ready)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "sandbox %s is not running",
                           r->sandbox_id);
  uint64_t rss = 0, cpu = 0;
  if (shim_vmm_usage(vmm, &rss, &cpu, err) < 0)
    return veil_error_wrap(err, "sandbox %s metrics", r->sandbox_id);

  Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
  usage.total = cpu;
  Io__Containerd__Cgroups__V1__CPUStat cpustat = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
  cpustat.usage = &usage;
  Io__Containerd__Cgroups__V1__MemoryEntry mu = IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT;
  mu.usage = rss;
  Io__Containerd__Cgroups__V1__MemoryStat mem = IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
  mem.rss = rss;
  mem.usage = &mu;
  Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
  m.cpu = &cpustat;
  m.memory = &mem;
  size_t n = io__containerd__cgroups__v1__metrics__get_packed_size(&m);
  cleanup_free uint8_t *data = malloc(n ? n : 1);
  if (data == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  io__containerd__cgroups__v1__metrics__pack(&m, data);

  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = METRICS_TYPE_URL;
  any.value.data = data;
  any.value.len = n;
  Google__Protobuf__Timestamp ts = shim_timestamp_now();
  Containerd__Runtime__Sandbox__V1__Metric metric = CONTAINERD__RUNTIME__SANDBOX__V1__METRIC__INIT;
  metric.timestamp = &ts;
  metric.id = r->sandbox_id;
  metric.data = &any;
  Containerd__Runtime__Sandbox__V1__SandboxMetricsResponse out =
      CONTAINERD__RUNTIME__SANDBOX__V1__SANDBOX_METRICS_RESPONSE__INIT;
  out.metrics = &metric;
  return reply(&out.base, resp, resp_len, err);
}

void shim_sandbox_api_init(struct shim *s)
{
  pthread_cond_init(&s->api.changed, NULL);
}

void shim_sandbox_api_clear(struct shim *s)
{
  json_decref(s->api.spec);
  s->api.spec = NULL;
  free(s->api.netns_path);
  s->api.netns_path = NULL;
}

int shim_sandbox_service_register(struct shim *s, ttrpc_server *srv, veil_error_t *err)
{
  static const struct {
    const char *method;
    ttrpc_method_fn fn;
  } methods[] = {
      {"CreateSandbox", h_create}, {"StartSandbox", h_start},       {"Platform", h_platform},
      {"StopSandbox", h_stop},     {"WaitSandbox", h_wait},         {"SandboxStatus", h_status},
      {"PingSandbox", h_ping},     {"ShutdownSandbox", h_shutdown}, {"SandboxMetrics", h_metrics},
  };
  for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
    if (ttrpc_server_register(srv, SANDBOX_SERVICE, methods[i].method, methods[i].fn, s, 0,
                              err) < 0)
      return -1;
  return 0;
}
