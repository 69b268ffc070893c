#include "hypervisor/qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)
VEIL_DEFINE_CLEANUP(struct veil_qmp, veil_qmp_free)

struct veil_qmp {
  int fd;
  char *buf;
  size_t len, cap;
  bool eof;
  struct veil_qmp_events ev;
};

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void veil_qmp_free(struct veil_qmp *q)
{
  if (q == NULL)
    return;
  veil_cleanup_closep(&q->fd);
  free(q->buf);
  free(q);
}

const struct veil_qmp_events *veil_qmp_events(const struct veil_qmp *q)
{
  return &q->ev;
}

static void record_event(struct veil_qmp *q, json_t *msg)
{
  const char *name = json_string_value(json_object_get(msg, "event"));
  if (name == NULL)
    return;
  snprintf(q->ev.last, sizeof(q->ev.last), "%s", name);
  if (strcmp(name, "SHUTDOWN") == 0) {
    q->ev.shutdown = true;
    if (json_is_true(json_object_get(json_object_get(msg, "data"), "guest")))
      q->ev.guest_shutdown = true;
  } else if (strcmp(name, "GUEST_PANICKED") == 0) {
    q->ev.guest_panicked = true;
  } else if (strcmp(name, "STOP") == 0) {
    q->ev.stopped = true;
  }
}

/* Next complete line from the buffer, as parsed JSON; NULL if none buffered yet. */
static int take_line(struct veil_qmp *q, json_t **msg, veil_error_t *err)
{
  char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
  *msg = NULL;
  if (nl == NULL) {
    if (q->len >= VEIL_QMP_LINE_MAX)
      return veil_error_make(err, E2BIG, "QMP message longer than %d bytes", VEIL_QMP_LINE_MAX);
    return 0;
  }
  size_t n = (size_t)(nl - q->buf) + 1;
  json_error_t jerr;
  json_t *m = json_loadb(q->buf, n, 0, &jerr);
  memmove(q->buf, q->buf + n, q->len - n);
  q->len -= n;
  if (m == NULL || !json_is_object(m)) {
    json_decref(m);
    return veil_error_make(err, EPROTO, "QMP: malformed message: %s", jerr.text);
  }
  *msg = m;
  return 0;
}

/* Read more bytes, waiting up to timeout_ms (0 = do not wait). Returns 1 if data, 0 timeout. */
static int fill(struct veil_qmp *q, int timeout_ms, veil_error_t *err)
{
  struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
  int r = poll(&pfd, 1, timeout_ms);
  if (r < 0)
    return errno == EINTR ? 0 : veil_error_errno(err, "QMP: poll");
  if (r == 0)
    return 0;
  if (q->cap - q->len < 4096) {
    size_t cap = q->cap ? q->cap * 2 : 8192;
    if (cap > VEIL_QMP_LINE_MAX + 8192)
      cap = VEIL_QMP_LINE_MAX + 8192;
    char *nb = realloc(q->buf, cap);
    if (nb == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    q->buf = nb;
    q->cap = cap;
  }
  ssize_t n = read(q->fd, q->buf + q->len, q->cap - q->len);
  if (n < 0)
    return (errno == EINTR || errno == EAGAIN) ? 0 : veil_error_errno(err, "QMP: read");
  if (n == 0) {
    q->eof = true;
    return veil_error_make(err, ECONNRESET, "QMP: QEMU closed the monitor connection");
  }
  q->len += (size_t)n;
  return 1;
}

/* Next non-event message, recording events on the way. */
static int next_reply(struct veil_qmp *q, int timeout_ms, json_t **out, veil_error_t *err)
{
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    json_t *m = NULL;
    if (take_line(q, &m, err) < 0)
      return -1;
    if (m) {
      if (json_object_get(m, "event")) {
        record_event(q, m);
        json_decref(m);
        continue;
      }
      *out = m;
      return 0;
    }
    long long left = deadline - now_ms();
    if (left <= 0)
      return veil_error_make(err, ETIMEDOUT, "QMP: no reply within %d ms", timeout_ms);
    if (fill(q, (int)left, err) < 0)
      return -1;
  }
}

int veil_qmp_execute(struct veil_qmp *q, const char *command, json_t *arguments, int timeout_ms,
                     json_t **ret, veil_error_t *err)
{
  cleanup_with(json_decref) json_t *req = json_pack("{s:s}", "execute", command);
  if (req == NULL || (arguments && json_object_set(req, "arguments", arguments) < 0))
    return veil_error_make(err, ENOMEM, "out of memory");
  cleanup_free char *text = json_dumps(req, JSON_COMPACT);
  if (text == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  size_t n = strlen(text);
  text[n] = '\n';  /* replaces the NUL; length passed explicitly */
  if (veil_write_all(q->fd, text, n + 1, err) < 0)
    return veil_error_wrap(err, "QMP: send %s", command);
  cleanup_with(json_decref) json_t *reply = NULL;
  if (next_reply(q, timeout_ms, &reply, err) < 0)
    return veil_error_wrap(err, "QMP %s", command);
  json_t *e = json_object_get(reply, "error");
  if (e)
    return veil_error_make(err, EIO, "QMP %s: %s: %s", command,
                           json_string_value(json_object_get(e, "class")) ?: "?",
                           json_string_value(json_object_get(e, "desc")) ?: "?");
  json_t *r = json_object_get(reply, "return");
  if (r == NULL)
    return veil_error_make(err, EPROTO, "QMP %s: reply has neither return nor error", command);
  if (ret)
    *ret = json_incref(r);
  return 0;
}

int veil_qmp_drain_events(struct veil_qmp *q)
{
  cleanup_error veil_error_t e = NULL;
  for (;;) {
    json_t *m = NULL;
    if (take_line(q, &m, &e) < 0)
      return -1;
    if (m) {
      record_event(q, m);  /* only events arrive unsolicited */
      json_decref(m);
      continue;
    }
    if (q->eof)
      return -1;
    int r = fill(q, 0, &e);
    if (r < 0)
      return -1;
    if (r == 0)
      return 0;
  }
}

int veil_qmp_open_fd(int fd, int timeout_ms, struct veil_qmp **out, veil_error_t *err)
{
  cleanup_with(veil_qmp_free) struct veil_qmp *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  q->fd = fd;
  cleanup_with(json_decref) json_t *greeting = NULL;
  if (next_reply(q, timeout_ms, &greeting, err) < 0) {
    q->fd = -1;  /* the caller still owns fd on failure */
    return veil_error_wrap(err, "QMP greeting");
  }
  if (json_object_get(greeting, "QMP") == NULL) {
    q->fd = -1;
    return veil_error_make(err, EPROTO, "QMP: the first message is not a greeting");
  }
  if (veil_qmp_execute(q, "qmp_capabilities", NULL, timeout_ms, NULL, err) < 0) {
    q->fd = -1;
    return -1;
  }
  *out = steal_pointer(&q);
  return 0;
}

int veil_qmp_connect(const char *path, int timeout_ms, struct veil_qmp **out, veil_error_t *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof(sa.sun_path))
    return veil_error_make(err, ENAMETOOLONG, "QMP socket path `%s` is too long", path);
  strcpy(sa.sun_path, path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return veil_error_errno(err, "socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    return veil_error_errno(err, "connect to QMP socket `%s`", path);
  if (veil_qmp_open_fd(fd, timeout_ms, out, err) < 0)
    return -1;
  steal_fd(&fd);
  return 0;
}
