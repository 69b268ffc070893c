/* Agent CgroupStats → containerd's io.containerd.cgroups.v1.Metrics (what `ctr task metrics`
 * and the CRI stats path decode). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "shim/task_service.h"

#define STATS_MAX_CPUS 1024

static void memory_entry(const Grpc__MemoryData *d, Io__Containerd__Cgroups__V1__MemoryEntry *e)
{
  io__containerd__cgroups__v1__memory_entry__init(e);
  if (d == NULL)
    return;
  e->usage = d->usage;
  e->max = d->max_usage;
  e->failcnt = d->failcnt;
  e->limit = d->limit;
}

int shim_stats_to_metrics(const Grpc__StatsContainerResponse *st, uint8_t **resp,
                          size_t *resp_len, veil_error_t *err)
{
  Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
  Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
  Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
  Io__Containerd__Cgroups__V1__MemoryStat mem = IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
  Io__Containerd__Cgroups__V1__MemoryEntry mu, ms, mk;
  Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
  const Grpc__CgroupStats *cg = st->cgroup_stats;

  if (cg && cg->cpu_stats && cg->cpu_stats->cpu_usage) {
    const Grpc__CpuUsage *u = cg->cpu_stats->cpu_usage;
    usage.total = u->total_usage;
    usage.kernel = u->usage_in_kernelmode;
    usage.user = u->usage_in_usermode;
    usage.per_cpu = u->percpu_usage;
    /* a guest has at most STATS_MAX_CPUS CPUs (QEMU's limit is lower); more entries are noise it made up */
    usage.n_per_cpu = u->n_percpu_usage < STATS_MAX_CPUS ? u->n_percpu_usage : STATS_MAX_CPUS;
    cpu.usage = &usage;
    m.cpu = &cpu;
  }
  if (cg && cg->memory_stats) {
    const Grpc__MemoryStats *ma = cg->memory_stats;
    mem.cache = ma->cache;
    memory_entry(ma->usage, &mu);
    memory_entry(ma->swap_usage, &ms);
    memory_entry(ma->kernel_usage, &mk);
    mem.usage = &mu;
    mem.swap = &ms;
    mem.kernel = &mk;
    for (size_t i = 0; i < ma->n_stats; i++) {
      const char *k = ma->stats[i]->key;
      uint64_t v = ma->stats[i]->value;
      if (k == NULL)
        continue;
      if (strcmp(k, "rss") == 0 || strcmp(k, "anon") == 0)
        mem.rss = v;
      else if (strcmp(k, "total_rss") == 0)
        mem.total_rss = v;
      else if (strcmp(k, "mapped_file") == 0)
        mem.mapped_file = v;
      else if (strcmp(k, "pgfault") == 0)
        mem.pg_fault = v;
      else if (strcmp(k, "pgmajfault") == 0)
        mem.pg_maj_fault = v;
    }
    m.memory = &mem;
  }
  if (cg && cg->pids_stats) {
    pids.current = cg->pids_stats->current;
    pids.limit = cg->pids_stats->limit;
    m.pids = &pids;
  }

  size_t mlen = io__containerd__cgroups__v1__metrics__get_packed_size(&m);
  cleanup_free uint8_t *mbuf = malloc(mlen ? mlen : 1);
  if (mbuf == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  io__containerd__cgroups__v1__metrics__pack(&m, mbuf);
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = "io.containerd.cgroups.v1.Metrics";
  any.value.data = mbuf;
  any.value.len = mlen;
  Containerd__Task__V2__StatsResponse out = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
  out.stats = &any;
  size_t n = containerd__task__v2__stats_response__get_packed_size(&out);
  *resp = malloc(n ? n : 1);
  if (*resp == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  *resp_len = containerd__task__v2__stats_response__pack(&out, *resp);
  return 0;
}
