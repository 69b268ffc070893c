/* ttrpc frame codec (see frame.h). */
#include "ttrpc/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ttrpc.pb-c.h"

/* Frames whose remaining data is at least this big are read straight into
 * their buffer instead of through the connection's input buffer. */
#define DIRECT_READ_MIN (16 * 1024)

void ttrpc_header_encode(uint8_t out[TTRPC_HEADER_SIZE], const struct ttrpc_frame_header *h)
{
  out[0] = (uint8_t)(h->length >> 24);
  out[1] = (uint8_t)(h->length >> 16);
  out[2] = (uint8_t)(h->length >> 8);
  out[3] = (uint8_t)h->length;
  out[4] = (uint8_t)(h->stream_id >> 24);
  out[5] = (uint8_t)(h->stream_id >> 16);
  out[6] = (uint8_t)(h->stream_id >> 8);
  out[7] = (uint8_t)h->stream_id;
  out[8] = h->type;
  out[9] = h->flags;
}

void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], struct ttrpc_frame_header *h)
{
  h->length = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
  h->stream_id = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
  h->type = in[8];
  h->flags = in[9];
}

void ttrpc_reader_init(struct ttrpc_reader *r)
{
  memset(r, 0, sizeof(*r));
  r->state = TTRPC_RD_HEADER;
}

void ttrpc_reader_reset(struct ttrpc_reader *r)
{
  free(r->data);
  ttrpc_reader_init(r);
}

static enum ttrpc_reader_event frame_done(struct ttrpc_reader *r, struct ttrpc_frame *out)
{
  out->h = r->h;
  out->data = r->data;
  r->data = NULL;
  r->data_have = 0;
  r->state = TTRPC_RD_HEADER;
  return TTRPC_READER_FRAME;
}

/* A complete header was collected: decide what follows. */
static enum ttrpc_reader_event header_done(struct ttrpc_reader *r, struct ttrpc_frame *out)
{
  ttrpc_header_decode(r->hdr, &r->h);
  r->hdr_have = 0;
  if (r->h.length > TTRPC_MAX_DATA) {
    r->state = TTRPC_RD_DISCARD;
    r->discard_left = r->h.length;
    out->h = r->h;
    out->data = NULL;
    return TTRPC_READER_OVERSIZED;
  }
  if (r->h.length == 0)
    return frame_done(r, out);
  r->data = malloc(r->h.length);
  if (r->data == NULL)
    return TTRPC_READER_NOMEM;
  r->data_have = 0;
  r->state = TTRPC_RD_DATA;
  return TTRPC_READER_NEED_MORE;
}

enum ttrpc_reader_event ttrpc_reader_feed(struct ttrpc_reader *r, const uint8_t *buf, size_t len,
                                          size_t *used, struct ttrpc_frame *out)
{
  size_t pos = 0, n;
  enum ttrpc_reader_event ev = TTRPC_READER_NEED_MORE;
  while (pos < len && ev == TTRPC_READER_NEED_MORE) {
    switch (r->state) {
    case TTRPC_RD_HEADER:
      n = TTRPC_HEADER_SIZE - r->hdr_have;
      if (n > len - pos)
        n = len - pos;
      memcpy(r->hdr + r->hdr_have, buf + pos, n);
      r->hdr_have += n;
      pos += n;
      if (r->hdr_have == TTRPC_HEADER_SIZE)
        ev = header_done(r, out);
      break;
    case TTRPC_RD_DATA:
      n = r->h.length - r->data_have;
      if (n > len - pos)
        n = len - pos;
      memcpy(r->data + r->data_have, buf + pos, n);
      r->data_have += n;
      pos += n;
      if (r->data_have == r->h.length)
        ev = frame_done(r, out);
      break;
    case TTRPC_RD_DISCARD:
      n = len - pos;
      if (n > r->discard_left)
        n = (size_t)r->discard_left;
      r->discard_left -= n;
      pos += n;
      if (r->discard_left == 0)
        r->state = TTRPC_RD_HEADER;
      break;
    }
  }
  *used = pos;
  return ev;
}

