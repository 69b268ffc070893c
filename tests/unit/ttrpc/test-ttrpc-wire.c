/* The wire protocol spoken by hand against the real server, and a hand-made
 * peer against the real client: stream-id rules, oversized / truncated /
 * malformed frames, Data frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include "common/cleanup.h"
#include "harness.h"

#define SVC "veil.test.Echo"

static int h_echo(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)err;
  if (len) {
    *resp = malloc(len);
    memcpy(*resp, req, len);
    *resp_len = len;
  }
  return 0;
}

static void reg(ttrpc_server *s, void *user)
{
  (void)user;
  assert_int_equal(ttrpc_server_register(s, SVC, "Echo", h_echo, NULL, 0, NULL), 0);
}

static int expect_echo_ok(int fd, uint32_t id)
{
  raw_send_request(fd, id, SVC, "Echo", (const uint8_t *)"ok", 2, 0);
  uint32_t got = 0;
  int code = raw_recv_status(fd, &got, NULL, 0);
  assert_int_equal(got, id);
  return code;
}

static void test_stream_id_rules(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg, NULL);
  cleanup_close int fd = ttrpc_dial(t.path, 1000, NULL);
  assert_true(fd >= 0);
  char msg[256];
  uint32_t id;
  /* even id: InvalidArgument on that stream */
  raw_send_request(fd, 2, SVC, "Echo", NULL, 0, 0);
  assert_int_equal(raw_recv_status(fd, &id, msg, sizeof(msg)), VEIL_GRPC_INVALID_ARGUMENT);
  assert_int_equal(id, 2);
  assert_non_null(strstr(msg, "odd"));
  /* stream 0 is even too */
  raw_send_request(fd, 0, SVC, "Echo", NULL, 0, 0);
  assert_int_equal(raw_recv_status(fd, &id, NULL, 0), VEIL_GRPC_INVALID_ARGUMENT);
  assert_int_equal(expect_echo_ok(fd, 5), VEIL_GRPC_OK);
  /* reused and decreasing ids */
  raw_send_request(fd, 5, SVC, "Echo", NULL, 0, 0);
  assert_int_equal(raw_recv_status(fd, &id, msg, sizeof(msg)), VEIL_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(msg, "never reused"));
  raw_send_request(fd, 3, SVC, "Echo", NULL, 0, 0);
  assert_int_equal(raw_recv_status(fd, &id, NULL, 0), VEIL_GRPC_INVALID_ARGUMENT);
  /* the connection survives all of it */
  assert_int_equal(expect_echo_ok(fd, 7), VEIL_GRPC_OK);
  test_server_stop(&t);
}

static void test_oversized_request_discarded_connection_kept(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg, NULL);
  cleanup_close int fd = ttrpc_dial(t.path, 1000, NULL);
  assert_true(fd >= 0);
  uint32_t len = TTRPC_MAX_DATA + 1;
  uint8_t *junk = malloc(len);
  memset(junk, 0xff, len); /* would be garbage if the server parsed it */
  raw_send_frame(fd, 1, TTRPC_TYPE_REQUEST, junk, len);
  free(junk);
  char msg[256];
  uint32_t id;
  assert_int_equal(raw_recv_status(fd, &id, msg, sizeof(msg)), VEIL_GRPC_RESOURCE_EXHAUSTED);
  assert_int_equal(id, 1);
  assert_non_null(strstr(msg, "4194305"));
  /* exactly at the limit is fine */
  size_t plen = TTRPC_MAX_DATA - 64;
  uint8_t *p = calloc(1, plen);
  raw_send_request(fd, 3, SVC, "Echo", p, plen, 0);
  free(p);
  struct ttrpc_frame_header h;
  uint8_t *d = raw_recv_frame(fd, &h);
  assert_non_null(d);
  assert_int_equal(h.stream_id, 3);
  free(d);
  assert_int_equal(expect_echo_ok(fd, 5), VEIL_GRPC_OK);
  test_server_stop(&t);
}

