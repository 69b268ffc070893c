/* libFuzzer: bytes arriving on a server connection. The input is written into
 * one end of a socketpair whose other end is a real server connection; the
 * connection reader decodes frames, validates stream ids, unpacks Requests and
 * dispatches them (inline handlers and one on the worker pool); replies go
 * back over the socket and are drained. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttrpc/server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int h_echo(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user;
  (void)err;
  (void)ttrpc_ctx_metadata(ctx, "containerd-namespace-ttrpc");
  if (len) {
    *resp = malloc(len);
    memcpy(*resp, req, len);
    *resp_len = len;
  }
  return 0;
}

static int h_fail(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                  uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)req; (void)resp; (void)resp_len;
  return veil_error_grpc(err, (int)(len % 17), "failed on %zu bytes", len);
}

static void drain(int fd)
{
  uint8_t buf[65536];
  while (read(fd, buf, sizeof(buf)) > 0)
    ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ttrpc_server *s = ttrpc_server_new(NULL, NULL);
  if (s == NULL)
    return 0;
  ttrpc_server_register(s, "f", "Echo", h_echo, NULL, TTRPC_METHOD_INLINE, NULL);
  ttrpc_server_register(s, "f", "Fail", h_fail, NULL, TTRPC_METHOD_INLINE, NULL);
  ttrpc_server_register(s, "f", "Pool", h_echo, NULL, 0, NULL);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
    ttrpc_server_free(s);
    return 0;
  }
  int bufsz = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
  if (ttrpc_server_add_connection(s, sv[1], NULL) < 0) {
    close(sv[0]);
    ttrpc_server_free(s);
    return 0;
  }
  struct ttrpc_conn *c = s->conns;
  size_t pos = 0;
  bool open = true;
  while (open) {
    if (pos < size) {
      ssize_t w = write(sv[0], data + pos, size - pos);
      if (w > 0)
        pos += (size_t)w;
      if (pos == size)
        shutdown(sv[0], SHUT_WR); /* then the reader sees EOF */
    } else if (size == 0) {
      shutdown(sv[0], SHUT_WR);
    }
    open = conn_on_readable(c);
    /* what the leader does after an iteration: run the calls it read */
    for (struct ttrpc_call *call = s->batch_head, *next; call; call = next) {
      next = call->self_next;
      call_run(call);
    }
    s->batch_head = s->batch_tail = NULL;
    drain(sv[0]);
  }
  ttrpc_server_free(s); /* closes the connection, waits for the pool */
  drain(sv[0]);
  close(sv[0]);
  return 0;
}