size_t ttrpc_reader_direct(struct ttrpc_reader *r, uint8_t **dst)
{
  if (r->state != TTRPC_RD_DATA || r->h.length - r->data_have < DIRECT_READ_MIN)
    return 0;
  *dst = r->data + r->data_have;
  return r->h.length - r->data_have;
}

enum ttrpc_reader_event ttrpc_reader_commit(struct ttrpc_reader *r, size_t n, struct ttrpc_frame *out)
{
  r->data_have += n;
  if (r->data_have == r->h.length)
    return frame_done(r, out);
  return TTRPC_READER_NEED_MORE;
}

size_t ttrpc_varint_len(uint64_t v)
{
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

size_t ttrpc_varint_put(uint8_t *p, uint64_t v)
{
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Allocate a frame whose head is header + `prefix` packed message + the
 * length-delimited tag of the payload field, so the payload follows as-is. */
static struct ttrpc_out *out_build(uint32_t stream_id, uint8_t type, const ProtobufCMessage *prefix,
                                   uint8_t payload_tag, const uint8_t *payload, size_t payload_len,
                                   const char *what, veil_error_t *err)
{
  size_t plen = protobuf_c_message_get_packed_size(prefix);
  size_t tail = payload_len ? 1 + ttrpc_varint_len(payload_len) : 0;
  uint64_t total = (uint64_t)plen + tail + payload_len;
  if (total > TTRPC_MAX_DATA) {
    veil_error_grpc(err, VEIL_GRPC_RESOURCE_EXHAUSTED,
                    "ttrpc %s of %llu bytes exceeds the maximum message size of %u bytes", what,
                    (unsigned long long)total, TTRPC_MAX_DATA);
    return NULL;
  }
  struct ttrpc_out *o = malloc(sizeof(*o) + TTRPC_HEADER_SIZE + plen + tail);
  if (o == NULL) {
    veil_error_make(err, ENOMEM, "allocate ttrpc %s", what);
    return NULL;
  }
  memset(o, 0, sizeof(*o));
  o->head = (uint8_t *)(o + 1);
  struct ttrpc_frame_header h = {
    .length = (uint32_t)total, .stream_id = stream_id, .type = type, .flags = 0,
  };
  ttrpc_header_encode(o->head, &h);
  size_t pos = TTRPC_HEADER_SIZE + protobuf_c_message_pack(prefix, o->head + TTRPC_HEADER_SIZE);
  if (payload_len) {
    o->head[pos++] = payload_tag;
    pos += ttrpc_varint_put(o->head + pos, payload_len);
  }
  o->head_len = pos;
  o->body = payload;
  o->body_len = payload_len;
  return o;
}

struct ttrpc_out *ttrpc_out_request(uint32_t stream_id, const char *service, const char *method,
                                    int64_t timeout_nano, const struct ttrpc_kv *md, size_t n_md,
                                    const uint8_t *payload, size_t payload_len, veil_error_t *err)
{
  Ttrpc__Request req = TTRPC__REQUEST__INIT;
  req.service = (char *)service;
  req.method = (char *)method;
  req.timeout_nano = timeout_nano;
  /* metadata: on the stack for the usual handful, else on the heap */
  Ttrpc__KeyValue kvs_small[8], *kvs = kvs_small;
  Ttrpc__KeyValue *kvp_small[8], **kvp = kvp_small;
  void *heap = NULL;
  if (n_md > 8) {
    if (n_md > TTRPC_MAX_DATA / 4) { /* could never fit in a frame */
      veil_error_grpc(err, VEIL_GRPC_RESOURCE_EXHAUSTED, "ttrpc request: %zu metadata entries",
                      n_md);
      return NULL;
    }
    heap = malloc(n_md * (sizeof(*kvs) + sizeof(*kvp)));
    if (heap == NULL) {
      veil_error_make(err, ENOMEM, "ttrpc request with %zu metadata entries", n_md);
      return NULL;
    }
    kvs = heap;
    kvp = (Ttrpc__KeyValue **)(kvs + n_md);
  }
  for (size_t i = 0; i < n_md; i++) {
    ttrpc__key_value__init(&kvs[i]);
    kvs[i].key = (char *)(md[i].key ? md[i].key : "");
    kvs[i].value = (char *)(md[i].value ? md[i].value : "");
    kvp[i] = &kvs[i];
  }
  req.n_metadata = n_md;
  req.metadata = n_md ? kvp : NULL;
  /* field 3 (payload), wire type 2 */
  struct ttrpc_out *o = out_build(stream_id, TTRPC_TYPE_REQUEST, &req.base, 3 << 3 | 2, payload,
                                  payload_len, "request", err);
  free(heap);
  return o;
}

struct ttrpc_out *ttrpc_out_response(uint32_t stream_id, int code, const char *message,
                                     const uint8_t *payload, size_t payload_len, veil_error_t *err)
{
  Ttrpc__Status st = TTRPC__STATUS__INIT;
  st.code = code;
  st.message = (char *)(message ? message : "");
  /* An error message never makes a reply exceed the frame limit. */
  char *cut = NULL;
  if (strlen(st.message) > TTRPC_MAX_STATUS_MESSAGE) {
    cut = strndup(st.message, TTRPC_MAX_STATUS_MESSAGE);
    if (cut)
      st.message = cut;
    else
      st.message = "(error message too long)";
  }
  Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
  resp.status = code ? &st : NULL; /* like the Go server: no Status on success */
  /* field 2 (payload), wire type 2 */
  struct ttrpc_out *o = out_build(stream_id, TTRPC_TYPE_RESPONSE, &resp.base, 2 << 3 | 2, payload,
                                  payload_len, "response", err);
  free(cut);
  return o;
}

void ttrpc_out_free(struct ttrpc_out *o)
{
  if (o == NULL)
    return;
  free(o->body_owned);
  free(o);
}

/* ---------- Response decoding (client side, zero-copy) ---------- */

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end)
      return -1;
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

/* Skip one field of the given wire type. */
static int skip_field(const uint8_t **p, const uint8_t *end, unsigned wt)
{
  uint64_t v;
  switch (wt) {
  case 0:
    return get_varint(p, end, &v);
  case 1:
    if (end - *p < 8)
      return -1;
    *p += 8;
    return 0;
  case 2:
    if (get_varint(p, end, &v) < 0 || v > (uint64_t)(end - *p))
      return -1;
    *p += v;
    return 0;
  case 5:
    if (end - *p < 4)
      return -1;
    *p += 4;
    return 0;
  default:
    return -1; /* groups (3, 4) are not used by ttrpc */
  }
}

static int decode_status(const uint8_t *p, const uint8_t *end, struct ttrpc_response_view *out)
{
  while (p < end) {
    uint64_t key, v;
    if (get_varint(&p, end, &key) < 0 || key >> 3 == 0)
      return -1;
    unsigned field = (unsigned)(key >> 3), wt = key & 7;
    if (field == 1 && wt == 0) {
      if (get_varint(&p, end, &v) < 0)
        return -1;
      out->code = (int32_t)v;
    } else if (field == 2 && wt == 2) {
      if (get_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
        return -1;
      out->message = p;
      out->message_len = (size_t)v;
      p += v;
    } else if (skip_field(&p, end, wt) < 0) {
      return -1;
    }
  }
  return 0;
}

int ttrpc_response_decode(const uint8_t *data, size_t len, struct ttrpc_response_view *out,
                          veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  if (len == 0)
    return 0; /* an empty Response: OK, no payload */
  const uint8_t *p = data, *end = data + len;
  while (p < end) {
    uint64_t key, v;
    if (get_varint(&p, end, &key) < 0 || key >> 3 == 0)
      goto bad;
    unsigned field = (unsigned)(key >> 3), wt = key & 7;
    if ((field == 1 || field == 2) && wt == 2) {
      if (get_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
        goto bad;
      if (field == 1) {
        /* proto3 merge semantics are not needed: ttrpc peers send one Status */
        if (decode_status(p, p + v, out) < 0)
          goto bad;
      } else {
        out->payload = p;
        out->payload_len = (size_t)v;
      }
      p += v;
    } else if (skip_field(&p, end, wt) < 0) {
      goto bad;
    }
  }
  return 0;
bad:
  return veil_error_grpc(err, VEIL_GRPC_INTERNAL, "malformed ttrpc Response (%zu bytes)", len);
}
