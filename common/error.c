#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_error(veil_error_t *err, int status, int grpc_code, char *msg)
{
  if (err == NULL) {
    free(msg);
    return;
  }
  veil_error_release(err);
  struct veil_error_s *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    free(msg);
    return; /* out of memory: the caller still sees the -1 */
  }
  e->status = status > 0 ? status : EIO;
  e->grpc_code = grpc_code;
  e->msg = msg ? msg : strdup("out of memory formatting an error");
  *err = e;
}

int veil_error_makev(veil_error_t *err, int status, const char *fmt, va_list ap)
{
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  set_error(err, status, -1, msg);
  return -1;
}

int veil_error_make(veil_error_t *err, int status, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  veil_error_makev(err, status, fmt, ap);
  va_end(ap);
  return -1;
}

int veil_error_errno(veil_error_t *err, const char *fmt, ...)
{
  int saved = errno;
  char *ctx = NULL, *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&ctx, fmt, ap) < 0)
    ctx = NULL;
  va_end(ap);
  if (asprintf(&msg, "%s: %s", ctx ? ctx : "", strerror(saved)) < 0)
    msg = NULL;
  free(ctx);
  set_error(err, saved, -1, msg);
  errno = saved;
  return -1;
}

int veil_error_grpc(veil_error_t *err, int grpc_code, const char *fmt, ...)
{
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  set_error(err, veil_errno_from_grpc_code(grpc_code), grpc_code, msg);
  return -1;
}

int veil_error_wrap(veil_error_t *err, const char *fmt, ...)
{
  char *ctx = NULL, *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&ctx, fmt, ap) < 0)
    ctx = NULL;
  va_end(ap);
  if (err == NULL) {
    free(ctx);
    return -1;
  }
  if (*err == NULL) {
    set_error(err, EIO, -1, ctx);
    return -1;
  }
  if (ctx && asprintf(&msg, "%s: %s", ctx, (*err)->msg) >= 0) {
    free((*err)->msg);
    (*err)->msg = msg;
  }
  free(ctx);
  return -1;
}

int veil_error_wrap_grpc(veil_error_t *err, int grpc_code, const char *fmt, ...)
{
  char *ctx = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&ctx, fmt, ap) < 0)
    ctx = NULL;
  va_end(ap);
  veil_error_wrap(err, "%s", ctx ? ctx : "");
  free(ctx);
  if (err && *err) {
    (*err)->grpc_code = grpc_code;
    (*err)->remote = 0; /* our verdict now, not the peer's */
  }
  return -1;
}

void veil_error_release(veil_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}

int veil_grpc_code_from_errno(int status)
{
  switch (status) {
  case 0: return VEIL_GRPC_OK;
  case ECANCELED: return VEIL_GRPC_CANCELLED;
  case EINVAL: case EBADMSG: case ENAMETOOLONG: case EILSEQ: case EDOM:
    return VEIL_GRPC_INVALID_ARGUMENT;
  case ETIMEDOUT: case ETIME: return VEIL_GRPC_DEADLINE_EXCEEDED;
  case ENOENT: case ESRCH: case ENODEV: case ENXIO: return VEIL_GRPC_NOT_FOUND;
  case EEXIST: case EADDRINUSE: return VEIL_GRPC_ALREADY_EXISTS;
  case EPERM: case EACCES: return VEIL_GRPC_PERMISSION_DENIED;
  case ENOMEM: case E2BIG: case EMSGSIZE: case ENOSPC: case EMFILE: case ENFILE: case EFBIG:
    return VEIL_GRPC_RESOURCE_EXHAUSTED;
  case EBUSY: case ENOTEMPTY: case ENOTDIR: case EISDIR: case ECHILD: case EALREADY:
    return VEIL_GRPC_FAILED_PRECONDITION;
  case EINTR: return VEIL_GRPC_ABORTED;
  case ERANGE: case EOVERFLOW: return VEIL_GRPC_OUT_OF_RANGE;
  case ENOSYS: case EOPNOTSUPP: case EPROTONOSUPPORT: return VEIL_GRPC_UNIMPLEMENTED;
  case ECONNREFUSED: case ECONNRESET: case ECONNABORTED: case EPIPE: case ENOTCONN:
  case EHOSTUNREACH: case ENETUNREACH: case ESHUTDOWN: case EAGAIN:
    return VEIL_GRPC_UNAVAILABLE;
  case ENODATA: return VEIL_GRPC_DATA_LOSS;
  case EKEYREJECTED: return VEIL_GRPC_UNAUTHENTICATED;
  default: return VEIL_GRPC_INTERNAL;
  }
}

int veil_errno_from_grpc_code(int code)
{
  switch (code) {
  case VEIL_GRPC_OK: return 0;
  case VEIL_GRPC_CANCELLED: return ECANCELED;
  case VEIL_GRPC_INVALID_ARGUMENT: return EINVAL;
  case VEIL_GRPC_DEADLINE_EXCEEDED: return ETIMEDOUT;
  case VEIL_GRPC_NOT_FOUND: return ENOENT;
  case VEIL_GRPC_ALREADY_EXISTS: return EEXIST;
  case VEIL_GRPC_PERMISSION_DENIED: return EPERM;
  case VEIL_GRPC_RESOURCE_EXHAUSTED: return EMSGSIZE;
  case VEIL_GRPC_FAILED_PRECONDITION: return EBUSY;
  case VEIL_GRPC_ABORTED: return EINTR;
  case VEIL_GRPC_OUT_OF_RANGE: return ERANGE;
  case VEIL_GRPC_UNIMPLEMENTED: return ENOSYS;
  case VEIL_GRPC_UNAVAILABLE: return ECONNRESET;
  case VEIL_GRPC_DATA_LOSS: return ENODATA;
  case VEIL_GRPC_UNAUTHENTICATED: return EKEYREJECTED;
  default: return EIO;
  }
}

int veil_error_grpc_code(const struct veil_error_s *e)
{
  if (e == NULL)
    return VEIL_GRPC_OK;
  if (e->grpc_code >= 0)
    return e->grpc_code;
  return veil_grpc_code_from_errno(e->status);
}

const char *veil_grpc_code_name(int code)
{
  static const char *const names[] = {
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
    "Unauthenticated",
  };
  if (code < 0 || code >= (int)(sizeof(names) / sizeof(names[0])))
    return "Unknown";
  return names[code];
}
