/* ttrpc client: calls from any thread multiplexed on one connection. A caller
 * assigns the stream id and writes its request under the write lock (so ids
 * reach the wire in increasing order). Reading is leader/follower: one waiting
 * caller at a time holds the reader role, reads frames and routes each
 * Response to its caller by stream id; when its own response has arrived it
 * passes the role to another waiting caller. A lone caller thus reads its own
 * response with no thread hand-off. With no call in flight nobody reads; a
 * lost connection is noticed by the next call or ttrpc_client_closed(). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "ttrpc/frame.h"

#define PENDING_BUCKETS 256
#define INBUF_SIZE (64 * 1024)

uint64_t ttrpc_now_ns(void);

/* A call waiting for its response. Wake-ups are semaphore posts, made under
 * c->mu; the woken caller reads `done` without taking c->mu (no pile-up on the
 * lock the waker still holds) and, before its stack frame goes away, consumes
 * every post it was promised (`posts`), so no waker touches a dead semaphore. */
struct pending {
  struct pending *next; /* bucket chain */
  uint32_t id;
  atomic_bool done;
  atomic_int posts;     /* posts made to wake (c->mu held when incremented) */
  atomic_bool role_offered; /* woken to take the reader role */
  sem_t wake;
  /* result: a frame to decode, or an error */
  uint8_t *data;
  size_t len;
  int code; /* gRPC code of a local failure, 0 if data is set */
  char *msg;
};

struct ttrpc_client {
  int fd;
  int wakefd;          /* readable once closed: wakes a reader in poll */
  pthread_mutex_t mu;  /* everything below */
  uint32_t next_id;
  /* Writing is combined: small requests are queued (self-contained copies)
   * and whoever holds the writer role writes everything queued with one
   * writev; a large request's caller takes the role and writes its own. Ids
   * are assigned in queue order, so they reach the wire increasing. */
  struct ttrpc_out *wq_head, *wq_tail;
  bool writing;
  pthread_cond_t wcv;  /* writer role released */
  struct pending *pending[PENDING_BUCKETS];
  bool closed;
  char *close_reason;
  bool reading;        /* a caller holds the reader role (rd, inbuf) */
  struct ttrpc_reader rd;
  uint8_t inbuf[INBUF_SIZE];
};

/* ---------- pending calls (c->mu held) ---------- */

static void pending_add(ttrpc_client *c, struct pending *p)
{
  struct pending **b = &c->pending[p->id % PENDING_BUCKETS];
  p->next = *b;
  *b = p;
}

static struct pending *pending_take(ttrpc_client *c, uint32_t id)
{
  for (struct pending **pp = &c->pending[id % PENDING_BUCKETS]; *pp; pp = &(*pp)->next)
    if ((*pp)->id == id) {
      struct pending *p = *pp;
      *pp = p->next;
      return p;
    }
  return NULL;
}

/* c->mu held. */
static void pending_wake(struct pending *p)
{
  atomic_fetch_add(&p->posts, 1);
  sem_post(&p->wake);
}

/* c->mu held; p was taken out of the pending table. */
static void pending_complete(struct pending *p)
{
  atomic_store(&p->done, true);
  pending_wake(p);
}

static void pending_fail(struct pending *p, int code, const char *msg)
{
  p->code = code;
  p->msg = strdup(msg);
  pending_complete(p);
}

/* The connection is gone: every pending call fails with Unavailable. c->mu held. */
static void client_mark_closed_locked(ttrpc_client *c, const char *why)
{
  if (!c->closed) {
    c->closed = true;
    c->close_reason = strdup(why);
  }
  for (size_t b = 0; b < PENDING_BUCKETS; b++)
    while (c->pending[b]) {
      struct pending *p = c->pending[b];
      c->pending[b] = p->next;
      pending_fail(p, VEIL_GRPC_UNAVAILABLE, c->close_reason ? c->close_reason : why);
    }
  while (c->wq_head) {
    struct ttrpc_out *o = c->wq_head;
    c->wq_head = o->next;
    ttrpc_out_free(o);
  }
  c->wq_tail = NULL;
}

static void client_mark_closed(ttrpc_client *c, const char *why)
{
  pthread_mutex_lock(&c->mu);
  client_mark_closed_locked(c, why);
  pthread_mutex_unlock(&c->mu);
}

/* ---------- reading (reader role holder only) ---------- */

