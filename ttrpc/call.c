/* Request lifecycle on the server: validate a frame, decode the Request,
 * find the method, run it (INLINE methods at once on the leader; the first
 * other call of an iteration by the leader after it, the rest on the worker
 * pool), and send exactly one reply: the handler's, or DeadlineExceeded when
 * timeout_nano passes first (whichever sets call->replied first wins). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "ttrpc.pb-c.h"
#include "ttrpc/server_internal.h"

uint64_t ttrpc_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *ttrpc_ctx_metadata(const struct ttrpc_request_ctx *ctx, const char *key)
{
  for (size_t i = 0; i < ctx->n_metadata; i++)
    if (strcmp(ctx->metadata[i].key, key) == 0)
      return ctx->metadata[i].value;
  return NULL;
}

uint64_t method_hash(const char *service, const char *method);
const struct method_entry *server_find_method(ttrpc_server *s, const char *service,
                                              const char *method, bool *service_known);
void deadline_push(ttrpc_server *s, struct ttrpc_call *call, uint64_t when);

static void call_unref(struct ttrpc_call *call)
{
  if (atomic_fetch_sub(&call->refs, 1) != 1)
    return;
  struct ttrpc_conn *c = call->conn;
  pthread_mutex_lock(&c->mu);
  if (call->prev)
    call->prev->next = call->next;
  else if (c->calls == call)
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  c->n_calls--;
  conn_update_pause_locked(c);
  pthread_mutex_unlock(&c->mu);
  if (call->req)
    ttrpc__request__free_unpacked(call->req, NULL);
  free(call->md);
  free(call);
  conn_unref(c);
}

void call_release(struct ttrpc_call *call)
{
  call_unref(call);
}

/* Claim the right to reply. */
static bool call_claim(struct ttrpc_call *call)
{
  bool expected = false;
  return atomic_compare_exchange_strong(&call->replied, &expected, true);
}

void call_expire(struct ttrpc_call *call)
{
  if (!call_claim(call))
    return;
  call->cancelled = true;
  conn_send_status(call->conn, call->stream_id, VEIL_GRPC_DEADLINE_EXCEEDED,
                   "ttrpc: %s/%s: deadline exceeded (timeout %lld ns)", call->ctx.service,
                   call->ctx.method, (long long)call->ctx.timeout_nano);
}

void call_run(void *arg)
{
  struct ttrpc_call *call = arg;
  Ttrpc__Request *req = call->req;
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  veil_error_t err = NULL;
  int rc = call->m->fn(call->m->user, &call->ctx, req->payload.data, req->payload.len, &resp,
                       &resp_len, &err);
  if (!call_claim(call)) {
    free(resp); /* timed out or the connection closed: nobody is waiting */
    veil_error_release(&err);
    call_unref(call);
    return;
  }
  /* We own the reply now: nothing else reads the request, free it early (a
   * deadline entry may keep the call itself alive until its deadline). */
  call->ctx.service = call->ctx.method = NULL;
  call->ctx.metadata = NULL;
  call->ctx.n_metadata = 0;
  call->req = NULL;
  free(call->md);
  call->md = NULL;
  struct ttrpc_out *o;
  if (rc < 0) {
    free(resp);
    int code = err ? veil_error_grpc_code(err) : VEIL_GRPC_UNKNOWN;
    if (code == VEIL_GRPC_OK)
      code = VEIL_GRPC_UNKNOWN; /* a failure must not look like success */
    const char *msg = err && err->msg ? err->msg : "handler failed without an error";
    o = ttrpc_out_response(call->stream_id, code, msg, NULL, 0, NULL);
    veil_error_release(&err);
    ttrpc__request__free_unpacked(req, NULL);
  } else {
    veil_error_release(&err);
    ttrpc__request__free_unpacked(req, NULL);
    veil_error_t oerr = NULL;
    o = ttrpc_out_response(call->stream_id, VEIL_GRPC_OK, NULL, resp, resp_len, &oerr);
    if (o) {
      o->body_owned = resp;
    } else {
      free(resp);
      o = ttrpc_out_response(call->stream_id, veil_error_grpc_code(oerr),
                             oerr ? oerr->msg : "cannot encode response", NULL, 0, NULL);
      veil_error_release(&oerr);
    }
  }
  if (o)
    conn_send(call->conn, o);
  call_unref(call);
}

void server_on_oversized(struct ttrpc_conn *c, const struct ttrpc_frame_header *h)
{
  /* Like Go ttrpc: answer on the offending stream, keep the connection. */
  conn_send_status(c, h->stream_id, VEIL_GRPC_RESOURCE_EXHAUSTED,
                   "message length %u exceed maximum message size of %u", h->length,
                   TTRPC_MAX_DATA);
}

