/* ttrpc server: the epoll loop (run by one leader thread at a time: reads,
 * accepts, deadline expiry), leader hand-over and its watchdog, the method
 * table, connection bookkeeping. See docs/ttrpc.md for the threading model. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "ttrpc/server_internal.h"

#define EPOLL_BATCH 64
/* The leader runs a request itself; past this, another worker takes the loop. */
#define SELF_RUN_MAX_NS (1 * 1000 * 1000)
/* The watchdog polls each millisecond for this long after the last request, then every
 * WATCHDOG_IDLE_MS (the leader wakes it when it starts a call while it is slow, so this
 * only bounds how late a stop() behind a blocked handler is seen). Kept short: an idle
 * shim should not wake a thousand times a second. */
#define WATCHDOG_BUSY_NS (20ull * 1000 * 1000)
#define WATCHDOG_IDLE_MS 250

void call_expire(struct ttrpc_call *call);
void call_release(struct ttrpc_call *call);

/* ---------- method table ---------- */

uint64_t method_hash(const char *service, const char *method)
{
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const char *p = service; *p; p++)
    h = (h ^ (uint8_t)*p) * 1099511628211ull;
  h = (h ^ '/') * 1099511628211ull;
  for (const char *p = method; *p; p++)
    h = (h ^ (uint8_t)*p) * 1099511628211ull;
  return h;
}

const struct method_entry *server_find_method(ttrpc_server *s, const char *service,
                                              const char *method, bool *service_known)
{
  uint64_t h = method_hash(service, method);
  for (struct method_entry *e = s->methods[h % METHOD_BUCKETS]; e; e = e->next)
    if (e->hash == h && strcmp(e->service, service) == 0 && strcmp(e->method, method) == 0)
      return e;
  *service_known = false;
  for (size_t b = 0; b < METHOD_BUCKETS && !*service_known; b++)
    for (struct method_entry *e = s->methods[b]; e; e = e->next)
      if (strcmp(e->service, service) == 0) {
        *service_known = true;
        break;
      }
  return NULL;
}

int ttrpc_server_register(ttrpc_server *s, const char *service, const char *method,
                          ttrpc_method_fn fn, void *user, unsigned flags, veil_error_t *err)
{
  if (service == NULL || method == NULL || fn == NULL || *service == '\0' || *method == '\0')
    return veil_error_make(err, EINVAL, "ttrpc register: service, method and handler are required");
  bool known;
  if (server_find_method(s, service, method, &known))
    return veil_error_make(err, EEXIST, "ttrpc register: %s/%s is already registered", service,
                           method);
  struct method_entry *e = calloc(1, sizeof(*e));
  if (e == NULL || (e->service = strdup(service)) == NULL || (e->method = strdup(method)) == NULL) {
    if (e)
      free(e->service);
    free(e);
    return veil_error_make(err, ENOMEM, "ttrpc register %s/%s", service, method);
  }
  e->hash = method_hash(service, method);
  e->fn = fn;
  e->user = user;
  e->flags = flags;
  e->next = s->methods[e->hash % METHOD_BUCKETS];
  s->methods[e->hash % METHOD_BUCKETS] = e;
  return 0;
}

/* ---------- deadlines: a binary min-heap, loop thread only ---------- */

static void heap_swap(struct deadline_heap *h, size_t a, size_t b)
{
  struct deadline_entry t = h->v[a];
  h->v[a] = h->v[b];
  h->v[b] = t;
}

static void heap_down(struct deadline_heap *h, size_t i)
{
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && h->v[l].when < h->v[m].when)
      m = l;
    if (r < h->n && h->v[r].when < h->v[m].when)
      m = r;
    if (m == i)
      return;
    heap_swap(h, i, m);
    i = m;
  }
}

