/* A process in the guest (init or exec) seen from the host: its stdio pumps between
 * containerd's fifos and the agent's ReadStdout/ReadStderr/WriteStdin/CloseStdin, and a
 * waiter that, once the output reached EOF, turns WaitProcess into TaskExit. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "shim/events.h"
#include "shim/shim.h"
#include "shim/timestamp.h"

#define STDIO_CHUNK (32u * 1024) /* kata reads 32 KiB per ReadStdout */
#define EXIT_STATUS_UNKNOWN 255  /* the agent or VM vanished before reporting an exit */

struct pump_arg {
  struct shim *shim;
  struct shim_process *proc;
  bool is_stderr;
};

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

struct shim_process *shim_process_new(struct shim_container *c, const char *exec_id,
                                      const char *agent_exec_id, bool terminal,
                                      const char *in, const char *out, const char *errp)
{
  struct shim_process *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->container = c;
  p->exec_id = dup_or_empty(exec_id);
  p->agent_exec_id = dup_or_empty(agent_exec_id);
  p->terminal = terminal;
  p->stdin_path = dup_or_empty(in);
  p->stdout_path = dup_or_empty(out);
  p->stderr_path = dup_or_empty(terminal ? "" : errp); /* a terminal merges stderr */
  p->status = PROC_CREATED;
  p->stdin_wake[0] = p->stdin_wake[1] = -1;
  pthread_cond_init(&p->exited_cond, NULL);
  if (!p->exec_id || !p->agent_exec_id || !p->stdin_path || !p->stdout_path || !p->stderr_path ||
      pipe2(p->stdin_wake, O_CLOEXEC) < 0) {
    shim_process_free(p);
    return NULL;
  }
  return p;
}

void shim_process_free(struct shim_process *p)
{
  if (p == NULL)
    return;
  free(p->exec_id);
  free(p->agent_exec_id);
  free(p->stdin_path);
  free(p->stdout_path);
  free(p->stderr_path);
  if (p->exec_process)
    protobuf_c_message_free_unpacked(&p->exec_process->base, NULL);
  if (p->stdin_wake[0] >= 0)
    close(p->stdin_wake[0]);
  if (p->stdin_wake[1] >= 0)
    close(p->stdin_wake[1]);
  pthread_cond_destroy(&p->exited_cond);
  free(p);
}

/* Output: ReadStdout/ReadStderr until the agent says EOF (empty data) or goes away. */
static void *output_pump(void *arg)
{
  struct pump_arg *a = arg;
  struct shim *s = a->shim;
  struct shim_process *p = a->proc;
  const char *path = a->is_stderr ? p->stderr_path : p->stdout_path;
  bool a_is_stderr = a->is_stderr;
  free(a);

  /* O_RDWR never blocks on a fifo and keeps it open even if the reader goes away. */
  cleanup_close int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    /* no sink: stop reading, so the guest's pipe fills and the process waits, instead of the
     * shim burning CPU on output nobody can see (security review 15g) */
    log_warn("container %s: open %s: %s: its output is not read", p->container->id, path,
             strerror(errno));
    return NULL;
  }

  for (;;) {
    cleanup_error veil_error_t err = NULL;
    Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
    req.container_id = p->container->id;
    req.exec_id = p->agent_exec_id;
    req.len = STDIO_CHUNK;
    Grpc__ReadStreamResponse *resp = NULL;
    veil_agent *agent = shim_agent(s, &err);
    if (agent == NULL ||
        (a_is_stderr ? veil_agent_read_stderr(agent, &req, &resp, &err)
                     : veil_agent_read_stdout(agent, &req, &resp, &err)) < 0) {
      if (veil_error_grpc_code(err) != VEIL_GRPC_UNAVAILABLE)
        log_warn("container %s exec %s: %s", p->container->id, p->exec_id, err->msg);
      break;
    }
    size_t n = resp->data.len;
    if (n > STDIO_CHUNK) {
      log_error("container %s: agent returned %zu bytes for a %u-byte read: dropping the stream",
                p->container->id, n, STDIO_CHUNK);
      protobuf_c_message_free_unpacked(&resp->base, NULL);
      break;
    }
    if (n > 0 && veil_write_all(fd, resp->data.data, n, &err) < 0) {
      log_warn("container %s: write %s: %s: its output is no longer read", p->container->id,
               path, err->msg);
      protobuf_c_message_free_unpacked(&resp->base, NULL);
      break;
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (n == 0)
      break; /* EOF */
  }
  return NULL;
}