void server_on_frame(struct ttrpc_conn *c, struct ttrpc_frame *f)
{
  ttrpc_server *s = c->srv;
  uint32_t id = f->h.stream_id;
  if (f->h.type != TTRPC_TYPE_REQUEST) {
    free(f->data); /* Data frames and unknown types: ignored, for future compatibility */
    return;
  }
  if (id % 2 != 1) {
    free(f->data);
    conn_send_status(c, id, VEIL_GRPC_INVALID_ARGUMENT,
                     "StreamID must be odd for client initiated streams (got %u)", id);
    return;
  }
  if (id <= c->last_stream_id) {
    free(f->data);
    conn_send_status(c, id, VEIL_GRPC_INVALID_ARGUMENT,
                     "StreamID %u is not greater than the previous one (%u): stream ids are "
                     "never reused", id, c->last_stream_id);
    return;
  }
  c->last_stream_id = id;
  Ttrpc__Request *req = ttrpc__request__unpack(NULL, f->h.length, f->data);
  free(f->data);
  if (req == NULL) {
    conn_send_status(c, id, VEIL_GRPC_INVALID_ARGUMENT,
                     "unmarshal request error: malformed ttrpc.Request (%u bytes)", f->h.length);
    return;
  }
  bool service_known = false;
  const struct method_entry *m = server_find_method(s, req->service, req->method, &service_known);
  if (m == NULL) {
    if (service_known)
      conn_send_status(c, id, VEIL_GRPC_UNIMPLEMENTED, "method %s not implemented by service %s",
                       req->method, req->service);
    else
      conn_send_status(c, id, VEIL_GRPC_UNIMPLEMENTED, "service %s not implemented (method %s)",
                       req->service, req->method);
    ttrpc__request__free_unpacked(req, NULL);
    return;
  }
  if (req->timeout_nano < 0) {
    conn_send_status(c, id, VEIL_GRPC_DEADLINE_EXCEEDED,
                     "ttrpc: %s/%s: deadline already passed (timeout_nano %lld)", req->service,
                     req->method, (long long)req->timeout_nano);
    ttrpc__request__free_unpacked(req, NULL);
    return;
  }

  struct ttrpc_call *call = calloc(1, sizeof(*call));
  struct ttrpc_kv *md = req->n_metadata ? calloc(req->n_metadata, sizeof(*md)) : NULL;
  if (call == NULL || (req->n_metadata && md == NULL)) {
    free(call);
    free(md);
    ttrpc__request__free_unpacked(req, NULL);
    conn_send_status(c, id, VEIL_GRPC_RESOURCE_EXHAUSTED, "out of memory for a request");
    return;
  }
  for (size_t i = 0; i < req->n_metadata; i++) {
    md[i].key = req->metadata[i]->key;
    md[i].value = req->metadata[i]->value;
  }
  call->conn = c;
  conn_ref(c);
  call->stream_id = id;
  atomic_init(&call->refs, 1);
  atomic_init(&call->replied, false);
  call->m = m;
  call->req = req;
  call->md = md;
  call->ctx = (struct ttrpc_request_ctx){
    .service = req->service,
    .method = req->method,
    .timeout_nano = req->timeout_nano,
    .n_metadata = req->n_metadata,
    .metadata = md,
    .peer_pid = c->peer_pid,
    .peer_uid = c->peer_uid,
    .cancelled = &call->cancelled,
  };
  if (req->timeout_nano > 0) {
    call->ctx.deadline_mono_ns = ttrpc_now_ns() + (uint64_t)req->timeout_nano;
    atomic_fetch_add(&call->refs, 1);
    deadline_push(s, call, call->ctx.deadline_mono_ns);
  }
  pthread_mutex_lock(&c->mu);
  call->next = c->calls;
  if (c->calls)
    c->calls->prev = call;
  c->calls = call;
  c->n_calls++;
  conn_update_pause_locked(c);
  pthread_mutex_unlock(&c->mu);

  if (m->flags & TTRPC_METHOD_INLINE) {
    call_run(call);
    return;
  }
  /* Run by the leader after this iteration (server.c: lead_job). */
  call->self_next = NULL;
  if (s->batch_tail)
    s->batch_tail->self_next = call;
  else
    s->batch_head = call;
  s->batch_tail = call;
}

void server_submit_call(ttrpc_server *s, struct ttrpc_call *call)
{
  veil_error_t err = NULL;
  struct ttrpc_conn *c = call->conn;
  uint32_t id = call->stream_id;
  if (ttrpc_pool_submit(s->pool, call_run, call, &err) < 0) {
    if (call_claim(call))
      conn_send_status(c, id, VEIL_GRPC_UNAVAILABLE, "ttrpc: cannot run handler: %s",
                       err ? err->msg : "worker pool failure");
    veil_error_release(&err);
    call_unref(call);
  }
}
