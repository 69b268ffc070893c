#include "shim/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"
#include "shim/timestamp.h"
#include "shim/timeutil.h"
#include "ttrpc/ttrpc.h"

#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
/* Lifecycle events (create, start, exit, delete, exec, pause) are never dropped: the host's own
 * requests bound them. Guest-triggered ones (OOM) may be dropped, newest first, beyond this
 * many queued: a guest flooding them cannot grow the shim or push a TaskExit out. */
#define EVENTS_GUEST_MAX 256

struct queued_event {
  uint8_t *forward_req; /* packed ForwardRequest */
  size_t len;
  char *topic;
  bool guest_triggered;
  struct queued_event *next;
};

struct shim_events {
  char *ttrpc_address;
  char *ns;
  pthread_mutex_t lock;
  pthread_cond_t changed;
  struct queued_event *head, *tail;
  size_t queued, queued_guest;
  unsigned long dropped_guest;
  bool stopping;
  pthread_t thread;
  ttrpc_client *client;
};

static void free_event(struct queued_event *e)
{
  if (e == NULL)
    return;
  free(e->forward_req);
  free(e->topic);
  free(e);
}

/* Deliver one event; reconnects as needed. Returns 0 when delivered or rejected for
 * good, -1 when containerd is unreachable (retry later). */
static int deliver(struct shim_events *ev, struct queued_event *e)
{
  cleanup_error veil_error_t err = NULL;
  if (ev->client == NULL || ttrpc_client_closed(ev->client)) {
    if (ev->client)
      ttrpc_client_free(ev->client);
    ev->client = NULL;
    int fd = ttrpc_dial(ev->ttrpc_address, 2000, &err);
    if (fd < 0)
      return -1;
    ev->client = ttrpc_client_new(fd, &err);
    if (ev->client == NULL)
      return -1;
  }
  struct ttrpc_kv md = {"containerd-namespace-ttrpc", ev->ns};
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  int r = ttrpc_client_call(ev->client, EVENTS_SERVICE, "Forward", e->forward_req, e->len,
                            5LL * 1000 * 1000 * 1000, &md, 1, &resp, &resp_len, &err);
  free(resp);
  if (r == 0)
    return 0;
  int code = veil_error_grpc_code(err);
  if (code == VEIL_GRPC_UNAVAILABLE || code == VEIL_GRPC_DEADLINE_EXCEEDED) {
    ttrpc_client_free(ev->client);
    ev->client = NULL;
    return -1;
  }
  log_warn("event %s rejected by containerd: %s", e->topic, err->msg);
  return 0;
}

static void *publisher(void *arg)
{
  struct shim_events *ev = arg;
  int backoff_ms = 50;
  pthread_mutex_lock(&ev->lock);
  for (;;) {
    while (ev->head == NULL && !ev->stopping)
      pthread_cond_wait(&ev->changed, &ev->lock);
    if (ev->head == NULL && ev->stopping)
      break;
    struct queued_event *e = ev->head; /* stays queued (and first) until delivered */
    pthread_mutex_unlock(&ev->lock);
    int r = deliver(ev, e);
    pthread_mutex_lock(&ev->lock);
    if (r == 0) {
      ev->head = e->next;
      if (ev->head == NULL)
        ev->tail = NULL;
      ev->queued--;
      if (e->guest_triggered)
        ev->queued_guest--;
      free_event(e);
      backoff_ms = 50;
      pthread_cond_broadcast(&ev->changed);
      continue;
    }
    if (ev->stopping)
      break; /* containerd unreachable while we exit: give up */
    struct timespec until = veil_deadline_realtime(backoff_ms);
    pthread_cond_timedwait(&ev->changed, &ev->lock, &until);
    if (backoff_ms < 2000)
      backoff_ms *= 2;
  }
  pthread_mutex_unlock(&ev->lock);
  return NULL;
}

