#include "mountinfo.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "cleanup.h"
#include "fileutil.h"
#include "log.h"

#define MOUNTINFO_MAX (64u << 20)
#define MOUNTS_MAX 65536u

/* The kernel escapes space, tab, newline and backslash in mount points as \ooo. */
static char *unescape(const char *s, size_t n)
{
  char *out = malloc(n + 1), *o = out;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
        s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      *o++ = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      *o++ = s[i];
    }
  }
  *o = '\0';
  return out;
}

static bool is_below(const char *point, const char *dir, size_t dlen)
{
  if (dlen == 1 && dir[0] == '/')
    return point[0] == '/';
  return strncmp(point, dir, dlen) == 0 && (point[dlen] == '/' || point[dlen] == '\0');
}

int veil_mounts_below_in(const char *text, size_t len, const char *dir, char ***out,
                         veil_error_t *err)
{
  size_t dlen = strlen(dir);
  while (dlen > 1 && dir[dlen - 1] == '/')
    dlen--;
  size_t n = 0, cap = 8;
  cleanup_strv char **v = calloc(cap + 1, sizeof(char *));
  if (v == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
      eol = end;
    /* field 5 (1-based) is the mount point */
    const char *f = p;
    for (int field = 1; field < 5 && f < eol; field++) {
      f = memchr(f, ' ', (size_t)(eol - f));
      f = f ? f + 1 : eol;
    }
    const char *fe = f < eol ? memchr(f, ' ', (size_t)(eol - f)) : NULL;
    if (f < eol && fe != NULL) {
      cleanup_free char *point = unescape(f, (size_t)(fe - f));
      if (point == NULL)
        return veil_error_make(err, ENOMEM, "out of memory");
      if (is_below(point, dir, dlen)) {
        if (n == MOUNTS_MAX)
          return veil_error_make(err, E2BIG, "more than %u mounts below `%s`", MOUNTS_MAX, dir);
        if (n == cap) {
          char **nv = realloc(v, (cap * 2 + 1) * sizeof(char *));
          if (nv == NULL)
            return veil_error_make(err, ENOMEM, "out of memory");
          v = nv;
          cap *= 2;
        }
        v[n++] = steal_pointer(&point);
        v[n] = NULL;
      }
    }
    p = eol + 1;
  }
  *out = steal_pointer(&v);
  return 0;
}

int veil_mounts_below(const char *dir, char ***out, veil_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len = 0;
  if (veil_read_file("/proc/self/mountinfo", MOUNTINFO_MAX, &text, &len, err) < 0)
    return -1;
  return veil_mounts_below_in(text, len, dir, out, err);
}

int veil_unmount_below(const char *dir, int max_rounds, veil_error_t *err)
{
  size_t left = 0;
  for (int round = 0; round < max_rounds; round++) {
    cleanup_strv char **points = NULL;
    if (veil_mounts_below(dir, &points, err) < 0)
      return -1;
    left = 0;
    while (points[left])
      left++;
    if (left == 0)
      return 0;
    for (size_t i = left; i-- > 0;)
      if (umount2(points[i], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
          errno != ENOENT)
        log_warn("unmount %s: %s", points[i], strerror(errno));
  }
  cleanup_strv char **points = NULL;
  if (veil_mounts_below(dir, &points, err) < 0)
    return -1;
  for (left = 0; points[left]; left++)
    ;
  return (int)left;
}
