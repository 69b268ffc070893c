/* veil's side of the ttrpc interop tests with the real Go library
 * (tests/interop/go/src/veil-ttrpc-peer is the Go side).
 *
 *   ttrpc-interop-peer server SOCKET   serve veil.interop.Echo (Echo, Sized, Fail, Barrier, Meta, Block)
 *   ttrpc-interop-peer client SOCKET   run the checks against a (Go) server; exit 1 on any failure
 *
 * Sizes: "payload" is the Request.payload / Response.payload byte string. The
 * limit checks are stated as frame data lengths (the encoded ttrpc.Request or
 * ttrpc.Response after the 10-byte header: what TTRPC_MAX_DATA bounds), with
 * the payload computed so the frame has exactly that length; the raw checks
 * read the frame header to confirm it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "ttrpc.pb-c.h"
#include "ttrpc/frame.h"
#include "ttrpc/ttrpc.h"

#define SVC "veil.interop.Echo"
#define BARRIER_N 64

/* Payload length whose successful Response (no Status) encodes to n bytes. */
static size_t response_payload_for(size_t n)
{
  if (n == 0)
    return 0;
  for (size_t p = n - 2;; p--) {
    if (1 + ttrpc_varint_len(p) + p == n)
      return p;
    if (p == 0)
      return 0;
  }
}

/* Payload length whose Request to `method` (no timeout, no metadata) encodes to n bytes. */
static size_t request_payload_for(const char *method, size_t n)
{
  Ttrpc__Request r = TTRPC__REQUEST__INIT;
  r.service = SVC;
  r.method = (char *)method;
  size_t fixed = ttrpc__request__get_packed_size(&r);
  for (size_t p = n - fixed - 1; p + 12 > n - fixed; p--)
    if (fixed + 1 + ttrpc_varint_len(p) + p == n)
      return p;
  abort();
}

/* ---------------- server ---------------- */

static int h_echo(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx;
  if (len == 0)
    return 0;
  if ((*resp = malloc(len)) == NULL)
    return veil_error_make(err, ENOMEM, "echo");
  memcpy(*resp, req, len);
  *resp_len = len;
  return 0;
}

static int h_sized(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                   uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx;
  char num[32];
  snprintf(num, sizeof(num), "%.*s", (int)(len < 31 ? len : 31), (const char *)req);
  size_t n = strtoul(num, NULL, 10);
  *resp_len = response_payload_for(n);
  if (*resp_len && (*resp = calloc(1, *resp_len)) == NULL)
    return veil_error_make(err, ENOMEM, "sized");
  return 0;
}

static int h_fail(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)req; (void)len; (void)resp; (void)resp_len;
  return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "no such thing");
}

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int arrived;
} barrier = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static int h_barrier(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                     size_t len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 20;
  pthread_mutex_lock(&barrier.mu);
  barrier.arrived++;
  pthread_cond_broadcast(&barrier.cv);
  while (barrier.arrived < BARRIER_N &&
         pthread_cond_timedwait(&barrier.cv, &barrier.mu, &until) == 0)
    ;
  int arrived = barrier.arrived;
  pthread_mutex_unlock(&barrier.mu);
  if (arrived < BARRIER_N)
    return veil_error_grpc(err, VEIL_GRPC_DEADLINE_EXCEEDED, "only %d calls arrived together",
                           arrived);
  return h_echo(user, ctx, req, len, resp, resp_len, err);
}

static int h_meta(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)req; (void)len; (void)err;
  const char *ns = ttrpc_ctx_metadata(ctx, "containerd-namespace-ttrpc");
  char *s = NULL;
  int n = asprintf(&s, "%s|%s", ns ? ns : "", ctx->timeout_nano > 0 ? "true" : "false");
  *resp = (uint8_t *)s;
  *resp_len = n > 0 ? (size_t)n : 0;
  return 0;
}

static int h_block(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                   uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)req; (void)len; (void)resp; (void)resp_len;
  for (int i = 0; i < 20000 && !*ctx->cancelled; i++)
    usleep(1000);
  return veil_error_grpc(err, VEIL_GRPC_DEADLINE_EXCEEDED, "cancelled");
}

