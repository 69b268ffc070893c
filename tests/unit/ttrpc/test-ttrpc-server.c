/* ttrpc server + client against each other over real unix sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/cleanup.h"
#include "harness.h"

#define SVC "veil.test.Echo"

static void msleep(int ms)
{
  struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ---- handlers ---- */

static int h_echo(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user;
  (void)ctx;
  if (len == 0)
    return 0;
  *resp = malloc(len);
  if (*resp == NULL)
    return veil_error_make(err, ENOMEM, "echo");
  memcpy(*resp, req, len);
  *resp_len = len;
  return 0;
}

/* Returns "<metadata value of key `k`>|<peer uid>" */
static int h_meta(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user;
  (void)err;
  (void)req;
  (void)len;
  const char *v = ttrpc_ctx_metadata(ctx, "containerd-namespace-ttrpc");
  char *s = NULL;
  int n = asprintf(&s, "%s|%d|%s", v ? v : "(none)", (int)ctx->peer_pid, ctx->method);
  *resp = (uint8_t *)s;
  *resp_len = (size_t)n;
  return 0;
}

static int h_fail(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)req; (void)len; (void)resp; (void)resp_len;
  return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "no such thing");
}

static int h_errno(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                   uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)req; (void)len; (void)resp; (void)resp_len;
  errno = EEXIST;
  return veil_error_errno(err, "create thing");
}

/* A response one byte over the limit once wrapped in a Response. */
static int h_huge(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)req; (void)len; (void)err;
  *resp_len = TTRPC_MAX_DATA;
  *resp = calloc(1, *resp_len);
  return 0;
}

static atomic_int blocked_cancelled;
/* Blocks until cancelled (connection closed or deadline), at most 10 s. */
static int h_block(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                   uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)req; (void)len; (void)resp; (void)resp_len; (void)err;
  for (int i = 0; i < 10000 && !*ctx->cancelled; i++)
    msleep(1);
  if (*ctx->cancelled)
    atomic_fetch_add(&blocked_cancelled, 1);
  return 0;
}

/* Concurrency proof: every handler waits until all N have started (so N were
 * in flight at once); the first call's handler then waits for the last one to
 * finish (so completion is out of order). */
#define NCONC 100
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int started, max_inflight, inflight;
  bool last_done;
  int order[NCONC], n_done;
} conc = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, false, {0}, 0 };

static int h_conc(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)err;
  int idx = atoi((const char *)req);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&conc.mu);
  conc.started++;
  conc.inflight++;
  if (conc.inflight > conc.max_inflight)
    conc.max_inflight = conc.inflight;
  pthread_cond_broadcast(&conc.cv);
  while (conc.started < NCONC && pthread_cond_timedwait(&conc.cv, &conc.mu, &until) == 0)
    ;
  if (idx == 0)
    while (!conc.last_done && pthread_cond_timedwait(&conc.cv, &conc.mu, &until) == 0)
      ;
  msleep(0);
  if (idx == NCONC - 1)
    conc.last_done = true;
  conc.order[conc.n_done++] = idx;
  conc.inflight--;
  pthread_cond_broadcast(&conc.cv);
  pthread_mutex_unlock(&conc.mu);
  *resp = malloc(len);
  memcpy(*resp, req, len);
  *resp_len = len;
  return 0;
}

static int h_inline(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                    uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)req; (void)len; (void)err; (void)ctx;
  *(pthread_t *)user = pthread_self();
  *resp = (uint8_t *)strdup("inline");
  *resp_len = 6;
  return 0;
}

static pthread_t inline_thread;

/* Blocks until the test opens the gate (at most 10 s). */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool entered, open, exited;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false };

static int h_gate(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)req; (void)len; (void)resp; (void)resp_len; (void)err;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&gate.mu);
  gate.entered = true;
  pthread_cond_broadcast(&gate.cv);
  while (!gate.open && pthread_cond_timedwait(&gate.cv, &gate.mu, &until) == 0)
    ;
  gate.exited = true;
  pthread_mutex_unlock(&gate.mu);
  return 0;
}

