#include "shim/share.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/mountinfo.h"

#define SHARE_UNMOUNT_ROUNDS 8

/* Beneath `dirfd`, no symlink (nor magic link) anywhere, no crossing into another mount. */
static int open_beneath(int dirfd, const char *name, int flags, mode_t mode, bool cross_mounts)
{
  struct open_how how = {
      .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
      .mode = (flags & O_CREAT) ? mode : 0,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
                 (cross_mounts ? 0 : RESOLVE_NO_XDEV),
  };
  return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

static bool name_is_safe(const char *name)
{
  if (name == NULL || name[0] == '\0' || name[0] == '/' || strlen(name) >= PATH_MAX / 2)
    return false;
  for (const char *p = name; *p;) {
    const char *e = strchrnul(p, '/');
    size_t n = (size_t)(e - p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    p = *e ? e + 1 : e;
  }
  return true;
}

/* mkdir every directory of `name` but the last component, one level at a time beneath
 * mounts_fd; returns an O_PATH fd of the parent and points *last at the last component. */
static int open_parent(struct shim_share *sh, const char *name, const char **last,
                       veil_error_t *err)
{
  cleanup_close int dir = dup(sh->mounts_fd);
  if (dir < 0)
    return veil_error_errno(err, "dup");
  const char *p = name;
  for (const char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
    char comp[NAME_MAX + 1];
    size_t n = (size_t)(slash - p);
    if (n > NAME_MAX)
      return veil_error_make(err, ENAMETOOLONG, "share target `%s`: component too long", name);
    memcpy(comp, p, n);
    comp[n] = '\0';
    if (mkdirat(dir, comp, 0755) < 0 && errno != EEXIST)
      return veil_error_errno(err, "share target `%s`: mkdir `%s`", name, comp);
    int next = open_beneath(dir, comp, O_PATH | O_DIRECTORY, 0, false);
    if (next < 0)
      return veil_error_errno(err, "share target `%s`: open `%s`", name, comp);
    close(dir);
    dir = next;
  }
  *last = p;
  return steal_fd(&dir);
}

static int mount_setattr_rdonly(int fd, veil_error_t *err)
{
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
    return veil_error_errno(err, "make it read-only");
  return 0;
}

int shim_share_bind(struct shim_share *sh, const char *source, const char *name, bool readonly,
                    veil_error_t *err)
{
  if (sh->mounts_fd < 0)
    return veil_error_make(err, EINVAL, "share: not set up");
  if (!name_is_safe(name))
    return veil_error_make(err, EINVAL, "share target `%s`: not a relative path without `..`",
                           name);
  /* A detached copy of the source tree, made read-only before anyone can see it, then
   * attached at a target we opened ourselves: no path is resolved twice. */
  cleanup_close int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source,
                                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0)
    return veil_error_errno(err, "bind source `%s`", source);
  if (readonly && mount_setattr_rdonly(tree, err) < 0)
    return veil_error_wrap(err, "bind `%s`", source);
  struct stat st;
  if (fstat(tree, &st) < 0)
    return veil_error_errno(err, "bind source `%s`", source);
  const char *last = NULL;
  cleanup_close int parent = open_parent(sh, name, &last, err);
  if (parent < 0)
    return -1;
  cleanup_close int target = -1;
  if (S_ISDIR(st.st_mode)) {
    if (mkdirat(parent, last, 0755) < 0 && errno != EEXIST)
      return veil_error_errno(err, "share target `%s`: mkdir", name);
    target = open_beneath(parent, last, O_PATH | O_DIRECTORY, 0, false);
  } else {
    target = open_beneath(parent, last, O_RDONLY | O_CREAT, 0644, false);
  }
  if (target < 0)
    return veil_error_errno(err, "share target `%s`", name);
  if (syscall(SYS_move_mount, tree, "", target, "",
              MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return veil_error_errno(err, "bind `%s` on share target `%s`", source, name);
  return 0;
}

void shim_share_unbind(struct shim_share *sh, const char *name)
{
  if (sh->mounts_dir == NULL || !name_is_safe(name))
    return;
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", sh->mounts_dir, name);
  for (int i = 0; i < SHARE_UNMOUNT_ROUNDS; i++)  /* stacked binds: each unmount peels one */
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
      if (errno != EINVAL && errno != ENOENT)
        log_warn("unmount %s: %s", path, strerror(errno));
      break;
    }
}

int shim_share_remove(struct shim_share *sh, const char *name, veil_error_t *err)
{
  if (sh->mounts_fd < 0)
    return 0;
  if (!name_is_safe(name) || strchr(name, '/'))
    return veil_error_make(err, EINVAL, "share entry `%s`: not a plain name", name);
  cleanup_close int dir = open_beneath(sh->mounts_fd, ".", O_RDONLY | O_DIRECTORY, 0, false);
  if (dir < 0)
    return veil_error_errno(err, "open `%s`", sh->mounts_dir);
  return veil_remove_tree_at(dir, name, err);
}

int shim_share_teardown(struct shim_share *sh, veil_error_t *err)
{
  int rc = 0;
  veil_cleanup_closep(&sh->mounts_fd);
  const char *dirs[] = {sh->export_dir, sh->mounts_dir};
  for (size_t i = 0; i < 2; i++) {
    if (dirs[i] == NULL)
      continue;
    int left = veil_unmount_below(dirs[i], SHARE_UNMOUNT_ROUNDS, err);
    if (left != 0) {
      if (left > 0)
        veil_error_make(err, EBUSY, "%d mount(s) remain below `%s`", left, dirs[i]);
      rc = -1;
      continue;
    }
    if (veil_remove_tree(dirs[i], err) < 0)
      rc = -1;
  }
  if (rc == 0) {
    free(sh->mounts_dir);
    free(sh->export_dir);
    sh->mounts_dir = sh->export_dir = NULL;
  }
  return rc;
}

int shim_share_setup(struct shim_share *sh, const char *state_dir, veil_error_t *err)
{
  memset(sh, 0, sizeof(*sh));
  sh->mounts_fd = -1;
  if (asprintf(&sh->mounts_dir, "%s/mounts", state_dir) < 0 ||
      asprintf(&sh->export_dir, "%s/shared", state_dir) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (mkdir(sh->mounts_dir, 0700) < 0 || mkdir(sh->export_dir, 0700) < 0) {
    veil_error_errno(err, "mkdir under `%s`", state_dir);
    goto fail;
  }
  /* mounts/ becomes its own shared mount, so binds made in it later reach the export */
  if (mount(sh->mounts_dir, sh->mounts_dir, NULL, MS_BIND, NULL) < 0 ||
      mount(NULL, sh->mounts_dir, NULL, MS_SHARED, NULL) < 0) {
    veil_error_errno(err, "make `%s` a shared bind mount", sh->mounts_dir);
    goto fail;
  }
  /* the export receives them (slave: nothing flows back) and is read-only at its top */
  if (mount(sh->mounts_dir, sh->export_dir, NULL, MS_BIND | MS_REC, NULL) < 0 ||
      mount(NULL, sh->export_dir, NULL, MS_SLAVE, NULL) < 0 ||
      mount(NULL, sh->export_dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
    veil_error_errno(err, "export `%s` read-only at `%s`", sh->mounts_dir, sh->export_dir);
    goto fail;
  }
  sh->mounts_fd = open(sh->mounts_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (sh->mounts_fd < 0) {
    veil_error_errno(err, "open `%s`", sh->mounts_dir);
    goto fail;
  }
  return 0;

fail:;
  cleanup_error veil_error_t ignored = NULL;
  shim_share_teardown(sh, &ignored);
  free(sh->mounts_dir);
  free(sh->export_dir);
  sh->mounts_dir = sh->export_dir = NULL;
  return -1;
}
