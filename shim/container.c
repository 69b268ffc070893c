/* Containers of the pod: lookup helpers and host-side setup/teardown of their files. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "shim/mounts.h"
#include "shim/shim.h"

struct shim_container *shim_find_container(struct shim *s, const char *id)
{
  for (struct shim_container *c = s->containers; c; c = c->next)
    if (strcmp(c->id, id) == 0)
      return c;
  return NULL;
}

struct shim_process *shim_find_process(struct shim *s, const char *id, const char *exec_id,
                                       veil_error_t *err)
{
  struct shim_container *c = shim_find_container(s, id);
  if (c == NULL) {
    veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container %s: not found", id);
    return NULL;
  }
  if (exec_id == NULL || exec_id[0] == '\0')
    return c->init;
  for (struct shim_process *p = c->execs; p; p = p->next)
    if (strcmp(p->exec_id, exec_id) == 0)
      return p;
  veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "exec %s in container %s: not found", exec_id, id);
  return NULL;
}
