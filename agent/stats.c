/* StatsContainer and GetOOMEvent from the container's cgroup (v2 or v1).
 * The cgroup is found through /proc/<init pid>/cgroup. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/ops.h"
#include "common/cleanup.h"
#include "common/fileutil.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* The cgroup path of pid for a v1 controller, or for v2 when controller is NULL. */
static char *cgroup_of(pid_t pid, const char *controller)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
  cleanup_file FILE *f = fopen(path, "re");
  if (!f)
    return NULL;
  char line[1024];
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = '\0';
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
      continue;
    *c1 = *c2 = '\0';
    const char *ctrls = c1 + 1, *cg = c2 + 1;
    if (!controller) {
      if (strcmp(line, "0") == 0 && !*ctrls)
        return strdup(cg);
      continue;
    }
    for (char *save = NULL, *t = strtok_r((char *)ctrls, ",", &save); t;
         t = strtok_r(NULL, ",", &save))
      if (strcmp(t, controller) == 0)
        return strdup(cg);
  }
  return NULL;
}

static bool read_u64(const char *path, uint64_t *v)
{
  cleanup_free char *s = NULL;
  size_t len;
  veil_error_t e = NULL;
  if (veil_read_file(path, 4096, &s, &len, &e) < 0) {
    veil_error_release(&e);
    return false;
  }
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno || end == s)
    return false;
  *v = x;
  return true;
}

/* `key value` lines (cpu.stat, memory.stat, memory.events). */
static bool read_keyed(const char *path, const char *key, uint64_t *v)
{
  cleanup_file FILE *f = fopen(path, "re");
  if (!f)
    return false;
  char k[128];
  unsigned long long x;
  while (fscanf(f, "%127s %llu", k, &x) == 2)
    if (strcmp(k, key) == 0) {
      *v = x;
      return true;
    }
  return false;
}

static pid_t init_pid(struct agent *a, const char *id, veil_error_t *err)
{
  pthread_mutex_lock(&a->lock);
  struct agent_container *c = agent_find_container(a, id);
  struct agent_process *p = c ? agent_find_process(c, NULL) : NULL;
  pid_t pid = p && !p->exited ? p->pid : 0;
  pthread_mutex_unlock(&a->lock);
  if (!c)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container `%s` not found", id ? id : "");
  if (pid <= 0)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "container `%s` is not running",
                           id);
  return pid;
}

void agent_stats_free(Grpc__StatsContainerResponse *r)
{
  if (!r)
    return;
  if (r->cgroup_stats) {
    Grpc__CgroupStats *s = r->cgroup_stats;
    if (s->cpu_stats) {
      free(s->cpu_stats->cpu_usage);
      free(s->cpu_stats->throttling_data);
      free(s->cpu_stats);
    }
    if (s->memory_stats) {
      free(s->memory_stats->usage);
      free(s->memory_stats);
    }
    free(s->pids_stats);
    free(s);
  }
  free(r);
}

