/* veil's ttrpc library: the contract shared by shim, agent_client/ (agent client) and agent.
 *
 * Wire format (containerd/ttrpc PROTOCOL.md): 10-byte big-endian header
 * {u32 length, u32 stream_id, u8 type, u8 flags} then `length` bytes of data,
 * at most TTRPC_MAX_DATA. Requests/Responses are protobuf ttrpc.Request/Response
 * (proto/ttrpc.proto).
 *
 * Threading model (docs/ttrpc.md has the details):
 *  - server: leader/followers over one epoll set. Whichever pool worker is the leader
 *    waits for I/O and runs the calls it reads itself (no thread switch on the common
 *    path); a watchdog hands leadership to another worker when a call runs longer than
 *    ~1 ms, so a handler that blocks (Wait, WaitProcess, ReadStdout) never blocks other
 *    requests, even on the same connection, for more than that. TTRPC_METHOD_INLINE
 *    handlers run on the leader, serialized with I/O.
 *  - client: any number of threads may call concurrently on one connection; calls are
 *    multiplexed by stream id and a waiting caller reads responses for everyone (no
 *    reader thread). ttrpc_client_closed() checks the socket when no call is in flight.
 * Every function that can fail takes a veil_error_t *err (common/error.h).
 */
#ifndef VEIL_TTRPC_H
#define VEIL_TTRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

#define TTRPC_HEADER_SIZE 10
#define TTRPC_MAX_DATA (4u * 1024 * 1024)

enum ttrpc_frame_type {
  TTRPC_TYPE_REQUEST = 0x01,
  TTRPC_TYPE_RESPONSE = 0x02,
  TTRPC_TYPE_DATA = 0x03,
};
enum ttrpc_frame_flags {
  TTRPC_FLAG_REMOTE_CLOSED = 0x01,
  TTRPC_FLAG_REMOTE_OPEN = 0x02,
  TTRPC_FLAG_NO_DATA = 0x04,
};

struct ttrpc_kv {
  const char *key;
  const char *value;
};

/* ---------- server ---------- */

typedef struct ttrpc_server ttrpc_server;

/* What a handler knows about its request. Valid for the handler's duration. */
struct ttrpc_request_ctx {
  const char *service;
  const char *method;
  int64_t timeout_nano;       /* 0 = no deadline */
  uint64_t deadline_mono_ns;  /* CLOCK_MONOTONIC deadline, 0 = none */
  size_t n_metadata;
  const struct ttrpc_kv *metadata;
  pid_t peer_pid;             /* from SO_PEERCRED on unix sockets, else -1 */
  uid_t peer_uid;
  const volatile bool *cancelled; /* becomes true when the connection closes or the deadline passes */
};

/* Look up a metadata value (first match), NULL if absent. */
const char *ttrpc_ctx_metadata(const struct ttrpc_request_ctx *ctx, const char *key);

/* A method handler. On success it returns 0 and sets *resp (malloc'd, freed by
 * the library; may be NULL with *resp_len 0 for an empty message). On failure
 * it returns -1 and sets *err; the error is sent as google.rpc.Status with
 * veil_error_grpc_code(*err) and its message. */
typedef int (*ttrpc_method_fn)(void *user, const struct ttrpc_request_ctx *ctx,
                               const uint8_t *req, size_t req_len,
                               uint8_t **resp, size_t *resp_len, veil_error_t *err);

enum ttrpc_method_flags {
  TTRPC_METHOD_INLINE = 1 << 0, /* run on the loop thread: must not block */
};

struct ttrpc_server_options {
  bool require_same_uid;      /* reject unix peers whose SO_PEERCRED uid differs */
  unsigned max_workers;       /* 0 = default (1024) */
};

ttrpc_server *ttrpc_server_new(const struct ttrpc_server_options *opts, veil_error_t *err);
int ttrpc_server_register(ttrpc_server *s, const char *service, const char *method,
                          ttrpc_method_fn fn, void *user, unsigned flags, veil_error_t *err);
/* Accept connections on a listening socket (unix or vsock). Takes ownership of fd. */
int ttrpc_server_add_listener(ttrpc_server *s, int listen_fd, veil_error_t *err);
/* Serve an already-open byte stream (accepted socket, virtio-serial port). Takes fd.
 * Thread-safe: may be called while the server runs. */
int ttrpc_server_add_connection(ttrpc_server *s, int fd, veil_error_t *err);
/* Called (on the loop thread) after a connection's fd was closed, e.g. so the agent
 * can reopen its virtio-serial port. `fd` is the number it had. */
typedef void (*ttrpc_conn_closed_fn)(void *user, int fd);
void ttrpc_server_on_connection_closed(ttrpc_server *s, ttrpc_conn_closed_fn fn, void *user);
/* Run the loop in the calling thread until ttrpc_server_stop(). */
int ttrpc_server_run(ttrpc_server *s, veil_error_t *err);
/* Thread-safe and async-signal-safe: makes ttrpc_server_run return. */
void ttrpc_server_stop(ttrpc_server *s);
/* Number of open connections (thread-safe). */
size_t ttrpc_server_connection_count(ttrpc_server *s);
/* Waits for running handlers, closes everything. */
void ttrpc_server_free(ttrpc_server *s);

/* ---------- client ---------- */

typedef struct ttrpc_client ttrpc_client;

/* Takes ownership of a connected byte-stream fd (see ttrpc_dial). */
ttrpc_client *ttrpc_client_new(int fd, veil_error_t *err);
/* A blocking unary call; thread-safe. timeout_ns 0 = none (then timeout_nano is
 * not sent). On a remote error, *err carries its gRPC code and message; local
 * timeout -> DeadlineExceeded; connection loss -> Unavailable for every pending call.
 * *resp is malloc'd (may be NULL when resp_len is 0). */
int ttrpc_client_call(ttrpc_client *c, const char *service, const char *method,
                      const uint8_t *req, size_t req_len, int64_t timeout_ns,
                      const struct ttrpc_kv *metadata, size_t n_metadata,
                      uint8_t **resp, size_t *resp_len, veil_error_t *err);
/* True once the connection is gone. */
bool ttrpc_client_closed(ttrpc_client *c);
/* Close the connection: pending calls fail with Unavailable. Thread-safe. */
void ttrpc_client_close(ttrpc_client *c);
void ttrpc_client_free(ttrpc_client *c);

/* ---------- transports ---------- */

/* Dial an address (ttrpc/address.h syntax: unix:///path or /path, vsock://CID:PORT,
 * hvsock:///path:PORT, fd://N) and return a connected fd; timeout_ms bounds connect +
 * handshake. Parse once with ttrpc_address_parse and use ttrpc_address_dial to dial again. */
int ttrpc_dial(const char *address, int timeout_ms, veil_error_t *err);
/* A listening socket for an address (unix:///path, mode 0600; vsock://CID:PORT, CID -1 =
 * any). */
int ttrpc_listen(const char *address, veil_error_t *err);
/* Listening sockets for servers: unix (mode 0600, parent dir must exist) and vsock. */
int ttrpc_listen_unix(const char *path, veil_error_t *err);
int ttrpc_listen_vsock(unsigned cid, unsigned port, veil_error_t *err);

#endif
