/* The shim's side of containerd's bootstrap protocol, run against the built binary
 * ($VEIL_SHIM_BINARY) with no containerd and no VM:
 *  - `start` answers with the bare unix:// address (accepted by containerd 1.6 to 2.4), writes
 *    nothing on stderr, honours 2.3+'s BootstrapParams (socket_dir, containerd_ttrpc_address,
 *    runtime options in extensions), and a CRI app container joins its pod's shim;
 *  - `-info` answers containerd 2.x with a RuntimeInfo;
 *  - the server serves the Task API as containerd.task.v2.Task and containerd.task.v3.Task;
 *  - Shutdown (containerd 2.4 sends one after every task delete) keeps the server while it
 *    has containers and stops it with the last one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bootstrap.pb-c.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "github.com/containerd/containerd/pkg/runtimeoptions/v1/api.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "introspection.pb-c.h"
#include "shim/address.h"
#include "shim/shim.h"
#include "shim/task_service.h"
#include "ttrpc/ttrpc.h"

#define NS "k8s.io"

struct fixture {
  char dir[64];      /* short: socket paths live below it */
  char grpc[PATH_MAX];
  char ttrpc[PATH_MAX];
  char sock_dir[PATH_MAX];
  char pod_bundle[PATH_MAX];
  char app_bundle[PATH_MAX];
  pid_t servers[4]; /* started by the test: ended in teardown if an assertion left them */
  size_t n_servers;
};

struct run_result {
  int status; /* exit code, or -1 */
  size_t out_len;
  char out[4096];
  char err[4096];
};

static void write_text(const char *path, const char *text)
{
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  snprintf(f->dir, sizeof(f->dir), "/tmp/veil-start-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->grpc, sizeof(f->grpc), "%s/ctd.sock", f->dir);
  snprintf(f->ttrpc, sizeof(f->ttrpc), "%s/ctd.sock.ttrpc", f->dir);
  snprintf(f->sock_dir, sizeof(f->sock_dir), "%s/s", f->dir);
  snprintf(f->pod_bundle, sizeof(f->pod_bundle), "%s/pod1", f->dir);
  snprintf(f->app_bundle, sizeof(f->app_bundle), "%s/app1", f->dir);
  assert_int_equal(mkdir(f->pod_bundle, 0700), 0);
  assert_int_equal(mkdir(f->app_bundle, 0700), 0);
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/config.json", f->pod_bundle);
  write_text(path, "{\"ociVersion\":\"1.2.0\",\"annotations\":{"
                   "\"io.kubernetes.cri.container-type\":\"sandbox\","
                   "\"io.kubernetes.cri.sandbox-id\":\"pod1\"}}");
  snprintf(path, sizeof(path), "%s/config.json", f->app_bundle);
  write_text(path, "{\"ociVersion\":\"1.2.0\",\"annotations\":{"
                   "\"io.kubernetes.cri.container-type\":\"container\","
                   "\"io.kubernetes.cri.sandbox-id\":\"pod1\"}}");
  setenv("VEIL_SHIM_STATE_ROOT", f->dir, 1);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  for (size_t i = 0; i < f->n_servers; i++) {
    if (waitpid(f->servers[i], NULL, WNOHANG) == 0) { /* still running: SIGTERM cleans up */
      kill(f->servers[i], SIGTERM);
      waitpid(f->servers[i], NULL, 0);
    }
  }
  cleanup_error veil_error_t err = NULL;
  veil_remove_tree(f->dir, &err);
  free(f);
  return 0;
}

static size_t read_all(int fd, char *buf, size_t cap)
{
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || n + (size_t)r >= cap - 1) {
      n += r > 0 ? (size_t)r : 0;
      break;
    }
    n += (size_t)r;
  }
  buf[n] = '\0';
  return n;
}

struct drain {
  int fd;
  char *buf;
  size_t cap;
};

static void *drain_thread(void *arg)
{
  struct drain *d = arg;
  read_all(d->fd, d->buf, d->cap);
  return NULL;
}

/* Runs the shim with `argv` (after argv[0]) in `dir`, `input` on stdin and `env_ttrpc` as
 * $TTRPC_ADDRESS, collecting stdout, stderr and the exit code. */
