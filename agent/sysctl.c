/* net.* sysctls written by the agent in the pod's (the guest's) network namespace. */
#include "agent/sysctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"

static bool component_char(char c, bool dots_inside)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || (dots_inside && c == '.');
}

bool agent_sysctl_key_valid(const char *key)
{
  size_t len = strlen(key);
  if (len == 0 || len > AGENT_SYSCTL_KEY_MAX)
    return false;
  bool slashed = strchr(key, '/') != NULL;
  char sep = slashed ? '/' : '.';
  const char *c = key;
  while (*c) {
    const char *end = strchr(c, sep);
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return false;
    for (size_t i = 0; i < n; i++)
      if (!component_char(c[i], slashed))
        return false;
    if (!end)
      return true;
    c = end + 1;
    if (*c == '\0')
      return false; /* trailing separator */
  }
  return true;
}

bool agent_sysctl_path(const char *key, char *out, size_t size)
{
  size_t len = strlen(key);
  if (!agent_sysctl_key_valid(key) || len + 1 > size)
    return false;
  bool slashed = strchr(key, '/') != NULL;
  for (size_t i = 0; i <= len; i++)
    out[i] = !slashed && key[i] == '.' ? '/' : key[i];
  return true;
}

static bool is_net_key(const char *key)
{
  return strncmp(key, "net.", 4) == 0 || strncmp(key, "net/", 4) == 0;
}

static int write_sysctl(const char *proc_sys, const char *key, const char *value, veil_error_t *err)
{
  char rel[AGENT_SYSCTL_KEY_MAX + 1];
  if (!agent_sysctl_path(key, rel, sizeof(rel)))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "sysctl `%.64s`: not a sysctl name (letters, digits, '_', '-' between "
                           "dots, or a slashed path; at most %d bytes)",
                           key, AGENT_SYSCTL_KEY_MAX);
  size_t vlen = strlen(value);
  if (vlen > AGENT_SYSCTL_VALUE_MAX)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "sysctl %s: the value is %zu bytes long, the limit is %d", key, vlen,
                           AGENT_SYSCTL_VALUE_MAX);
  char path[4096 + AGENT_SYSCTL_KEY_MAX + 2];
  snprintf(path, sizeof(path), "%s/%s", proc_sys, rel);
  cleanup_close int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "sysctl %s: open %s: %s%s", key, path,
                           strerror(errno),
                           errno == ENOENT ? " (no such sysctl in the guest kernel)" : "");
  /* one write: the kernel parses a sysctl value from a single write at offset 0 */
  ssize_t w = write(fd, value, vlen);
  if (w < 0)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "sysctl %s=%.64s: %s", key, value,
                           strerror(errno));
  if ((size_t)w != vlen)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "sysctl %s: the kernel took %zd of %zu bytes", key, w, vlen);
  return 0;
}

int agent_apply_net_sysctls(json_t *config, const char *proc_sys, veil_error_t *err)
{
  json_t *sysctl = json_object_get(json_object_get(config, "linux"), "sysctl");
  if (!json_is_object(sysctl))
    return 0;
  const char *key;
  json_t *value;
  void *tmp;
  json_object_foreach_safe(sysctl, tmp, key, value) {
    if (!is_net_key(key))
      continue;
    if (!json_is_string(value))
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "sysctl %s: the value is not a string",
                             key);
    if (write_sysctl(proc_sys, key, json_string_value(value), err) < 0)
      return -1;
    json_object_del(sysctl, key);
  }
  return 0;
}