static void test_data_frames_and_unknown_types_ignored(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg, NULL);
  cleanup_close int fd = ttrpc_dial(t.path, 1000, NULL);
  assert_true(fd >= 0);
  raw_send_frame(fd, 1, TTRPC_TYPE_DATA, (const uint8_t *)"abc", 3);
  raw_send_frame(fd, 3, TTRPC_TYPE_DATA, NULL, 0);
  raw_send_frame(fd, 9, 0x7f, (const uint8_t *)"zz", 2);
  raw_send_frame(fd, 11, TTRPC_TYPE_RESPONSE, (const uint8_t *)"zz", 2);
  /* nothing was answered: the next frame we read is the echo's */
  assert_int_equal(expect_echo_ok(fd, 13), VEIL_GRPC_OK);
  test_server_stop(&t);
}

static void test_malformed_request_invalid_argument(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg, NULL);
  cleanup_close int fd = ttrpc_dial(t.path, 1000, NULL);
  assert_true(fd >= 0);
  /* field 1, length-delimited, length 100 but only 2 bytes follow */
  const uint8_t bad[] = { 0x0a, 100, 'a', 'b' };
  raw_send_frame(fd, 1, TTRPC_TYPE_REQUEST, bad, sizeof(bad));
  uint32_t id;
  char msg[256];
  assert_int_equal(raw_recv_status(fd, &id, msg, sizeof(msg)), VEIL_GRPC_INVALID_ARGUMENT);
  assert_int_equal(id, 1);
  assert_non_null(strstr(msg, "unmarshal"));
  assert_int_equal(expect_echo_ok(fd, 3), VEIL_GRPC_OK);
  test_server_stop(&t);
}

static void test_truncated_frames_close_cleanly(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, reg, NULL);
  for (int variant = 0; variant < 3; variant++) {
    int fd = ttrpc_dial(t.path, 1000, NULL);
    assert_true(fd >= 0);
    uint8_t h[TTRPC_HEADER_SIZE];
    struct ttrpc_frame_header fh = { variant == 2 ? TTRPC_MAX_DATA + 100 : 50, 1,
                                     TTRPC_TYPE_REQUEST, 0 };
    ttrpc_header_encode(h, &fh);
    size_t n = variant == 0 ? 4 : sizeof(h); /* half a header / header + part of the data */
    assert_int_equal(raw_write_all(fd, h, n), 0);
    if (variant > 0)
      assert_int_equal(raw_write_all(fd, "0123456789", 10), 0);
    if (variant == 2) { /* the oversized frame is answered at once */
      assert_int_equal(raw_recv_status(fd, NULL, NULL, 0), VEIL_GRPC_RESOURCE_EXHAUSTED);
    }
    close(fd);
  }
  for (int i = 0; i < 5000 && ttrpc_server_connection_count(t.s) > 0; i++)
    usleep(1000);
  assert_int_equal(ttrpc_server_connection_count(t.s), 0);
  /* the server still serves */
  cleanup_close int fd = ttrpc_dial(t.path, 1000, NULL);
  assert_int_equal(expect_echo_ok(fd, 1), VEIL_GRPC_OK);
  test_server_stop(&t);
}

/* ---- the client against a hand-made peer on a socketpair ---- */

struct fake_peer {
  int fd;
};

/* Reads one request; returns its stream id. */
static uint32_t peer_read_request(int fd)
{
  struct ttrpc_frame_header h;
  uint8_t *d = raw_recv_frame(fd, &h);
  assert_non_null(d);
  assert_int_equal(h.type, TTRPC_TYPE_REQUEST);
  Ttrpc__Request *r = ttrpc__request__unpack(NULL, h.length, d);
  assert_non_null(r);
  ttrpc__request__free_unpacked(r, NULL);
  free(d);
  return h.stream_id;
}

