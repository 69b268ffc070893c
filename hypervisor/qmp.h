/* A small QMP client over a unix socket (jansson): capability negotiation, synchronous
 * commands, and the events the VM lifecycle cares about (SHUTDOWN, GUEST_PANICKED, STOP). */
#ifndef VEIL_HYPERVISOR_QMP_H
#define VEIL_HYPERVISOR_QMP_H

#include <jansson.h>
#include <stdbool.h>

#include "common/error.h"

#define VEIL_QMP_LINE_MAX (1024 * 1024)

struct veil_qmp;

struct veil_qmp_events {
  bool shutdown;        /* SHUTDOWN seen */
  bool guest_shutdown;  /* ... with "guest": true (the guest powered off) */
  bool guest_panicked;  /* GUEST_PANICKED seen */
  bool stopped;         /* STOP seen */
  char last[64];        /* name of the last event, "" if none */
};

/* Take an already connected socket fd (owned on success), read the greeting, negotiate. */
int veil_qmp_open_fd(int fd, int timeout_ms, struct veil_qmp **out, veil_error_t *err);
/* Connect to the socket at path and negotiate. */
int veil_qmp_connect(const char *path, int timeout_ms, struct veil_qmp **out, veil_error_t *err);
/* Run a command; *ret (may be NULL) gets the "return" value. An "error" reply fails with its
 * class and description. Events arriving meanwhile are recorded. */
int veil_qmp_execute(struct veil_qmp *q, const char *command, json_t *arguments, int timeout_ms,
                     json_t **ret, veil_error_t *err);
/* Read whatever events are pending without blocking. Returns -1 when the peer closed. */
int veil_qmp_drain_events(struct veil_qmp *q);
const struct veil_qmp_events *veil_qmp_events(const struct veil_qmp *q);
void veil_qmp_free(struct veil_qmp *q);

#endif