static void reg_all(ttrpc_server *s, void *user)
{
  (void)user;
  veil_error_t err = NULL;
  assert_int_equal(ttrpc_server_register(s, SVC, "Echo", h_echo, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Meta", h_meta, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Fail", h_fail, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Errno", h_errno, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Huge", h_huge, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Block", h_block, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Conc", h_conc, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Gate", h_gate, NULL, 0, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Inline", h_inline, &inline_thread,
                                         TTRPC_METHOD_INLINE, &err), 0);
  assert_int_equal(ttrpc_server_register(s, SVC, "Echo", h_echo, NULL, 0, &err), -1);
  assert_non_null(strstr(err->msg, "already registered"));
  veil_error_release(&err);
}

static int call(ttrpc_client *c, const char *method, const void *req, size_t len, int64_t timeout,
                uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  return ttrpc_client_call(c, SVC, method, req, len, timeout, NULL, 0, resp, resp_len, err);
}

/* ---- tests ---- */

static void test_echo_and_metadata(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg_all, NULL);
  ttrpc_client *c = test_client(t.path);
  veil_error_t err = NULL;
  cleanup_free uint8_t *resp = NULL;
  size_t len = 0;
  assert_int_equal(call(c, "Echo", "hello", 5, 0, &resp, &len, &err), 0);
  assert_int_equal(len, 5);
  assert_memory_equal(resp, "hello", 5);
  free(steal_pointer(&resp));
  /* empty request and response */
  assert_int_equal(call(c, "Echo", NULL, 0, 0, &resp, &len, &err), 0);
  assert_int_equal(len, 0);
  assert_null(resp);
  /* metadata and peer credentials reach the handler */
  struct ttrpc_kv md[] = { { "containerd-namespace-ttrpc", "k8s.io" }, { "x", "y" } };
  assert_int_equal(ttrpc_client_call(c, SVC, "Meta", NULL, 0, 0, md, 2, &resp, &len, &err), 0);
  char expect[64];
  snprintf(expect, sizeof(expect), "k8s.io|%d|Meta", (int)getpid());
  assert_int_equal(len, strlen(expect));
  assert_memory_equal(resp, expect, len);
  free(steal_pointer(&resp));
  /* inline handlers run on the loop's (leader) thread, never the caller's */
  assert_int_equal(call(c, "Inline", NULL, 0, 0, &resp, &len, &err), 0);
  assert_int_equal(len, 6);
  assert_false(pthread_equal(inline_thread, pthread_self()));
  free(steal_pointer(&resp));
  assert_int_equal(ttrpc_server_connection_count(t.s), 1);
  ttrpc_client_free(c);
  test_server_stop(&t);
}

