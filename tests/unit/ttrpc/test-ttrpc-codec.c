/* Frame codec: header layout, the incremental reader (byte by byte, oversized
 * discard, truncated input), request/response encoders and the Response decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ttrpc.pb-c.h"
#include "ttrpc/frame.h"

static void test_header_big_endian(void **state)
{
  (void)state;
  struct ttrpc_frame_header h = { 0x01020304, 0x0a0b0c0d, TTRPC_TYPE_RESPONSE, 0x05 };
  uint8_t b[TTRPC_HEADER_SIZE];
  ttrpc_header_encode(b, &h);
  const uint8_t want[] = { 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 2, 5 };
  assert_memory_equal(b, want, sizeof(want));
  struct ttrpc_frame_header d;
  ttrpc_header_decode(b, &d);
  assert_int_equal(d.length, h.length);
  assert_int_equal(d.stream_id, h.stream_id);
  assert_int_equal(d.type, h.type);
  assert_int_equal(d.flags, h.flags);
}

/* Two frames fed one byte at a time come out whole and in order. */
static void test_reader_byte_by_byte(void **state)
{
  (void)state;
  uint8_t buf[64];
  struct ttrpc_frame_header h1 = { 3, 1, TTRPC_TYPE_REQUEST, 0 }, h2 = { 0, 3, TTRPC_TYPE_DATA, 4 };
  ttrpc_header_encode(buf, &h1);
  memcpy(buf + 10, "abc", 3);
  ttrpc_header_encode(buf + 13, &h2);
  size_t total = 23;
  struct ttrpc_reader r;
  ttrpc_reader_init(&r);
  int frames = 0;
  for (size_t i = 0; i < total; i++) {
    size_t used;
    struct ttrpc_frame f;
    enum ttrpc_reader_event ev = ttrpc_reader_feed(&r, buf + i, 1, &used, &f);
    assert_int_equal(used, 1);
    if (ev == TTRPC_READER_FRAME) {
      frames++;
      if (frames == 1) {
        assert_int_equal(i, 12);
        assert_int_equal(f.h.length, 3);
        assert_memory_equal(f.data, "abc", 3);
      } else {
        assert_int_equal(i, 22);
        assert_int_equal(f.h.stream_id, 3);
        assert_int_equal(f.h.flags, 4);
        assert_null(f.data);
      }
      free(f.data);
    } else {
      assert_int_equal(ev, TTRPC_READER_NEED_MORE);
    }
  }
  assert_int_equal(frames, 2);
  ttrpc_reader_reset(&r);
}

/* An oversized frame is reported at its header, its data skipped across
 * several feeds, and the next frame decodes normally. */
