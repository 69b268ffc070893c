/* Task events to containerd: ttrpc containerd.services.events.ttrpc.v1.Events/Forward on
 * $TTRPC_ADDRESS. One publisher thread sends them strictly in the order they were queued
 * (Create → Start → Exit → Delete; ExecAdded → ExecStarted → Exit) and retries with backoff
 * while containerd restarts. Lifecycle events are never dropped; guest-triggered ones (OOM)
 * are bounded (events.c EVENTS_GUEST_MAX) and dropped, newest first, beyond the bound. */
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
/* What is queued now, and how many guest-triggered events were dropped so far. */
void shim_events_counts(struct shim_events *ev, size_t *queued, size_t *queued_guest,
                        unsigned long *dropped_guest);
/* Wait until the queue is empty or timeout_ms passed. */
void shim_events_flush(struct shim_events *ev, int timeout_ms);
void shim_events_free(struct shim_events *ev);

#endif
