/* Task events to containerd: ttrpc containerd.services.events.ttrpc.v1.Events/Forward on
 * $TTRPC_ADDRESS. One publisher thread sends them strictly in the order they were queued
 * (Create → Start → Exit → Delete; ExecAdded → ExecStarted → Exit) and retries with backoff
 * while containerd restarts. */
#ifndef VEIL_SHIM_EVENTS_H
#define VEIL_SHIM_EVENTS_H

#include <protobuf-c/protobuf-c.h>
#include "common/error.h"

struct shim_events;

int shim_events_new(const char *ttrpc_address, const char *ns, struct shim_events **out,
                    veil_error_t *err);
/* Queue an event (packed now, so the caller keeps ownership of msg). The Any's type_url
 * is the message's full proto name, e.g. containerd.events.TaskExit. */
void shim_events_publish(struct shim_events *ev, const char *topic, const ProtobufCMessage *msg);
/* Wait until the queue is empty or timeout_ms passed. */
void shim_events_flush(struct shim_events *ev, int timeout_ms);
void shim_events_free(struct shim_events *ev);

#endif