static int run_server(const char *path)
{
  veil_error_t err = NULL;
  ttrpc_server *s = ttrpc_server_new(NULL, &err);
  int lfd = s ? ttrpc_listen_unix(path, &err) : -1;
  if (lfd < 0 || ttrpc_server_add_listener(s, lfd, &err) < 0 ||
      ttrpc_server_register(s, SVC, "Echo", h_echo, NULL, 0, &err) < 0 ||
      ttrpc_server_register(s, SVC, "Sized", h_sized, NULL, 0, &err) < 0 ||
      ttrpc_server_register(s, SVC, "Fail", h_fail, NULL, 0, &err) < 0 ||
      ttrpc_server_register(s, SVC, "Barrier", h_barrier, NULL, 0, &err) < 0 ||
      ttrpc_server_register(s, SVC, "Meta", h_meta, NULL, 0, &err) < 0 ||
      ttrpc_server_register(s, SVC, "Block", h_block, NULL, 0, &err) < 0) {
    fprintf(stderr, "server: %s\n", err ? err->msg : "?");
    return 1;
  }
  printf("READY\n");
  fflush(stdout);
  if (ttrpc_server_run(s, &err) < 0) {
    fprintf(stderr, "server: %s\n", err->msg);
    return 1;
  }
  ttrpc_server_free(s);
  return 0;
}

/* ---------------- client checks ---------------- */

static int failures;

static void check(const char *name, bool ok, const char *detail)
{
  if (ok) {
    printf("ok   %s\n", name);
  } else {
    failures++;
    printf("FAIL %s: %s\n", name, detail ? detail : "");
  }
  fflush(stdout);
}

static int do_call(ttrpc_client *c, const char *method, const void *req, size_t len,
                   int64_t timeout_ns, const struct ttrpc_kv *md, size_t n_md, uint8_t **resp,
                   size_t *resp_len, veil_error_t *err)
{
  return ttrpc_client_call(c, SVC, method, req, len, timeout_ns, md, n_md, resp, resp_len, err);
}

static void expect_code(const char *name, int rc, veil_error_t err, int code, const char *msg)
{
  char detail[512];
  snprintf(detail, sizeof(detail), "want code %d `%s`, got rc %d code %d `%s`", code,
           msg ? msg : "*", rc, err ? veil_error_grpc_code(err) : 0, err ? err->msg : "");
  check(name, rc < 0 && err && veil_error_grpc_code(err) == code &&
                  (msg == NULL || strcmp(err->msg, msg) == 0), detail);
}

