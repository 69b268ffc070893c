/* containerd.runtime.sandbox.v1.Sandbox in process, without a VM (booting is covered by
 * tests/integration/shim/test_cri_sandbox_api.py): request ids are checked, CreateSandbox
 * takes the bundle's spec (or none) and the request's annotations, a second Create is refused,
 * status/ping/metrics of a sandbox that is not running say so, Stop and Wait agree, task
 * Shutdown does not end a Sandbox API shim and ShutdownSandbox does. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "sandbox.pb-c.h"
#include "shim/sandbox_service.h"
#include "shim/shim.h"
#include "shim/task_service.h"
#include "ttrpc/ttrpc.h"

#define SVC "containerd.runtime.sandbox.v1.Sandbox"

struct fixture {
  struct shim s;
  ttrpc_client *c;
  pthread_t thread;
  bool joined;
  int rc;
  char dir[64];
};

static void *serve(void *arg)
{
  struct fixture *f = arg;
  cleanup_error veil_error_t err = NULL;
  f->rc = ttrpc_server_run(f->s.server, &err);
  return NULL;
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  cleanup_error veil_error_t err = NULL;
  snprintf(f->dir, sizeof(f->dir), "/tmp/veil-sbx-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->s.args.id = "pod1";
  pthread_mutex_init(&f->s.lock, NULL);
  shim_sandbox_api_init(&f->s);
  struct ttrpc_server_options so = {.require_same_uid = true};
  f->s.server = ttrpc_server_new(&so, &err);
  assert_non_null(f->s.server);
  assert_int_equal(shim_task_service_register(&f->s, f->s.server, &err), 0);
  assert_int_equal(shim_sandbox_service_register(&f->s, f->s.server, &err), 0);
  int sp[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  assert_int_equal(ttrpc_server_add_connection(f->s.server, sp[0], &err), 0);
  f->rc = -2;
  assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
  f->c = ttrpc_client_new(sp[1], &err);
  assert_non_null(f->c);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  if (!f->joined) {
    ttrpc_server_stop(f->s.server);
    pthread_join(f->thread, NULL);
  }
  ttrpc_client_free(f->c);
  ttrpc_server_free(f->s.server);
  shim_sandbox_api_clear(&f->s);
  cleanup_error veil_error_t err = NULL;
  veil_remove_tree(f->dir, &err);
  free(f);
  return 0;
}

/* Calls SVC/method with `msg`; returns the gRPC code (0 = OK) and the response in *out. */
static int call(struct fixture *f, const char *service, const char *method,
                const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
  size_t n = protobuf_c_message_get_packed_size(msg);
  cleanup_free uint8_t *buf = malloc(n ? n : 1);
  protobuf_c_message_pack(msg, buf);
  struct ttrpc_kv md = {"containerd-namespace-ttrpc", "k8s.io"};
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  cleanup_error veil_error_t err = NULL;
  int r = ttrpc_client_call(f->c, service, method, buf, n, 5LL * 1000000000, &md, 1, &resp,
                            &resp_len, &err);
  if (out) {
    *out = resp;
    *out_len = resp_len;
  } else {
    free(resp);
  }
  return r == 0 ? 0 : veil_error_grpc_code(err);
}

static Containerd__Runtime__Sandbox__V1__SandboxStatusResponse *status(struct fixture *f,
                                                                        int *code)
{
  Containerd__Runtime__Sandbox__V1__SandboxStatusRequest req =
      CONTAINERD__RUNTIME__SANDBOX__V1__SANDBOX_STATUS_REQUEST__INIT;
  req.sandbox_id = "pod1";
  req.verbose = true;
  cleanup_free uint8_t *out = NULL;
  size_t n = 0;
  *code = call(f, SVC, "SandboxStatus", &req.base, &out, &n);
  return *code ? NULL : containerd__runtime__sandbox__v1__sandbox_status_response__unpack(
                             NULL, n, out);
}

static int create(struct fixture *f, const char *id, const char *bundle)
{
  Containerd__Runtime__Sandbox__V1__CreateSandboxRequest__AnnotationsEntry ann =
      CONTAINERD__RUNTIME__SANDBOX__V1__CREATE_SANDBOX_REQUEST__ANNOTATIONS_ENTRY__INIT;
  ann.key = "io.katacontainers.config.hypervisor.default_vcpus";
  ann.value = "2";
  Containerd__Runtime__Sandbox__V1__CreateSandboxRequest__AnnotationsEntry *anns[1] = {&ann};
  Containerd__Runtime__Sandbox__V1__CreateSandboxRequest req =
      CONTAINERD__RUNTIME__SANDBOX__V1__CREATE_SANDBOX_REQUEST__INIT;
  req.sandbox_id = (char *)id;
  req.bundle_path = (char *)bundle;
  req.netns_path = "/var/run/netns/cni-1234";
  req.annotations = anns;
  req.n_annotations = 1;
  return call(f, SVC, "CreateSandbox", &req.base, NULL, NULL);
}