static void run_shim(const char *const *argv, const char *dir, const uint8_t *input,
                     size_t input_len, const char *env_ttrpc, struct run_result *res)
{
  const char *shim = getenv("VEIL_SHIM_BINARY");
  assert_non_null(shim);
  int in[2], out[2], errp[2];
  assert_int_equal(pipe2(in, O_CLOEXEC), 0);
  assert_int_equal(pipe2(out, O_CLOEXEC), 0);
  assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0 || chdir(dir) < 0)
      _exit(126);
    if (env_ttrpc)
      setenv("TTRPC_ADDRESS", env_ttrpc, 1);
    else
      unsetenv("TTRPC_ADDRESS");
    const char *full[16] = {shim};
    for (int i = 0; argv[i] && i < 14; i++)
      full[i + 1] = argv[i];
    execv(shim, (char *const *)full);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(errp[1]);
  struct drain d = {errp[0], res->err, sizeof(res->err)};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, drain_thread, &d), 0);
  cleanup_error veil_error_t err = NULL;
  if (input_len)
    assert_int_equal(veil_write_all(in[1], input, input_len, &err), 0);
  close(in[1]);
  res->out_len = read_all(out[0], res->out, sizeof(res->out));
  pthread_join(t, NULL);
  close(out[0]);
  close(errp[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* `<shim> -namespace NS -address GRPC -publish-binary X -id ID start` in `bundle`, as
 * containerd runs it. */
static void run_start(const struct fixture *f, const char *id, const char *bundle,
                      const uint8_t *input, size_t input_len, const char *env_ttrpc,
                      struct run_result *res)
{
  const char *argv[] = {"-namespace", NS,    "-address", f->grpc, "-publish-binary",
                        "/usr/bin/containerd", "-id",    id,      "start",  NULL};
  run_shim(argv, bundle, input, input_len, env_ttrpc, res);
}

static size_t pack_params(const char *id, const char *ttrpc, const char *sock_dir,
                          const char *config_path, uint8_t *buf, size_t cap)
{
  Runtimeoptions__V1__Options o = RUNTIMEOPTIONS__V1__OPTIONS__INIT;
  o.config_path = (char *)config_path;
  uint8_t inner[512];
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "type.googleapis.com/runtimeoptions.v1.Options";
  any.value.data = inner;
  any.value.len = runtimeoptions__v1__options__pack(&o, inner);
  Containerd__Runtime__Bootstrap__V1__Extension ext =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__EXTENSION__INIT;
  ext.value = &any;
  Containerd__Runtime__Bootstrap__V1__Extension *exts[1] = {&ext};
  Containerd__Runtime__Bootstrap__V1__BootstrapParams bp =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__BOOTSTRAP_PARAMS__INIT;
  bp.instance_id = (char *)id;
  bp.namespace_ = NS;
  bp.containerd_version = "2.3.7";
  bp.containerd_ttrpc_address = (char *)ttrpc;
  bp.socket_dir = (char *)sock_dir;
  bp.extensions = exts;
  bp.n_extensions = 1;
  assert_true(containerd__runtime__bootstrap__v1__bootstrap_params__get_packed_size(&bp) <= cap);
  return containerd__runtime__bootstrap__v1__bootstrap_params__pack(&bp, buf);
}

static pid_t read_pid_file(struct fixture *f, const char *bundle)
{
  char path[PATH_MAX + 16];
  cleanup_free char *text = NULL;
  size_t len = 0;
  cleanup_error veil_error_t err = NULL;
  snprintf(path, sizeof(path), "%s/shim.pid", bundle);
  assert_int_equal(veil_read_file(path, 64, &text, &len, &err), 0);
  pid_t pid = (pid_t)atoi(text);
  bool known = false;
  for (size_t i = 0; i < f->n_servers; i++)
    known = known || f->servers[i] == pid;
  if (!known && pid > 0 && f->n_servers < sizeof(f->servers) / sizeof(f->servers[0]))
    f->servers[f->n_servers++] = pid;
  return pid;
}

/* The value of NAME in /proc/<pid>/environ (malloc'd), NULL if unset. */
static char *environ_of(pid_t pid, const char *name)
{
  char path[64];
  cleanup_free char *env = NULL;
  size_t len = 0;
  cleanup_error veil_error_t err = NULL;
  snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
  assert_int_equal(veil_read_file(path, 1 << 20, &env, &len, &err), 0);
  size_t n = strlen(name);
  for (char *p = env; p < env + len; p += strlen(p) + 1)
    if (strncmp(p, name, n) == 0 && p[n] == '=')
      return strdup(p + n + 1);
  return NULL;
}

static uint32_t connect_shim_pid(ttrpc_client *c, const char *service)
{
  Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
  req.id = "pod1";
  uint8_t buf[64];
  size_t n = containerd__task__v2__connect_request__pack(&req, buf);
  struct ttrpc_kv md = {"containerd-namespace-ttrpc", NS};
  cleanup_free uint8_t *resp = NULL;
  size_t resp_len = 0;
  cleanup_error veil_error_t err = NULL;
  if (ttrpc_client_call(c, service, "Connect", buf, n, 5LL * 1000000000, &md, 1, &resp,
                        &resp_len, &err) < 0)
    fail_msg("%s/Connect: %s", service, err->msg);
  Containerd__Task__V2__ConnectResponse *r =
      containerd__task__v2__connect_response__unpack(NULL, resp_len, resp);
  assert_non_null(r);
  uint32_t pid = r->shim_pid;
  containerd__task__v2__connect_response__free_unpacked(r, NULL);
  return pid;
}

static int call_shutdown(ttrpc_client *c, const char *service, veil_error_t *err)
{
  Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
  req.id = "pod1";
  uint8_t buf[64];
  size_t n = containerd__task__v2__shutdown_request__pack(&req, buf);
  struct ttrpc_kv md = {"containerd-namespace-ttrpc", NS};
  cleanup_free uint8_t *resp = NULL;
  size_t resp_len = 0;
  return ttrpc_client_call(c, service, "Shutdown", buf, n, 5LL * 1000000000, &md, 1, &resp,
                           &resp_len, err);
}

/* Reaps the server (we are its subreaper once `start` exits); bounded, not timed. */
static void wait_exit(pid_t pid)
{
  for (int i = 0; i < 400; i++) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      assert_true(WIFEXITED(status));
      assert_int_equal(WEXITSTATUS(status), 0);
      return;
    }
    assert_int_equal(r, 0);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  fail_msg("the shim server %d did not exit after Shutdown", (int)pid);
}

static void test_start_with_bootstrap_params(void **state)
{
  struct fixture *f = *state;
  uint8_t params[2048];
  size_t n = pack_params("pod1", f->ttrpc, f->sock_dir, "/etc/veil/dev.json", params,
                         sizeof(params));
  struct run_result res;
  /* $TTRPC_ADDRESS says one thing, BootstrapParams another: the params win */
  run_start(f, "pod1", f->pod_bundle, params, n, "/legacy.ttrpc", &res);
  assert_int_equal(res.status, 0);
  assert_string_equal(res.err, "");
  char want[512];
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_socket_address(f->grpc, NS, "pod1", f->sock_dir, want, sizeof(want),
                                       &err),
                   0);
  assert_string_equal(res.out, want); /* bare address, no newline, nothing else */
  char path[PATH_MAX + 16];
  cleanup_free char *address = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/address", f->pod_bundle);
  assert_int_equal(veil_read_file(path, 1024, &address, &len, &err), 0);
  assert_string_equal(address, want);

  pid_t server = read_pid_file(f, f->pod_bundle);
  assert_true(server > 0);
  cleanup_free char *ttrpc = environ_of(server, "TTRPC_ADDRESS");
  cleanup_free char *config = environ_of(server, "VEIL_OPTIONS_CONFIG_PATH");
  assert_non_null(ttrpc);
  assert_string_equal(ttrpc, f->ttrpc);
  assert_non_null(config);
  assert_string_equal(config, "/etc/veil/dev.json");

  /* A second start of the pod finds the live server; an app container of the pod joins it. */
  run_start(f, "pod1", f->pod_bundle, params, n, NULL, &res);
  assert_int_equal(res.status, 0);
  assert_string_equal(res.out, want);
  n = pack_params("app1", f->ttrpc, f->sock_dir, "/etc/veil/dev.json", params, sizeof(params));
  run_start(f, "app1", f->app_bundle, params, n, NULL, &res);
  assert_int_equal(res.status, 0);
  assert_string_equal(res.err, "");
  assert_string_equal(res.out, want);
  assert_int_equal(read_pid_file(f, f->pod_bundle), server);

  int fd = ttrpc_dial(want, 2000, &err);
  assert_true(fd >= 0);
  ttrpc_client *c = ttrpc_client_new(fd, &err);
  assert_non_null(c);
  assert_int_equal(connect_shim_pid(c, "containerd.task.v2.Task"), (uint32_t)server);
  assert_int_equal(connect_shim_pid(c, "containerd.task.v3.Task"), (uint32_t)server);
  /* no containers: Shutdown ends the server, which removes its socket */
  assert_int_equal(call_shutdown(c, "containerd.task.v3.Task", &err), 0);
  wait_exit(server);
  ttrpc_client_free(c);
  struct stat st;
  assert_int_equal(stat(shim_address_path(want), &st), -1);
  assert_int_equal(errno, ENOENT);
}

