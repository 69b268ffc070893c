/* Running the OCI runtime (crun or runc) for a container.
 * Every call passes `--root <runtime_root> --log <bundle>/runtime.log`; on failure
 * the error message carries the tail of that log. */
#ifndef VEIL_AGENT_RUNTIME_H
#define VEIL_AGENT_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent/agent.h"

/* stdio for the process the runtime starts (create/exec). */
struct runtime_stdio {
  int in, out, err;   /* the child's ends; -1 = /dev/null */
  bool terminal;      /* use --console-socket; *pty_master receives the master */
};

/* `<runtime> create` (init) or `<runtime> exec -d --process <json>` (json != NULL).
 * Returns the new process' pid (read from the pid file) and with a terminal its
 * pty master in *pty_master. */
pid_t agent_runtime_start_process(struct agent *a, const char *id, const char *bundle,
                                  const char *process_json, const struct runtime_stdio *io,
                                  int *pty_master, veil_error_t *err);
/* A command without stdio: args after the runtime's global options, NULL-terminated,
 * e.g. {"start", id, NULL}. */
int agent_runtime_run(struct agent *a, const char *bundle, const char *const *args,
                      veil_error_t *err);

#endif