/* c->mu held (one lock for all frames of a read). */
static void on_frame(ttrpc_client *c, struct ttrpc_frame *f)
{
  if (f->h.type != TTRPC_TYPE_RESPONSE) {
    free(f->data); /* Data frames etc.: not used by unary calls */
    return;
  }
  struct pending *p = pending_take(c, f->h.stream_id);
  if (p) {
    p->data = f->data;
    p->len = f->h.length;
    pending_complete(p);
  }
  if (p == NULL) {
    log_debug("ttrpc: response for unknown or timed-out stream %u ignored", f->h.stream_id);
    free(f->data);
  }
}

static void on_oversized(ttrpc_client *c, const struct ttrpc_frame_header *h)
{
  char msg[160];
  snprintf(msg, sizeof(msg), "ttrpc: response of %u bytes exceeds the maximum message size of %u",
           h->length, TTRPC_MAX_DATA);
  struct pending *p = pending_take(c, h->stream_id); /* c->mu held */
  if (p)
    pending_fail(p, VEIL_GRPC_RESOURCE_EXHAUSTED, msg);
}

static bool handle_event(ttrpc_client *c, enum ttrpc_reader_event ev, struct ttrpc_frame *f)
{
  switch (ev) {
  case TTRPC_READER_NEED_MORE:
    return true;
  case TTRPC_READER_FRAME:
    on_frame(c, f);
    return true;
  case TTRPC_READER_OVERSIZED:
    on_oversized(c, &f->h);
    return true;
  case TTRPC_READER_NOMEM:
    return false;
  }
  return false;
}

/* Wait up to timeout_ms (-1 = forever) for input, read once and route the
 * frames. Returns -1 once the connection is gone (pending calls failed). */
static int read_some(ttrpc_client *c, int timeout_ms)
{
  char buf[160];
  struct pollfd pfd[2] = { { c->fd, POLLIN, 0 }, { c->wakefd, POLLIN, 0 } };
  int n = poll(pfd, 2, timeout_ms);
  if (n < 0 && errno == EINTR)
    return 0;
  if (n < 0) {
    snprintf(buf, sizeof(buf), "ttrpc: poll: %s", strerror(errno));
    client_mark_closed(c, buf);
    return -1;
  }
  if (n == 0)
    return 0;
  if (pfd[1].revents) {
    client_mark_closed(c, "ttrpc: client closed");
    return -1;
  }
  uint8_t *dst;
  size_t want = ttrpc_reader_direct(&c->rd, &dst);
  bool direct = want > 0;
  if (!direct) {
    dst = c->inbuf;
    want = sizeof(c->inbuf);
  }
  ssize_t r = read(c->fd, dst, want);
  if (r < 0 && (errno == EINTR || errno == EAGAIN))
    return 0;
  if (r < 0) {
    snprintf(buf, sizeof(buf), "ttrpc: connection lost: %s", strerror(errno));
    client_mark_closed(c, buf);
    return -1;
  }
  if (r == 0) {
    client_mark_closed(c, "ttrpc: connection closed by peer");
    return -1;
  }
  struct ttrpc_frame f;
  bool ok = true;
  pthread_mutex_lock(&c->mu);
  if (direct) {
    ok = handle_event(c, ttrpc_reader_commit(&c->rd, (size_t)r, &f), &f);
  } else {
    size_t pos = 0;
    while (pos < (size_t)r && ok) {
      size_t used;
      enum ttrpc_reader_event ev = ttrpc_reader_feed(&c->rd, dst + pos, (size_t)r - pos, &used, &f);
      pos += used;
      ok = handle_event(c, ev, &f);
    }
  }
  pthread_mutex_unlock(&c->mu);
  if (!ok) {
    client_mark_closed(c, "ttrpc: out of memory reading a response");
    return -1;
  }
  return 0;
}

/* The reader role was released (c->mu held): let a waiting caller take it. */
static void pass_reader_role(ttrpc_client *c)
{
  for (size_t b = 0; b < PENDING_BUCKETS; b++)
    if (c->pending[b]) {
      atomic_store(&c->pending[b]->role_offered, true);
      pending_wake(c->pending[b]);
      return;
    }
}

/* ---------- public API ---------- */

