/* Pid files with start times (pidfile.h). */
#include "common/pidfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"

#define STAT_MAX 4096
#define START_TIME_FIELD 22

int veil_proc_start_time(pid_t pid, unsigned long long *ticks, veil_error_t *err)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  cleanup_free char *stat = NULL;
  cleanup_error veil_error_t e = NULL;
  if (veil_read_file(path, STAT_MAX, &stat, NULL, &e) < 0)
    return veil_error_make(err, e->status == ENOENT ? ESRCH : e->status, "start time of pid %d: %s",
                           (int)pid, e->msg);
  /* field 2 (comm) may hold spaces and parentheses: count fields after its last ')' */
  const char *p = strrchr(stat, ')');
  int field = 2;
  while (p && *p && field < START_TIME_FIELD) {
    if (*p++ == ' ')
      field++;
  }
  char *end = NULL;
  errno = 0;
  unsigned long long v = p ? strtoull(p, &end, 10) : 0;
  if (p == NULL || field != START_TIME_FIELD || end == p || errno != 0)
    return veil_error_make(err, EIO, "start time of pid %d: cannot parse `%s`", (int)pid, path);
  *ticks = v;
  return 0;
}

int veil_pidfile_write(const char *path, pid_t pid, veil_error_t *err)
{
  unsigned long long start;
  if (veil_proc_start_time(pid, &start, err) < 0)
    return -1;
  char buf[64];
  int n = snprintf(buf, sizeof(buf), "%d %llu\n", (int)pid, start);
  return veil_write_file_atomic(path, buf, (size_t)n, 0600, err);
}

int veil_pidfile_read(const char *path, pid_t *pid, unsigned long long *start, veil_error_t *err)
{
  cleanup_free char *text = NULL;
  if (veil_read_file(path, 64, &text, NULL, err) < 0)
    return -1;
  int p = 0, used = 0;
  unsigned long long s = 0;
  if (sscanf(text, "%d %llu%n", &p, &s, &used) != 2 || p <= 0 || strcmp(text + used, "\n") != 0)
    return veil_error_make(err, EINVAL, "pid file `%s`: expected \"<pid> <start time>\"", path);
  *pid = p;
  *start = s;
  return 0;
}

bool veil_pidfile_alive(const char *path, pid_t *pid)
{
  cleanup_error veil_error_t err = NULL;
  unsigned long long recorded, now;
  if (veil_pidfile_read(path, pid, &recorded, &err) < 0)
    return false;
  return veil_proc_start_time(*pid, &now, &err) == 0 && now == recorded;
}
