/* Agent channel addresses (agent_address.h). */
#include "vsock/agent_address.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/cleanup.h"

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

static int check_path(const char *text, const char *path, size_t len, veil_error_t *err)
{
  if (len == 0 || path[0] != '/')
    return veil_error_make(err, EINVAL, "agent address `%s`: the socket path must be absolute", text);
  if (len >= sizeof(((struct sockaddr_un *)0)->sun_path))
    return veil_error_make(err, EINVAL, "agent address `%s`: socket path longer than %zu bytes",
                           text, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
  if (memchr(path, '\0', len))
    return veil_error_make(err, EINVAL, "agent address `%s`: NUL in socket path", text);
  return 0;
}

int veil_agent_address_parse(const char *text, struct veil_agent_address *out, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  if (text == NULL || *text == '\0')
    return veil_error_make(err, EINVAL, "empty agent address: use vsock://CID:PORT, "
                           "hvsock://PATH:PORT or unix://PATH");
  if (strncmp(text, "vsock://", 8) == 0) {
    const char *rest = text + 8, *colon = strrchr(rest, ':');
    if (colon == NULL || parse_u32(rest, (size_t)(colon - rest), &out->cid) < 0 ||
        parse_u32(colon + 1, strlen(colon + 1), &out->port) < 0)
      return veil_error_make(err, EINVAL, "agent address `%s`: expected vsock://CID:PORT with "
                             "decimal CID and PORT (< 2^32)", text);
    out->transport = VEIL_AGENT_VSOCK;
    return 0;
  }
  if (strncmp(text, "hvsock://", 9) == 0) {
    const char *rest = text + 9, *colon = strrchr(rest, ':');
    if (colon == NULL || parse_u32(colon + 1, strlen(colon + 1), &out->port) < 0)
      return veil_error_make(err, EINVAL, "agent address `%s`: expected hvsock://PATH:PORT with "
                             "a decimal PORT", text);
    size_t len = (size_t)(colon - rest);
    if (check_path(text, rest, len, err) < 0)
      return -1;
    out->path = strndup(rest, len);
    if (out->path == NULL)
      return veil_error_errno(err, "agent address `%s`", text);
    out->transport = VEIL_AGENT_HVSOCK;
    return 0;
  }
  if (strncmp(text, "unix://", 7) == 0) {
    const char *path = text + 7;
    if (check_path(text, path, strlen(path), err) < 0)
      return -1;
    out->path = strdup(path);
    if (out->path == NULL)
      return veil_error_errno(err, "agent address `%s`", text);
    out->transport = VEIL_AGENT_UNIX;
    return 0;
  }
  return veil_error_make(err, EINVAL, "agent address `%s`: unknown scheme (use vsock://CID:PORT, "
                         "hvsock://PATH:PORT or unix://PATH)", text);
}

char *veil_agent_address_to_dial(const struct veil_agent_address *a, veil_error_t *err)
{
  char *s = NULL;
  int n = -1;
  switch (a->transport) {
  case VEIL_AGENT_VSOCK:
    n = asprintf(&s, "vsock://%u:%u", a->cid, a->port);
    break;
  case VEIL_AGENT_HVSOCK:
    n = asprintf(&s, "hvsock://%s:%u", a->path, a->port);
    break;
  case VEIL_AGENT_UNIX:
    n = asprintf(&s, "unix://%s", a->path);
    break;
  }
  if (n < 0) {
    veil_error_make(err, ENOMEM, "format agent address");
    return NULL;
  }
  return s;
}

void veil_agent_address_clear(struct veil_agent_address *a)
{
  free(a->path);
  a->path = NULL;
}