/* containerd < 2.3: empty stdin (no runtime options), socket under /run/containerd/s. */
static void test_start_legacy(void **state)
{
  struct fixture *f = *state;
  struct run_result res;
  run_start(f, "pod1", f->pod_bundle, NULL, 0, f->ttrpc, &res);
  assert_int_equal(res.status, 0);
  assert_string_equal(res.err, "");
  char want[512];
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_socket_address(f->grpc, NS, "pod1", NULL, want, sizeof(want), &err), 0);
  assert_string_equal(res.out, want);
  assert_int_equal(strncmp(want, "unix:///run/containerd/s/", strlen("unix:///run/containerd/s/")), 0);
  pid_t server = read_pid_file(f, f->pod_bundle);
  cleanup_free char *ttrpc = environ_of(server, "TTRPC_ADDRESS");
  assert_non_null(ttrpc);
  assert_string_equal(ttrpc, f->ttrpc);
  assert_null(environ_of(server, "VEIL_OPTIONS_CONFIG_PATH"));

  int fd = ttrpc_dial(want, 2000, &err);
  assert_true(fd >= 0);
  ttrpc_client *c = ttrpc_client_new(fd, &err);
  assert_non_null(c);
  assert_int_equal(call_shutdown(c, "containerd.task.v2.Task", &err), 0);
  wait_exit(server);
  ttrpc_client_free(c);
  struct stat st;
  assert_int_equal(stat(shim_address_path(want), &st), -1);
}

