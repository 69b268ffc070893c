#include "shim/address.h"

#include "common/sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/cleanup.h"

/* filepath.Join(address, ns, id): joined with '/', then cleaned. The inputs are
 * absolute socket paths and simple names, so cleaning reduces to collapsing
 * duplicate slashes and dropping a trailing one. */
static void join_clean(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
  char raw[4096];
  snprintf(raw, sizeof(raw), "%s/%s/%s", a, b, c);
  size_t n = 0;
  for (const char *p = raw; *p && n + 1 < cap; p++) {
    if (*p == '/' && n > 0 && dst[n - 1] == '/')
      continue;
    dst[n++] = *p;
  }
  while (n > 1 && dst[n - 1] == '/')
    n--;
  dst[n] = '\0';
}

int shim_socket_address(const char *containerd_address, const char *ns, const char *group_id,
                        const char *socket_dir, char *out, size_t out_len, veil_error_t *err)
{
  char joined[4096];
  char hex[2 * VEIL_SHA256_LEN + 1];

  join_clean(joined, sizeof(joined), containerd_address, ns, group_id);
  veil_sha256_hex(joined, strlen(joined), hex);
  int n = snprintf(out, out_len, "unix://%s/%s", socket_dir ? socket_dir : SHIM_SOCKET_DIR, hex);
  if (n < 0 || (size_t)n >= out_len)
    return veil_error_make(err, ENAMETOOLONG, "shim socket address too long");
  /* sun_path holds 108 bytes including the NUL */
  if (strlen(shim_address_path(out)) > 106)
    return veil_error_make(err, ENAMETOOLONG,
                           "shim socket path `%s` exceeds the 106-byte unix socket limit",
                           shim_address_path(out));
  return 0;
}

const char *shim_address_path(const char *addr)
{
  if (strncmp(addr, "unix://", 7) == 0)
    return addr + 7;
  return addr;
}

bool shim_socket_alive(const char *path)
{
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
    return false;
  strcpy(sa.sun_path, path);
  return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}