int shim_events_new(const char *ttrpc_address, const char *ns, struct shim_events **out,
                    veil_error_t *err)
{
  struct shim_events *ev = calloc(1, sizeof(*ev));
  if (ev == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  ev->ttrpc_address = strdup(ttrpc_address ? ttrpc_address : "");
  ev->ns = strdup(ns ? ns : "");
  pthread_mutex_init(&ev->lock, NULL);
  pthread_cond_init(&ev->changed, NULL);
  if (ev->ttrpc_address == NULL || ev->ns == NULL ||
      pthread_create(&ev->thread, NULL, publisher, ev) != 0) {
    free(ev->ttrpc_address);
    free(ev->ns);
    free(ev);
    return veil_error_make(err, ENOMEM, "start the event publisher");
  }
  *out = ev;
  return 0;
}

static bool is_guest_triggered(const char *topic)
{
  return strcmp(topic, "/tasks/oom") == 0;
}

void shim_events_publish(struct shim_events *ev, const char *topic, const ProtobufCMessage *msg)
{
  if (ev == NULL)
    return;
  bool guest = is_guest_triggered(topic);
  if (guest) {
    pthread_mutex_lock(&ev->lock);
    bool full = ev->queued_guest >= EVENTS_GUEST_MAX;
    if (full && ev->dropped_guest++ % 1000 == 0)
      log_warn("event queue: %lu %s event(s) dropped so far (more than %d queued)",
               ev->dropped_guest, topic, EVENTS_GUEST_MAX);
    pthread_mutex_unlock(&ev->lock);
    if (full)
      return;
  }
  size_t msg_len = protobuf_c_message_get_packed_size(msg);
  cleanup_free uint8_t *msg_buf = malloc(msg_len ? msg_len : 1);
  if (msg_buf == NULL)
    return;
  protobuf_c_message_pack(msg, msg_buf);

  Google__Protobuf__Timestamp ts = shim_timestamp_now();
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = (char *)msg->descriptor->name;
  any.value.data = msg_buf;
  any.value.len = msg_len;
  Containerd__Services__Events__Ttrpc__V1__Envelope env =
      CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
  env.timestamp = &ts;
  env.namespace_ = ev->ns;
  env.topic = (char *)topic;
  env.event = &any;
  Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
      CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
  req.envelope = &env;

  struct queued_event *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return;
  e->len = containerd__services__events__ttrpc__v1__forward_request__get_packed_size(&req);
  e->forward_req = malloc(e->len ? e->len : 1);
  e->topic = strdup(topic);
  e->guest_triggered = guest;
  if (e->forward_req == NULL || e->topic == NULL) {
    free_event(e);
    return;
  }
  containerd__services__events__ttrpc__v1__forward_request__pack(&req, e->forward_req);
  log_debug("event %s queued", topic);

  pthread_mutex_lock(&ev->lock);
  if (guest && ev->queued_guest >= EVENTS_GUEST_MAX) { /* filled up meanwhile */
    ev->dropped_guest++;
    pthread_mutex_unlock(&ev->lock);
    free_event(e);
    return;
  }
  ev->queued_guest += guest;
  if (ev->tail)
    ev->tail->next = e;
  else
    ev->head = e;
  ev->tail = e;
  ev->queued++;
  pthread_cond_broadcast(&ev->changed);
  pthread_mutex_unlock(&ev->lock);
}

void shim_events_counts(struct shim_events *ev, size_t *queued, size_t *queued_guest,
                        unsigned long *dropped_guest)
{
  pthread_mutex_lock(&ev->lock);
  *queued = ev->queued;
  *queued_guest = ev->queued_guest;
  *dropped_guest = ev->dropped_guest;
  pthread_mutex_unlock(&ev->lock);
}

void shim_events_flush(struct shim_events *ev, int timeout_ms)
{
  if (ev == NULL)
    return;
  struct timespec until = veil_deadline_realtime(timeout_ms);
  pthread_mutex_lock(&ev->lock);
  while (ev->head != NULL) {
    if (pthread_cond_timedwait(&ev->changed, &ev->lock, &until) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&ev->lock);
}

void shim_events_free(struct shim_events *ev)
{
  if (ev == NULL)
    return;
  pthread_mutex_lock(&ev->lock);
  ev->stopping = true;
  pthread_cond_broadcast(&ev->changed);
  pthread_mutex_unlock(&ev->lock);
  pthread_join(ev->thread, NULL);
  while (ev->head) {
    struct queued_event *n = ev->head->next;
    free_event(ev->head);
    ev->head = n;
  }
  if (ev->client)
    ttrpc_client_free(ev->client);
  pthread_mutex_destroy(&ev->lock);
  pthread_cond_destroy(&ev->changed);
  free(ev->ttrpc_address);
  free(ev->ns);
  free(ev);
}