static void test_ids_are_checked(void **state)
{
  struct fixture *f = *state;
  Containerd__Runtime__Sandbox__V1__PlatformRequest p =
      CONTAINERD__RUNTIME__SANDBOX__V1__PLATFORM_REQUEST__INIT;
  p.sandbox_id = "other";
  assert_int_equal(call(f, SVC, "Platform", &p.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  assert_int_equal(create(f, "other", f->dir), VEIL_GRPC_NOT_FOUND);
  int code;
  assert_null(status(f, &code));
  assert_int_equal(code, VEIL_GRPC_NOT_FOUND); /* not created yet */
}

static void test_platform(void **state)
{
  struct fixture *f = *state;
  Containerd__Runtime__Sandbox__V1__PlatformRequest p =
      CONTAINERD__RUNTIME__SANDBOX__V1__PLATFORM_REQUEST__INIT;
  p.sandbox_id = "pod1";
  cleanup_free uint8_t *out = NULL;
  size_t n = 0;
  assert_int_equal(call(f, SVC, "Platform", &p.base, &out, &n), 0);
  Containerd__Runtime__Sandbox__V1__PlatformResponse *r =
      containerd__runtime__sandbox__v1__platform_response__unpack(NULL, n, out);
  assert_non_null(r);
  assert_non_null(r->platform);
  assert_string_equal(r->platform->os, "linux");
  assert_string_equal(r->platform->architecture, "amd64");
  containerd__runtime__sandbox__v1__platform_response__free_unpacked(r, NULL);
}

static void test_create_takes_spec_and_annotations(void **state)
{
  struct fixture *f = *state;
  char path[128];
  snprintf(path, sizeof(path), "%s/config.json", f->dir);
  const char *spec = "{\"hostname\":\"pod1-host\",\"annotations\":{"
                     "\"io.katacontainers.config.hypervisor.default_vcpus\":\"1\"}}";
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_write_file_atomic(path, spec, strlen(spec), 0644, &err), 0);
  assert_int_equal(create(f, "pod1", f->dir), 0);
  assert_true(f->s.api.created);
  assert_string_equal(f->s.api.netns_path, "/var/run/netns/cni-1234");
  assert_string_equal(json_string_value(json_object_get(f->s.api.spec, "hostname")),
                      "pod1-host");
  /* the spec's own annotation wins over the request's */
  json_t *ann = json_object_get(f->s.api.spec, "annotations");
  assert_string_equal(
      json_string_value(json_object_get(ann, "io.katacontainers.config.hypervisor.default_vcpus")),
      "1");
  assert_int_equal(create(f, "pod1", f->dir), VEIL_GRPC_ALREADY_EXISTS);
}

static void test_not_started(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(create(f, "pod1", "/nonexistent-bundle"), 0); /* no config.json: {} */
  json_t *ann = json_object_get(f->s.api.spec, "annotations");
  assert_string_equal(
      json_string_value(json_object_get(ann, "io.katacontainers.config.hypervisor.default_vcpus")),
      "2");
  int code;
  Containerd__Runtime__Sandbox__V1__SandboxStatusResponse *st = status(f, &code);
  assert_non_null(st);
  assert_string_equal(st->state, "SANDBOX_NOTREADY");
  assert_int_equal(st->pid, 0);
  assert_null(st->created_at);
  assert_int_equal(st->n_info, 1);
  assert_string_equal(st->info[0]->value, "/var/run/netns/cni-1234");
  containerd__runtime__sandbox__v1__sandbox_status_response__free_unpacked(st, NULL);

  Containerd__Runtime__Sandbox__V1__PingRequest ping =
      CONTAINERD__RUNTIME__SANDBOX__V1__PING_REQUEST__INIT;
  ping.sandbox_id = "pod1";
  assert_int_equal(call(f, SVC, "PingSandbox", &ping.base, NULL, NULL), VEIL_GRPC_UNAVAILABLE);
  Containerd__Runtime__Sandbox__V1__SandboxMetricsRequest m =
      CONTAINERD__RUNTIME__SANDBOX__V1__SANDBOX_METRICS_REQUEST__INIT;
  m.sandbox_id = "pod1";
  assert_int_equal(call(f, SVC, "SandboxMetrics", &m.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  /* a task Create before StartSandbox is refused */
  Containerd__Task__V2__CreateTaskRequest ct = CONTAINERD__TASK__V2__CREATE_TASK_REQUEST__INIT;
  ct.id = "app1";
  ct.bundle = f->dir;
  char path[128];
  snprintf(path, sizeof(path), "%s/config.json", f->dir);
  const char *spec = "{\"process\":{\"args\":[\"true\"]},\"annotations\":{"
                     "\"io.kubernetes.cri.container-type\":\"container\","
                     "\"io.kubernetes.cri.sandbox-id\":\"pod1\"}}";
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_write_file_atomic(path, spec, strlen(spec), 0644, &err), 0);
  assert_int_equal(call(f, "containerd.task.v2.Task", "Create", &ct.base, NULL, NULL),
                   VEIL_GRPC_FAILED_PRECONDITION);
}

static void test_stop_wait_and_shutdown(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(create(f, "pod1", f->dir), 0);
  /* 2.4 sends a task Shutdown after every task delete: it must not end this shim */
  Containerd__Task__V2__ShutdownRequest sd = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
  sd.id = "app1";
  assert_int_equal(call(f, "containerd.task.v2.Task", "Shutdown", &sd.base, NULL, NULL), 0);
  assert_false(f->s.shutting_down);

  Containerd__Runtime__Sandbox__V1__StopSandboxRequest stop =
      CONTAINERD__RUNTIME__SANDBOX__V1__STOP_SANDBOX_REQUEST__INIT;
  stop.sandbox_id = "pod1";
  assert_int_equal(call(f, SVC, "StopSandbox", &stop.base, NULL, NULL), 0);
  assert_int_equal(call(f, SVC, "StopSandbox", &stop.base, NULL, NULL), 0); /* idempotent */
  Containerd__Runtime__Sandbox__V1__WaitSandboxRequest w =
      CONTAINERD__RUNTIME__SANDBOX__V1__WAIT_SANDBOX_REQUEST__INIT;
  w.sandbox_id = "pod1";
  cleanup_free uint8_t *out = NULL;
  size_t n = 0;
  assert_int_equal(call(f, SVC, "WaitSandbox", &w.base, &out, &n), 0);
  Containerd__Runtime__Sandbox__V1__WaitSandboxResponse *wr =
      containerd__runtime__sandbox__v1__wait_sandbox_response__unpack(NULL, n, out);
  assert_non_null(wr);
  assert_int_equal(wr->exit_status, 0);
  assert_non_null(wr->exited_at);
  assert_true(wr->exited_at->seconds > 0);
  containerd__runtime__sandbox__v1__wait_sandbox_response__free_unpacked(wr, NULL);
  int code;
  Containerd__Runtime__Sandbox__V1__SandboxStatusResponse *st = status(f, &code);
  assert_non_null(st);
  assert_string_equal(st->state, "SANDBOX_NOTREADY");
  assert_non_null(st->exited_at);
  containerd__runtime__sandbox__v1__sandbox_status_response__free_unpacked(st, NULL);
  assert_false(f->s.shutting_down);

  Containerd__Runtime__Sandbox__V1__ShutdownSandboxRequest shut =
      CONTAINERD__RUNTIME__SANDBOX__V1__SHUTDOWN_SANDBOX_REQUEST__INIT;
  shut.sandbox_id = "pod1";
  assert_int_equal(call(f, SVC, "ShutdownSandbox", &shut.base, NULL, NULL), 0);
  pthread_join(f->thread, NULL); /* the server stops */
  f->joined = true;
  assert_int_equal(f->rc, 0);
  assert_true(f->s.shutting_down);
}

static void test_vmm_usage_of_a_process(void **state)
{
  (void)state;
  uint64_t rss = 0, cpu = 0;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_vmm_usage(getpid(), &rss, &cpu, &err), 0);
  assert_true(rss > 0);
  assert_int_equal(shim_vmm_usage(0x7ffffff0, &rss, &cpu, &err), -1);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ids_are_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_platform, setup, teardown),
      cmocka_unit_test_setup_teardown(test_create_takes_spec_and_annotations, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_started, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_wait_and_shutdown, setup, teardown),
      cmocka_unit_test(test_vmm_usage_of_a_process),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
