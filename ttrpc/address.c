/* Address parse and format (address.h). */
#include "ttrpc/address.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FD_MAX (1 << 20)
#define FORMS "unix:///path, vsock://CID:PORT, hvsock:///path:PORT or fd://N"

/* Decimal digits only (no sign, space or prefix), at most 10 of them, < 2^32. */
static int parse_u32(const char *s, size_t len, uint32_t *out)
{
  if (len == 0 || len > 10)
    return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > UINT32_MAX)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

static int set_path(const char *text, const char *path, size_t len, char *dst, veil_error_t *err)
{
  if (len == 0 || path[0] != '/')
    return veil_error_make(err, EINVAL, "bad address `%.200s`: the socket path must be absolute", text);
  if (len > TTRPC_ADDRESS_PATH_MAX)
    return veil_error_make(err, ENAMETOOLONG,
                           "bad address `%.200s`: the socket path is %zu bytes long, the limit is %d "
                           "(use a shorter run or state directory)", text, len, TTRPC_ADDRESS_PATH_MAX);
  memcpy(dst, path, len);
  dst[len] = '\0';
  return 0;
}

static int parse_vsock(const char *text, const char *rest, enum ttrpc_address_use use,
                       struct ttrpc_address *out, veil_error_t *err)
{
  const char *colon = strchr(rest, ':');
  bool any = colon == rest + 2 && strncmp(rest, "-1", 2) == 0;
  if (colon == NULL || (!any && parse_u32(rest, (size_t)(colon - rest), &out->cid) < 0) ||
      parse_u32(colon + 1, strlen(colon + 1), &out->port) < 0)
    return veil_error_make(err, EINVAL, "bad address `%.200s`: expected vsock://CID:PORT with decimal "
                           "CID and PORT below 2^32 (e.g. vsock://3:1024)", text);
  if (any)
    out->cid = TTRPC_VSOCK_CID_ANY;
  if (out->cid == TTRPC_VSOCK_CID_ANY && use == TTRPC_ADDRESS_DIAL)
    return veil_error_make(err, EINVAL, "bad address `%.200s`: CID -1 (VMADDR_CID_ANY) is for "
                           "listening; dial a guest's CID (e.g. vsock://3:1024)", text);
  out->kind = TTRPC_ADDRESS_VSOCK;
  return 0;
}

static int parse_hvsock(const char *text, const char *rest, enum ttrpc_address_use use,
                        struct ttrpc_address *out, veil_error_t *err)
{
  if (use == TTRPC_ADDRESS_LISTEN)
    return veil_error_make(err, EINVAL, "address `%.200s`: hybrid vsock can only be dialed (the VMM "
                           "listens on the unix socket)", text);
  const char *colon = strrchr(rest, ':');
  if (colon == NULL || parse_u32(colon + 1, strlen(colon + 1), &out->port) < 0)
    return veil_error_make(err, EINVAL, "bad address `%.200s`: expected hvsock:///path/to/socket:PORT "
                           "with a decimal PORT (e.g. hvsock:///run/vm/vsock.sock:1024)", text);
  if (set_path(text, rest, (size_t)(colon - rest), out->path, err) < 0)
    return -1;
  out->kind = TTRPC_ADDRESS_HVSOCK;
  return 0;
}

static int parse_fd(const char *text, const char *rest, enum ttrpc_address_use use,
                    struct ttrpc_address *out, veil_error_t *err)
{
  uint32_t n;
  if (use == TTRPC_ADDRESS_LISTEN)
    return veil_error_make(err, EINVAL, "address `%.200s`: fd:// can only be dialed", text);
  if (parse_u32(rest, strlen(rest), &n) < 0 || n > FD_MAX)
    return veil_error_make(err, EINVAL, "bad address `%.200s`: expected fd://N with N an open file "
                           "descriptor number", text);
  out->kind = TTRPC_ADDRESS_FD;
  out->fd = (int)n;
  return 0;
}

int ttrpc_address_parse(const char *text, enum ttrpc_address_use use, struct ttrpc_address *out,
                        veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  out->fd = -1;
  if (text == NULL || text[0] == '\0')
    return veil_error_make(err, EINVAL, "empty address: use " FORMS);
  if (strncmp(text, "unix://", 7) == 0 || text[0] == '/') {
    const char *path = text[0] == '/' ? text : text + 7;
    out->kind = TTRPC_ADDRESS_UNIX;
    return set_path(text, path, strlen(path), out->path, err);
  }
  if (strncmp(text, "vsock://", 8) == 0)
    return parse_vsock(text, text + 8, use, out, err);
  if (strncmp(text, "hvsock://", 9) == 0)
    return parse_hvsock(text, text + 9, use, out, err);
  if (strncmp(text, "fd://", 5) == 0)
    return parse_fd(text, text + 5, use, out, err);
  return veil_error_make(err, EINVAL, "unsupported address `%.200s`: use " FORMS, text);
}

static bool path_ok(const char *path)
{
  size_t len = strnlen(path, TTRPC_ADDRESS_PATH_MAX + 1);
  return len > 0 && len <= TTRPC_ADDRESS_PATH_MAX && path[0] == '/';
}

int ttrpc_address_format(const struct ttrpc_address *a, char *buf, size_t size, veil_error_t *err)
{
  int n = -1;
  switch (a->kind) {
  case TTRPC_ADDRESS_UNIX:
    if (path_ok(a->path))
      n = snprintf(buf, size, "unix://%s", a->path);
    break;
  case TTRPC_ADDRESS_VSOCK:
    if (a->cid == TTRPC_VSOCK_CID_ANY)
      n = snprintf(buf, size, "vsock://-1:%u", a->port);
    else
      n = snprintf(buf, size, "vsock://%u:%u", a->cid, a->port);
    break;
  case TTRPC_ADDRESS_HVSOCK:
    if (path_ok(a->path))
      n = snprintf(buf, size, "hvsock://%s:%u", a->path, a->port);
    break;
  case TTRPC_ADDRESS_FD:
    if (a->fd >= 0 && a->fd <= FD_MAX)
      n = snprintf(buf, size, "fd://%d", a->fd);
    break;
  }
  if (n < 0)
    return veil_error_make(err, EINVAL, "format address: invalid %s address",
                           a->kind == TTRPC_ADDRESS_FD ? "fd" : "socket");
  if ((size_t)n >= size)
    return veil_error_make(err, ENOBUFS, "format address: %d bytes do not fit in %zu", n, size);
  return 0;
}

char *ttrpc_address_to_string(const struct ttrpc_address *a, veil_error_t *err)
{
  char buf[TTRPC_ADDRESS_TEXT_MAX];
  if (ttrpc_address_format(a, buf, sizeof(buf), err) < 0)
    return NULL;
  char *s = strdup(buf);
  if (s == NULL)
    veil_error_make(err, ENOMEM, "out of memory");
  return s;
}

int ttrpc_address_unix(struct ttrpc_address *out, const char *path, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  out->fd = -1;
  out->kind = TTRPC_ADDRESS_UNIX;
  return set_path(path, path, strlen(path), out->path, err);
}

int ttrpc_address_hvsock(struct ttrpc_address *out, const char *path, uint32_t port, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  out->fd = -1;
  out->kind = TTRPC_ADDRESS_HVSOCK;
  out->port = port;
  return set_path(path, path, strlen(path), out->path, err);
}

void ttrpc_address_vsock(struct ttrpc_address *out, uint32_t cid, uint32_t port)
{
  memset(out, 0, sizeof(*out));
  out->fd = -1;
  out->kind = TTRPC_ADDRESS_VSOCK;
  out->cid = cid;
  out->port = port;
}