static void heap_up(struct deadline_heap *h, size_t i)
{
  while (i > 0 && h->v[(i - 1) / 2].when > h->v[i].when) {
    heap_swap(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

/* Drop entries of calls that already replied (their handlers finished long
 * before the deadline), so a busy connection with long timeouts stays small. */
static void heap_compact(struct deadline_heap *h)
{
  size_t keep = 0;
  for (size_t i = 0; i < h->n; i++) {
    if (atomic_load(&h->v[i].call->replied))
      call_release(h->v[i].call);
    else
      h->v[keep++] = h->v[i];
  }
  h->n = keep;
  for (size_t i = h->n / 2 + 1; i-- > 0;)
    heap_down(h, i);
}

void deadline_push(ttrpc_server *s, struct ttrpc_call *call, uint64_t when)
{
  struct deadline_heap *h = &s->deadlines;
  if (h->n == h->cap && h->n >= 64) {
    heap_compact(h);
  }
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    struct deadline_entry *v = realloc(h->v, cap * sizeof(*v));
    if (v == NULL) {
      /* No room to track it: the handler's own reply still goes out. */
      log_warn("ttrpc: out of memory tracking a deadline");
      call_release(call);
      return;
    }
    h->v = v;
    h->cap = cap;
  }
  h->v[h->n] = (struct deadline_entry){ when, call };
  heap_up(h, h->n++);
}

/* Expire due calls; returns the epoll timeout (ms) until the next one. */
static int deadlines_run(ttrpc_server *s)
{
  struct deadline_heap *h = &s->deadlines;
  uint64_t now = ttrpc_now_ns();
  while (h->n > 0 && h->v[0].when <= now) {
    struct ttrpc_call *call = h->v[0].call;
    h->v[0] = h->v[--h->n];
    heap_down(h, 0);
    call_expire(call);
    call_release(call);
  }
  if (h->n == 0)
    return -1;
  uint64_t ms = (h->v[0].when - now + 999999) / 1000000;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---------- connections ---------- */

static void fill_peer(struct ttrpc_conn *c)
{
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred)) {
    c->peer_pid = cred.pid;
    c->peer_uid = cred.uid;
  }
}

/* Register an open, non-blocking fd. Takes fd (closed on failure). */
static int server_adopt(ttrpc_server *s, int fd, veil_error_t *err)
{
  cleanup_close int owned = fd;
  struct ttrpc_conn *c = conn_new(s, fd, err);
  if (c == NULL)
    return -1;
  fill_peer(c);
  if (s->opts.require_same_uid && c->peer_uid != (uid_t)-1 && c->peer_uid != s->euid) {
    log_warn("ttrpc: rejected connection from uid %u (pid %d): only uid %u may connect",
             (unsigned)c->peer_uid, (int)c->peer_pid, (unsigned)s->euid);
    veil_error_make(err, EPERM, "ttrpc: peer uid %u is not %u", (unsigned)c->peer_uid,
                    (unsigned)s->euid);
    conn_unref(c);
    return -1;
  }
  pthread_mutex_lock(&s->mu);
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  pthread_mutex_unlock(&s->mu);
  struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->ep };
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    veil_error_errno(err, "ttrpc: watch connection fd %d", fd);
    pthread_mutex_lock(&s->mu);
    if (c->prev)
      c->prev->next = c->next;
    else
      s->conns = c->next;
    if (c->next)
      c->next->prev = c->prev;
    s->n_conns--;
    pthread_mutex_unlock(&s->mu);
    conn_unref(c);
    return -1;
  }
  steal_fd(&owned);
  return 0;
}

static int set_nonblock_cloexec(int fd, veil_error_t *err)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return veil_error_errno(err, "ttrpc: make fd %d non-blocking", fd);
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl >= 0)
    fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC);
  return 0;
}

int ttrpc_server_add_connection(ttrpc_server *s, int fd, veil_error_t *err)
{
  if (fd < 0)
    return veil_error_make(err, EBADF, "ttrpc: add connection: invalid fd %d", fd);
  if (set_nonblock_cloexec(fd, err) < 0) {
    close(fd);
    return -1;
  }
  return server_adopt(s, fd, err);
}

/* Loop thread: close a connection; its memory is released after this iteration. */
static void server_close_conn(ttrpc_server *s, struct ttrpc_conn *c, bool notify)
{
  if (c->closing)
    return;
  c->closing = true;
  int fd = c->fd;
  conn_close(c);
  pthread_mutex_lock(&s->mu);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->n_conns--;
  pthread_mutex_unlock(&s->mu);
  c->grave_next = s->grave;
  s->grave = c;
  if (notify && s->on_closed)
    s->on_closed(s->on_closed_user, fd);
}

