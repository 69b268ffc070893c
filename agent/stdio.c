/* Process stdio RPCs: ReadStdout/ReadStderr, WriteStdin, CloseStdin, TtyWinResize.
 * Handlers dup() the process' fd under the lock and then block on the copy, so a
 * concurrent RemoveContainer cannot pull the fd from under them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent/ops.h"
#include "common/cleanup.h"

#define STDIO_POLL_MS 200

static int dup_fd(struct agent *a, const char *cid, const char *exec_id, int which, bool *terminal,
                  veil_error_t *err)
{
  pthread_mutex_lock(&a->lock);
  struct agent_process *p = agent_lookup_process(a, cid, exec_id, NULL, err);
  if (!p) {
    pthread_mutex_unlock(&a->lock);
    return -1;
  }
  int src = which == 0 ? p->stdin_fd : which == 1 ? p->stdout_fd : p->stderr_fd;
  if (terminal)
    *terminal = p->terminal;
  int fd = src >= 0 ? fcntl(src, F_DUPFD_CLOEXEC, 3) : -2;
  pthread_mutex_unlock(&a->lock);
  if (fd == -1)
    return veil_error_errno(err, "dup");
  return fd;
}

int agent_read_stream(struct agent *a, const Grpc__ReadStreamRequest *r, bool stderr_stream,
                      agent_cancel_t cancel, uint8_t **data, size_t *len, veil_error_t *err)
{
  *data = NULL;
  *len = 0;
  size_t want = r->len ? r->len : AGENT_DEFAULT_READ_LEN;
  if (want > AGENT_MAX_READ_LEN)
    want = AGENT_MAX_READ_LEN;
  cleanup_close int fd = dup_fd(a, r->container_id, r->exec_id, stderr_stream ? 2 : 1, NULL, err);
  if (fd == -1)
    return -1;
  if (fd == -2)
    return 0; /* no such stream (stderr of a terminal, or closed): EOF */
  for (;;) {
    if (cancel && *cancel)
      return veil_error_grpc(err, VEIL_GRPC_CANCELLED, "read cancelled");
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n = poll(&p, 1, STDIO_POLL_MS);
    if (n < 0 && errno != EINTR)
      return veil_error_errno(err, "poll");
    if (n > 0)
      break;
  }
  cleanup_free uint8_t *buf = malloc(want);
  if (!buf)
    return veil_error_make(err, ENOMEM, "out of memory");
  ssize_t n;
  do
    n = read(fd, buf, want);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EIO)
    n = 0; /* pty master after the terminal's last holder closed: EOF */
  if (n < 0 && errno == EAGAIN)
    n = 0;
  if (n < 0)
    return veil_error_errno(err, "read process output");
  *len = (size_t)n;
  *data = n > 0 ? steal_pointer(&buf) : NULL;
  return 0;
}

int agent_write_stdin(struct agent *a, const Grpc__WriteStreamRequest *r, agent_cancel_t cancel,
                      uint32_t *written, veil_error_t *err)
{
  *written = 0;
  bool terminal = false;
  /* With a terminal stdin is the pty master (stdout_fd). */
  pthread_mutex_lock(&a->lock);
  struct agent_process *p = agent_lookup_process(a, r->container_id, r->exec_id, NULL, err);
  terminal = p && p->terminal;
  pthread_mutex_unlock(&a->lock);
  if (!p)
    return -1;
  cleanup_close int fd = dup_fd(a, r->container_id, r->exec_id, terminal ? 1 : 0, NULL, err);
  if (fd == -1)
    return -1;
  if (fd == -2)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "stdin of `%s` is closed",
                           r->exec_id ? r->exec_id : "");
  if (r->data.len == 0)
    return 0;
  for (;;) {
    ssize_t n = write(fd, r->data.data, r->data.len);
    if (n >= 0) {
      *written = (uint32_t)n;
      return 0;
    }
    if (errno == EPIPE)
      return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "process closed its stdin");
    if (errno != EAGAIN && errno != EINTR)
      return veil_error_errno(err, "write stdin");
    if (cancel && *cancel)
      return veil_error_grpc(err, VEIL_GRPC_CANCELLED, "write cancelled");
    struct pollfd pf = { .fd = fd, .events = POLLOUT };
    poll(&pf, 1, STDIO_POLL_MS);
  }
}

int agent_close_stdin(struct agent *a, const char *cid, const char *exec_id, veil_error_t *err)
{
  pthread_mutex_lock(&a->lock);
  struct agent_process *p = agent_lookup_process(a, cid, exec_id, NULL, err);
  if (p && p->stdin_fd >= 0) {
    close(p->stdin_fd);
    p->stdin_fd = -1;
  }
  /* With a terminal, EOF is the VEOF character (as containerd's runc shim does). */
  if (p && p->terminal && p->stdout_fd >= 0) {
    struct termios t;
    char eof = 4;
    if (tcgetattr(p->stdout_fd, &t) == 0)
      eof = (char)t.c_cc[VEOF];
    if (write(p->stdout_fd, &eof, 1) < 0) {
      /* the terminal is gone already: nothing to close */
    }
  }
  pthread_mutex_unlock(&a->lock);
  return p ? 0 : -1;
}

int agent_tty_resize(struct agent *a, const Grpc__TtyWinResizeRequest *r, veil_error_t *err)
{
  bool terminal = false;
  cleanup_close int fd = dup_fd(a, r->container_id, r->exec_id, 1, &terminal, err);
  if (fd == -1)
    return -1;
  if (!terminal || fd < 0)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "process `%s` has no terminal",
                           r->exec_id ? r->exec_id : "");
  if (r->row > 0xffff || r->column > 0xffff)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "window size %ux%u too large",
                           r->row, r->column);
  struct winsize ws = { .ws_row = (unsigned short)r->row, .ws_col = (unsigned short)r->column };
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0)
    return veil_error_errno(err, "TIOCSWINSZ");
  return 0;
}