ttrpc_client *ttrpc_client_new(int fd, veil_error_t *err)
{
  if (fd < 0) {
    veil_error_make(err, EBADF, "ttrpc client: invalid fd %d", fd);
    return NULL;
  }
  ttrpc_client *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    close(fd);
    veil_error_make(err, ENOMEM, "allocate ttrpc client");
    return NULL;
  }
  c->fd = fd;
  c->next_id = 1;
  ttrpc_reader_init(&c->rd);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->wcv, NULL);
  int fl = fcntl(fd, F_GETFL);
  c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || c->wakefd < 0) {
    veil_error_errno(err, "ttrpc client: set up fd %d", fd);
    goto fail;
  }
  return c;
fail:
  if (c->wakefd >= 0)
    close(c->wakefd);
  close(fd);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->wcv);
  free(c);
  return NULL;
}

/* Write frames (a list linked by ->next, or one frame) on the non-blocking fd,
 * waiting at most until deadline (0 = forever). Returns 0 when all went out. */
static int write_frames(ttrpc_client *c, struct ttrpc_out *list, uint64_t deadline,
                        bool *timed_out, int *failed_errno)
{
  struct ttrpc_out *o = list;
  while (o) {
    struct iovec iov[64];
    int n = 0;
    for (struct ttrpc_out *q = o; q && n + 2 <= 64; q = q->next) {
      size_t off = q->off;
      if (off < q->head_len) {
        iov[n++] = (struct iovec){ q->head + off, q->head_len - off };
        off = 0;
      } else {
        off -= q->head_len;
      }
      if (q->body_len > off)
        iov[n++] = (struct iovec){ (void *)(q->body + off), q->body_len - off };
    }
    ssize_t w = writev(c->fd, iov, n);
    if (w > 0) {
      size_t left = (size_t)w;
      while (left && o) {
        size_t rest = o->head_len + o->body_len - o->off;
        if (left < rest) {
          o->off += left;
          left = 0;
        } else {
          left -= rest;
          o = o->next;
        }
      }
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno != EAGAIN) {
      *failed_errno = errno;
      return -1;
    }
    int timeout = -1;
    if (deadline) {
      uint64_t now = ttrpc_now_ns();
      if (now >= deadline) {
        *timed_out = true;
        return -1;
      }
      timeout = (int)((deadline - now + 999999) / 1000000);
    }
    struct pollfd pfd[2] = { { c->fd, POLLOUT, 0 }, { c->wakefd, POLLIN, 0 } };
    if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
      *failed_errno = errno;
      return -1;
    }
    if (pfd[1].revents) {
      *failed_errno = ECONNABORTED;
      return -1;
    }
  }
  return 0;
}

/* A send that did not complete leaves the stream unusable: close it. c->mu held. */
static void send_failed_locked(ttrpc_client *c, bool timed_out, int werr)
{
  char why[160];
  if (timed_out)
    snprintf(why, sizeof(why), "ttrpc: send timed out (the peer is not reading)");
  else
    snprintf(why, sizeof(why), "ttrpc: send: %s", strerror(werr));
  shutdown(c->fd, SHUT_RDWR);
  uint64_t one = 1;
  ssize_t r = write(c->wakefd, &one, sizeof(one));
  (void)r;
  client_mark_closed_locked(c, why);
}

/* Holding the writer role: write everything queued. c->mu held (dropped while writing). */
static void flush_queue_locked(ttrpc_client *c, uint64_t deadline)
{
  while (c->wq_head && !c->closed) {
    struct ttrpc_out *batch = c->wq_head;
    c->wq_head = c->wq_tail = NULL;
    pthread_mutex_unlock(&c->mu);
    bool timed_out = false;
    int werr = 0;
    int rc = write_frames(c, batch, deadline, &timed_out, &werr);
    while (batch) {
      struct ttrpc_out *next = batch->next;
      ttrpc_out_free(batch);
      batch = next;
    }
    pthread_mutex_lock(&c->mu);
    if (rc < 0)
      send_failed_locked(c, timed_out, werr);
  }
}

#define COMBINE_MAX (16 * 1024) /* requests up to this size are copied and queued */

