/* OCI runtime invocation (runtime.h). */
#include "agent/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "agent/reaper.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

#define RUNTIME_MAX_ARGS 32
#define RUNTIME_LOG_TAIL 2048

static int runtime_fail(const char *log_path, const char *what, int st, veil_error_t *err)
{
  cleanup_free char *log = NULL;
  size_t len = 0;
  veil_error_t ignored = NULL;
  const char *tail = "";
  if (veil_read_file(log_path, 1024 * 1024, &log, &len, &ignored) == 0) {
    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' '))
      log[--len] = '\0';
    tail = len > RUNTIME_LOG_TAIL ? log + len - RUNTIME_LOG_TAIL : log;
  }
  veil_error_release(&ignored);
  return veil_error_make(err, EIO, "%s failed (exit %d)%s%s", what, reaper_exit_code(st),
                         *tail ? ": " : "", tail);
}

/* argv = runtime --root R --log L args... */
static int build_argv(struct agent *a, const char *log_path, const char *const *args,
                      const char **argv, veil_error_t *err)
{
  if (!a->cfg.runtime)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "no OCI runtime configured");
  size_t n = 0;
  argv[n++] = a->cfg.runtime;
  argv[n++] = "--root";
  argv[n++] = a->cfg.runtime_root;
  argv[n++] = "--log";
  argv[n++] = log_path;
  for (size_t i = 0; args[i]; i++) {
    if (n >= RUNTIME_MAX_ARGS - 1)
      return veil_error_make(err, E2BIG, "too many runtime arguments");
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  return 0;
}

int agent_runtime_run(struct agent *a, const char *bundle, const char *const *args,
                      veil_error_t *err)
{
  char log_path[4096];
  snprintf(log_path, sizeof(log_path), "%s/runtime.log", bundle);
  const char *argv[RUNTIME_MAX_ARGS];
  if (build_argv(a, log_path, args, argv, err) < 0)
    return -1;
  unlink(log_path);
  log_debug("runtime %s %s", args[0], args[1] ? args[1] : "");
  pid_t pid = reaper_spawn((char *const *)argv, -1, -1, -1, err);
  if (pid < 0)
    return -1;
  int st;
  if (reaper_wait(pid, &st, err) < 0)
    return -1;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    char what[128];
    snprintf(what, sizeof(what), "%s %s", a->cfg.runtime, args[0]);
    return runtime_fail(log_path, what, st, err);
  }
  return 0;
}

static atomic_uint console_counter;

static int console_listen(struct agent *a, char *path, size_t size, veil_error_t *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(path, size, "%s/console-%u.sock", a->cfg.runtime_root,
           atomic_fetch_add(&console_counter, 1));
  if (strlen(path) >= sizeof(sa.sun_path))
    return veil_error_make(err, ENAMETOOLONG, "console socket path `%s` is too long", path);
  strcpy(sa.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return veil_error_errno(err, "console socket");
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return veil_error_errno(err, "bind console socket %s", path);
  }
  return fd;
}

/* The runtime connected and sent the pty master with SCM_RIGHTS before it exited. */
static int console_receive(int listen_fd, veil_error_t *err)
{
  struct pollfd p = { .fd = listen_fd, .events = POLLIN };
  if (poll(&p, 1, 5000) <= 0)
    return veil_error_make(err, ETIMEDOUT, "the runtime did not send the terminal");
  cleanup_close int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0)
    return veil_error_errno(err, "accept console socket");
  char buf[256];
  struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
  union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                        .msg_controllen = sizeof(ctl.b) };
  p.fd = c;
  if (poll(&p, 1, 5000) <= 0)
    return veil_error_make(err, ETIMEDOUT, "the runtime did not send the terminal");
  if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) < 0)
    return veil_error_errno(err, "receive terminal");
  struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
  if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
      h->cmsg_len != CMSG_LEN(sizeof(int)))
    return veil_error_make(err, EPROTO, "the runtime sent no terminal fd");
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof(fd));
  return fd;
}

static pid_t read_pid_file(const char *path, veil_error_t *err)
{
  cleanup_free char *s = NULL;
  size_t len;
  if (veil_read_file(path, 64, &s, &len, err) < 0)
    return -1;
  char *end;
  long v = strtol(s, &end, 10);
  if (v <= 0 || v > 1 << 22)
    return veil_error_make(err, EINVAL, "bad pid file %s", path);
  return (pid_t)v;
}

pid_t agent_runtime_start_process(struct agent *a, const char *id, const char *bundle,
                                  const char *process_json, const struct runtime_stdio *io,
                                  int *pty_master, veil_error_t *err)
{
  char log_path[4096], pid_path[4096], console_path[256];
  static atomic_uint pid_counter;
  snprintf(log_path, sizeof(log_path), "%s/runtime.log", bundle);
  snprintf(pid_path, sizeof(pid_path), "%s/pid-%u", bundle, atomic_fetch_add(&pid_counter, 1));
  unlink(log_path);
  unlink(pid_path);
  cleanup_close int console_fd = -1;
  if (io->terminal && (console_fd = console_listen(a, console_path, sizeof(console_path), err)) < 0)
    return -1;

  const char *args[16];
  size_t n = 0;
  if (process_json) {
    args[n++] = "exec";
    args[n++] = "--process";
    args[n++] = process_json;
    args[n++] = "-d";
  } else {
    args[n++] = "create";
    args[n++] = "--bundle";
    args[n++] = bundle;
    if (a->cfg.no_pivot)
      args[n++] = "--no-pivot";
  }
  args[n++] = "--pid-file";
  args[n++] = pid_path;
  if (io->terminal) {
    args[n++] = "--console-socket";
    args[n++] = console_path;
  }
  args[n++] = id;
  args[n] = NULL;
  const char *argv[RUNTIME_MAX_ARGS];
  if (build_argv(a, log_path, args, argv, err) < 0)
    return -1;
  pid_t rpid = reaper_spawn((char *const *)argv, io->terminal ? -1 : io->in,
                            io->terminal ? -1 : io->out, io->terminal ? -1 : io->err, err);
  if (rpid < 0)
    return -1;
  int st;
  if (reaper_wait(rpid, &st, err) < 0)
    return -1;
  if (io->terminal)
    unlink(console_path);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    char what[128];
    snprintf(what, sizeof(what), "%s %s", a->cfg.runtime, args[0]);
    return runtime_fail(log_path, what, st, err);
  }
  pid_t pid = read_pid_file(pid_path, err);
  unlink(pid_path);
  if (pid < 0)
    return -1;
  if (io->terminal) {
    int m = console_receive(console_fd, err);
    if (m < 0) {
      kill(pid, SIGKILL);
      return -1;
    }
    *pty_master = m;
  }
  return pid;
}
