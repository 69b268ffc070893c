/* Server internals shared by server.c (loop, dispatch), conn.c (per-connection
 * I/O) and call.c (request lifecycle). Not part of the API. */
#ifndef VEIL_TTRPC_SERVER_INTERNAL_H
#define VEIL_TTRPC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ttrpc/frame.h"
#include "ttrpc/pool.h"
#include "ttrpc/ttrpc.h"

/* What epoll's data.ptr points at. */
enum ep_kind { EP_WAKE, EP_LISTENER, EP_CONN };
struct ep_item {
  enum ep_kind kind;
};

struct ttrpc_call;

struct ttrpc_conn {
  struct ep_item ep; /* first: epoll data */
  ttrpc_server *srv;
  int fd;
  atomic_int refs;
  pid_t peer_pid;
  uid_t peer_uid;
  /* loop thread only */
  struct ttrpc_reader rd;
  uint8_t *inbuf;
  uint32_t last_stream_id;
  bool closing;               /* closed by the loop, awaiting release */
  struct ttrpc_conn *next, *prev; /* server's list (srv->mu) */
  struct ttrpc_conn *grave_next;
  /* mu: output queue, in-flight calls, fd validity */
  pthread_mutex_t mu;
  struct ttrpc_out *out_head, *out_tail;
  size_t out_bytes;
  bool out_armed;     /* EPOLLOUT requested */
  bool read_paused;   /* EPOLLIN dropped: output queue over its high mark */
  bool closed;        /* fd closed: drop any further output */
  atomic_bool write_failed; /* the loop closes the connection */
  struct ttrpc_call *calls; /* in flight */
  unsigned n_calls;
};

struct method_entry {
  struct method_entry *next;
  char *service, *method;
  uint64_t hash;
  ttrpc_method_fn fn;
  void *user;
  unsigned flags;
};

struct ttrpc_call {
  struct ttrpc_conn *conn; /* holds a reference */
  uint32_t stream_id;
  atomic_int refs;
  atomic_bool replied;     /* the first to set it sends the reply */
  volatile bool cancelled;
  const struct method_entry *m;
  void *req;               /* Ttrpc__Request * (protobuf-c) */
  struct ttrpc_request_ctx ctx;
  struct ttrpc_kv *md;
  struct ttrpc_call *prev, *next; /* conn->calls (conn->mu) */
  struct ttrpc_call *self_next;    /* server batch / self_list */
};

struct deadline_heap {
  struct deadline_entry {
    uint64_t when;
    struct ttrpc_call *call; /* holds a reference */
  } *v;
  size_t n, cap;
};

struct listener {
  struct ep_item ep;
  int fd;
};

#define METHOD_BUCKETS 128
#define LISTENERS_MAX 16

struct ttrpc_server {
  struct ttrpc_server_options opts;
  int epfd;
  int wakefd;          /* eventfd: stop and thread-safe additions */
  struct ep_item wake_item;
  atomic_bool stop;
  ttrpc_pool *pool;
  pthread_mutex_t mu;  /* conns, n_conns */
  struct ttrpc_conn *conns;
  size_t n_conns;
  struct ttrpc_conn *grave; /* closed this iteration; released after it (loop only) */
  struct listener listeners[LISTENERS_MAX];
  size_t n_listeners;
  struct method_entry *methods[METHOD_BUCKETS];
  struct deadline_heap deadlines; /* loop only */
  /* Leader/follower: the thread running loop iterations (the leader) is a pool
   * worker; when an iteration produced a request for a pooled method, the
   * leader runs it itself, so the common path has no thread hand-off. If that
   * handler is still running after SELF_RUN_MAX_NS, the watchdog (the thread
   * in ttrpc_server_run) makes another worker the leader. lead_mu guards these. */
  pthread_mutex_t lead_mu;
  pthread_cond_t lead_cv;  /* leadership released; watchdog wake-up */
  bool leader_active;
  bool running;            /* inside ttrpc_server_run */
  bool *leader_demoted;    /* the current leader's flag: set when the watchdog replaces it */
  atomic_uint_fast64_t self_since;    /* start of the leader's self-run, 0 = none */
  atomic_uint_fast64_t last_activity; /* last self-run start (watchdog pacing) */
  atomic_bool watchdog_slow;          /* watchdog sleeps long: wake it */
  veil_error_t run_err;
  /* Calls for the leader to run itself after the iteration that read them:
   * batch (leader only, filled during the iteration), then self_list (lead_mu:
   * the watchdog gives what is left to the pool when it replaces the leader). */
  struct ttrpc_call *batch_head, *batch_tail;
  struct ttrpc_call *self_head, *self_tail;
  ttrpc_conn_closed_fn on_closed;
  void *on_closed_user;
  uid_t euid;
};

uint64_t ttrpc_now_ns(void);

/* conn.c */
struct ttrpc_conn *conn_new(ttrpc_server *s, int fd, veil_error_t *err);
void conn_ref(struct ttrpc_conn *c);
void conn_unref(struct ttrpc_conn *c);
/* Queue a frame (any thread) and write what the socket takes now. Takes o. */
void conn_send(struct ttrpc_conn *c, struct ttrpc_out *o);
/* Queue an error reply for a stream (any thread). */
void conn_send_status(struct ttrpc_conn *c, uint32_t stream_id, int code, const char *fmt, ...)
    VEIL_PRINTF(4, 5);
/* Loop thread: readable / writable events. Return false when the conn must close. */
bool conn_on_readable(struct ttrpc_conn *c);
void conn_on_writable(struct ttrpc_conn *c);
/* Pause or resume reading requests (queued output, calls in flight). c->mu held. */
void conn_update_pause_locked(struct ttrpc_conn *c);
/* Loop thread: close the fd, cancel in-flight calls, drop queued output. */
void conn_close(struct ttrpc_conn *c);

/* call.c / server.c */
void call_run(void *call);
void server_submit_call(ttrpc_server *s, struct ttrpc_call *call);
void server_on_frame(struct ttrpc_conn *c, struct ttrpc_frame *f);
void server_on_oversized(struct ttrpc_conn *c, const struct ttrpc_frame_header *h);

#endif
