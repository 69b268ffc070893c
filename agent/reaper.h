/* Child reaping for the agent: one thread waits for every child (the agent is
 * PID 1 or a child subreaper, so container processes become its children).
 *
 * Processes the agent spawns are registered under the reaper's lock before the
 * reaper can see them exit; pids learned later (from a runtime pid file) are
 * registered with reaper_adopt(), which also finds an exit that already happened.
 * Other children (orphans) are reaped silently. */
#ifndef VEIL_AGENT_REAPER_H
#define VEIL_AGENT_REAPER_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

/* Called (on the reaper thread, no reaper lock held) for adopted pids. */
typedef void (*reaper_exit_fn)(void *user, pid_t pid, int wait_status);

int reaper_start(reaper_exit_fn on_adopted_exit, void *user, veil_error_t *err);
void reaper_stop(void);

/* fork+exec argv with the given fds as 0/1/2 (-1 = /dev/null). The child gets a
 * clean signal mask, its own process group is not created. Returns the pid. */
pid_t reaper_spawn(char *const argv[], int in_fd, int out_fd, int err_fd, veil_error_t *err);
/* Wait for a spawned pid and return its wait status. */
int reaper_wait(pid_t pid, int *wait_status, veil_error_t *err);
/* Track a pid that is our child but was not spawned by reaper_spawn: its exit is
 * reported through on_adopted_exit (immediately if it already exited). */
void reaper_adopt(pid_t pid);

/* 128+signo for signal deaths, else the exit code. */
int reaper_exit_code(int wait_status);

#endif