static int write_all(int fd, const void *buf, size_t len)
{
  const uint8_t *p = buf;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
  uint8_t *p = buf;
  while (len) {
    ssize_t r = read(fd, p, len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

/* Send a Request frame of exactly `payload_len` payload without the client's
 * size check (to offer the Go server an oversized frame). */
static int raw_request(int fd, uint32_t id, const char *method, const uint8_t *payload,
                       size_t payload_len)
{
  Ttrpc__Request r = TTRPC__REQUEST__INIT;
  r.service = SVC;
  r.method = (char *)method;
  r.payload.data = (uint8_t *)payload;
  r.payload.len = payload_len;
  size_t n = ttrpc__request__get_packed_size(&r);
  cleanup_free uint8_t *buf = malloc(TTRPC_HEADER_SIZE + n);
  struct ttrpc_frame_header h = { (uint32_t)n, id, TTRPC_TYPE_REQUEST, 0 };
  ttrpc_header_encode(buf, &h);
  ttrpc__request__pack(&r, buf + TTRPC_HEADER_SIZE);
  return write_all(fd, buf, TTRPC_HEADER_SIZE + n);
}

/* Read one Response frame: its data length, code and message. */
static int raw_response(int fd, uint32_t *id, uint32_t *len, int *code, char *msg, size_t msg_size)
{
  uint8_t hb[TTRPC_HEADER_SIZE];
  if (read_all(fd, hb, sizeof(hb)) < 0)
    return -1;
  struct ttrpc_frame_header h;
  ttrpc_header_decode(hb, &h);
  if (h.length > TTRPC_MAX_DATA + 16)
    return -1;
  cleanup_free uint8_t *d = malloc(h.length ? h.length : 1);
  if (read_all(fd, d, h.length) < 0)
    return -1;
  struct ttrpc_response_view v;
  if (ttrpc_response_decode(d, h.length, &v, NULL) < 0)
    return -1;
  *id = h.stream_id;
  *len = h.length;
  *code = v.code;
  snprintf(msg, msg_size, "%.*s", (int)v.message_len, v.message ? (const char *)v.message : "");
  return 0;
}

static void raw_checks(const char *path)
{
  char name[128], detail[512], msg[256];
  cleanup_close int fd = ttrpc_dial(path, 5000, NULL);
  if (fd < 0) {
    check("raw connection", false, "dial failed");
    return;
  }
  /* The Go server's response frames have exactly the requested length. */
  uint32_t id = 1;
  for (size_t n = TTRPC_MAX_DATA - 1; n <= TTRPC_MAX_DATA; n++, id += 2) {
    char num[32];
    int nl = snprintf(num, sizeof(num), "%zu", n);
    uint32_t got_id = 0, got_len = 0;
    int code = -1;
    int rc = raw_request(fd, id, "Sized", (const uint8_t *)num, (size_t)nl);
    if (rc == 0)
      rc = raw_response(fd, &got_id, &got_len, &code, msg, sizeof(msg));
    snprintf(name, sizeof(name), "Go response frame is exactly %zu B", n);
    snprintf(detail, sizeof(detail), "rc %d id %u len %u code %d", rc, got_id, got_len, code);
    check(name, rc == 0 && got_id == id && got_len == n && code == 0, detail);
  }
  /* An oversized request frame: Go answers ResourceExhausted on that stream,
   * discards the bytes and keeps the connection. */
  size_t p = request_payload_for("Echo", TTRPC_MAX_DATA + 1);
  cleanup_free uint8_t *big = calloc(1, p);
  uint32_t got_id = 0, got_len = 0;
  int code = -1;
  int rc = raw_request(fd, id, "Echo", big, p);
  if (rc == 0)
    rc = raw_response(fd, &got_id, &got_len, &code, msg, sizeof(msg));
  snprintf(detail, sizeof(detail), "rc %d id %u code %d `%s`", rc, got_id, code, msg);
  check("raw request frame 4194305 B -> Go ResourceExhausted on its stream",
        rc == 0 && got_id == id && code == VEIL_GRPC_RESOURCE_EXHAUSTED, detail);
  id += 2;
  rc = raw_request(fd, id, "Echo", (const uint8_t *)"after", 5);
  if (rc == 0)
    rc = raw_response(fd, &got_id, &got_len, &code, msg, sizeof(msg));
  check("raw connection kept after the oversized frame", rc == 0 && got_id == id && code == 0, msg);
}

struct conc_arg {
  ttrpc_client *c;
  int idx;
  int ok;
  char err[256];
};

static void *conc_call(void *arg)
{
  struct conc_arg *a = arg;
  char req[32];
  int n = snprintf(req, sizeof(req), "call-%d", a->idx);
  veil_error_t err = NULL;
  cleanup_free uint8_t *resp = NULL;
  size_t len = 0;
  int rc = do_call(a->c, "Barrier", req, (size_t)n, 0, NULL, 0, &resp, &len, &err);
  a->ok = rc == 0 && len == (size_t)n && memcmp(resp, req, len) == 0;
  if (err)
    snprintf(a->err, sizeof(a->err), "%s", err->msg);
  veil_error_release(&err);
  return NULL;
}

static int run_client(const char *path)
{
  veil_error_t err = NULL;
  int fd = ttrpc_dial(path, 5000, &err);
  ttrpc_client *c = fd >= 0 ? ttrpc_client_new(fd, &err) : NULL;
  if (c == NULL) {
    fprintf(stderr, "client: %s\n", err->msg);
    return 1;
  }
  char name[160], detail[512];
  size_t sizes[] = { 0, 1024, 1 << 20 };
  for (size_t i = 0; i < 3; i++) {
    cleanup_free uint8_t *in = malloc(sizes[i] + 1);
    memset(in, 0xa5, sizes[i]);
    cleanup_free uint8_t *out = NULL;
    size_t len = 0;
    int rc = do_call(c, "Echo", in, sizes[i], 0, NULL, 0, &out, &len, &err);
    snprintf(name, sizeof(name), "echo payload %zu B", sizes[i]);
    check(name, rc == 0 && len == sizes[i] && (len == 0 || memcmp(in, out, len) == 0),
          err ? err->msg : "payload mismatch");
    veil_error_release(&err);
  }
  /* Request frames at the limit. */
  for (size_t n = TTRPC_MAX_DATA - 1; n <= TTRPC_MAX_DATA + 1; n++) {
    size_t p = request_payload_for("Echo", n);
    cleanup_free uint8_t *in = calloc(1, p);
    cleanup_free uint8_t *out = NULL;
    size_t len = 0;
    int rc = do_call(c, "Echo", in, p, 0, NULL, 0, &out, &len, &err);
    snprintf(name, sizeof(name), "request frame %zu B (payload %zu B)", n, p);
    if (n <= TTRPC_MAX_DATA) {
      check(name, rc == 0 && len == p, err ? err->msg : "length mismatch");
    } else {
      strcat(name, " -> ResourceExhausted before sending");
      expect_code(name, rc, err, VEIL_GRPC_RESOURCE_EXHAUSTED, NULL);
    }
    veil_error_release(&err);
  }
  /* Response frames at the limit: Go sends even the oversized one; the client
   * discards it, fails that call and keeps the connection. */
  for (size_t n = TTRPC_MAX_DATA - 1; n <= TTRPC_MAX_DATA + 1; n++) {
    char num[32];
    int nl = snprintf(num, sizeof(num), "%zu", n);
    cleanup_free uint8_t *out = NULL;
    size_t len = 0;
    int rc = do_call(c, "Sized", num, (size_t)nl, 0, NULL, 0, &out, &len, &err);
    snprintf(name, sizeof(name), "response frame %zu B", n);
    if (n <= TTRPC_MAX_DATA) {
      check(name, rc == 0 && len == response_payload_for(n), err ? err->msg : "length mismatch");
    } else {
      strcat(name, " -> ResourceExhausted");
      expect_code(name, rc, err, VEIL_GRPC_RESOURCE_EXHAUSTED, NULL);
    }
    veil_error_release(&err);
  }
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = do_call(c, "Fail", NULL, 0, 0, NULL, 0, &out, &len, &err);
  expect_code("error code + message round trip", rc, err, VEIL_GRPC_NOT_FOUND, "no such thing");
  veil_error_release(&err);
  rc = do_call(c, "NoSuchMethod", NULL, 0, 0, NULL, 0, &out, &len, &err);
  expect_code("unknown method -> Unimplemented", rc, err, VEIL_GRPC_UNIMPLEMENTED, NULL);
  veil_error_release(&err);
  struct ttrpc_kv md[] = { { "containerd-namespace-ttrpc", "k8s.io" } };
  rc = do_call(c, "Meta", NULL, 0, 10 * 1000000000ll, md, 1, &out, &len, &err);
  snprintf(detail, sizeof(detail), "rc %d `%.*s` %s", rc, (int)len, out ? (char *)out : "",
           err ? err->msg : "");
  check("metadata and timeout_nano reach the handler",
        rc == 0 && len == 11 && memcmp(out, "k8s.io|true", 11) == 0, detail);
  free(out);
  out = NULL;
  veil_error_release(&err);
  rc = do_call(c, "Block", NULL, 0, 200 * 1000000ll, NULL, 0, &out, &len, &err);
  expect_code("deadline -> DeadlineExceeded", rc, err, VEIL_GRPC_DEADLINE_EXCEEDED, NULL);
  veil_error_release(&err);

  pthread_t th[BARRIER_N];
  struct conc_arg args[BARRIER_N];
  for (int i = 0; i < BARRIER_N; i++) {
    args[i] = (struct conc_arg){ .c = c, .idx = i };
    pthread_create(&th[i], NULL, conc_call, &args[i]);
  }
  int bad = 0;
  for (int i = 0; i < BARRIER_N; i++) {
    pthread_join(th[i], NULL);
    if (!args[i].ok) {
      bad++;
      printf("    call %d: %s\n", i, args[i].err);
    }
  }
  snprintf(name, sizeof(name), "%d concurrent calls in flight together on one connection", BARRIER_N);
  snprintf(detail, sizeof(detail), "%d failed", bad);
  check(name, bad == 0, detail);
  rc = do_call(c, "Echo", "still alive", 11, 0, NULL, 0, &out, &len, &err);
  check("connection still usable", rc == 0 && len == 11 && memcmp(out, "still alive", 11) == 0,
        err ? err->msg : "mismatch");
  free(out);
  veil_error_release(&err);
  ttrpc_client_free(c);

  raw_checks(path);
  return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
  signal(SIGPIPE, SIG_IGN);
  if (argc != 3) {
    fprintf(stderr, "usage: %s server|client SOCKET\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "server") == 0)
    return run_server(argv[2]);
  if (strcmp(argv[1], "client") == 0)
    return run_client(argv[2]);
  fprintf(stderr, "unknown mode `%s`\n", argv[1]);
  return 2;
}
