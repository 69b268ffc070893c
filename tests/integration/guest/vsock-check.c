/* veil-vsock-check: runs INSIDE the guest (statically linked, started as a container by
 * guest-e2e). Dials the agent over AF_VSOCK loopback (vsock_loopback, local CID 1) with the
 * host's client library (agent_client/) and prints the Health.Check status, e.g. "SERVING".
 * Never run it on the host: the host's vsock belongs to the infrastructure.
 *   veil-vsock-check [vsock://1:1024] */
#include <stdio.h>

#include "common/cleanup.h"
#include "agent_client/agent_client.h"

int main(int argc, char **argv)
{
  const char *address = argc > 1 ? argv[1] : "vsock://1:1024";
  cleanup_error veil_error_t err = NULL;
  veil_agent *a = veil_agent_dial(address, 5000, &err);
  if (a == NULL) {
    fprintf(stderr, "veil-vsock-check: %s\n", err->msg);
    return 1;
  }
  Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *resp = NULL;
  int rc = 1;
  if (veil_agent_check(a, &req, &resp, &err) < 0) {
    fprintf(stderr, "veil-vsock-check: %s\n", err->msg);
  } else {
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
      &grpc__health_check_response__serving_status__descriptor, (int)resp->status);
    printf("%s\n", v ? v->name : "INVALID");
    rc = resp->status == GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? 0 : 1;
    grpc__health_check_response__free_unpacked(resp, NULL);
  }
  veil_agent_free(a);
  return rc;
}
