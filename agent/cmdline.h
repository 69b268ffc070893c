/* veil-agent settings from the kernel command line and argv.
 * Kernel cmdline keys (kata's names): agent.server_addr=vsock://-1:1024,
 * agent.log=debug|info|warn|error, agent.runtime=/usr/bin/crun (veil),
 * agent.channel=agent.channel.0 (veil; virtio-serial port name, "none" = off). */
#ifndef VEIL_AGENT_CMDLINE_H
#define VEIL_AGENT_CMDLINE_H

#include <stdbool.h>

#include "common/error.h"

struct agent_options {
  char *server_addr;   /* vsock://CID:PORT or unix:///path */
  char *channel;       /* virtio-serial port name, NULL = none */
  char *log_level;
  char *runtime;
  char *state_dir;
  char *runtime_root;
  char *copy_root;
  char *resolv_conf;   /* CreateSandbox's dns go here (PID 1: /etc/resolv.conf) */
  char *hostname_file; /* and its hostname here (PID 1: /etc/hostname) */
  char *sandbox_dir;   /* the pod's shared namespaces go under <dir>/ns (PID 1: kata's) */
  bool no_pivot;
  bool force_pid1;     /* --init: behave as PID 1 even if not (never used in tests) */
};

/* Apply `agent.*` keys of a kernel command line string. */
int agent_options_from_cmdline(struct agent_options *o, const char *cmdline, veil_error_t *err);
/* Parse argv (--listen ADDR, --runtime PATH, --state-dir, --runtime-root,
 * --copy-root, --resolv-conf PATH, --hostname-file PATH, --sandbox-dir DIR, --log-level,
 * --channel NAME,
 * --no-pivot). */
int agent_options_from_argv(struct agent_options *o, int argc, char **argv, veil_error_t *err);
void agent_options_free(struct agent_options *o);

#endif
