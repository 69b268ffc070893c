/* Server connection I/O: non-blocking reads by the loop's leader, an output
 * queue written with writev by whichever thread queues a reply (under the
 * connection's mutex, so replies never interleave), EPOLLOUT for the rest. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "ttrpc/server_internal.h"

#define INBUF_SIZE (64 * 1024)
#define READS_PER_EVENT 8            /* fairness between connections */
#define OUT_HIGH (16u * 1024 * 1024) /* stop reading requests above this much queued output */
#define OUT_LOW (4u * 1024 * 1024)   /* resume below this */
#define IOV_MAX_BATCH 64
#define MAX_CALLS_IN_FLIGHT 1024    /* per connection: stop reading requests above this */

struct ttrpc_conn *conn_new(ttrpc_server *s, int fd, veil_error_t *err)
{
  struct ttrpc_conn *c = calloc(1, sizeof(*c));
  if (c)
    c->inbuf = malloc(INBUF_SIZE);
  if (c == NULL || c->inbuf == NULL) {
    free(c);
    veil_error_make(err, ENOMEM, "allocate a ttrpc connection");
    return NULL;
  }
  c->ep.kind = EP_CONN;
  c->srv = s;
  c->fd = fd;
  atomic_init(&c->refs, 1);
  atomic_init(&c->write_failed, false);
  c->peer_pid = -1;
  c->peer_uid = (uid_t)-1;
  ttrpc_reader_init(&c->rd);
  pthread_mutex_init(&c->mu, NULL);
  return c;
}

void conn_ref(struct ttrpc_conn *c)
{
  atomic_fetch_add(&c->refs, 1);
}

void conn_unref(struct ttrpc_conn *c)
{
  if (atomic_fetch_sub(&c->refs, 1) != 1)
    return;
  ttrpc_reader_reset(&c->rd);
  while (c->out_head) {
    struct ttrpc_out *o = c->out_head;
    c->out_head = o->next;
    ttrpc_out_free(o);
  }
  pthread_mutex_destroy(&c->mu);
  free(c->inbuf);
  free(c);
}

/* c->mu held. */
static void update_events(struct ttrpc_conn *c)
{
  if (c->closed)
    return;
  struct epoll_event ev = {
    .events = (c->read_paused ? 0 : EPOLLIN) | (c->out_armed ? EPOLLOUT : 0) | EPOLLRDHUP,
    .data.ptr = &c->ep,
  };
  epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

void conn_update_pause_locked(struct ttrpc_conn *c)
{
  bool pause = c->out_bytes > OUT_HIGH || c->n_calls >= MAX_CALLS_IN_FLIGHT;
  bool resume = c->out_bytes < OUT_LOW && c->n_calls < MAX_CALLS_IN_FLIGHT / 2;
  if (pause && !c->read_paused) {
    c->read_paused = true;
    update_events(c);
  } else if (resume && c->read_paused) {
    c->read_paused = false;
    update_events(c);
  }
}

/* Write as much queued output as the socket takes. c->mu held. */
static void flush_locked(struct ttrpc_conn *c)
{
  while (c->out_head && !c->closed && !atomic_load(&c->write_failed)) {
    struct iovec iov[IOV_MAX_BATCH];
    int n = 0;
    for (struct ttrpc_out *o = c->out_head; o && n + 2 <= IOV_MAX_BATCH; o = o->next) {
      size_t off = o->off;
      if (off < o->head_len) {
        iov[n++] = (struct iovec){ o->head + off, o->head_len - off };
        off = 0;
      } else {
        off -= o->head_len;
      }
      if (o->body_len > off)
        iov[n++] = (struct iovec){ (void *)(o->body + off), o->body_len - off };
    }
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN) {
        if (!c->out_armed) {
          c->out_armed = true;
          update_events(c);
        }
        return;
      }
      /* The peer is gone: make the loop see it and close. */
      log_debug("ttrpc: write to connection fd %d: %s", c->fd, strerror(errno));
      atomic_store(&c->write_failed, true);
      if (shutdown(c->fd, SHUT_RDWR) < 0) { /* not a socket (a serial port): wake the loop */
        uint64_t one = 1;
        ssize_t r = write(c->srv->wakefd, &one, sizeof(one));
        (void)r;
      }
      return;
    }
    size_t left = (size_t)w;
    c->out_bytes -= left;
    while (left && c->out_head) {
      struct ttrpc_out *o = c->out_head;
      size_t rest = o->head_len + o->body_len - o->off;
      if (left < rest) {
        o->off += left;
        left = 0;
        break;
      }
      left -= rest;
      c->out_head = o->next;
      if (c->out_head == NULL)
        c->out_tail = NULL;
      ttrpc_out_free(o);
    }
  }
  if (c->out_head == NULL && c->out_armed) {
    c->out_armed = false;
    update_events(c);
  }
  conn_update_pause_locked(c);
}

