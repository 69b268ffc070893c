/* Calls from the shim to the guest agent. The guest is untrusted by the host: every
 * response is size-bounded and must decode as the expected message. */
#include <errno.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "shim/shim.h"

#define AGENT_SERVICE "grpc.AgentService"
#define AGENT_RESPONSE_MAX (1u << 20)

int shim_agent_call(struct shim *s, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *resp_desc, int64_t timeout_ms,
                    ProtobufCMessage **resp, veil_error_t *err)
{
  ttrpc_client *agent;
  pthread_mutex_lock(&s->lock);
  agent = s->sandbox.agent;
  pthread_mutex_unlock(&s->lock);
  if (agent == NULL)
    return veil_error_grpc(err, VEIL_GRPC_UNAVAILABLE, "agent %s: the sandbox VM is not running",
                           method);

  size_t len = protobuf_c_message_get_packed_size(req);
  cleanup_free uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  protobuf_c_message_pack(req, buf);

  cleanup_free uint8_t *out = NULL;
  size_t out_len = 0;
  if (ttrpc_client_call(agent, AGENT_SERVICE, method, buf, len,
                        timeout_ms > 0 ? timeout_ms * 1000000LL : 0, NULL, 0, &out, &out_len,
                        err) < 0)
    return veil_error_wrap(err, "agent %s", method);
  if (out_len > AGENT_RESPONSE_MAX)
    return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS,
                           "agent %s: response of %zu bytes exceeds the %u-byte limit", method,
                           out_len, AGENT_RESPONSE_MAX);
  if (resp_desc == NULL || resp == NULL)
    return 0;
  *resp = protobuf_c_message_unpack(resp_desc, NULL, out_len, out);
  if (*resp == NULL)
    return veil_error_grpc(err, VEIL_GRPC_DATA_LOSS, "agent %s: malformed %s response", method,
                           resp_desc->name);
  return 0;
}
