/* Fuzz veil-agent's request path without a socket: the first byte selects a
 * method (agent_method_names), the rest is its protobuf payload, fed through
 * agent_dispatch (decode, policy, operation, encode). The agent has no OCI
 * runtime, does not mount, and works in a temp dir; blocking calls see a
 * cancelled request so they return at once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/service.h"
#include "common/log.h"

static struct agent agent;
static char dir[4096];

static void init_once(void)
{
  static int done;
  if (done)
    return;
  done = 1;
  veil_log_set_level(VEIL_LOG_ERROR);
  /* Under the current directory: run-fuzzer.sh runs us in a scratch dir it removes. */
  if (!getcwd(dir, sizeof(dir) - 64))
    abort();
  strcat(dir, "/veil-fuzz-agent-XXXXXX");
  if (!mkdtemp(dir))
    abort();
  static char state[64], copy[64];
  snprintf(state, sizeof(state), "%s/state", dir);
  snprintf(copy, sizeof(copy), "%s/copy", dir);
  struct agent_config cfg = {
    .runtime = NULL, /* every runtime call fails: nothing is executed */
    .state_dir = state,
    .runtime_root = dir,
    .copy_root = copy,
    .mount_storages = false,
  };
  veil_error_t err = NULL;
  agent_init(&agent, &cfg, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  init_once();
  if (size < 1)
    return 0;
  size_t n_methods = 0;
  while (agent_method_names[n_methods])
    n_methods++;
  const char *method = agent_method_names[data[0] % n_methods];
  const char *service = strcmp(method, "Check") == 0 || strcmp(method, "Version") == 0
                            ? HEALTH_SERVICE
                            : AGENT_SERVICE;
  static const volatile bool cancelled = true;
  uint8_t *resp = NULL;
  size_t resp_len = 0;
  veil_error_t err = NULL;
  agent_dispatch(&agent, service, method, &cancelled, data + 1, size - 1, &resp, &resp_len, &err);
  free(resp);
  veil_error_release(&err);
  /* A policy from one input must not starve the next ones. */
  agent_policy_clear(&agent.policy);
  return 0;
}