static void *peer_main(void *arg)
{
  int fd = ((struct fake_peer *)arg)->fd;
  /* call 1: answered with an oversized frame */
  uint32_t id = peer_read_request(fd);
  assert_int_equal(id, 1);
  uint32_t big = TTRPC_MAX_DATA + 1;
  uint8_t *junk = calloc(1, big);
  raw_send_frame(fd, id, TTRPC_TYPE_RESPONSE, junk, big);
  free(junk);
  /* call 2: first a response for a stream nobody waits for, a Data frame, then the answer */
  id = peer_read_request(fd);
  assert_int_equal(id, 3);
  struct ttrpc_out *o = ttrpc_out_response(99, 0, NULL, (const uint8_t *)"stray", 5, NULL);
  raw_write_all(fd, o->head, o->head_len);
  raw_write_all(fd, o->body, o->body_len);
  ttrpc_out_free(o);
  raw_send_frame(fd, 3, TTRPC_TYPE_DATA, (const uint8_t *)"d", 1);
  o = ttrpc_out_response(id, 0, NULL, (const uint8_t *)"fine", 4, NULL);
  raw_write_all(fd, o->head, o->head_len);
  raw_write_all(fd, o->body, o->body_len);
  ttrpc_out_free(o);
  /* call 3: a malformed Response */
  id = peer_read_request(fd);
  raw_send_frame(fd, id, TTRPC_TYPE_RESPONSE, (const uint8_t *)"\x12\x50", 2);
  /* call 4: error status with a message */
  id = peer_read_request(fd);
  o = ttrpc_out_response(id, VEIL_GRPC_PERMISSION_DENIED, "go away", NULL, 0, NULL);
  raw_write_all(fd, o->head, o->head_len);
  ttrpc_out_free(o);
  return NULL;
}

static void test_client_oversized_and_stray_responses(void **state)
{
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  struct fake_peer peer = { sv[1] };
  pthread_t th;
  pthread_create(&th, NULL, peer_main, &peer);
  ttrpc_client *c = ttrpc_client_new(sv[0], NULL);
  assert_non_null(c);
  veil_error_t err = NULL;
  uint8_t *resp = NULL;
  size_t len;
  assert_int_equal(ttrpc_client_call(c, SVC, "A", NULL, 0, 0, NULL, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_RESOURCE_EXHAUSTED);
  veil_error_release(&err);
  assert_int_equal(ttrpc_client_call(c, SVC, "B", NULL, 0, 0, NULL, 0, &resp, &len, &err), 0);
  assert_int_equal(len, 4);
  assert_memory_equal(resp, "fine", 4);
  free(resp);
  assert_int_equal(ttrpc_client_call(c, SVC, "C", NULL, 0, 0, NULL, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_INTERNAL);
  assert_non_null(strstr(err->msg, "malformed"));
  veil_error_release(&err);
  assert_int_equal(ttrpc_client_call(c, SVC, "D", NULL, 0, 0, NULL, 0, &resp, &len, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_PERMISSION_DENIED);
  assert_string_equal(err->msg, "go away");
  veil_error_release(&err);
  pthread_join(th, NULL);
  assert_false(ttrpc_client_closed(c));
  close(sv[1]);
  ttrpc_client_free(c);
}

/* The client's stream ids on the wire: odd, from 1, increasing by 2. */
static void *id_peer(void *arg)
{
  int fd = ((struct fake_peer *)arg)->fd;
  for (uint32_t want = 1; want <= 9; want += 2) {
    uint32_t id = peer_read_request(fd);
    struct ttrpc_out *o = ttrpc_out_response(id, id == want ? 0 : VEIL_GRPC_INTERNAL, NULL, NULL,
                                             0, NULL);
    raw_write_all(fd, o->head, o->head_len);
    ttrpc_out_free(o);
  }
  return NULL;
}

static void test_client_stream_ids(void **state)
{
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  struct fake_peer peer = { sv[1] };
  pthread_t th;
  pthread_create(&th, NULL, id_peer, &peer);
  ttrpc_client *c = ttrpc_client_new(sv[0], NULL);
  for (int i = 0; i < 5; i++) {
    uint8_t *resp = NULL;
    size_t len;
    assert_int_equal(ttrpc_client_call(c, SVC, "X", NULL, 0, 0, NULL, 0, &resp, &len, NULL), 0);
  }
  pthread_join(th, NULL);
  close(sv[1]);
  ttrpc_client_free(c);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_stream_id_rules),
    cmocka_unit_test(test_oversized_request_discarded_connection_kept),
    cmocka_unit_test(test_data_frames_and_unknown_types_ignored),
    cmocka_unit_test(test_malformed_request_invalid_argument),
    cmocka_unit_test(test_truncated_frames_close_cleanly),
    cmocka_unit_test(test_client_oversized_and_stray_responses),
    cmocka_unit_test(test_client_stream_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