static int write_stdin_all(struct shim *s, struct shim_process *p, const uint8_t *buf, size_t n)
{
  while (n > 0) {
    cleanup_error veil_error_t err = NULL;
    Grpc__WriteStreamRequest req = GRPC__WRITE_STREAM_REQUEST__INIT;
    req.container_id = p->container->id;
    req.exec_id = p->agent_exec_id;
    req.data.data = (uint8_t *)buf;
    req.data.len = n;
    Grpc__WriteStreamResponse *resp = NULL;
    veil_agent *agent = shim_agent(s, &err);
    if (agent == NULL || veil_agent_write_stdin(agent, &req, &resp, &err) < 0) {
      log_warn("container %s exec %s: %s", p->container->id, p->exec_id, err->msg);
      return -1;
    }
    size_t w = resp->len;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (w == 0 || w > n) {
      log_warn("container %s: agent wrote %zu of %zu stdin bytes", p->container->id, w, n);
      return -1;
    }
    buf += w;
    n -= w;
  }
  return 0;
}

/* Forward whatever is still buffered in the fifo (until EAGAIN or EOF). */
static void drain_stdin(struct shim *s, struct shim_process *p, int fd, uint8_t *buf, size_t cap)
{
  for (;;) {
    ssize_t r = read(fd, buf, cap);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0 || write_stdin_all(s, p, buf, (size_t)r) < 0)
      return;
  }
}

/* Input: the stdin fifo → WriteStdin; EOF or CloseIO → CloseStdin.
 * The fifo is opened non-blocking: containerd may never open (or may remove) its write end,
 * and a blocking open could then never be interrupted. A fifo opened this way reports
 * POLLHUP only after a writer has come and gone, so an absent writer is not EOF. */