/* Failures are one line on stdout (what containerd shows), never on stderr. */
static void test_start_failure_reported_on_stdout_only(void **state)
{
  struct fixture *f = *state;
  struct run_result res;
  uint8_t params[2048];
  size_t n = pack_params("app1", f->ttrpc, f->sock_dir, NULL, params, sizeof(params));
  run_start(f, "app1", f->app_bundle, params, n, NULL, &res); /* its pod has no shim */
  assert_int_equal(res.status, 1);
  assert_string_equal(res.err, "");
  assert_non_null(strstr(res.out, "veil shim start app1:"));
  if (strstr(res.out, "sandbox pod1 is not running") == NULL)
    fail_msg("unexpected output: %s", res.out);

  uint8_t junk[] = {0xff, 0xff, 0xff};
  run_start(f, "pod1", f->pod_bundle, junk, sizeof(junk), NULL, &res);
  assert_int_equal(res.status, 1);
  assert_string_equal(res.err, "");
  assert_non_null(strstr(res.out, "not a google.protobuf.Any"));
  struct stat st;
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/shim.pid", f->pod_bundle);
  assert_int_equal(stat(path, &st), -1); /* nothing was started */
}

/* `-info` (containerd 2.x): RuntimeInfo on stdout with the options echoed and OCI features
 * that claim no user namespaces (the CRI would then ask for idmap mounts). */
