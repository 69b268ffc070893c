/* grpc.Spec (kata's protobuf form of the OCI runtime spec) -> config.json.
 *
 * The mapping is by runtime-spec name. proto3 has no presence for scalars, so
 * zero-valued optional numbers (resource limits, ...) and empty strings are
 * omitted, as a Go runtime-spec struct with nil pointers would marshal them.
 * Hooks are never written: the host must not run programs in the guest
 * (kata drops them too). */
#ifndef VEIL_AGENT_SPEC_JSON_H
#define VEIL_AGENT_SPEC_JSON_H

#include <jansson.h>

#include "common/error.h"
#include "oci.pb-c.h"

json_t *agent_spec_to_json(const Grpc__Spec *spec, veil_error_t *err);
json_t *agent_process_to_json(const Grpc__Process *p, veil_error_t *err);
json_t *agent_resources_to_json(const Grpc__LinuxResources *r);

#endif