static void release_grave(ttrpc_server *s)
{
  while (s->grave) {
    struct ttrpc_conn *c = s->grave;
    s->grave = c->grave_next;
    conn_unref(c);
  }
}

size_t ttrpc_server_connection_count(ttrpc_server *s)
{
  pthread_mutex_lock(&s->mu);
  size_t n = s->n_conns;
  pthread_mutex_unlock(&s->mu);
  return n;
}

void ttrpc_server_on_connection_closed(ttrpc_server *s, ttrpc_conn_closed_fn fn, void *user)
{
  s->on_closed = fn;
  s->on_closed_user = user;
}

/* Loop thread: connections whose writes failed on a non-socket fd. */
static void close_failed_writers(ttrpc_server *s)
{
  for (;;) {
    pthread_mutex_lock(&s->mu);
    struct ttrpc_conn *c = s->conns;
    while (c && !atomic_load(&c->write_failed))
      c = c->next;
    pthread_mutex_unlock(&s->mu);
    if (c == NULL)
      return;
    server_close_conn(s, c, true);
  }
}

/* ---------- listeners ---------- */

int ttrpc_server_add_listener(ttrpc_server *s, int listen_fd, veil_error_t *err)
{
  cleanup_close int fd = listen_fd;
  if (s->n_listeners == LISTENERS_MAX)
    return veil_error_make(err, ENOSPC, "ttrpc: at most %d listeners", LISTENERS_MAX);
  if (set_nonblock_cloexec(fd, err) < 0)
    return -1;
  struct listener *l = &s->listeners[s->n_listeners];
  l->ep.kind = EP_LISTENER;
  l->fd = fd;
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->ep };
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    return veil_error_errno(err, "ttrpc: watch listening socket fd %d", fd);
  s->n_listeners++;
  steal_fd(&fd);
  return 0;
}

static void on_accept(ttrpc_server *s, struct listener *l)
{
  for (int i = 0; i < 64; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN)
        log_warn("ttrpc: accept on fd %d: %s", l->fd, strerror(errno));
      return;
    }
    veil_error_t err = NULL;
    if (server_adopt(s, fd, &err) < 0) {
      log_debug("ttrpc: connection not accepted: %s", err->msg);
      veil_error_release(&err);
    }
  }
}

/* ---------- lifecycle ---------- */

ttrpc_server *ttrpc_server_new(const struct ttrpc_server_options *opts, veil_error_t *err)
{
  ttrpc_server *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    veil_error_make(err, ENOMEM, "allocate ttrpc server");
    return NULL;
  }
  if (opts)
    s->opts = *opts;
  s->euid = geteuid();
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->lead_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->lead_cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&s->stop, false);
  atomic_init(&s->self_since, 0);
  atomic_init(&s->last_activity, 0);
  atomic_init(&s->watchdog_slow, true);
  s->wake_item.kind = EP_WAKE;
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->wake_item };
  if (s->epfd < 0 || s->wakefd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) < 0) {
    veil_error_errno(err, "ttrpc: create server event loop");
    ttrpc_server_free(s);
    return NULL;
  }
  s->pool = ttrpc_pool_new(s->opts.max_workers, err);
  if (s->pool == NULL) {
    ttrpc_server_free(s);
    return NULL;
  }
  return s;
}

void ttrpc_server_stop(ttrpc_server *s)
{
  atomic_store(&s->stop, true);
  uint64_t one = 1;
  ssize_t r = write(s->wakefd, &one, sizeof(one));
  (void)r;
}