static void test_info(void **state)
{
  struct fixture *f = *state;
  Runtimeoptions__V1__Options o = RUNTIMEOPTIONS__V1__OPTIONS__INIT;
  o.config_path = "/etc/veil/dev.json";
  uint8_t inner[256], buf[512];
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "runtimeoptions.v1.Options";
  any.value.data = inner;
  any.value.len = runtimeoptions__v1__options__pack(&o, inner);
  size_t n = google__protobuf__any__pack(&any, buf);
  const char *argv[] = {"-info", NULL};
  struct run_result res;
  run_shim(argv, f->dir, buf, n, NULL, &res);
  assert_int_equal(res.status, 0);
  assert_string_equal(res.err, "");
  Containerd__Types__RuntimeInfo *info = containerd__types__runtime_info__unpack(
      NULL, res.out_len, (const uint8_t *)res.out);
  assert_non_null(info);
  assert_string_equal(info->name, "io.containerd.veil.v2");
  assert_non_null(info->version);
  assert_string_equal(info->version->version, VEIL_VERSION);
  assert_non_null(info->options);
  assert_string_equal(info->options->type_url, "runtimeoptions.v1.Options");
  assert_non_null(info->features);
  assert_string_equal(info->features->type_url,
                      "types.containerd.io/opencontainers/runtime-spec/1/features/Features");
  char json[1024];
  assert_true(info->features->value.len < sizeof(json));
  memcpy(json, info->features->value.data, info->features->value.len);
  json[info->features->value.len] = '\0';
  assert_non_null(strstr(json, "\"namespaces\":["));
  assert_null(strstr(json, "\"user\""));
  containerd__types__runtime_info__free_unpacked(info, NULL);

  /* no options at all (a runtime without an options table) */
  run_shim(argv, f->dir, NULL, 0, NULL, &res);
  assert_int_equal(res.status, 0);
  /* garbage: an error on stderr, nothing on stdout */
  uint8_t junk[] = {0xff, 0xff};
  run_shim(argv, f->dir, junk, sizeof(junk), NULL, &res);
  assert_int_equal(res.status, 1);
  assert_string_equal(res.out, "");
  assert_non_null(strstr(res.err, "not a google.protobuf.Any"));
}

/* In-process server: Shutdown with a container left keeps serving; with none it stops. */
struct served {
  ttrpc_server *srv;
  int rc;
};

static void *serve_thread(void *arg)
{
  struct served *sv = arg;
  cleanup_error veil_error_t err = NULL;
  sv->rc = ttrpc_server_run(sv->srv, &err);
  return NULL;
}

static void test_shutdown_keeps_shim_while_containers_remain(void **state)
{
  (void)state;
  static struct shim s;
  static struct shim_container pause_container = {.id = "pod1"};
  cleanup_error veil_error_t err = NULL;
  pthread_mutex_init(&s.lock, NULL);
  s.containers = &pause_container;
  struct ttrpc_server_options so = {.require_same_uid = true};
  s.server = ttrpc_server_new(&so, &err);
  assert_non_null(s.server);
  assert_int_equal(shim_task_service_register(&s, s.server, &err), 0);
  int sp[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  assert_int_equal(ttrpc_server_add_connection(s.server, sp[0], &err), 0);
  struct served sv = {s.server, -2};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, serve_thread, &sv), 0);
  ttrpc_client *c = ttrpc_client_new(sp[1], &err);
  assert_non_null(c);

  /* 2.4: a task was deleted, another (the pod's pause) remains */
  assert_int_equal(call_shutdown(c, "containerd.task.v2.Task", &err), 0);
  pthread_mutex_lock(&s.lock);
  assert_false(s.shutting_down);
  pthread_mutex_unlock(&s.lock);
  assert_int_equal(connect_shim_pid(c, "containerd.task.v3.Task"), (uint32_t)getpid());

  /* the last task is gone: the next Shutdown stops the server */
  pthread_mutex_lock(&s.lock);
  s.containers = NULL;
  pthread_mutex_unlock(&s.lock);
  assert_int_equal(call_shutdown(c, "containerd.task.v3.Task", &err), 0);
  pthread_join(t, NULL);
  assert_int_equal(sv.rc, 0);
  assert_true(s.shutting_down);
  ttrpc_client_free(c);
  ttrpc_server_free(s.server);
}

int main(void)
{
  /* the forked shim servers are reparented to us, so the tests can reap them */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_start_with_bootstrap_params, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_legacy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_failure_reported_on_stdout_only, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_info, setup, teardown),
      cmocka_unit_test(test_shutdown_keeps_shim_while_containers_remain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
