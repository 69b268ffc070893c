/* The shim server's model: one sandbox (VM + agent) per shim, its containers, and their
 * processes (the init process and execs). One mutex guards the model; blocking agent calls
 * (WaitProcess, ReadStdout, ...) are made without it from per-process threads, so one
 * blocked call never holds up another RPC. */
#ifndef VEIL_SHIM_SHIM_H
#define VEIL_SHIM_SHIM_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "hypervisor/config.h"
#include "hypervisor/vm.h"
#include "shim/args.h"
#include "shim/pod_network.h"
#include "shim/share.h"
#include "shim/spec.h"
#include "ttrpc/ttrpc.h"
#include "agent_client/agent_client.h"

struct shim_events;
struct shim_container;

enum shim_proc_status {
  PROC_CREATED = 1, /* values = containerd.v1.types.Status */
  PROC_RUNNING = 2,
  PROC_STOPPED = 3,
  PROC_PAUSED = 4,
};

struct shim_process {
  struct shim_container *container;
  char *exec_id;         /* containerd's: "" for the init process */
  char *agent_exec_id;   /* the agent's: container id for init, a fresh id for execs */
  bool terminal;
  char *stdin_path, *stdout_path, *stderr_path;
  Grpc__Process *exec_process; /* execs: the OCI process to run */
  enum shim_proc_status status;
  bool started;
  bool exited;
  uint32_t exit_status;
  struct timespec exited_at;
  pthread_cond_t exited_cond;
  /* stdio pumps and the waiter, joined when the process is deleted */
  pthread_t stdout_thread, stderr_thread, stdin_thread, waiter_thread;
  bool stdout_started, stderr_started, stdin_started, waiter_started;
  int stdin_wake[2];     /* pipe: CloseIO / delete wakes the stdin pump */
  bool stdin_close_requested;
  struct shim_process *next;
};

struct shim_container {
  char *id;
  char *bundle;
  bool is_sandbox_container; /* CRI pause container, or a `ctr run` container */
  bool rootfs_mounted;       /* we mounted CreateTaskRequest.rootfs on <bundle>/rootfs */
  char **share_entries;     /* names under the share we bound (to undo), NULL-terminated */
  struct shim_process *init;
  struct shim_process *execs;
  struct timespec last_oom;  /* CLOCK_MONOTONIC of the last TaskOOM published for it */
  uint8_t *last_metrics;     /* the last Stats answer, served while the guest does not answer */
  size_t last_metrics_len;
  struct shim_container *next;
};

struct shim_sandbox {
  char *id;
  char state_dir[512];
  struct shim_share share;  /* dev profile: the host dir exported to the guest */
  struct shim_pod_network net; /* the pod netns's veths as the VM's NICs */
  uint64_t shm_size;        /* bytes of the pod-wide /dev/shm in the guest, 0 = none */
  struct veil_config *config;
  struct veil_vm *vm;
  veil_agent *agent;  /* closed (never freed) while threads may use it */
  bool ready;       /* VM booted, agent answered, CreateSandbox done */
  bool vm_gone;     /* the VMM exited */
  bool destroyed;
  pthread_t monitor_thread, oom_thread;
  bool monitor_started, oom_started;
};

struct shim_reservation { /* an id whose Create is under way */
  char *id;
  struct shim_reservation *next;
};

/* containerd 2.x's Sandbox API (`sandboxer = "shim"`): the sandbox is created and started by
 * CreateSandbox/StartSandbox (no pause container) and lives until StopSandbox; the shim
 * stays until ShutdownSandbox whatever its tasks do. All zero in the pod-sandbox mode. */
struct shim_sandbox_api {
  bool created;            /* CreateSandbox succeeded */
  bool started;            /* StartSandbox booted the VM */
  bool stopped;            /* StopSandbox, or the VM exited */
  bool shutdown;           /* ShutdownSandbox: the shim may exit */
  json_t *spec;            /* the bundle's config.json (or {}), with the request's annotations */
  char *netns_path;        /* the pod's network namespace (CreateSandboxRequest.netns_path) */
  struct timespec created_at, exited_at;
  uint32_t exit_status;
  pthread_cond_t changed;  /* stopped became true */
};

struct shim {
  struct shim_args args;
  char *bundle;
  const char *ttrpc_address;
  char *options_config_path; /* from `start`'s stdin */
  pthread_mutex_t lock;
  struct shim_sandbox sandbox;
  struct shim_container *containers;
  struct shim_reservation *reserved;
  struct shim_events *events;
  ttrpc_server *server;
  bool shutting_down;
  struct shim_sandbox_api api;
};

/* task_service.c: stop serving once the current reply is out (Shutdown, ShutdownSandbox).
 * Call with s->lock held. */
void shim_request_exit_locked(struct shim *s);
/* May Shutdown end the shim? Not while tasks remain, nor while a Sandbox API sandbox has not
 * been shut down. Call with s->lock held. */
bool shim_may_exit_locked(const struct shim *s);

extern struct shim *the_shim;

/* sandbox.c */
int shim_sandbox_ensure(struct shim *s, const char *id, const json_t *spec,
                        const char *options_config_path, veil_error_t *err);
void shim_sandbox_destroy(struct shim *s);
bool shim_sandbox_has_shared_fs(const struct shim *s);

/* agent.c: the sandbox's agent client (agent_client/agent_client.h), or Unavailable when the VM is
 * not running. The pointer stays valid until the shim exits. */
veil_agent *shim_agent(struct shim *s, veil_error_t *err);
/* SHIM_AGENT_CALL(s, err, veil_agent_start_container, &req[, &resp]) */
#define SHIM_AGENT_CALL(s, err, fn, ...)                                                       \
  __extension__({                                                                              \
    veil_agent *agent__ = shim_agent((s), (err));                                              \
    agent__ ? fn(agent__, __VA_ARGS__, (err)) : -1;                                            \
  })

/* container.c */
struct shim_container *shim_find_container(struct shim *s, const char *id);
struct shim_process *shim_find_process(struct shim *s, const char *id, const char *exec_id,
                                       veil_error_t *err);

/* process.c */
struct shim_process *shim_process_new(struct shim_container *c, const char *exec_id,
                                      const char *agent_exec_id, bool terminal,
                                      const char *in, const char *out, const char *errp);
int shim_process_start_io(struct shim *s, struct shim_process *p, veil_error_t *err);
void shim_process_mark_exited(struct shim *s, struct shim_process *p, uint32_t status);
void shim_process_free(struct shim_process *p);
/* Wake and join the threads of an exited process (call without the lock). */
void shim_process_join(struct shim_process *p);
/* CloseIO: end the stdin stream (the pump sends CloseStdin). */
void shim_process_close_stdin(struct shim_process *p);

#endif
