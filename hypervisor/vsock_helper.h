/* The hybrid-vsock helper: one vhost-device-vsock process per VM, the vhost-user backend of
 * QEMU's vhost-user-vsock device. It listens on <run dir>/vhost-vsock.sock for QEMU and on
 * <run dir>/vsock.sock for the host side of the guest's vsock ports ("CONNECT <port>\n"); it
 * opens only AF_UNIX sockets (--uds-path, no --forward-cid). Started before QEMU (ready once
 * its vhost-user socket listens), watched with a pidfd, stopped with the VM. Its stdout and
 * stderr go to <run dir>/vhost-vsock.log, bounded; its pid and start time to
 * <run dir>/vhost-vsock.pid (common/pidfile.h) for cleanup after a shim crash. */
#ifndef VEIL_HYPERVISOR_VSOCK_HELPER_H
#define VEIL_HYPERVISOR_VSOCK_HELPER_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"
#include "hypervisor/agent_channel.h"

#define VEIL_VSOCK_HELPER_PID "vhost-vsock.pid"
#define VEIL_VSOCK_HELPER_LOG "vhost-vsock.log"
#define VEIL_VSOCK_HELPER_LOG_MAX (1024 * 1024)
#define VEIL_VSOCK_HELPER_START_MS 10000

struct veil_vsock_helper {
  pid_t pid;        /* -1 = none */
  int pidfd;        /* readable once it exited; -1 = none */
  bool reaped;
  int status;       /* wait status once reaped */
  char *run_dir;
};

void veil_vsock_helper_init(struct veil_vsock_helper *h);
/* Start the helper for a HYBRID channel (as `user`, "" or NULL = ourselves; capabilities
 * dropped when drop_caps) and wait, at most VEIL_VSOCK_HELPER_START_MS, until its vhost-user
 * socket listens. On failure no process, socket or pid file is left (the error carries the
 * log's tail; the log goes with the run dir). */
int veil_vsock_helper_start(struct veil_vsock_helper *h, const struct veil_agent_channel *ch,
                            const char *run_dir, const char *user, bool drop_caps, veil_error_t *err);
bool veil_vsock_helper_running(const struct veil_vsock_helper *h);
/* Non-blocking: true (and *status, may be NULL) once it exited and was reaped. */
bool veil_vsock_helper_exited(struct veil_vsock_helper *h, int *status);
/* The last lines of its log, for messages (malloc'd). */
char *veil_vsock_helper_log_tail(const struct veil_vsock_helper *h);
/* SIGKILL (it holds no state worth a graceful stop), reap, remove its sockets and pid file
 * (the log stays until the run dir goes). Safe to call twice or on a helper never started. */
void veil_vsock_helper_stop(struct veil_vsock_helper *h, const struct veil_agent_channel *ch);

#endif