/* One loop iteration: expire deadlines, wait for events, handle them. */
static int loop_iteration(ttrpc_server *s, veil_error_t *err)
{
  struct epoll_event evs[EPOLL_BATCH];
  int timeout = deadlines_run(s);
  int n = epoll_wait(s->epfd, evs, EPOLL_BATCH, timeout);
  if (n < 0) {
    if (errno == EINTR)
      return 0;
    return veil_error_errno(err, "ttrpc: epoll_wait");
  }
  for (int i = 0; i < n; i++) {
    struct ep_item *it = evs[i].data.ptr;
    if (it->kind == EP_WAKE) {
      uint64_t v;
      ssize_t r = read(s->wakefd, &v, sizeof(v));
      (void)r;
      close_failed_writers(s);
    } else if (it->kind == EP_LISTENER) {
      on_accept(s, (struct listener *)it);
    } else {
      struct ttrpc_conn *c = (struct ttrpc_conn *)it;
      if (c->closing)
        continue;
      if (evs[i].events & EPOLLOUT)
        conn_on_writable(c);
      bool keep = true;
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        keep = conn_on_readable(c);
      if (!keep)
        server_close_conn(s, c, true);
    }
  }
  release_grave(s);
  return 0;
}

static void release_leadership(ttrpc_server *s)
{
  pthread_mutex_lock(&s->lead_mu);
  s->leader_active = false;
  s->leader_demoted = NULL;
  pthread_cond_broadcast(&s->lead_cv);
  pthread_mutex_unlock(&s->lead_mu);
}

/* A pool job: lead the loop until stop, or until the watchdog gave the loop
 * to another worker while this one ran a slow request. */
static void lead_job(void *arg)
{
  ttrpc_server *s = arg;
  pthread_mutex_lock(&s->lead_mu);
  if (!s->running || s->leader_active || atomic_load(&s->stop)) {
    pthread_cond_broadcast(&s->lead_cv);
    pthread_mutex_unlock(&s->lead_mu);
    return;
  }
  s->leader_active = true;
  bool demoted = false;
  s->leader_demoted = &demoted;
  pthread_mutex_unlock(&s->lead_mu);
  for (;;) {
    veil_error_t err = NULL;
    if (atomic_load(&s->stop) || loop_iteration(s, &err) < 0) {
      pthread_mutex_lock(&s->lead_mu);
      if (err) {
        veil_error_release(&s->run_err);
        s->run_err = err;
        atomic_store(&s->stop, true);
      }
      pthread_mutex_unlock(&s->lead_mu);
      release_leadership(s);
      return;
    }
    if (s->batch_head == NULL)
      continue;
    /* Run the batch here, still the leader, one call at a time; if one is
     * slow, the watchdog makes another worker the leader and gives the rest
     * of the batch to the pool. */
    pthread_mutex_lock(&s->lead_mu);
    if (s->self_tail)
      s->self_tail->self_next = s->batch_head;
    else
      s->self_head = s->batch_head;
    s->self_tail = s->batch_tail;
    s->batch_head = s->batch_tail = NULL;
    bool wake_watchdog = atomic_load(&s->watchdog_slow);
    for (;;) {
      struct ttrpc_call *call = demoted ? NULL : s->self_head;
      if (call == NULL)
        break;
      s->self_head = call->self_next;
      if (s->self_head == NULL)
        s->self_tail = NULL;
      uint64_t now = ttrpc_now_ns();
      atomic_store(&s->self_since, now);
      atomic_store(&s->last_activity, now);
      if (wake_watchdog) {
        pthread_cond_broadcast(&s->lead_cv);
        wake_watchdog = false;
      }
      pthread_mutex_unlock(&s->lead_mu);
      call_run(call);
      pthread_mutex_lock(&s->lead_mu);
      if (!demoted)
        atomic_store(&s->self_since, 0);
    }
    pthread_mutex_unlock(&s->lead_mu);
    if (demoted)
      return; /* another worker leads now: back to the pool */
  }
}

/* Give the calls the leader has not started to the pool. s->lead_mu held. */
static void self_list_to_pool(ttrpc_server *s)
{
  while (s->self_head) {
    struct ttrpc_call *call = s->self_head;
    s->self_head = call->self_next;
    server_submit_call(s, call);
  }
  s->self_tail = NULL;
}

/* The current leader, inside its own request, stops being the leader: it
 * returns to the pool when the request is done. s->lead_mu held. */
static void demote_leader(ttrpc_server *s)
{
  if (s->leader_demoted)
    *s->leader_demoted = true;
  s->leader_demoted = NULL;
  s->leader_active = false;
  atomic_store(&s->self_since, 0);
  self_list_to_pool(s);
}

