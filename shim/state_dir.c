#include "shim/state_dir.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/id.h"
#include "common/log.h"
#include "common/mountinfo.h"
#include "common/sha256.h"

static char scoped_root[PATH_MAX];

void shim_state_set_scope(const char *containerd_address, const char *ns)
{
  /* sandbox ids are unique per containerd and namespace, not per machine */
  char joined[PATH_MAX];
  uint8_t d[VEIL_SHA256_LEN];
  snprintf(joined, sizeof(joined), "%s|%s", containerd_address, ns);
  veil_sha256(joined, strlen(joined), d);
  const char *r = getenv("VEIL_SHIM_STATE_ROOT");
  snprintf(scoped_root, sizeof(scoped_root), "%s/%02x%02x%02x%02x%02x%02x",
           r && r[0] ? r : SHIM_STATE_ROOT, d[0], d[1], d[2], d[3], d[4], d[5]);
}

static const char *state_root(void)
{
  if (scoped_root[0] == '\0')
    shim_state_set_scope("", "");
  return scoped_root;
}

int shim_state_dir_path(const char *id, char *out, size_t len, veil_error_t *err)
{
  if (veil_id_check("sandbox id", id, err) < 0)
    return -1;
  int n = snprintf(out, len, "%s/%s", state_root(), id);
  if (n < 0 || (size_t)n >= len)
    return veil_error_make(err, ENAMETOOLONG, "state dir path too long");
  return 0;
}

int shim_state_dir_create(const char *id, char *out, size_t len, veil_error_t *err)
{
  if (shim_state_dir_path(id, out, len, err) < 0)
    return -1;
  if (veil_mkdir_p(state_root(), 0700, err) < 0)
    return -1;
  if (mkdir(out, 0700) < 0 && errno != EEXIST)
    return veil_error_errno(err, "mkdir `%s`", out);
  return 0;
}

int shim_state_write_pid(const char *dir, const char *name, pid_t pid, veil_error_t *err)
{
  char path[PATH_MAX], buf[32];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  snprintf(buf, sizeof(buf), "%d", (int)pid);
  return veil_write_file_atomic(path, buf, strlen(buf), 0600, err);
}

int shim_state_dir_remove(const char *dir, veil_error_t *err)
{
  int left = veil_unmount_below(dir, 8, err);
  if (left < 0)
    return -1;
  if (left > 0)
    return veil_error_make(err, EBUSY, "%d mount(s) remain below `%s`: not removing it", left,
                           dir);
  return veil_remove_tree(dir, err);
}

static pid_t read_pid(const char *dir, const char *name)
{
  char path[PATH_MAX];
  cleanup_free char *text = NULL;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  if (veil_read_file(path, 64, &text, NULL, NULL) < 0)
    return -1;
  long v = strtol(text, NULL, 10);
  return v > 1 ? (pid_t)v : -1;
}

static int pid_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

static int looks_like_vmm(pid_t pid)
{
  char path[64], exe[PATH_MAX];
  snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
  ssize_t n = readlink(path, exe, sizeof(exe) - 1);
  if (n < 0)
    return 0;
  exe[n] = '\0';
  return strstr(exe, "qemu") != NULL;
}

int shim_state_reap_orphan(const char *id, veil_error_t *err)
{
  char dir[PATH_MAX];
  struct stat st;
  if (shim_state_dir_path(id, dir, sizeof(dir), err) < 0)
    return -1;
  if (stat(dir, &st) < 0)
    return 0; /* not a sandbox, or already clean */
  pid_t shim = read_pid(dir, "shim.pid");
  if (pid_alive(shim) && shim != getpid())
    return 0; /* its shim still serves it */
  pid_t vmm = read_pid(dir, "vmm.pid");
  if (pid_alive(vmm) && looks_like_vmm(vmm)) {
    log_warn("sandbox %s: killing orphaned VMM pid %d", id, (int)vmm);
    kill(vmm, SIGKILL);
  }
  return shim_state_dir_remove(dir, err);
}
