/* Pid files that survive their writer: "<pid> <start time>\n", the start time being field 22
 * of /proc/<pid>/stat (clock ticks after boot), so that a reader after a crash can tell the
 * recorded process from a later one that reuses the pid. */
#ifndef VEIL_COMMON_PIDFILE_H
#define VEIL_COMMON_PIDFILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* Field 22 of /proc/<pid>/stat. ESRCH when there is no such process. */
int veil_proc_start_time(pid_t pid, unsigned long long *ticks, veil_error_t *err);
/* Write path (0600, atomically) for a running pid. */
int veil_pidfile_write(const char *path, pid_t pid, veil_error_t *err);
/* Parse path: strict "<pid> <start>\n". */
int veil_pidfile_read(const char *path, pid_t *pid, unsigned long long *start, veil_error_t *err);
/* True when the process path records is still that process (same pid, same start time);
 * *pid is set either way when the file parses. A missing or malformed file is false. */
bool veil_pidfile_alive(const char *path, pid_t *pid);

#endif