/* The watchdog, run by ttrpc_server_run's thread until stop (s->lead_mu held):
 * when the leader's own request runs longer than SELF_RUN_MAX_NS, make another
 * worker the leader so the loop keeps serving. It polls every millisecond
 * while requests flow and slows down when idle. */
static void watchdog(ttrpc_server *s)
{
  for (;;) {
    uint64_t now = ttrpc_now_ns();
    uint64_t since = atomic_load(&s->self_since);
    if (atomic_load(&s->stop)) {
      if (!s->leader_active)
        return;
      if (since) {
        /* The leader is inside a request (maybe one that blocks for long):
         * stop without waiting for it; it returns to the pool when done. */
        demote_leader(s);
        return;
      }
      /* else the leader is in epoll_wait and sees stop through the wake fd */
    } else if (since && now - since > SELF_RUN_MAX_NS && s->leader_active) {
      /* the new leader first, then the rest of the old leader's batch */
      if (ttrpc_pool_try_submit_now(s->pool, lead_job, s) == 0 ||
          ttrpc_pool_submit(s->pool, lead_job, s, NULL) == 0)
        demote_leader(s);
      /* else no worker can lead: the current leader resumes after its request */
    }
    bool busy = now - atomic_load(&s->last_activity) < WATCHDOG_BUSY_NS;
    atomic_store(&s->watchdog_slow, !busy);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += busy ? 1000000 : WATCHDOG_IDLE_MS * 1000000L;
    while (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&s->lead_cv, &s->lead_mu, &until);
  }
}

int ttrpc_server_run(ttrpc_server *s, veil_error_t *err)
{
  pthread_mutex_lock(&s->lead_mu);
  if (s->running) {
    pthread_mutex_unlock(&s->lead_mu);
    return veil_error_make(err, EBUSY, "ttrpc: server is already running");
  }
  s->running = true;
  pthread_mutex_unlock(&s->lead_mu);
  if (ttrpc_pool_submit(s->pool, lead_job, s, err) < 0) {
    pthread_mutex_lock(&s->lead_mu);
    s->running = false;
    pthread_mutex_unlock(&s->lead_mu);
    return veil_error_wrap(err, "ttrpc: start the event loop");
  }
  pthread_mutex_lock(&s->lead_mu);
  watchdog(s); /* until stop() and the leader has left the loop */
  s->running = false;
  atomic_store(&s->stop, false); /* run() may be called again */
  veil_error_t run_err = s->run_err;
  s->run_err = NULL;
  pthread_mutex_unlock(&s->lead_mu);
  if (run_err) {
    veil_error_release(err);
    if (err)
      *err = run_err;
    else
      veil_error_release(&run_err);
    return -1;
  }
  return 0;
}

void ttrpc_server_free(ttrpc_server *s)
{
  if (s == NULL)
    return;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    struct ttrpc_conn *c = s->conns;
    pthread_mutex_unlock(&s->mu);
    if (c == NULL)
      break;
    server_close_conn(s, c, false);
  }
  release_grave(s);
  /* never run: the loop was driven by hand (fuzzing) */
  for (struct ttrpc_call *call = s->batch_head, *next; call; call = next) {
    next = call->self_next;
    call_release(call);
  }
  s->batch_head = s->batch_tail = NULL;
  ttrpc_pool_free(s->pool); /* waits for running handlers (they see cancelled) */
  for (size_t i = 0; i < s->deadlines.n; i++)
    call_release(s->deadlines.v[i].call);
  free(s->deadlines.v);
  for (size_t i = 0; i < s->n_listeners; i++)
    close(s->listeners[i].fd);
  for (size_t b = 0; b < METHOD_BUCKETS; b++)
    while (s->methods[b]) {
      struct method_entry *e = s->methods[b];
      s->methods[b] = e->next;
      free(e->service);
      free(e->method);
      free(e);
    }
  if (s->epfd >= 0)
    close(s->epfd);
  if (s->wakefd >= 0)
    close(s->wakefd);
  veil_error_release(&s->run_err);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->lead_mu);
  pthread_cond_destroy(&s->lead_cv);
  free(s);
}
