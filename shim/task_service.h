#ifndef VEIL_SHIM_TASK_SERVICE_H
#define VEIL_SHIM_TASK_SERVICE_H
#include "agent.pb-c.h"
#include "shim/shim.h"

int shim_task_service_register(struct shim *s, ttrpc_server *srv, veil_error_t *err);
/* stats.c: the agent's CgroupStats as a StatsResponse holding an
 * io.containerd.cgroups.v1.Metrics Any. */
int shim_stats_to_metrics(const Grpc__StatsContainerResponse *st, uint8_t **resp,
                          size_t *resp_len, veil_error_t *err);
#endif