void conn_send(struct ttrpc_conn *c, struct ttrpc_out *o)
{
  pthread_mutex_lock(&c->mu);
  if (c->closed || atomic_load(&c->write_failed)) {
    pthread_mutex_unlock(&c->mu);
    ttrpc_out_free(o);
    return;
  }
  o->next = NULL;
  if (c->out_tail)
    c->out_tail->next = o;
  else
    c->out_head = o;
  c->out_tail = o;
  c->out_bytes += o->head_len + o->body_len;
  if (!c->out_armed) /* else the loop's EPOLLOUT handler writes, in order */
    flush_locked(c);
  conn_update_pause_locked(c);
  pthread_mutex_unlock(&c->mu);
}

void conn_send_status(struct ttrpc_conn *c, uint32_t stream_id, int code, const char *fmt, ...)
{
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  veil_error_t err = NULL;
  struct ttrpc_out *o = ttrpc_out_response(stream_id, code, msg ? msg : "", NULL, 0, &err);
  free(msg);
  if (o == NULL) {
    veil_log_error(VEIL_LOG_WARN, err, "ttrpc: build an error reply");
    veil_error_release(&err);
    return;
  }
  conn_send(c, o);
}

void conn_on_writable(struct ttrpc_conn *c)
{
  pthread_mutex_lock(&c->mu);
  flush_locked(c);
  pthread_mutex_unlock(&c->mu);
}

/* Act on one reader event. Returns false when the connection must close. */
static bool handle_event(struct ttrpc_conn *c, enum ttrpc_reader_event ev, struct ttrpc_frame *f)
{
  switch (ev) {
  case TTRPC_READER_NEED_MORE:
    return true;
  case TTRPC_READER_FRAME:
    server_on_frame(c, f);
    return true;
  case TTRPC_READER_OVERSIZED:
    server_on_oversized(c, &f->h);
    return true;
  case TTRPC_READER_NOMEM:
    log_warn("ttrpc: out of memory for a %u-byte frame; closing connection", c->rd.h.length);
    return false;
  }
  return false;
}

bool conn_on_readable(struct ttrpc_conn *c)
{
  for (int i = 0; i < READS_PER_EVENT && !c->closing; i++) {
    uint8_t *dst;
    size_t want = ttrpc_reader_direct(&c->rd, &dst);
    bool direct = want > 0;
    if (!direct) {
      dst = c->inbuf;
      want = INBUF_SIZE;
    }
    ssize_t n = read(c->fd, dst, want);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)
        return true;
      log_debug("ttrpc: read from connection fd %d: %s", c->fd, strerror(errno));
      return false;
    }
    if (n == 0)
      return false;
    struct ttrpc_frame f;
    if (direct) {
      if (!handle_event(c, ttrpc_reader_commit(&c->rd, (size_t)n, &f), &f))
        return false;
      continue;
    }
    size_t pos = 0;
    while (pos < (size_t)n && !c->closing) {
      size_t used;
      enum ttrpc_reader_event ev = ttrpc_reader_feed(&c->rd, c->inbuf + pos, (size_t)n - pos, &used, &f);
      pos += used;
      if (!handle_event(c, ev, &f))
        return false;
    }
    if ((size_t)n < want)
      return true; /* drained for now */
  }
  return true;
}

void conn_close(struct ttrpc_conn *c)
{
  pthread_mutex_lock(&c->mu);
  if (!c->closed) {
    epoll_ctl(c->srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->closed = true;
  }
  while (c->out_head) {
    struct ttrpc_out *o = c->out_head;
    c->out_head = o->next;
    ttrpc_out_free(o);
  }
  c->out_tail = NULL;
  c->out_bytes = 0;
  /* In-flight handlers learn the peer is gone; their replies are dropped. */
  for (struct ttrpc_call *call = c->calls; call; call = call->next) {
    atomic_store(&call->replied, true);
    call->cancelled = true;
  }
  pthread_mutex_unlock(&c->mu);
}
