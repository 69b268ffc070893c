/* CopyFile: the host writes a file below VEIL_GUEST_COPY_FILE_ROOT in chunks.
 * Chunks go to <path>.veil-tmp; the last one (offset + len == file_size) renames
 * it into place. Directories (S_IFDIR mode) and symlinks (S_IFLNK, data = target)
 * are created directly. Paths must be absolute, below the root, without `..`. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/ops.h"
#include "agent/storage.h"
#include "common/cleanup.h"
#include "common/fileutil.h"

/* The deepest existing ancestor of `path` (itself included) resolves below root. */
static bool resolves_under(const char *root, const char *path)
{
  cleanup_free char *real_root = realpath(root, NULL);
  cleanup_free char *p = strdup(path);
  if (!real_root || !p)
    return false;
  for (;;) {
    cleanup_free char *real = realpath(p, NULL);
    if (real) {
      size_t n = strlen(real_root);
      return strncmp(real, real_root, n) == 0 && (real[n] == '/' || real[n] == '\0');
    }
    char *slash = strrchr(p, '/');
    if (errno != ENOENT || !slash || slash == p)
      return false;
    *slash = '\0';
  }
}

int agent_copy_file(struct agent *a, const Grpc__CopyFileRequest *r, veil_error_t *err)
{
  const char *root = a->cfg.copy_root ? a->cfg.copy_root : VEIL_GUEST_COPY_FILE_ROOT;
  size_t rl = strlen(root);
  const char *path = r->path ? r->path : "";
  if (!agent_path_is_clean(path) || strncmp(path, root, rl) != 0 || path[rl] != '/' ||
      !path[rl + 1])
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "CopyFile path `%s` must be an absolute path below %s without `..`",
                           path, root);
  if (strlen(path) > 4000)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CopyFile path too long");
  if (r->file_size < 0 || (uint64_t)r->file_size > AGENT_MAX_COPY_FILE_SIZE)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "CopyFile file_size %lld out of range (max %llu)",
                           (long long)r->file_size, (unsigned long long)AGENT_MAX_COPY_FILE_SIZE);
  if (r->offset < 0 || (uint64_t)r->offset + r->data.len > (uint64_t)r->file_size)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "CopyFile chunk at offset %lld (+%zu) is outside file_size %lld",
                           (long long)r->offset, r->data.len, (long long)r->file_size);
  cleanup_free char *dir_copy = strdup(path);
  if (!dir_copy)
    return veil_error_make(err, ENOMEM, "out of memory");
  mode_t dmode = r->dir_mode & 07777 ? r->dir_mode & 07777 : 0755;
  const char *parent = dirname(dir_copy);
  /* A symlink left by an earlier CopyFile must not lead the write (or the creation
   * of parent directories) outside the root: check the deepest existing ancestor
   * before creating anything, and the parent again afterwards. */
  if (!resolves_under(root, parent))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "CopyFile path `%s` resolves outside %s", path, root);
  if (veil_mkdir_p(parent, dmode, err) < 0)
    return veil_error_wrap(err, "CopyFile");
  if (!resolves_under(root, parent))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "CopyFile path `%s` resolves outside %s", path, root);
  mode_t fmt = r->file_mode & S_IFMT;
  if (fmt == S_IFDIR) {
    if (mkdir(path, r->file_mode & 07777) < 0 && errno != EEXIST)
      return veil_error_errno(err, "mkdir %s", path);
    return 0;
  }
  if (fmt == S_IFLNK) {
    cleanup_free char *target = strndup((const char *)r->data.data, r->data.len);
    if (!target || !*target)
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CopyFile symlink without target");
    unlink(path);
    if (symlink(target, path) < 0)
      return veil_error_errno(err, "symlink %s", path);
    return 0;
  }
  if (fmt != 0 && fmt != S_IFREG)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CopyFile: unsupported file type 0%o",
                           fmt);
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.veil-tmp", path);
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (r->offset == 0 ? O_TRUNC : 0);
  cleanup_close int fd = open(tmp, flags, 0600);
  if (fd < 0)
    return veil_error_errno(err, "open %s", tmp);
  size_t done = 0;
  while (done < r->data.len) {
    ssize_t n = pwrite(fd, r->data.data + done, r->data.len - done, r->offset + (off_t)done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return veil_error_errno(err, "write %s", tmp);
    done += (size_t)n;
  }
  if ((uint64_t)r->offset + r->data.len < (uint64_t)r->file_size)
    return 0;
  if (fchmod(fd, r->file_mode & 07777 ? r->file_mode & 07777 : 0644) < 0)
    return veil_error_errno(err, "chmod %s", tmp);
  if ((r->uid >= 0 || r->gid >= 0) && fchown(fd, r->uid, r->gid) < 0 && errno != EPERM)
    return veil_error_errno(err, "chown %s", tmp);
  if (rename(tmp, path) < 0)
    return veil_error_errno(err, "rename %s", tmp);
  return 0;
}
