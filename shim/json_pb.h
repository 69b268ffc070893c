/* JSON (OCI runtime spec) → protobuf-c message, driven by the message descriptors.
 * Kata's grpc.Spec (proto/oci.proto) mirrors the OCI spec's Go structs, so JSON keys
 * match proto field names case-insensitively (plus a few aliases such as ociVersion →
 * Version). Unknown keys are ignored (newer specs), type mismatches are InvalidArgument
 * errors naming the JSON path. The result is freed with protobuf_c_message_free_unpacked. */
#ifndef VEIL_SHIM_JSON_PB_H
#define VEIL_SHIM_JSON_PB_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include "common/error.h"

ProtobufCMessage *json_to_pb(const json_t *json, const ProtobufCMessageDescriptor *desc,
                             veil_error_t *err);

#endif