static void test_errors_round_trip(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg_all, NULL);
  ttrpc_client *c = test_client(t.path);
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  assert_int_equal(call(c, "Fail", NULL, 0, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_NOT_FOUND);
  assert_string_equal(err->msg, "no such thing");
  veil_error_release(&err);
  /* errno-based errors are mapped at the edge */
  assert_int_equal(call(c, "Errno", NULL, 0, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_ALREADY_EXISTS);
  assert_non_null(strstr(err->msg, "create thing"));
  veil_error_release(&err);
  /* unknown method / service: Unimplemented naming it */
  assert_int_equal(call(c, "Nope", NULL, 0, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_UNIMPLEMENTED);
  assert_non_null(strstr(err->msg, "Nope"));
  veil_error_release(&err);
  assert_int_equal(ttrpc_client_call(c, "no.such.Service", "Echo", NULL, 0, 0, NULL, 0, &resp,
                                     &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_UNIMPLEMENTED);
  assert_non_null(strstr(err->msg, "no.such.Service"));
  veil_error_release(&err);
  /* a handler response over the frame limit becomes ResourceExhausted */
  assert_int_equal(call(c, "Huge", NULL, 0, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_RESOURCE_EXHAUSTED);
  veil_error_release(&err);
  /* a request over the limit fails locally, before sending */
  uint8_t *big = calloc(1, TTRPC_MAX_DATA);
  assert_int_equal(call(c, "Echo", big, TTRPC_MAX_DATA, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_RESOURCE_EXHAUSTED);
  veil_error_release(&err);
  /* ... and the connection still works, also with a near-limit payload */
  size_t near = TTRPC_MAX_DATA - 64;
  assert_int_equal(call(c, "Echo", big, near, 0, &resp, &len, &err), 0);
  assert_int_equal(len, near);
  free(resp);
  free(big);
  assert_false(ttrpc_client_closed(c));
  ttrpc_client_free(c);
  test_server_stop(&t);
}

struct conc_arg {
  ttrpc_client *c;
  int idx;
  int rc;
};

static void *conc_caller(void *arg)
{
  struct conc_arg *a = arg;
  char req[16];
  int n = snprintf(req, sizeof(req), "%d", a->idx);
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  a->rc = call(a->c, "Conc", req, (size_t)n + 1, 0, &resp, &len, &err);
  if (a->rc == 0 && (len != (size_t)n + 1 || memcmp(resp, req, len) != 0))
    a->rc = -2; /* got someone else's response */
  free(resp);
  veil_error_release(&err);
  return NULL;
}

static void test_100_concurrent_calls_one_connection(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg_all, NULL);
  ttrpc_client *c = test_client(t.path);
  pthread_t th[NCONC];
  struct conc_arg args[NCONC];
  for (int i = 0; i < NCONC; i++) {
    args[i] = (struct conc_arg){ c, i, -1 };
    pthread_create(&th[i], NULL, conc_caller, &args[i]);
  }
  for (int i = 0; i < NCONC; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < NCONC; i++)
    assert_int_equal(args[i].rc, 0);
  /* all 100 handlers were in flight at the same time ... */
  assert_int_equal(conc.max_inflight, NCONC);
  /* ... and call 0 finished after call 99 */
  int pos0 = -1, pos99 = -1;
  for (int i = 0; i < NCONC; i++) {
    if (conc.order[i] == 0)
      pos0 = i;
    if (conc.order[i] == NCONC - 1)
      pos99 = i;
  }
  assert_true(pos99 >= 0 && pos0 > pos99);
  ttrpc_client_free(c);
  test_server_stop(&t);
}

static void test_client_timeout_and_server_cancel(void **state)
{
  (void)state;
  struct test_server t;
  atomic_store(&blocked_cancelled, 0);
  test_server_start(&t, NULL, reg_all, NULL);
  ttrpc_client *c = test_client(t.path);
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  assert_int_equal(call(c, "Block", NULL, 0, 100 * 1000000ll, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_DEADLINE_EXCEEDED);
  veil_error_release(&err);
  /* the server got timeout_nano: its handler sees cancelled */
  for (int i = 0; i < 5000 && atomic_load(&blocked_cancelled) == 0; i++)
    msleep(1);
  assert_int_equal(atomic_load(&blocked_cancelled), 1);
  /* the connection is still usable; the late reply was ignored */
  assert_int_equal(call(c, "Echo", "x", 1, 0, &resp, &len, &err), 0);
  free(resp);
  ttrpc_client_free(c);
  test_server_stop(&t);
}

static void test_server_deadline_exceeded_reply(void **state)
{
  (void)state;
  struct test_server t;
  atomic_store(&blocked_cancelled, 0);
  test_server_start(&t, NULL, reg_all, NULL);
  cleanup_close int fd = ttrpc_dial(t.path, 1000, NULL);
  assert_true(fd >= 0);
  /* no client-side timer here: the reply must come from the server */
  raw_send_request(fd, 1, SVC, "Block", NULL, 0, 50 * 1000000ll);
  uint32_t id = 0;
  char msg[256];
  assert_int_equal(raw_recv_status(fd, &id, msg, sizeof(msg)), VEIL_GRPC_DEADLINE_EXCEEDED);
  assert_int_equal(id, 1);
  for (int i = 0; i < 5000 && atomic_load(&blocked_cancelled) == 0; i++)
    msleep(1);
  assert_int_equal(atomic_load(&blocked_cancelled), 1);
  /* negative timeout: already expired */
  raw_send_request(fd, 3, SVC, "Echo", NULL, 0, -1);
  assert_int_equal(raw_recv_status(fd, &id, NULL, 0), VEIL_GRPC_DEADLINE_EXCEEDED);
  /* the handler's late reply for stream 1 was dropped: next frame is stream 5's */
  raw_send_request(fd, 5, SVC, "Echo", (const uint8_t *)"z", 1, 0);
  assert_int_equal(raw_recv_status(fd, &id, NULL, 0), VEIL_GRPC_OK);
  assert_int_equal(id, 5);
  test_server_stop(&t);
}

static void test_connection_close_cancels_calls(void **state)
{
  (void)state;
  struct test_server t;
  atomic_store(&blocked_cancelled, 0);
  test_server_start(&t, NULL, reg_all, NULL);
  int fd = ttrpc_dial(t.path, 1000, NULL);
  assert_true(fd >= 0);
  raw_send_request(fd, 1, SVC, "Block", NULL, 0, 0);
  raw_send_request(fd, 3, SVC, "Block", NULL, 0, 0);
  msleep(50);
  close(fd);
  for (int i = 0; i < 5000 && atomic_load(&blocked_cancelled) < 2; i++)
    msleep(1);
  assert_int_equal(atomic_load(&blocked_cancelled), 2);
  for (int i = 0; i < 5000 && ttrpc_server_connection_count(t.s) > 0; i++)
    msleep(1);
  assert_int_equal(ttrpc_server_connection_count(t.s), 0);
  test_server_stop(&t);
}

struct blk {
  ttrpc_client *c;
  int rc;
  int code;
};

static void *blk_caller(void *arg)
{
  struct blk *x = arg;
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  x->rc = call(x->c, "Block", NULL, 0, 0, &resp, &len, &err);
  x->code = err ? veil_error_grpc_code(err) : 0;
  free(resp);
  veil_error_release(&err);
  return NULL;
}

/* The server runs in a child process that is killed while calls are pending. */
static void test_server_dies_pending_calls_unavailable(void **state)
{
  (void)state;
  char dir[] = "/tmp/veil-ttrpc-die-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof(path), "%s/s.sock", dir);
  int lfd = ttrpc_listen_unix(path, NULL);
  assert_true(lfd >= 0);
  cleanup_pid pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    veil_error_t err = NULL;
    ttrpc_server *s = ttrpc_server_new(NULL, &err);
    reg_all(s, NULL);
    ttrpc_server_add_listener(s, lfd, &err);
    ttrpc_server_run(s, &err);
    _exit(0);
  }
  close(lfd);
  ttrpc_client *c = test_client(path);
  pthread_t th[4];
  struct blk b[4];
  for (int i = 0; i < 4; i++) {
    b[i] = (struct blk){ c, 0, 0 };
    pthread_create(&th[i], NULL, blk_caller, &b[i]);
  }
  msleep(200);
  kill(pid, SIGKILL);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(b[i].rc, -1);
    assert_int_equal(b[i].code, VEIL_GRPC_UNAVAILABLE);
  }
  assert_true(ttrpc_client_closed(c));
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  assert_int_equal(call(c, "Echo", "x", 1, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_UNAVAILABLE);
  veil_error_release(&err);
  ttrpc_client_free(c);
  unlink(path);
  rmdir(dir);
}

static void test_peer_uid_check_rejects_other_uid(void **state)
{
  (void)state;
  struct ttrpc_server_options o = { .require_same_uid = true };
  struct test_server t;
  test_server_start(&t, &o, reg_all, NULL);
  /* same uid: accepted */
  ttrpc_client *c = test_client(t.path);
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  assert_int_equal(call(c, "Echo", "x", 1, 0, &resp, &len, &err), 0);
  free(resp);
  ttrpc_client_free(c);
  /* another uid: the connection is closed without an answer */
  assert_int_equal(geteuid(), 0); /* the test needs root to setuid */
  struct passwd *pw = getpwnam("nobody");
  assert_non_null(pw);
  assert_int_equal(chmod(t.dir, 0755), 0);
  assert_int_equal(chmod(t.path, 0777), 0); /* let nobody reach connect() */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
      _exit(10);
    int fd = ttrpc_dial(t.path, 2000, NULL);
    if (fd < 0)
      _exit(11);
    ttrpc_client *cc = ttrpc_client_new(fd, NULL);
    veil_error_t e = NULL;
    uint8_t *r = NULL;
    size_t l;
    int rc = ttrpc_client_call(cc, SVC, "Echo", (const uint8_t *)"x", 1, 5000000000ll, NULL, 0,
                               &r, &l, &e);
    int code = rc == 0 ? 0 : veil_error_grpc_code(e);
    _exit(code == VEIL_GRPC_UNAVAILABLE ? 0 : 12);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  test_server_stop(&t);
}

/* A peer that never reads its (large) responses must not stall other connections. */
struct flood {
  int fd;
  int sent;
};

static void *flood_sender(void *arg)
{
  struct flood *f = arg;
  uint8_t *big = calloc(1, 1 << 20);
  for (uint32_t i = 0; i < 64; i++) { /* 64 MiB of replies nobody reads */
    struct ttrpc_out *o = ttrpc_out_request(2 * i + 1, SVC, "Echo", 0, NULL, 0, big, 1 << 20, NULL);
    int rc = raw_write_all(f->fd, o->head, o->head_len);
    if (rc == 0)
      rc = raw_write_all(f->fd, o->body, o->body_len);
    ttrpc_out_free(o);
    if (rc < 0)
      break; /* the server stopped reading (backpressure) and we shut down */
    f->sent++;
  }
  free(big);
  return NULL;
}

static void test_slow_peer_does_not_wedge_server(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg_all, NULL);
  struct flood f = { ttrpc_dial(t.path, 1000, NULL), 0 };
  assert_true(f.fd >= 0);
  pthread_t th;
  pthread_create(&th, NULL, flood_sender, &f);
  msleep(300);
  ttrpc_client *c = test_client(t.path);
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  for (int i = 0; i < 50; i++) {
    assert_int_equal(call(c, "Echo", "ping", 4, 5000000000ll, &resp, &len, &err), 0);
    free(resp);
  }
  assert_true(f.sent > 0);
  ttrpc_client_free(c);
  shutdown(f.fd, SHUT_RDWR);
  pthread_join(th, NULL);
  close(f.fd);
  test_server_stop(&t);
}

static void *gate_caller(void *arg)
{
  uint8_t *resp = NULL;
  size_t len;
  veil_error_t err = NULL;
  call(arg, "Gate", NULL, 0, 0, &resp, &len, &err); /* Unavailable once the server is gone */
  free(resp);
  veil_error_release(&err);
  return NULL;
}

/* stop() makes run() return even while a handler blocks. */
static void test_stop_while_handler_blocks(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg_all, NULL);
  ttrpc_client *c = test_client(t.path);
  pthread_t th;
  pthread_create(&th, NULL, gate_caller, c);
  pthread_mutex_lock(&gate.mu);
  while (!gate.entered)
    pthread_cond_wait(&gate.cv, &gate.mu);
  pthread_mutex_unlock(&gate.mu);
  ttrpc_server_stop(t.s);
  pthread_join(t.loop, NULL); /* would hang here if run() waited for the handler */
  pthread_mutex_lock(&gate.mu);
  assert_false(gate.exited);
  gate.open = true;
  pthread_cond_broadcast(&gate.cv);
  pthread_mutex_unlock(&gate.mu);
  ttrpc_server_free(t.s); /* waits for the handler; closes the connection */
  pthread_join(th, NULL);
  ttrpc_client_free(c);
  unlink(t.path);
  rmdir(t.dir);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_echo_and_metadata),
    cmocka_unit_test(test_errors_round_trip),
    cmocka_unit_test(test_100_concurrent_calls_one_connection),
    cmocka_unit_test(test_client_timeout_and_server_cancel),
    cmocka_unit_test(test_server_deadline_exceeded_reply),
    cmocka_unit_test(test_connection_close_cancels_calls),
    cmocka_unit_test(test_server_dies_pending_calls_unavailable),
    cmocka_unit_test(test_peer_uid_check_rejects_other_uid),
    cmocka_unit_test(test_slow_peer_does_not_wedge_server),
    cmocka_unit_test(test_stop_while_handler_blocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
