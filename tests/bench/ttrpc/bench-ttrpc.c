/* ttrpc unary echo benchmark, veil's C side (the Go side is
 * tests/interop/go/src/veil-ttrpc-peer bench-server / bench-client).
 *
 *   bench-ttrpc server SOCKET
 *   bench-ttrpc client SOCKET SIZE CONCURRENCY SECONDS
 * The client prints `requests=N rps=R p50_us=X p99_us=Y` (same as the Go peer). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ttrpc/ttrpc.h"

#define SVC "veil.interop.Echo"

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

static int run_server(const char *path)
{
  veil_error_t err = NULL;
  ttrpc_server *s = ttrpc_server_new(NULL, &err);
  int lfd = s ? ttrpc_listen_unix(path, &err) : -1;
  if (lfd < 0 || ttrpc_server_add_listener(s, lfd, &err) < 0 ||
      ttrpc_server_register(s, SVC, "Echo", h_echo, NULL, 0, &err) < 0) {
    fprintf(stderr, "bench server: %s\n", err ? err->msg : "?");
    return 1;
  }
  printf("READY\n");
  fflush(stdout);
  if (ttrpc_server_run(s, &err) < 0)
    return 1;
  ttrpc_server_free(s);
  return 0;
}

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct worker {
  ttrpc_client *c;
  size_t size;
  uint64_t until;
  uint64_t *lat;
  size_t n, cap;
};

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  uint8_t *payload = malloc(w->size + 1);
  memset(payload, 1, w->size);
  while (now_ns() < w->until) {
    uint64_t t0 = now_ns();
    uint8_t *resp = NULL;
    size_t len = 0;
    veil_error_t err = NULL;
    if (ttrpc_client_call(w->c, SVC, "Echo", payload, w->size, 0, NULL, 0, &resp, &len, &err) < 0 ||
        len != w->size) {
      fprintf(stderr, "bench call: %s\n", err ? err->msg : "short response");
      exit(1);
    }
    free(resp);
    if (w->n == w->cap) {
      w->cap = w->cap ? w->cap * 2 : 4096;
      w->lat = realloc(w->lat, w->cap * sizeof(*w->lat));
    }
    w->lat[w->n++] = now_ns() - t0;
  }
  free(payload);
  return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int run_client(const char *path, size_t size, int conc, double secs)
{
  veil_error_t err = NULL;
  int fd = ttrpc_dial(path, 5000, &err);
  ttrpc_client *c = fd >= 0 ? ttrpc_client_new(fd, &err) : NULL;
  if (c == NULL) {
    fprintf(stderr, "bench client: %s\n", err->msg);
    return 1;
  }
  struct worker *w = calloc((size_t)conc, sizeof(*w));
  pthread_t *th = calloc((size_t)conc, sizeof(*th));
  uint64_t start = now_ns(), until = start + (uint64_t)(secs * 1e9);
  for (int i = 0; i < conc; i++) {
    w[i] = (struct worker){ .c = c, .size = size, .until = until };
    pthread_create(&th[i], NULL, worker_main, &w[i]);
  }
  size_t total = 0;
  for (int i = 0; i < conc; i++) {
    pthread_join(th[i], NULL);
    total += w[i].n;
  }
  double elapsed = (double)(now_ns() - start) / 1e9;
  uint64_t *all = malloc((total ? total : 1) * sizeof(*all));
  size_t k = 0;
  for (int i = 0; i < conc; i++) {
    memcpy(all + k, w[i].lat, w[i].n * sizeof(*all));
    k += w[i].n;
    free(w[i].lat);
  }
  qsort(all, total, sizeof(*all), cmp_u64);
  double p50 = total ? (double)all[(size_t)(0.50 * (double)(total - 1))] / 1000 : 0;
  double p99 = total ? (double)all[(size_t)(0.99 * (double)(total - 1))] / 1000 : 0;
  printf("requests=%zu rps=%.0f p50_us=%.1f p99_us=%.1f\n", total, (double)total / elapsed, p50, p99);
  free(all);
  free(w);
  free(th);
  ttrpc_client_free(c);
  return 0;
}

int main(int argc, char **argv)
{
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "server") == 0)
    return run_server(argv[2]);
  if (argc == 6 && strcmp(argv[1], "client") == 0)
    return run_client(argv[2], strtoul(argv[3], NULL, 10), atoi(argv[4]), atof(argv[5]));
  fprintf(stderr, "usage: %s server SOCKET | client SOCKET SIZE CONCURRENCY SECONDS\n", argv[0]);
  return 2;
}
