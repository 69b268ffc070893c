#include "hypervisor/qemu_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "hypervisor/qemu_argv.h"

VEIL_DEFINE_CLEANUP(void, cap_free)

int veil_lookup_user(const char *name, uid_t *uid, gid_t *gid, veil_error_t *err)
{
  char buf[4096];
  struct passwd pw, *res = NULL;
  int r = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
  if (res == NULL)
    return veil_error_make(err, r ? r : ENOENT, "qemu_user `%s`: no such user", name);
  *uid = pw.pw_uid;
  *gid = pw.pw_gid;
  return 0;
}

/* In the child: report errno + step to the parent and exit. */
static void child_fail(int fd, const char *step)
{
  int e = errno;
  char msg[128];
  int n = snprintf(msg, sizeof(msg), "%d %s", e, step);
  (void)!write(fd, msg, (size_t)n);
  _exit(127);
}

int veil_qemu_launch(const struct veil_launch *l, pid_t *out, veil_error_t *err)
{
  uid_t uid = 0;
  gid_t gid = 0;
  bool switch_user = l->user && l->user[0];
  if (l->n_pass_fds > VEIL_LAUNCH_MAX_PASS || (l->n_pass_fds && l->pass_base <= VEIL_QEMU_VHOST_FD))
    return veil_error_make(err, EINVAL, "launch: bad fd passing (%zu fds at %d)", l->n_pass_fds, l->pass_base);
  int top = l->n_pass_fds ? l->pass_base + (int)l->n_pass_fds : VEIL_QEMU_VHOST_FD + 1;
  if (switch_user && veil_lookup_user(l->user, &uid, &gid, err) < 0)
    return -1;
  cleanup_with(cap_free) void *nocaps = l->drop_caps ? cap_init() : NULL;  /* all clear */
  if (l->drop_caps && nocaps == NULL)
    return veil_error_errno(err, "cap_init");
  int last_cap = (int)cap_max_bits() - 1;
  cleanup_close int log = open(l->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (log < 0)
    return veil_error_errno(err, "create `%s`", l->log_path);
  if (switch_user && fchown(log, uid, gid) < 0)
    return veil_error_errno(err, "chown `%s`", l->log_path);
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0)
    return veil_error_errno(err, "pipe");
  cleanup_close int rd = pfd[0];
  cleanup_close int wr = pfd[1];
  cleanup_pid pid_t pid = fork();
  if (pid < 0)
    return veil_error_errno(err, "fork");
  if (pid == 0) {
    /* only async-signal-safe calls from here on. No PR_SET_PDEATHSIG: it fires when the
     * forking *thread* exits, and the shim starts VMs from ttrpc pool threads. */
    if (setsid() < 0)
      child_fail(wr, "setsid");
    umask(0177);  /* sockets and files QEMU creates: 0600 */
    if (l->log_limit > 0) {
      /* a chatty child cannot fill the run dir's filesystem: its log stops growing */
      struct rlimit fsize = { (rlim_t)l->log_limit, (rlim_t)l->log_limit };
      struct sigaction ign = { .sa_handler = SIG_IGN };
      if (sigaction(SIGXFSZ, &ign, NULL) < 0 || setrlimit(RLIMIT_FSIZE, &fsize) < 0)
        child_fail(wr, "bound the log (RLIMIT_FSIZE)");
    }
    /* first move the error pipe and every fd to pass above all target numbers, so that no
     * dup2 below closes one of them */
    int high_wr = wr < top ? fcntl(wr, F_DUPFD_CLOEXEC, top) : wr;
    if (high_wr < 0)
      child_fail(wr, "move error pipe");
    wr = high_wr;
    int moved[VEIL_LAUNCH_MAX_PASS];
    for (size_t k = 0; k < l->n_pass_fds; k++) {
      moved[k] = -1;
      if (l->pass_fds[k] >= 0 && (moved[k] = fcntl(l->pass_fds[k], F_DUPFD_CLOEXEC, top)) < 0)
        child_fail(wr, "move passed fd");
    }
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
      child_fail(wr, "redirect stdio");
    if (l->vhost_fd >= 0 && dup2(l->vhost_fd, VEIL_QEMU_VHOST_FD) < 0)  /* dup2 clears CLOEXEC */
      child_fail(wr, "pass vhost fd");
    for (size_t k = 0; k < l->n_pass_fds; k++)
      if (moved[k] >= 0 && dup2(moved[k], l->pass_base + (int)k) < 0)
        child_fail(wr, "pass fd");
    /* everything else (the error pipe too) closes on exec */
    for (int fd = 3; fd < top; fd++) {
      bool passed = (fd == VEIL_QEMU_VHOST_FD && l->vhost_fd >= 0) ||
                    (fd >= l->pass_base && l->n_pass_fds && moved[fd - l->pass_base] >= 0);
      if (!passed && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
        child_fail(wr, "cloexec");
    }
    if (syscall(SYS_close_range, top, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
      child_fail(wr, "close_range");
    if (l->drop_caps) {
      /* an empty bounding set keeps exec from granting root its capabilities back */
      for (int c = 0; c <= last_cap; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
          child_fail(wr, "PR_CAPBSET_DROP");
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        child_fail(wr, "clear ambient capabilities");
    }
    if (switch_user) {  /* the effective set still holds CAP_SETUID/SETGID here */
      if (setgroups(0, NULL) < 0 || setgid(gid) < 0)
        child_fail(wr, "setgid");
      if (setuid(uid) < 0)  /* from root: clears every capability set */
        child_fail(wr, "setuid");
    }
    if (l->drop_caps) {
      if (cap_set_proc(nocaps) < 0)
        child_fail(wr, "cap_set_proc");
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
      child_fail(wr, "PR_SET_NO_NEW_PRIVS");
    execv(l->argv[0], l->argv);
    child_fail(wr, "exec");
  }
  veil_cleanup_closep(&wr);
  char msg[128];
  ssize_t n;
  while ((n = read(rd, msg, sizeof(msg) - 1)) < 0 && errno == EINTR)
    ;
  if (n > 0) {  /* the child failed before exec */
    msg[n] = '\0';
    int e = atoi(msg);
    const char *step = strchr(msg, ' ');
    return veil_error_make(err, e ? e : EIO, "launch `%s`: %s: %s", l->argv[0], step ? step + 1 : "?",
                           strerror(e));
  }
  *out = steal_pid(&pid);
  return 0;
}
