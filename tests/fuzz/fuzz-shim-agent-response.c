/* Responses from the guest agent are untrusted: the first byte picks which response the
 * shim decodes, the rest is the payload. Decoding must fail cleanly, never crash, and the
 * stats conversion and the network replies' bound checks (agent_client/agent_client.h) must
 * accept or refuse anything that decodes. */
#include <stdint.h>
#include <stdlib.h>

#include "agent.pb-c.h"
#include "common/error.h"
#include "health.pb-c.h"
#include "shim/task_service.h"
#include "agent_client/agent_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const ProtobufCMessageDescriptor *descs[] = {
      &grpc__stats_container_response__descriptor, &grpc__read_stream_response__descriptor,
      &grpc__wait_process_response__descriptor,    &grpc__guest_details_response__descriptor,
      &grpc__oomevent__descriptor,                 &grpc__health_check_response__descriptor,
      &grpc__write_stream_response__descriptor,    &types__interface__descriptor,
      &grpc__interfaces__descriptor,               &grpc__routes__descriptor,
  };
  const ProtobufCMessageDescriptor *d = descs[data[0] % (sizeof(descs) / sizeof(descs[0]))];
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size - 1, data + 1);
  if (m == NULL)
    return 0;
  if (d == &grpc__stats_container_response__descriptor) {
    uint8_t *out = NULL;
    size_t out_len = 0;
    veil_error_t err = NULL;
    shim_stats_to_metrics((Grpc__StatsContainerResponse *)m, &out, &out_len, &err);
    free(out);
    veil_error_release(&err);
  }
  veil_error_t err = NULL;
  if (d == &types__interface__descriptor)
    veil_agent_check_interface("UpdateInterface", (Types__Interface *)m, &err);
  else if (d == &grpc__interfaces__descriptor)
    veil_agent_check_interfaces("ListInterfaces", (Grpc__Interfaces *)m, &err);
  else if (d == &grpc__routes__descriptor)
    veil_agent_check_routes("ListRoutes", (Grpc__Routes *)m, &err);
  veil_error_release(&err);
  protobuf_c_message_free_unpacked(m, NULL);
  return 0;
}