static void *stdin_pump(void *arg)
{
  struct pump_arg *a = arg;
  struct shim *s = a->shim;
  struct shim_process *p = a->proc;
  free(a);

  cleanup_close int fd = open(p->stdin_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    log_warn("container %s: open %s: %s", p->container->id, p->stdin_path, strerror(errno));
  uint8_t buf[STDIO_CHUNK];
  while (fd >= 0) {
    struct pollfd pf[2] = {{fd, POLLIN, 0}, {p->stdin_wake[0], POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (pf[1].revents) {
      /* CloseIO or teardown: what containerd already wrote still belongs to the process */
      drain_stdin(s, p, fd, buf, sizeof(buf));
      break;
    }
    if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
      continue;
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (r <= 0)
      break;
    if (write_stdin_all(s, p, buf, (size_t)r) < 0)
      break;
  }
  cleanup_error veil_error_t err = NULL;
  Grpc__CloseStdinRequest req = GRPC__CLOSE_STDIN_REQUEST__INIT;
  req.container_id = p->container->id;
  req.exec_id = p->agent_exec_id;
  veil_agent *agent = shim_agent(s, &err);
  if ((agent == NULL || veil_agent_close_stdin(agent, &req, &err) < 0) &&
      veil_error_grpc_code(err) != VEIL_GRPC_UNAVAILABLE)
    log_debug("container %s: %s", p->container->id, err->msg);
  return NULL;
}

void shim_process_close_stdin(struct shim_process *p)
{
  if (p->stdin_wake[1] >= 0) {
    ssize_t w = write(p->stdin_wake[1], "x", 1);
    (void)w;
  }
}

void shim_process_mark_exited(struct shim *s, struct shim_process *p, uint32_t status)
{
  /* called with s->lock held */
  if (p->exited)
    return;
  p->exited = true;
  p->status = PROC_STOPPED;
  p->exit_status = status;
  clock_gettime(CLOCK_REALTIME, &p->exited_at);
  Google__Protobuf__Timestamp ts = shim_timestamp(&p->exited_at);
  Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
  ev.container_id = p->container->id;
  ev.id = p->exec_id[0] ? p->exec_id : p->container->id;
  ev.pid = s->sandbox.vm ? (uint32_t)veil_vm_pid(s->sandbox.vm) : 0;
  ev.exit_status = status;
  ev.exited_at = &ts;
  shim_events_publish(s->events, "/tasks/exit", &ev.base);
  pthread_cond_broadcast(&p->exited_cond);
}

static void *waiter(void *arg)
{
  struct pump_arg *a = arg;
  struct shim *s = a->shim;
  struct shim_process *p = a->proc;
  free(a);

  /* Output first, to EOF: kata-agent's WaitProcess closes the process's streams and forgets
   * it, so what a read had not fetched by then would be lost (kata's shim waits for
   * exitIOch before WaitProcess too). containerd expects the exit only after the output. */
  if (p->stdout_started)
    pthread_join(p->stdout_thread, NULL);
  if (p->stderr_started)
    pthread_join(p->stderr_thread, NULL);

  cleanup_error veil_error_t err = NULL;
  Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
  req.container_id = p->container->id;
  req.exec_id = p->agent_exec_id;
  Grpc__WaitProcessResponse *resp = NULL;
  uint32_t status = EXIT_STATUS_UNKNOWN;
  veil_agent *agent = shim_agent(s, &err);
  if (agent && veil_agent_wait_process(agent, &req, &resp, &err) == 0) {
    if (resp->status >= 0 && resp->status <= 255)
      status = (uint32_t)resp->status;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  } else {
    log_warn("container %s exec %s: %s", p->container->id, p->exec_id, err->msg);
  }
  pthread_mutex_lock(&s->lock);
  p->stdout_started = p->stderr_started = false;
  shim_process_mark_exited(s, p, status);
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static int spawn(pthread_t *t, void *(*fn)(void *), struct shim *s, struct shim_process *p,
                 bool is_stderr, veil_error_t *err)
{
  struct pump_arg *a = malloc(sizeof(*a));
  if (a == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  a->shim = s;
  a->proc = p;
  a->is_stderr = is_stderr;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int r = pthread_create(t, &attr, fn, a);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    free(a);
    errno = r;
    return veil_error_errno(err, "start a stdio thread");
  }
  return 0;
}

int shim_process_start_io(struct shim *s, struct shim_process *p, veil_error_t *err)
{
  if (p->stdout_path[0]) {
    if (spawn(&p->stdout_thread, output_pump, s, p, false, err) < 0)
      return -1;
    p->stdout_started = true;
  }
  if (p->stderr_path[0]) {
    if (spawn(&p->stderr_thread, output_pump, s, p, true, err) < 0)
      return -1;
    p->stderr_started = true;
  }
  if (p->stdin_path[0]) {
    if (spawn(&p->stdin_thread, stdin_pump, s, p, false, err) < 0)
      return -1;
    p->stdin_started = true;
  }
  if (spawn(&p->waiter_thread, waiter, s, p, false, err) < 0)
    return -1;
  p->waiter_started = true;
  return 0;
}

void shim_process_join(struct shim_process *p)
{
  if (p->stdin_started)
    shim_process_close_stdin(p);
  if (p->waiter_started)
    pthread_join(p->waiter_thread, NULL);
  p->waiter_started = false;
  if (p->stdin_started)
    pthread_join(p->stdin_thread, NULL);
  p->stdin_started = false;
}
