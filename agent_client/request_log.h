/* Recording what the host asks the guest agent: each request as one JSON line
 * {"method": "...", "request": {...}} (proto field names, bytes as base64, enums as names),
 * for debugging and for the golden-request test that compares them with what kata's runtime
 * sends. Off unless a log fd is given. */
#ifndef VEIL_VSOCK_REQUEST_LOG_H
#define VEIL_VSOCK_REQUEST_LOG_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Any protobuf-c message as JSON, driven by its descriptor: every field that is set
 * (proto3: non-default) by its proto name. NULL only when out of memory. */
json_t *veil_pb_to_json(const ProtobufCMessage *m);
/* Append {"method", "request"} as one line to fd (O_APPEND: lines of concurrent calls do not
 * interleave); errors are ignored, a log must never fail a call. */
void veil_request_log_write(int fd, const char *method, const ProtobufCMessage *req);

#endif
