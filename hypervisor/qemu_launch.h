/* Launch QEMU (or a per-VM helper such as vhost-device-vsock) as a hardened child: new
 * session, stdin /dev/null, stdout+stderr to a log file (optionally bounded), umask 0177, only
 * the fds it needs, optionally another user, an empty capability bounding set and no
 * capabilities (libcap), no_new_privs. The child is not killed when the launcher dies (no
 * PDEATHSIG: it is per thread); the owner of the VM kills it by pid. */
#ifndef VEIL_HYPERVISOR_QEMU_LAUNCH_H
#define VEIL_HYPERVISOR_QEMU_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

#define VEIL_LAUNCH_MAX_PASS 32

struct veil_launch {
  char *const *argv;
  const char *log_path;   /* the child's stdout and stderr */
  off_t log_limit;        /* > 0: RLIMIT_FSIZE, writes past it fail (SIGXFSZ ignored) */
  int vhost_fd;           /* passed at fd VEIL_QEMU_VHOST_FD, or -1 */
  const int *pass_fds;    /* pass_fds[k] (>= 0) is passed at fd pass_base + k; -1 = none */
  size_t n_pass_fds;      /* at most VEIL_LAUNCH_MAX_PASS */
  int pass_base;          /* > VEIL_QEMU_VHOST_FD */
  const char *user;       /* NULL/"" = stay the same user */
  bool drop_caps;
};

/* Fork and exec; *pid is the child. Errors before exec (e.g. a bad user) are reported by the
 * child through a pipe, so they fail here rather than as an exit status. */
int veil_qemu_launch(const struct veil_launch *l, pid_t *pid, veil_error_t *err);
/* Look up a user for qemu_user. */
int veil_lookup_user(const char *name, uid_t *uid, gid_t *gid, veil_error_t *err);

#endif
