/* shim/events.c against a slow and an absent containerd: a guest flooding OOM events keeps
 * the queue bounded and never costs a lifecycle event; every TaskExit arrives, in order.
 * The containerd side is a small ttrpc Events/Forward server (containerd itself cannot be
 * made slow on purpose); the shim's real publisher talks to it over a unix socket. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"
#include "shim/events.h"
#include "ttrpc/ttrpc.h"

#define MAX_SEEN 20000

struct fake_containerd {
  ttrpc_server *server;
  pthread_t thread;
  pthread_mutex_t lock;
  unsigned exits[MAX_SEEN]; /* TaskExit.pid in arrival order */
  size_t n_exits, n_oom;
  int delay_us;
};

static int on_forward(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req,
                      size_t len, uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)ctx;
  struct fake_containerd *f = user;
  Containerd__Services__Events__Ttrpc__V1__ForwardRequest *r =
      containerd__services__events__ttrpc__v1__forward_request__unpack(NULL, len, req);
  if (r == NULL)
    return veil_error_make(err, EINVAL, "bad ForwardRequest");
  usleep((useconds_t)f->delay_us);
  pthread_mutex_lock(&f->lock);
  if (strcmp(r->envelope->topic, "/tasks/exit") == 0) {
    Containerd__Events__TaskExit *e = containerd__events__task_exit__unpack(
        NULL, r->envelope->event->value.len, r->envelope->event->value.data);
    if (e && f->n_exits < MAX_SEEN)
      f->exits[f->n_exits++] = e->pid;
    if (e)
      containerd__events__task_exit__free_unpacked(e, NULL);
  } else if (strcmp(r->envelope->topic, "/tasks/oom") == 0) {
    f->n_oom++;
  }
  pthread_mutex_unlock(&f->lock);
  containerd__services__events__ttrpc__v1__forward_request__free_unpacked(r, NULL);
  *resp = NULL;
  *resp_len = 0;
  return 0;
}

static void *serve(void *arg)
{
  struct fake_containerd *f = arg;
  cleanup_error veil_error_t err = NULL;
  ttrpc_server_run(f->server, &err);
  return NULL;
}

static struct fake_containerd *fake_start(const char *path, int delay_us)
{
  struct fake_containerd *f = calloc(1, sizeof(*f));
  cleanup_error veil_error_t err = NULL;
  struct ttrpc_server_options o = {0};
  assert_non_null(f);
  pthread_mutex_init(&f->lock, NULL);
  f->delay_us = delay_us;
  f->server = ttrpc_server_new(&o, &err);
  assert_non_null(f->server);
  assert_int_equal(ttrpc_server_register(f->server, "containerd.services.events.ttrpc.v1.Events",
                                         "Forward", on_forward, f, 0, &err), 0);
  int fd = ttrpc_listen_unix(path, &err);
  assert_true(fd >= 0);
  assert_int_equal(ttrpc_server_add_listener(f->server, fd, &err), 0);
  assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
  return f;
}

static void fake_stop(struct fake_containerd *f)
{
  ttrpc_server_stop(f->server);
  pthread_join(f->thread, NULL);
  ttrpc_server_free(f->server);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

static void publish_exit(struct shim_events *ev, unsigned n)
{
  Containerd__Events__TaskExit e = CONTAINERD__EVENTS__TASK_EXIT__INIT;
  e.container_id = "c1";
  e.id = "c1";
  e.pid = n;
  shim_events_publish(ev, "/tasks/exit", &e.base);
}

static void publish_oom(struct shim_events *ev)
{
  Containerd__Events__TaskOOM o = CONTAINERD__EVENTS__TASK_OOM__INIT;
  o.container_id = "c1";
  shim_events_publish(ev, "/tasks/oom", &o.base);
}

static void assert_exits_in_order(struct fake_containerd *f, unsigned n)
{
  pthread_mutex_lock(&f->lock);
  assert_int_equal(f->n_exits, n);
  for (unsigned i = 0; i < n; i++)
    assert_int_equal(f->exits[i], i + 1);
  pthread_mutex_unlock(&f->lock);
}

static char sock[128];

static int setup(void **state)
{
  (void)state;
  snprintf(sock, sizeof(sock), "/tmp/veil-events-%d.sock", (int)getpid());
  unlink(sock);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  unlink(sock);
  return 0;
}

static void test_guest_flood_against_slow_containerd(void **state)
{
  (void)state;
  struct fake_containerd *f = fake_start(sock, 200);
  struct shim_events *ev = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_events_new(sock, "k8s.io", &ev, &err), 0);
  unsigned exits = 0;
  for (int i = 0; i < 20000; i++) {
    publish_oom(ev);
    if (i % 400 == 0)
      publish_exit(ev, ++exits);
  }
  size_t queued, queued_guest;
  unsigned long dropped;
  shim_events_counts(ev, &queued, &queued_guest, &dropped);
  assert_true(queued_guest <= 256);
  assert_true(queued <= 256 + exits);
  assert_true(dropped >= 20000 - 256 - 2000); /* the slow server took at most a few */
  shim_events_flush(ev, 60000);
  shim_events_counts(ev, &queued, &queued_guest, &dropped);
  assert_int_equal(queued, 0);
  shim_events_free(ev);
  assert_exits_in_order(f, exits);
  fake_stop(f);
}

static void test_containerd_down_keeps_lifecycle_events(void **state)
{
  (void)state;
  struct shim_events *ev = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_events_new(sock, "k8s.io", &ev, &err), 0); /* nobody listens yet */
  for (int i = 0; i < 1000; i++)
    publish_oom(ev);
  publish_exit(ev, 1);
  for (int i = 0; i < 1000; i++)
    publish_oom(ev);
  publish_exit(ev, 2);
  size_t queued, queued_guest;
  unsigned long dropped;
  shim_events_counts(ev, &queued, &queued_guest, &dropped);
  assert_true(queued_guest <= 256);
  assert_true(dropped >= 2000 - 256);
  struct fake_containerd *f = fake_start(sock, 0); /* containerd is back */
  shim_events_flush(ev, 60000);
  shim_events_free(ev);
  assert_exits_in_order(f, 2);
  fake_stop(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_guest_flood_against_slow_containerd, setup, teardown),
      cmocka_unit_test_setup_teardown(test_containerd_down_keeps_lifecycle_events, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