int agent_stats_container(struct agent *a, const char *id, Grpc__StatsContainerResponse **out,
                          veil_error_t *err)
{
  pid_t pid = init_pid(a, id, err);
  if (pid < 0)
    return -1;
  Grpc__StatsContainerResponse *r = calloc(1, sizeof(*r));
  Grpc__CgroupStats *s = calloc(1, sizeof(*s));
  Grpc__CpuStats *cpu = calloc(1, sizeof(*cpu));
  Grpc__CpuUsage *usage = calloc(1, sizeof(*usage));
  Grpc__ThrottlingData *thr = calloc(1, sizeof(*thr));
  Grpc__MemoryStats *mem = calloc(1, sizeof(*mem));
  Grpc__MemoryData *mdata = calloc(1, sizeof(*mdata));
  Grpc__PidsStats *pids = calloc(1, sizeof(*pids));
  if (!r || !s || !cpu || !usage || !thr || !mem || !mdata || !pids) {
    free(r), free(s), free(cpu), free(usage), free(thr), free(mem), free(mdata), free(pids);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  grpc__stats_container_response__init(r);
  grpc__cgroup_stats__init(s);
  grpc__cpu_stats__init(cpu);
  grpc__cpu_usage__init(usage);
  grpc__throttling_data__init(thr);
  grpc__memory_stats__init(mem);
  grpc__memory_data__init(mdata);
  grpc__pids_stats__init(pids);
  r->cgroup_stats = s;
  s->cpu_stats = cpu;
  cpu->cpu_usage = usage;
  cpu->throttling_data = thr;
  s->memory_stats = mem;
  mem->usage = mdata;
  s->pids_stats = pids;

  char path[4096];
  cleanup_free char *v2 = cgroup_of(pid, NULL);
  cleanup_free char *v1cpu = cgroup_of(pid, "cpuacct");
  if (v1cpu) {
    snprintf(path, sizeof(path), CGROUP_ROOT "/cpuacct%s/cpuacct.usage", v1cpu);
    read_u64(path, &usage->total_usage);
    snprintf(path, sizeof(path), CGROUP_ROOT "/cpu,cpuacct%s/cpuacct.usage", v1cpu);
    if (!usage->total_usage)
      read_u64(path, &usage->total_usage);
    cleanup_free char *v1mem = cgroup_of(pid, "memory");
    if (v1mem) {
      snprintf(path, sizeof(path), CGROUP_ROOT "/memory%s/memory.usage_in_bytes", v1mem);
      read_u64(path, &mdata->usage);
      snprintf(path, sizeof(path), CGROUP_ROOT "/memory%s/memory.max_usage_in_bytes", v1mem);
      read_u64(path, &mdata->max_usage);
      snprintf(path, sizeof(path), CGROUP_ROOT "/memory%s/memory.limit_in_bytes", v1mem);
      read_u64(path, &mdata->limit);
      snprintf(path, sizeof(path), CGROUP_ROOT "/memory%s/memory.failcnt", v1mem);
      read_u64(path, &mdata->failcnt);
    }
    cleanup_free char *v1pids = cgroup_of(pid, "pids");
    if (v1pids) {
      snprintf(path, sizeof(path), CGROUP_ROOT "/pids%s/pids.current", v1pids);
      read_u64(path, &pids->current);
    }
  } else if (v2) {
    uint64_t usec = 0;
    snprintf(path, sizeof(path), CGROUP_ROOT "%s/cpu.stat", v2);
    if (read_keyed(path, "usage_usec", &usec))
      usage->total_usage = usec * 1000;
    if (read_keyed(path, "user_usec", &usec))
      usage->usage_in_usermode = usec * 1000;
    if (read_keyed(path, "system_usec", &usec))
      usage->usage_in_kernelmode = usec * 1000;
    read_keyed(path, "nr_periods", &thr->periods);
    read_keyed(path, "nr_throttled", &thr->throttled_periods);
    snprintf(path, sizeof(path), CGROUP_ROOT "%s/memory.current", v2);
    read_u64(path, &mdata->usage);
    snprintf(path, sizeof(path), CGROUP_ROOT "%s/memory.max", v2);
    read_u64(path, &mdata->limit); /* "max" stays 0 = unlimited */
    snprintf(path, sizeof(path), CGROUP_ROOT "%s/memory.stat", v2);
    read_keyed(path, "file", &mem->cache);
    snprintf(path, sizeof(path), CGROUP_ROOT "%s/pids.current", v2);
    read_u64(path, &pids->current);
  }
  *out = r;
  return 0;
}

char *agent_oom_file(pid_t pid)
{
  char *path = NULL;
  cleanup_free char *v1 = cgroup_of(pid, "memory");
  if (v1) {
    if (asprintf(&path, CGROUP_ROOT "/memory%s/memory.oom_control", v1) < 0)
      return NULL;
    return path;
  }
  cleanup_free char *v2 = cgroup_of(pid, NULL);
  if (v2 && asprintf(&path, CGROUP_ROOT "%s/memory.events", v2) < 0)
    return NULL;
  return path;
}

int agent_wait_oom(struct agent *a, agent_cancel_t cancel, char **container_id, veil_error_t *err)
{
  for (;;) {
    if (cancel && *cancel)
      return veil_error_grpc(err, VEIL_GRPC_CANCELLED, "GetOOMEvent cancelled");
    if (a->shutdown_requested)
      return veil_error_grpc(err, VEIL_GRPC_UNAVAILABLE, "the sandbox is being destroyed");
    pthread_mutex_lock(&a->lock);
    for (struct agent_container *c = a->containers; c; c = c->next) {
      uint64_t n;
      if (c->oom_file && read_keyed(c->oom_file, "oom_kill", &n) && n > c->oom_kills_seen) {
        c->oom_kills_seen = n;
        *container_id = strdup(c->id);
        pthread_mutex_unlock(&a->lock);
        return *container_id ? 0 : veil_error_make(err, ENOMEM, "out of memory");
      }
    }
    pthread_mutex_unlock(&a->lock);
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 500 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}
