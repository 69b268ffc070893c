/* Test harness: a real ttrpc server on a unix socket in a temp dir, its loop
 * on a thread; raw-frame helpers for speaking the wire protocol by hand. */
#ifndef VEIL_TEST_TTRPC_HARNESS_H
#define VEIL_TEST_TTRPC_HARNESS_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttrpc.pb-c.h"
#include "ttrpc/frame.h"
#include "ttrpc/ttrpc.h"

struct test_server {
  ttrpc_server *s;
  pthread_t loop;
  char dir[64];
  char path[128];
};

static inline void *test_server_loop(void *arg)
{
  struct test_server *t = arg;
  veil_error_t err = NULL;
  if (ttrpc_server_run(t->s, &err) < 0) {
    fprintf(stderr, "server run: %s\n", err->msg);
    abort();
  }
  return NULL;
}

/* Create a server; register methods with `reg`, then listen and run. */
static inline void test_server_start(struct test_server *t, const struct ttrpc_server_options *o,
                              void (*reg)(ttrpc_server *s, void *user), void *user)
{
  veil_error_t err = NULL;
  snprintf(t->dir, sizeof(t->dir), "/tmp/veil-ttrpc-test-XXXXXX");
  if (mkdtemp(t->dir) == NULL)
    abort();
  snprintf(t->path, sizeof(t->path), "%s/s.sock", t->dir);
  t->s = ttrpc_server_new(o, &err);
  if (t->s == NULL)
    abort();
  if (reg)
    reg(t->s, user);
  int lfd = ttrpc_listen_unix(t->path, &err);
  if (lfd < 0 || ttrpc_server_add_listener(t->s, lfd, &err) < 0) {
    fprintf(stderr, "listen: %s\n", err->msg);
    abort();
  }
  pthread_create(&t->loop, NULL, test_server_loop, t);
}

static inline void test_server_stop(struct test_server *t)
{
  ttrpc_server_stop(t->s);
  pthread_join(t->loop, NULL);
  ttrpc_server_free(t->s);
  unlink(t->path);
  rmdir(t->dir);
}

static inline ttrpc_client *test_client(const char *path)
{
  veil_error_t err = NULL;
  int fd = ttrpc_dial(path, 5000, &err);
  if (fd < 0) {
    fprintf(stderr, "dial: %s\n", err->msg);
    abort();
  }
  ttrpc_client *c = ttrpc_client_new(fd, &err);
  if (c == NULL)
    abort();
  return c;
}

/* ---- raw wire helpers ---- */

static inline int raw_write_all(int fd, const void *buf, size_t len)
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

static inline int raw_read_all(int fd, void *buf, size_t len)
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

static inline void raw_send_frame(int fd, uint32_t id, uint8_t type, const uint8_t *data, uint32_t len)
{
  uint8_t h[TTRPC_HEADER_SIZE];
  struct ttrpc_frame_header fh = { len, id, type, 0 };
  ttrpc_header_encode(h, &fh);
  if (raw_write_all(fd, h, sizeof(h)) < 0 || (len && raw_write_all(fd, data, len) < 0))
    abort();
}

static inline void raw_send_request(int fd, uint32_t id, const char *service, const char *method,
                             const uint8_t *payload, size_t len, int64_t timeout_nano)
{
  veil_error_t err = NULL;
  struct ttrpc_out *o =
      ttrpc_out_request(id, service, method, timeout_nano, NULL, 0, payload, len, &err);
  if (o == NULL || raw_write_all(fd, o->head, o->head_len) < 0 ||
      (o->body_len && raw_write_all(fd, o->body, o->body_len) < 0))
    abort();
  ttrpc_out_free(o);
}

/* Read one frame; returns its data (malloc'd) and header. */
static inline uint8_t *raw_recv_frame(int fd, struct ttrpc_frame_header *h)
{
  uint8_t hb[TTRPC_HEADER_SIZE];
  if (raw_read_all(fd, hb, sizeof(hb)) < 0)
    return NULL;
  ttrpc_header_decode(hb, h);
  uint8_t *d = malloc(h->length ? h->length : 1);
  if (h->length && raw_read_all(fd, d, h->length) < 0) {
    free(d);
    return NULL;
  }
  return d;
}

/* Read one Response frame and return its status code (and stream id). */
static inline int raw_recv_status(int fd, uint32_t *id, char *msg, size_t msg_size)
{
  struct ttrpc_frame_header h;
  uint8_t *d = raw_recv_frame(fd, &h);
  if (d == NULL)
    return -1;
  struct ttrpc_response_view v;
  veil_error_t err = NULL;
  if (h.type != TTRPC_TYPE_RESPONSE || ttrpc_response_decode(d, h.length, &v, &err) < 0) {
    free(d);
    veil_error_release(&err);
    return -2;
  }
  if (id)
    *id = h.stream_id;
  if (msg)
    snprintf(msg, msg_size, "%.*s", (int)v.message_len, v.message ? (const char *)v.message : "");
  free(d);
  return v.code;
}

#endif
