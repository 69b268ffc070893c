/* Fuzz veil-agent's request path without a socket: the first byte selects a
 * method (agent_method_names), the rest is its protobuf payload, fed through
 * agent_dispatch (decode, policy, operation, encode). The agent has no OCI
 * runtime, does not mount, and works in a temp dir; blocking calls see a
 * cancelled request so they return at once. The network RPCs and sethostname act on
 * real kernel objects, in a network and UTS namespace of the fuzzer's own (only `lo`):
 * nothing reaches the machine's interfaces or name. */
#include <sched.h>
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
  if (unshare(CLONE_NEWNET | CLONE_NEWUTS) < 0) {
    perror("fuzz-agent-dispatch: unshare(CLONE_NEWNET | CLONE_NEWUTS) (needs root)");
    abort();
  }
  static char state[4200], copy[4200], resolv[4200], hostname[4200];
  snprintf(state, sizeof(state), "%s/state", dir);
  snprintf(copy, sizeof(copy), "%s/copy", dir);
  snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
  snprintf(hostname, sizeof(hostname), "%s/hostname", dir);
  struct agent_config cfg = {
    .runtime = NULL, /* every runtime call fails: nothing is executed */
    .state_dir = state,
    .runtime_root = dir,
    .copy_root = copy,
    .mount_storages = false,
    .resolv_conf = resolv,
    .hostname_file = hostname,
    .set_hostname = true,
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
  /* A policy from one input must not starve the next ones, nor a sandbox later
   * CreateSandbox inputs. */
  agent_policy_clear(&agent.policy);
  for (size_t i = 0; i < agent.n_sandbox_mounts; i++) /* paths only: the fuzzer mounts nothing */
    free(agent.sandbox_mounts[i]);
  free(agent.sandbox_mounts);
  agent.sandbox_mounts = NULL;
  agent.n_sandbox_mounts = 0;
  agent.sandbox_created = false;
  return 0;
}
