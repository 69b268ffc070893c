/* veil's one error idiom.
 *
 * A function that can fail takes `veil_error_t *err` last, returns a negative
 * value (or NULL) on failure and stores a heap-allocated error object there.
 * Callers either handle it (veil_error_release) or add context and pass it up
 * (veil_error_wrap). The error carries an errno-style status and, when the
 * failure already has one (e.g. it came from a remote ttrpc peer), a gRPC code;
 * otherwise the gRPC code is derived from errno once, at the ttrpc edge
 * (veil_error_grpc_code). See docs/errors.md. */
#ifndef VEIL_COMMON_ERROR_H
#define VEIL_COMMON_ERROR_H

#include <stdarg.h>

struct veil_error_s {
  int status;    /* errno value, > 0 */
  int grpc_code; /* google.rpc.Code, or -1 = derive from status */
  char *msg;
  int remote;    /* code and message came from a ttrpc peer (untrusted if the peer is) */
};
typedef struct veil_error_s *veil_error_t;

/* gRPC status codes (google.rpc.Code) */
enum veil_grpc_code {
  VEIL_GRPC_OK = 0,
  VEIL_GRPC_CANCELLED = 1,
  VEIL_GRPC_UNKNOWN = 2,
  VEIL_GRPC_INVALID_ARGUMENT = 3,
  VEIL_GRPC_DEADLINE_EXCEEDED = 4,
  VEIL_GRPC_NOT_FOUND = 5,
  VEIL_GRPC_ALREADY_EXISTS = 6,
  VEIL_GRPC_PERMISSION_DENIED = 7,
  VEIL_GRPC_RESOURCE_EXHAUSTED = 8,
  VEIL_GRPC_FAILED_PRECONDITION = 9,
  VEIL_GRPC_ABORTED = 10,
  VEIL_GRPC_OUT_OF_RANGE = 11,
  VEIL_GRPC_UNIMPLEMENTED = 12,
  VEIL_GRPC_INTERNAL = 13,
  VEIL_GRPC_UNAVAILABLE = 14,
  VEIL_GRPC_DATA_LOSS = 15,
  VEIL_GRPC_UNAUTHENTICATED = 16,
};

#define VEIL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Create an error from an errno value. Always returns -1 so that call sites
 * can write `return veil_error_make(err, EINVAL, "bad %s", x);`.
 * If *err is already set it is replaced (the old one is released). */
int veil_error_make(veil_error_t *err, int status, const char *fmt, ...) VEIL_PRINTF(3, 4);
int veil_error_makev(veil_error_t *err, int status, const char *fmt, va_list ap);
/* Same, with the current errno appended as ": strerror(errno)". */
int veil_error_errno(veil_error_t *err, const char *fmt, ...) VEIL_PRINTF(2, 3);
/* Create an error with an explicit gRPC code (status derived from it). */
int veil_error_grpc(veil_error_t *err, int grpc_code, const char *fmt, ...) VEIL_PRINTF(3, 4);
/* Prefix the existing message with "context: ". Returns -1. If *err is NULL
 * (a bug in the callee), creates an EIO error holding only the context. */
int veil_error_wrap(veil_error_t *err, const char *fmt, ...) VEIL_PRINTF(2, 3);

/* veil_error_wrap, and the failure now has this gRPC meaning (e.g. a lower layer's EIO that is
 * the caller's bad input: InvalidArgument). The one way to set a code on an existing error. */
int veil_error_wrap_grpc(veil_error_t *err, int grpc_code, const char *fmt, ...) VEIL_PRINTF(3, 4);

void veil_error_release(veil_error_t *err);

/* The gRPC code for the ttrpc edge: explicit code, else mapped from errno. */
int veil_error_grpc_code(const struct veil_error_s *e);
int veil_grpc_code_from_errno(int status);
int veil_errno_from_grpc_code(int code);
const char *veil_grpc_code_name(int code);

static inline void veil_cleanup_error(veil_error_t *e) { veil_error_release(e); }
#define cleanup_error __attribute__((cleanup(veil_cleanup_error)))

#endif