static void test_reader_oversized_discard(void **state)
{
  (void)state;
  size_t big = TTRPC_MAX_DATA + 1;
  size_t total = 10 + big + 10 + 2;
  uint8_t *buf = malloc(total);
  memset(buf, 0xee, total);
  struct ttrpc_frame_header h1 = { (uint32_t)big, 5, TTRPC_TYPE_REQUEST, 0 };
  struct ttrpc_frame_header h2 = { 2, 7, TTRPC_TYPE_REQUEST, 0 };
  ttrpc_header_encode(buf, &h1);
  ttrpc_header_encode(buf + 10 + big, &h2);
  memcpy(buf + 20 + big, "ok", 2);
  struct ttrpc_reader r;
  ttrpc_reader_init(&r);
  size_t pos = 0, used;
  struct ttrpc_frame f;
  assert_int_equal(ttrpc_reader_feed(&r, buf, 10, &used, &f), TTRPC_READER_OVERSIZED);
  assert_int_equal(f.h.stream_id, 5);
  assert_int_equal(f.h.length, big);
  pos = used;
  int got = 0;
  while (pos < total) {
    size_t chunk = total - pos < 65536 ? total - pos : 65536;
    enum ttrpc_reader_event ev = ttrpc_reader_feed(&r, buf + pos, chunk, &used, &f);
    pos += used;
    if (ev == TTRPC_READER_FRAME) {
      assert_int_equal(f.h.stream_id, 7);
      assert_memory_equal(f.data, "ok", 2);
      free(f.data);
      got++;
    } else {
      assert_int_equal(ev, TTRPC_READER_NEED_MORE);
    }
  }
  assert_int_equal(got, 1);
  /* exactly TTRPC_MAX_DATA is accepted */
  struct ttrpc_frame_header h3 = { TTRPC_MAX_DATA, 9, TTRPC_TYPE_REQUEST, 0 };
  uint8_t hb[10];
  ttrpc_header_encode(hb, &h3);
  assert_int_equal(ttrpc_reader_feed(&r, hb, 10, &used, &f), TTRPC_READER_NEED_MORE);
  uint8_t *dst;
  assert_int_equal(ttrpc_reader_direct(&r, &dst), TTRPC_MAX_DATA);
  memset(dst, 1, TTRPC_MAX_DATA);
  assert_int_equal(ttrpc_reader_commit(&r, TTRPC_MAX_DATA, &f), TTRPC_READER_FRAME);
  assert_int_equal(f.h.length, TTRPC_MAX_DATA);
  free(f.data);
  free(buf);
  ttrpc_reader_reset(&r);
}

/* Truncated input never yields a frame; reset frees the partial one. */
static void test_reader_truncated(void **state)
{
  (void)state;
  uint8_t buf[10 + 100];
  struct ttrpc_frame_header h = { 100, 1, TTRPC_TYPE_REQUEST, 0 };
  ttrpc_header_encode(buf, &h);
  memset(buf + 10, 'x', 100);
  for (size_t cut = 0; cut < sizeof(buf); cut += 7) {
    struct ttrpc_reader r;
    ttrpc_reader_init(&r);
    size_t used;
    struct ttrpc_frame f;
    assert_int_equal(ttrpc_reader_feed(&r, buf, cut, &used, &f), TTRPC_READER_NEED_MORE);
    assert_int_equal(used, cut);
    ttrpc_reader_reset(&r); /* ASan: no leak of the partial data */
  }
}

/* Encoded requests decode with protobuf-c to the same fields. */
static void test_request_encoding(void **state)
{
  (void)state;
  struct ttrpc_kv md[] = { { "containerd-namespace-ttrpc", "default" } };
  const uint8_t payload[] = { 1, 2, 3, 0, 4 };
  struct ttrpc_out *o = ttrpc_out_request(7, "containerd.task.v2.Task", "Create", 123456789, md, 1,
                                          payload, sizeof(payload), NULL);
  assert_non_null(o);
  size_t n = o->head_len + o->body_len;
  uint8_t *all = malloc(n);
  memcpy(all, o->head, o->head_len);
  memcpy(all + o->head_len, o->body, o->body_len);
  struct ttrpc_frame_header h;
  ttrpc_header_decode(all, &h);
  assert_int_equal(h.length, n - 10);
  assert_int_equal(h.stream_id, 7);
  assert_int_equal(h.type, TTRPC_TYPE_REQUEST);
  Ttrpc__Request *r = ttrpc__request__unpack(NULL, h.length, all + 10);
  assert_non_null(r);
  assert_string_equal(r->service, "containerd.task.v2.Task");
  assert_string_equal(r->method, "Create");
  assert_int_equal(r->timeout_nano, 123456789);
  assert_int_equal(r->n_metadata, 1);
  assert_string_equal(r->metadata[0]->key, "containerd-namespace-ttrpc");
  assert_string_equal(r->metadata[0]->value, "default");
  assert_int_equal(r->payload.len, sizeof(payload));
  assert_memory_equal(r->payload.data, payload, sizeof(payload));
  ttrpc__request__free_unpacked(r, NULL);
  free(all);
  ttrpc_out_free(o);
}

