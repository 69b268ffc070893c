/* The ttrpc edge of veil-agent: grpc.AgentService and grpc.Health.
 * agent_dispatch() decodes a request, checks the policy, runs the operation and
 * encodes the reply; it is what the ttrpc server calls and what the fuzz target
 * drives directly (no socket). */
#ifndef VEIL_AGENT_SERVICE_H
#define VEIL_AGENT_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "ttrpc/ttrpc.h"

#define AGENT_SERVICE "grpc.AgentService"
#define HEALTH_SERVICE "grpc.Health"

/* cancel may be NULL. Unknown methods -> Unimplemented. */
int agent_dispatch(struct agent *a, const char *service, const char *method,
                   const volatile bool *cancel, const uint8_t *req, size_t req_len,
                   uint8_t **resp, size_t *resp_len, veil_error_t *err);
/* Register every method of both services on the server. */
int agent_service_register(struct agent *a, ttrpc_server *s, veil_error_t *err);

/* Method names in dispatch order (for the fuzz target); NULL-terminated. */
extern const char *const agent_method_names[];

#endif
