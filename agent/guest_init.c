/* PID 1 duties of veil-agent (guest_init.h). */
#include "agent/guest_init.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4
#endif

struct guest_mount {
  const char *source, *target, *type;
  unsigned long flags;
  const char *data;
};

static const struct guest_mount guest_mounts[] = {
  { "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
  { "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
  { "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
  { "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620" },
  { "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
  { "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
  { "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
  { "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
};

int guest_init_mounts(veil_error_t *err)
{
  for (size_t i = 0; i < sizeof(guest_mounts) / sizeof(guest_mounts[0]); i++) {
    const struct guest_mount *m = &guest_mounts[i];
    mkdir(m->target, 0755);
    if (mount(m->source, m->target, m->type, m->flags, m->data) < 0 && errno != EBUSY)
      return veil_error_errno(err, "mount %s on %s", m->type, m->target);
  }
  /* /dev/ptmx must be the devpts instance's (crun allocates terminals there). */
  unlink("/dev/ptmx");
  if (symlink("pts/ptmx", "/dev/ptmx") < 0)
    log_warn("symlink /dev/ptmx: %s", strerror(errno));
  /* Let the runtime use the controllers in child cgroups. */
  static const char ctl[] = "+cpu +memory +pids +io +cpuset";
  int fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (write(fd, ctl, sizeof(ctl) - 1) < 0) {
      /* one missing controller fails the whole write: enable them one by one */
      for (const char *c = ctl; *c;) {
        const char *sp = strchr(c, ' ');
        size_t n = sp ? (size_t)(sp - c) : strlen(c);
        if (write(fd, c, n) < 0)
          log_debug("cgroup controller %.*s unavailable", (int)n, c);
        c += n + (sp ? 1 : 0);
      }
    }
    close(fd);
  }
  return 0;
}

int guest_load_modules(const char *list, veil_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (access(list, F_OK) < 0)
    return 0;
  if (veil_read_file(list, 1024 * 1024, &text, &len, err) < 0)
    return -1;
  struct utsname u;
  uname(&u);
  unsigned loaded = 0;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    while (*line == ' ' || *line == '\t')
      line++;
    if (!*line || *line == '#')
      continue;
    char path[4096];
    snprintf(path, sizeof(path), "/lib/modules/%s/%s", u.release, line);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      log_warn("module %s: %s", path, strerror(errno));
      continue;
    }
    size_t n = strlen(line);
    int flags = (n > 3 && (strcmp(line + n - 3, ".xz") == 0 || strcmp(line + n - 3, ".gz") == 0)) ||
                        (n > 4 && strcmp(line + n - 4, ".zst") == 0)
                    ? MODULE_INIT_COMPRESSED_FILE
                    : 0;
    if (syscall(SYS_finit_module, fd, "", flags) < 0 && errno != EEXIST)
      log_warn("finit_module %s: %s", path, strerror(errno));
    else
      loaded++;
    close(fd);
  }
  log_info("kernel modules loaded count=%u", loaded);
  return 0;
}

bool guest_root_is_initramfs(void)
{
  cleanup_file FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f)
    return false;
  char line[1024];
  /* The initramfs root is the mount whose parent is itself... simpler: a "/"
   * mount of type rootfs. */
  while (fgets(line, sizeof(line), f)) {
    char mp[512], fstype[64];
    /* id parent major:minor root mountpoint opts ... - fstype source opts */
    if (sscanf(line, "%*d %*d %*s %*s %511s", mp) != 1 || strcmp(mp, "/") != 0)
      continue;
    const char *dash = strstr(line, " - ");
    if (dash && sscanf(dash + 3, "%63s", fstype) == 1 && strcmp(fstype, "rootfs") == 0)
      return true;
  }
  struct statfs s;
  /* ramfs magic: an initramfs root without mountinfo (should not happen). */
  return statfs("/", &s) == 0 && (unsigned long)s.f_type == 0x858458f6UL;
}

void guest_power_off(void)
{
  sync();
  reboot(RB_POWER_OFF);
  log_error("reboot(RB_POWER_OFF): %s", strerror(errno));
}
