/* The shim's handle on the guest agent. Calls go through agent_client/agent_client.h, which
 * bounds every response (the guest is untrusted by the host). */
#include "common/error.h"
#include "shim/shim.h"

veil_agent *shim_agent(struct shim *s, veil_error_t *err)
{
  pthread_mutex_lock(&s->lock);
  veil_agent *a = s->sandbox.agent;
  bool gone = s->sandbox.vm_gone;
  pthread_mutex_unlock(&s->lock);
  if (a == NULL || gone) {
    veil_error_grpc(err, VEIL_GRPC_UNAVAILABLE, "the sandbox VM is not running");
    return NULL;
  }
  return a;
}
