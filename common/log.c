#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum veil_log_level current_level = VEIL_LOG_INFO;
static const char *current_component = NULL;

void veil_log_set_level(enum veil_log_level level) { current_level = level; }
enum veil_log_level veil_log_get_level(void) { return current_level; }
void veil_log_set_component(const char *component) { current_component = component; }

static const char *level_name(enum veil_log_level l)
{
  switch (l) {
  case VEIL_LOG_DEBUG: return "debug";
  case VEIL_LOG_INFO: return "info";
  case VEIL_LOG_WARN: return "warning";
  default: return "error";
  }
}

/* Quote a message for logfmt: backslash-escape quotes, backslashes, newlines. */
static size_t quote_into(char *dst, size_t cap, const char *src)
{
  size_t n = 0;
  for (; *src && n + 2 < cap; src++) {
    char c = *src;
    if (c == '"' || c == '\\') {
      dst[n++] = '\\';
      dst[n++] = c;
    } else if (c == '\n') {
      dst[n++] = '\\';
      dst[n++] = 'n';
    } else if ((unsigned char)c < 0x20) {
      dst[n++] = ' ';
    } else {
      dst[n++] = c;
    }
  }
  dst[n] = '\0';
  return n;
}

static void emit(enum veil_log_level level, const char *msg)
{
  char quoted[4096];
  char line[4608];
  struct timespec ts;
  struct tm tm;
  char when[40];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  quote_into(quoted, sizeof(quoted), msg);
  int n = snprintf(line, sizeof(line), "time=\"%s.%09ldZ\" level=%s%s%s msg=\"%s\"\n", when,
                   ts.tv_nsec, level_name(level), current_component ? " component=" : "",
                   current_component ? current_component : "", quoted);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(line))
    n = sizeof(line) - 1;
  /* One write per line so lines from concurrent writers do not interleave;
   * EPIPE (containerd restarting) is ignored: SIGPIPE is ignored by servers. */
  ssize_t r = write(STDERR_FILENO, line, (size_t)n);
  (void)r;
}

void veil_log(enum veil_log_level level, const char *fmt, ...)
{
  if (level < current_level)
    return;
  char *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  va_end(ap);
  emit(level, msg ? msg : fmt);
  free(msg);
}

void veil_log_error(enum veil_log_level level, const struct veil_error_s *e, const char *fmt, ...)
{
  if (level < current_level)
    return;
  char *prefix = NULL, *msg = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&prefix, fmt, ap) < 0)
    prefix = NULL;
  va_end(ap);
  if (asprintf(&msg, "%s: %s", prefix ? prefix : "", e && e->msg ? e->msg : "(no error)") < 0)
    msg = NULL;
  emit(level, msg ? msg : "error");
  free(prefix);
  free(msg);
}
