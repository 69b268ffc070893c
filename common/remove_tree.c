/* rm -rf that a hostile writer inside the tree cannot redirect (kata CVE-2020-2024/2026):
 * every step is relative to an open directory fd, nothing follows a symlink, and a directory
 * on another mount (a bind that is still mounted) is never entered. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileutil.h"

#define REMOVE_MAX_DEPTH 128 /* one open fd per level */

static int stat_at(int dirfd, const char *name, int flags, struct statx *st)
{
  return statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO | STATX_MNT_ID, st);
}

static int remove_at(int dirfd, const char *name, uint64_t mnt_id, int depth, const char *top,
                     veil_error_t *err)
{
  struct statx st;
  if (stat_at(dirfd, name, 0, &st) < 0)
    return errno == ENOENT ? 0 : veil_error_errno(err, "remove `%s`: stat `%s`", top, name);
  if (!S_ISDIR(st.stx_mode)) {
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
      return veil_error_errno(err, "remove `%s`: unlink `%s`", top, name);
    return 0;
  }
  if (!(st.stx_mask & STATX_MNT_ID) || st.stx_mnt_id != mnt_id)
    return veil_error_make(err, EBUSY, "remove `%s`: `%s` is a mount point (unmount it first)",
                           top, name);
  if (depth >= REMOVE_MAX_DEPTH)
    return veil_error_make(err, ELOOP, "remove `%s`: deeper than %d levels", top,
                           REMOVE_MAX_DEPTH);
  cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : veil_error_errno(err, "remove `%s`: open `%s`", top, name);
  /* what we opened must be what we checked: a swap in between is refused */
  struct statx opened;
  if (stat_at(fd, "", AT_EMPTY_PATH, &opened) < 0)
    return veil_error_errno(err, "remove `%s`: stat `%s`", top, name);
  if (opened.stx_ino != st.stx_ino || opened.stx_mnt_id != mnt_id)
    return veil_error_make(err, EBUSY, "remove `%s`: `%s` changed while being removed", top, name);
  int list_fd = dup(fd);
  if (list_fd < 0)
    return veil_error_errno(err, "dup");
  cleanup_dir DIR *d = fdopendir(list_fd);
  if (d == NULL) {
    close(list_fd);
    return veil_error_errno(err, "remove `%s`: list `%s`", top, name);
  }
  struct dirent *e;
  while ((errno = 0, e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (remove_at(fd, e->d_name, mnt_id, depth + 1, top, err) < 0)
      return -1;
  }
  if (errno != 0)
    return veil_error_errno(err, "remove `%s`: read `%s`", top, name);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return veil_error_errno(err, "remove `%s`: rmdir `%s`", top, name);
  return 0;
}

int veil_remove_tree_at(int dirfd, const char *name, veil_error_t *err)
{
  struct statx parent;
  if (stat_at(dirfd, "", AT_EMPTY_PATH, &parent) < 0)
    return veil_error_errno(err, "remove `%s`: stat its directory", name);
  if (!(parent.stx_mask & STATX_MNT_ID))
    return veil_error_make(err, ENOTSUP, "remove `%s`: the kernel reports no mount ids", name);
  return remove_at(dirfd, name, parent.stx_mnt_id, 0, name, err);
}

int veil_remove_tree(const char *path, veil_error_t *err)
{
  cleanup_free char *copy = strdup(path);
  if (copy == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  char *slash = strrchr(copy, '/');
  const char *dir = ".", *name = copy;
  if (slash == copy) {
    dir = "/";
    name = copy + 1;
  } else if (slash) {
    *slash = '\0';
    dir = copy;
    name = slash + 1;
  }
  if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return veil_error_make(err, EINVAL, "remove `%s`: not a removable path", path);
  cleanup_close int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return errno == ENOENT ? 0 : veil_error_errno(err, "remove `%s`: open `%s`", path, dir);
  if (veil_remove_tree_at(dirfd, name, err) < 0)
    return -1;
  return 0;
}
