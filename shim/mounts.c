#include "shim/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

static const struct {
  const char *name;
  bool clear;
  unsigned long flag;
} mount_flags[] = {
    {"ro", false, MS_RDONLY},        {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},      {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS}, {"async", true, MS_SYNCHRONOUS},
    {"noatime", false, MS_NOATIME},  {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"bind", false, MS_BIND},        {"rbind", false, MS_BIND | MS_REC},
    {"remount", false, MS_REMOUNT},  {"defaults", false, 0},
};

int shim_parse_mount_options(char **options, size_t n, unsigned long *flags, char **data,
                             veil_error_t *err)
{
  size_t cap = 1;
  for (size_t i = 0; i < n; i++)
    cap += strlen(options[i]) + 1;
  cleanup_free char *d = calloc(1, cap);
  if (d == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  *flags = 0;
  for (size_t i = 0; i < n; i++) {
    bool known = false;
    for (size_t k = 0; k < sizeof(mount_flags) / sizeof(mount_flags[0]); k++) {
      if (strcmp(options[i], mount_flags[k].name) == 0) {
        if (mount_flags[k].clear)
          *flags &= ~mount_flags[k].flag;
        else
          *flags |= mount_flags[k].flag;
        known = true;
        break;
      }
    }
    if (known)
      continue;
    if (d[0])
      strcat(d, ",");
    strcat(d, options[i]);
  }
  *data = steal_pointer(&d);
  return 0;
}

void shim_unmount(const char *target)
{
  if (umount2(target, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    log_warn("unmount %s: %s", target, strerror(errno));
}

int shim_mount_rootfs(Containerd__Types__Mount **mounts, size_t n, const char *target,
                      veil_error_t *err)
{
  if (veil_mkdir_p(target, 0711, err) < 0)
    return veil_error_wrap(err, "rootfs");
  for (size_t i = 0; i < n; i++) {
    const Containerd__Types__Mount *m = mounts[i];
    unsigned long flags;
    cleanup_free char *data = NULL;
    if (shim_parse_mount_options(m->options, m->n_options, &flags, &data, err) < 0)
      goto undo;
    const char *type = m->type && m->type[0] ? m->type : "none";
    if (strcmp(type, "bind") == 0)
      flags |= MS_BIND;
    /* a read-only bind needs a remount: the first mount ignores MS_RDONLY with MS_BIND */
    if (mount(m->source, target, type, flags, data[0] ? data : NULL) < 0) {
      veil_error_errno(err, "mount %s `%s` on `%s`", type, m->source, target);
      goto undo;
    }
    if ((flags & MS_BIND) && (flags & MS_RDONLY) &&
        mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
      veil_error_errno(err, "remount `%s` read-only", target);
      goto undo;
    }
  }
  return 0;

undo:
  /* every mount so far is stacked on target */
  for (int tries = 0; tries < 16 && umount2(target, MNT_DETACH) == 0; tries++)
    ;
  return -1;
}
