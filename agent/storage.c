/* Mount Storage entries (storage.h). */
#include "agent/storage.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

bool agent_path_is_clean(const char *path)
{
  if (!path || path[0] != '/')
    return false;
  for (const char *p = path; *p;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return false;
    if (!slash)
      break;
    p = slash + 1;
  }
  return true;
}

static const struct { const char *name; unsigned long set, clear; } mount_flags[] = {
  { "ro", MS_RDONLY, 0 },          { "rw", 0, MS_RDONLY },
  { "nosuid", MS_NOSUID, 0 },      { "suid", 0, MS_NOSUID },
  { "nodev", MS_NODEV, 0 },        { "dev", 0, MS_NODEV },
  { "noexec", MS_NOEXEC, 0 },      { "exec", 0, MS_NOEXEC },
  { "sync", MS_SYNCHRONOUS, 0 },   { "async", 0, MS_SYNCHRONOUS },
  { "noatime", MS_NOATIME, 0 },    { "relatime", MS_RELATIME, 0 },
  { "nodiratime", MS_NODIRATIME, 0 }, { "bind", MS_BIND, 0 },
  { "rbind", MS_BIND | MS_REC, 0 }, { "defaults", 0, 0 },
};

int agent_mount_options(char *const *opts, size_t n, unsigned long *flags, char **data,
                        veil_error_t *err)
{
  unsigned long f = 0;
  size_t cap = 1;
  for (size_t i = 0; i < n; i++)
    cap += strlen(opts[i]) + 1;
  cleanup_free char *d = calloc(1, cap);
  if (!d)
    return veil_error_make(err, ENOMEM, "mount options: out of memory");
  for (size_t i = 0; i < n; i++) {
    bool known = false;
    for (size_t k = 0; k < sizeof(mount_flags) / sizeof(mount_flags[0]); k++)
      if (strcmp(opts[i], mount_flags[k].name) == 0) {
        f = (f | mount_flags[k].set) & ~mount_flags[k].clear;
        known = true;
      }
    if (known || !*opts[i])
      continue;
    if (*d)
      strcat(d, ",");
    strcat(d, opts[i]);
  }
  *flags = f;
  *data = steal_pointer(&d);
  return 0;
}

static int do_mount(const char *source, const char *target, const char *fstype,
                    char *const *opts, size_t n_opts, veil_error_t *err)
{
  unsigned long flags;
  cleanup_free char *data = NULL;
  if (agent_mount_options(opts, n_opts, &flags, &data, err) < 0)
    return -1;
  if (mount(source, target, fstype, flags, *data ? data : NULL) < 0)
    return veil_error_errno(err, "mount %s (%s) on %s", source, fstype, target);
  return 0;
}

int agent_storage_mount(const Grpc__Storage *s, bool mount_it, char **mounted, veil_error_t *err)
{
  *mounted = NULL;
  const char *driver = s->driver ? s->driver : "";
  const char *mp = s->mount_point;
  if (strcmp(driver, "image_guest_pull") == 0)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                           "storage driver image_guest_pull: guest image pull is not supported by "
                           "veil-agent (kata-agent does it); use a shared rootfs or a blk volume");
  if (!agent_path_is_clean(mp))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "storage mount_point `%s` must be an absolute path without `..`",
                           mp ? mp : "");
  const char *fstype;
  const char *source = s->source && *s->source ? s->source : "none";
  if (strcmp(driver, "9p") == 0)
    fstype = "9p";
  else if (strcmp(driver, "virtio-fs") == 0)
    fstype = "virtiofs";
  else if (strcmp(driver, "ephemeral") == 0)
    fstype = "tmpfs", source = "tmpfs";
  else if (strcmp(driver, "blk") == 0 || strcmp(driver, "virtio-blk") == 0) {
    if (!agent_path_is_clean(s->source) || strncmp(s->source, "/dev/", 5) != 0)
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                             "blk storage source `%s` must be a /dev path", source);
    fstype = s->fstype && *s->fstype ? s->fstype : "ext4";
  } else if (strcmp(driver, "local") == 0)
    fstype = NULL;
  else
    return veil_error_grpc(err, VEIL_GRPC_UNIMPLEMENTED,
                           "storage driver `%s` is not supported by veil-agent (supported: 9p, "
                           "virtio-fs, blk, ephemeral, local)", driver);
  if (!mount_it)
    return 0; /* validation only: touch nothing */
  if (veil_mkdir_p(mp, 0755, err) < 0)
    return veil_error_wrap(err, "storage %s", driver);
  if (!fstype)
    return 0;
  if (do_mount(source, mp, fstype, s->options, s->n_options, err) < 0)
    return veil_error_wrap(err, "storage %s", driver);
  log_info("mounted storage driver=%s source=%s mount_point=%s", driver, source, mp);
  if (!(*mounted = strdup(mp))) {
    umount2(mp, MNT_DETACH);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}

void agent_storage_unmount(const char *path)
{
  if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    log_warn("umount %s: %s", path, strerror(errno));
}