static void test_size_limits(void **state)
{
  (void)state;
  veil_error_t err = NULL;
  /* A successful Response has no Status (like Go's): 1 (tag) + 4 (varint) + payload */
  size_t max_payload = TTRPC_MAX_DATA - 5;
  uint8_t *p = calloc(1, max_payload + 1);
  struct ttrpc_out *o = ttrpc_out_response(1, 0, NULL, p, max_payload, &err);
  assert_non_null(o);
  assert_int_equal(o->head_len + o->body_len, TTRPC_MAX_DATA + 10);
  ttrpc_out_free(o);
  assert_null(ttrpc_out_response(1, 0, NULL, p, max_payload + 1, &err));
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(err->msg, "4194305"));
  veil_error_release(&err);
  assert_null(ttrpc_out_request(1, "s", "m", 0, NULL, 0, p, max_payload + 1, &err));
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_RESOURCE_EXHAUSTED);
  veil_error_release(&err);
  free(p);
}

static void test_response_decode(void **state)
{
  (void)state;
  /* our encoding decodes */
  struct ttrpc_out *o = ttrpc_out_response(1, 5, "no such thing", (const uint8_t *)"pl", 2, NULL);
  uint8_t buf[128];
  memcpy(buf, o->head + 10, o->head_len - 10);
  memcpy(buf + o->head_len - 10, o->body, o->body_len);
  size_t n = o->head_len - 10 + o->body_len;
  ttrpc_out_free(o);
  struct ttrpc_response_view v;
  assert_int_equal(ttrpc_response_decode(buf, n, &v, NULL), 0);
  assert_int_equal(v.code, 5);
  assert_int_equal(v.message_len, 13);
  assert_memory_equal(v.message, "no such thing", 13);
  assert_int_equal(v.payload_len, 2);
  /* protobuf-c's encoding (with Status details and unknown fields) decodes */
  Ttrpc__Status st = TTRPC__STATUS__INIT;
  st.code = 8;
  st.message = "too big";
  Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
  resp.status = &st;
  resp.payload.data = (uint8_t *)"xyz";
  resp.payload.len = 3;
  size_t pn = ttrpc__response__pack(&resp, buf);
  buf[pn++] = 0x28; /* unknown field 5, varint */
  buf[pn++] = 0x01;
  assert_int_equal(ttrpc_response_decode(buf, pn, &v, NULL), 0);
  assert_int_equal(v.code, 8);
  assert_int_equal(v.payload_len, 3);
  assert_memory_equal(v.payload, "xyz", 3);
  /* empty response = OK */
  assert_int_equal(ttrpc_response_decode(buf, 0, &v, NULL), 0);
  assert_int_equal(v.code, 0);
  /* malformed: length past the end, bad varint, group wire type, field 0 */
  const uint8_t bad1[] = { 0x12, 0x05, 'a' };
  const uint8_t bad2[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
  const uint8_t bad3[] = { 0x1b };
  const uint8_t bad4[] = { 0x00, 0x00 };
  const uint8_t bad5[] = { 0x0a, 0x02, 0x08 }; /* status truncated inside */
  const uint8_t *bads[] = { bad1, bad2, bad3, bad4, bad5 };
  size_t lens[] = { sizeof(bad1), sizeof(bad2), sizeof(bad3), sizeof(bad4), sizeof(bad5) };
  for (size_t i = 0; i < 5; i++) {
    veil_error_t err = NULL;
    assert_int_equal(ttrpc_response_decode(bads[i], lens[i], &v, &err), -1);
    assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_INTERNAL);
    veil_error_release(&err);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_header_big_endian),
    cmocka_unit_test(test_reader_byte_by_byte),
    cmocka_unit_test(test_reader_oversized_discard),
    cmocka_unit_test(test_reader_truncated),
    cmocka_unit_test(test_request_encoding),
    cmocka_unit_test(test_size_limits),
    cmocka_unit_test(test_response_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
