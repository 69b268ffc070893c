/* The agent policy set by SetPolicy: allow/deny per request message name.
 *
 * Accepted format (a subset of the Rego that kata's genpolicy emits for its
 * allow-all policies): `package agent_policy`, comments (#), blank lines,
 * `import ...` lines and rules `default <RequestName> := true|false` (`=` also
 * accepted). Any other construct is rejected (InvalidArgument) rather than
 * silently ignored. Requests without a rule are denied, as in kata. Before any
 * SetPolicy, everything is allowed. See docs/agent.md. */
#ifndef VEIL_AGENT_POLICY_H
#define VEIL_AGENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define AGENT_POLICY_MAX_SIZE (1024 * 1024)
#define AGENT_POLICY_MAX_RULES 256

struct agent_policy_rule {
  char *request;
  bool allow;
};

struct agent_policy {
  bool set;                       /* false: allow everything */
  size_t n_rules;
  struct agent_policy_rule *rules;
};

/* Parse `text` into *out (replacing nothing on failure). */
int agent_policy_parse(const char *text, size_t len, struct agent_policy *out, veil_error_t *err);
/* 0 when allowed; -1 with PermissionDenied otherwise. */
int agent_policy_check(const struct agent_policy *p, const char *request, veil_error_t *err);
void agent_policy_clear(struct agent_policy *p);

#endif
