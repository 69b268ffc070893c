/* vhost-device-vsock per VM (vsock_helper.h). */
#include "hypervisor/vsock_helper.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/pidfile.h"
#include "hypervisor/qemu_launch.h"

#define UNIX_LISTENING 0x10000 /* __SO_ACCEPTCON in /proc/net/unix's Flags */
#define LOG_TAIL 1024

void veil_vsock_helper_init(struct veil_vsock_helper *h)
{
  memset(h, 0, sizeof(*h));
  h->pid = -1;
  h->pidfd = -1;
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a unix socket bound at path is listening, read from /proc/net/unix (connecting to
 * probe would take the helper's one vhost-user front-end connection). */
static bool unix_listening(const char *path)
{
  cleanup_file FILE *f = fopen("/proc/self/net/unix", "re");
  char *line = NULL;
  size_t cap = 0;
  bool found = false;
  while (f && !found && getline(&line, &cap, f) > 0) {
    unsigned flags;
    int path_at = 0;
    if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %n", &flags, &path_at) != 1 || path_at == 0)
      continue;
    line[strcspn(line, "\n")] = '\0';
    found = (flags & UNIX_LISTENING) && strcmp(line + path_at, path) == 0;
  }
  free(line);
  return found;
}

bool veil_vsock_helper_running(const struct veil_vsock_helper *h)
{
  return h->pid > 0 && !h->reaped;
}

bool veil_vsock_helper_exited(struct veil_vsock_helper *h, int *status)
{
  if (h->pid <= 0)
    return false;
  if (!h->reaped) {
    int st;
    pid_t r;
    while ((r = waitpid(h->pid, &st, WNOHANG)) < 0 && errno == EINTR)
      ;
    if (r == h->pid || (r < 0 && errno == ECHILD)) {
      h->reaped = true;
      h->status = r == h->pid ? st : 0;
    }
  }
  if (h->reaped && status)
    *status = h->status;
  return h->reaped;
}

char *veil_vsock_helper_log_tail(const struct veil_vsock_helper *h)
{
  cleanup_free char *log = NULL;
  if (h->run_dir == NULL || asprintf(&log, "%s/" VEIL_VSOCK_HELPER_LOG, h->run_dir) < 0)
    return strdup("");
  return veil_file_tail(log, LOG_TAIL);
}

static void remove_in_run_dir(const char *run_dir, const char *name)
{
  cleanup_free char *path = NULL;
  if (run_dir && asprintf(&path, "%s/%s", run_dir, name) >= 0)
    unlink(path);
}

void veil_vsock_helper_stop(struct veil_vsock_helper *h, const struct veil_agent_channel *ch)
{
  if (veil_vsock_helper_running(h)) {
    kill(h->pid, SIGKILL);  /* our child, not yet reaped: the pid cannot have been reused */
    int st;
    while (waitpid(h->pid, &st, 0) < 0 && errno == EINTR)
      ;
    h->reaped = true;
    h->status = st;
  }
  veil_cleanup_closep(&h->pidfd);
  if (h->pid > 0) {  /* it does not remove its sockets itself */
    if (ch && ch->vhost_user_path)
      unlink(ch->vhost_user_path);
    if (ch && ch->unix_path)
      unlink(ch->unix_path);
    remove_in_run_dir(h->run_dir, VEIL_VSOCK_HELPER_PID);
  }
  free(h->run_dir);
  int status = h->status;
  bool reaped = h->reaped;
  veil_vsock_helper_init(h);
  h->status = status;  /* how it ended stays readable */
  h->reaped = reaped;
}

static int exited_error(struct veil_vsock_helper *h, veil_error_t *err)
{
  cleanup_free char *tail = veil_vsock_helper_log_tail(h);
  return veil_error_make(err, ECHILD, "vhost-device-vsock exited during start (%s %d): %s",
                         WIFSIGNALED(h->status) ? "signal" : "status",
                         WIFSIGNALED(h->status) ? WTERMSIG(h->status) : WEXITSTATUS(h->status),
                         tail && tail[0] ? tail : "(no output)");
}

static int wait_listening(struct veil_vsock_helper *h, const char *socket, veil_error_t *err)
{
  long long deadline = now_ms() + VEIL_VSOCK_HELPER_START_MS;
  for (;;) {
    if (veil_vsock_helper_exited(h, NULL))
      return exited_error(h, err);
    if (unix_listening(socket))
      return 0;
    if (now_ms() > deadline)
      return veil_error_make(err, ETIMEDOUT, "vhost-device-vsock did not listen on `%s` within %d ms",
                             socket, VEIL_VSOCK_HELPER_START_MS);
    veil_pidfd_wait(h->pidfd, 10);
  }
}

int veil_vsock_helper_start(struct veil_vsock_helper *h, const struct veil_agent_channel *ch,
                            const char *run_dir, const char *user, bool drop_caps, veil_error_t *err)
{
  veil_vsock_helper_init(h);
  cleanup_free char *log = NULL, *pid_file = NULL;
  char cid[16];
  snprintf(cid, sizeof(cid), "%u", ch->cid);
  if ((h->run_dir = strdup(run_dir)) == NULL || asprintf(&log, "%s/" VEIL_VSOCK_HELPER_LOG, run_dir) < 0 ||
      asprintf(&pid_file, "%s/" VEIL_VSOCK_HELPER_PID, run_dir) < 0) {
    veil_vsock_helper_stop(h, ch);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  /* --uds-path only: the unix-socket backend; no --forward-cid, so no AF_VSOCK on the host */
  char *argv[] = { ch->helper_path, "--guest-cid", cid, "--socket", ch->vhost_user_path,
                   "--uds-path", ch->unix_path, NULL };
  struct veil_launch l = {
    .argv = argv, .log_path = log, .log_limit = VEIL_VSOCK_HELPER_LOG_MAX, .vhost_fd = -1, .user = user,
    .drop_caps = drop_caps,
  };
  if (veil_qemu_launch(&l, &h->pid, err) < 0) {
    veil_vsock_helper_stop(h, ch);
    return veil_error_wrap(err, "start vhost-device-vsock (config key vhost_user_vsock_path)");
  }
  if ((h->pidfd = veil_pidfd_open(h->pid)) < 0) {
    veil_error_errno(err, "pidfd_open %d", (int)h->pid);
    veil_vsock_helper_stop(h, ch);
    return -1;
  }
  if (veil_pidfile_write(pid_file, h->pid, err) < 0 || wait_listening(h, ch->vhost_user_path, err) < 0) {
    veil_vsock_helper_stop(h, ch);
    return veil_error_wrap(err, "hybrid vsock helper `%s` (config key vhost_user_vsock_path)", ch->helper_path);
  }
  return 0;
}