int ttrpc_client_call(ttrpc_client *c, const char *service, const char *method,
                      const uint8_t *req, size_t req_len, int64_t timeout_ns,
                      const struct ttrpc_kv *metadata, size_t n_metadata,
                      uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  *resp = NULL;
  *resp_len = 0;
  uint64_t deadline = timeout_ns > 0 ? ttrpc_now_ns() + (uint64_t)timeout_ns : 0;
  struct ttrpc_out *o = ttrpc_out_request(0, service, method, timeout_ns > 0 ? timeout_ns : 0,
                                          metadata, n_metadata, req, req_len, err);
  if (o == NULL)
    return veil_error_wrap(err, "ttrpc call %s/%s", service, method);

  struct pending p = { .next = NULL };
  atomic_init(&p.done, false);
  atomic_init(&p.posts, 0);
  atomic_init(&p.role_offered, false);
  sem_init(&p.wake, 0, 0);

  bool small = o->head_len + o->body_len <= COMBINE_MAX;
  if (small && o->body_len) {
    /* self-contained: the writer may send it after we have returned */
    struct ttrpc_out *copy = malloc(sizeof(*copy) + o->head_len + o->body_len);
    if (copy == NULL) {
      ttrpc_out_free(o);
      sem_destroy(&p.wake);
      return veil_error_make(err, ENOMEM, "ttrpc call %s/%s", service, method);
    }
    *copy = *o;
    copy->head = (uint8_t *)(copy + 1);
    memcpy(copy->head, o->head, o->head_len);
    memcpy(copy->head + o->head_len, o->body, o->body_len);
    copy->head_len = o->head_len + o->body_len;
    copy->body = NULL;
    copy->body_len = 0;
    copy->body_owned = NULL;
    ttrpc_out_free(o);
    o = copy;
  }
  pthread_mutex_lock(&c->mu);
  if (!small) {
    /* A large request is written by its caller: wait for the writer role. */
    while (c->writing && !c->closed) {
      if (deadline == 0) {
        pthread_cond_wait(&c->wcv, &c->mu);
        continue;
      }
      struct timespec until = { (time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u) };
      if (pthread_cond_timedwait(&c->wcv, &c->mu, &until) == ETIMEDOUT && c->writing) {
        pthread_mutex_unlock(&c->mu);
        ttrpc_out_free(o);
        sem_destroy(&p.wake);
        return veil_error_grpc(err, VEIL_GRPC_DEADLINE_EXCEEDED,
                               "ttrpc call %s/%s: deadline exceeded waiting to send", service,
                               method);
      }
    }
  }
  if (c->closed || c->next_id > UINT32_MAX - 2) {
    const char *why = c->closed ? (c->close_reason ? c->close_reason : "ttrpc: client closed")
                                : "ttrpc: stream ids exhausted on this connection";
    int rc = veil_error_grpc(err, VEIL_GRPC_UNAVAILABLE, "ttrpc call %s/%s: %s", service, method, why);
    pthread_mutex_unlock(&c->mu);
    ttrpc_out_free(o);
    sem_destroy(&p.wake);
    return rc;
  }
  p.id = c->next_id;
  c->next_id += 2;
  pending_add(c, &p);
  o->head[4] = (uint8_t)(p.id >> 24);
  o->head[5] = (uint8_t)(p.id >> 16);
  o->head[6] = (uint8_t)(p.id >> 8);
  o->head[7] = (uint8_t)p.id;
  if (small) {
    o->next = NULL;
    if (c->wq_tail)
      c->wq_tail->next = o;
    else
      c->wq_head = o;
    c->wq_tail = o;
    if (!c->writing) { /* else the writer sends ours with its batch */
      c->writing = true;
      flush_queue_locked(c, deadline);
      c->writing = false;
      pthread_cond_broadcast(&c->wcv);
    }
  } else {
    c->writing = true;
    flush_queue_locked(c, deadline); /* queued requests have lower ids */
    if (!c->closed) {
      pthread_mutex_unlock(&c->mu);
      bool timed_out = false;
      int werr = 0;
      o->next = NULL;
      int rc = write_frames(c, o, deadline, &timed_out, &werr);
      pthread_mutex_lock(&c->mu);
      if (rc < 0)
        send_failed_locked(c, timed_out, werr);
      flush_queue_locked(c, deadline);
    }
    ttrpc_out_free(o);
    c->writing = false;
    pthread_cond_broadcast(&c->wcv);
  }
  pthread_mutex_unlock(&c->mu);

  bool was_reader = false, timed_out_wait = false;
  int consumed = 0;
  pthread_mutex_lock(&c->mu);
  while (!atomic_load(&p.done)) {
    if (!c->reading && !c->closed) {
      /* Take the reader role until our response is in (or the deadline). */
      c->reading = was_reader = true;
      pthread_mutex_unlock(&c->mu);
      int timeout_ms = -1;
      if (deadline) {
        uint64_t now = ttrpc_now_ns();
        timeout_ms = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
      }
      read_some(c, timeout_ms);
      pthread_mutex_lock(&c->mu);
      c->reading = false;
      if (!atomic_load(&p.done) && deadline && ttrpc_now_ns() >= deadline) {
        timed_out_wait = true;
        break;
      }
      continue;
    }
    pthread_mutex_unlock(&c->mu);
    int rc;
    if (deadline == 0) {
      rc = sem_wait(&p.wake);
    } else {
      struct timespec until = { (time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u) };
      rc = sem_clockwait(&p.wake, CLOCK_MONOTONIC, &until);
    }
    if (rc == 0)
      consumed++;
    if (atomic_load(&p.done) && !atomic_load(&p.role_offered))
      goto drain; /* fast path: no lock */
    pthread_mutex_lock(&c->mu);
    if (rc < 0 && errno == ETIMEDOUT && !atomic_load(&p.done)) {
      timed_out_wait = true;
      break;
    }
  }
  if (timed_out_wait)
    pending_take(c, p.id); /* no more posts; a late response is ignored */
  /* Leaving: if the reader role is free (we had it, or it was offered to us),
   * another waiting caller must take it. */
  if ((was_reader || timed_out_wait || atomic_load(&p.role_offered)) && !c->reading)
    pass_reader_role(c);
  pthread_mutex_unlock(&c->mu);
drain:
  /* Every post promised to us was made (under c->mu) before `done` was set or
   * before we left the table: take them all before the semaphore goes away. */
  while (consumed < atomic_load(&p.posts))
    if (sem_wait(&p.wake) == 0)
      consumed++;
  sem_destroy(&p.wake);
  if (timed_out_wait)
    return veil_error_grpc(err, VEIL_GRPC_DEADLINE_EXCEEDED,
                           "ttrpc call %s/%s: deadline exceeded after %lld ns", service, method,
                           (long long)timeout_ns);

  if (p.code != 0) {
    int rc = veil_error_grpc(err, p.code, "ttrpc call %s/%s: %s", service, method,
                             p.msg ? p.msg : "failed");
    free(p.msg);
    return rc;
  }
  struct ttrpc_response_view v;
  if (ttrpc_response_decode(p.data, p.len, &v, err) < 0) {
    free(p.data);
    return veil_error_wrap(err, "ttrpc call %s/%s", service, method);
  }
  if (v.code != VEIL_GRPC_OK) {
    /* The remote message as-is, so callers and tests see the peer's words. */
    int rc = veil_error_grpc(err, v.code, "%.*s", (int)v.message_len,
                             v.message ? (const char *)v.message : "");
    if (err && *err)
      (*err)->remote = 1;
    free(p.data);
    return rc;
  }
  /* Zero-copy: the payload moves to the front of the frame buffer we own. */
  if (v.payload_len) {
    memmove(p.data, v.payload, v.payload_len);
    *resp = p.data;
    *resp_len = v.payload_len;
  } else {
    free(p.data);
  }
  return 0;
}

bool ttrpc_client_closed(ttrpc_client *c)
{
  pthread_mutex_lock(&c->mu);
  if (!c->closed && !c->reading) {
    /* Nobody is reading: look at the socket now (EOF, or stale responses). */
    c->reading = true;
    pthread_mutex_unlock(&c->mu);
    read_some(c, 0);
    pthread_mutex_lock(&c->mu);
    c->reading = false;
    pass_reader_role(c);
  }
  bool closed = c->closed;
  pthread_mutex_unlock(&c->mu);
  return closed;
}

void ttrpc_client_close(ttrpc_client *c)
{
  uint64_t one = 1;
  ssize_t r = write(c->wakefd, &one, sizeof(one));
  (void)r;
  shutdown(c->fd, SHUT_RDWR);
  client_mark_closed(c, "ttrpc: client closed");
}

void ttrpc_client_free(ttrpc_client *c)
{
  if (c == NULL)
    return;
  ttrpc_client_close(c);
  ttrpc_reader_reset(&c->rd);
  close(c->fd);
  close(c->wakefd);
  free(c->close_reason);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->wcv);
  free(c);
}
