/* veil-agent: shared state of the guest agent (see docs/agent.md).
 *
 * One `struct agent` holds the sandbox: containers, their processes, the policy.
 * Everything in it is protected by agent->lock; blocking waits use agent->cond
 * (WaitProcess) or poll the process' fds (ReadStdout). */
#ifndef VEIL_AGENT_AGENT_H
#define VEIL_AGENT_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/guest_paths.h"
#include "agent/policy.h"
#include "agent/sandbox_ns.h"

#define AGENT_VERSION "0.1.0"
/* Bounds on what the host may ask for. */
#define AGENT_MAX_READ_LEN (1u * 1024 * 1024)     /* ReadStdout/ReadStderr len cap */
#define AGENT_DEFAULT_READ_LEN (32u * 1024)       /* len 0 means this */
#define AGENT_MAX_COPY_FILE_SIZE (256ull * 1024 * 1024)
#define AGENT_MAX_CONTAINERS 1024
/* Network RPCs (docs/agent.md): entries per request and the length of free-text fields
 * (Interface.device/devicePath/type) the agent accepts. */
#define AGENT_NET_MAX_ADDRS 64       /* UpdateInterface IPAddresses */
#define AGENT_NET_MAX_ROUTES 512     /* UpdateRoutes */
#define AGENT_NET_MAX_NEIGHBORS 512  /* AddARPNeighbors */
#define AGENT_NET_MAX_TEXT 256
/* CreateSandbox: resolv.conf lines, their length, and the hostname (HOST_NAME_MAX). */
#define AGENT_DNS_MAX_LINES 128
#define AGENT_DNS_MAX_LINE 4096
#define AGENT_MAX_HOSTNAME 64

struct agent_config {
  const char *runtime;      /* OCI runtime binary (crun or runc) */
  const char *state_dir;    /* bundles: <state_dir>/<container-id>/config.json */
  const char *runtime_root; /* the runtime's --root (its state) */
  const char *copy_root;    /* CopyFile destination root */
  bool pid1;                /* running as the guest's init */
  bool no_pivot;            /* pass --no-pivot (root is an initramfs) */
  bool mount_storages;      /* false only in tests that cannot mount */
  /* CreateSandbox: where `dns` and `hostname` are written (NULL: not written), and
   * whether sethostname(2) is called. The guest's init uses /etc/resolv.conf,
   * /etc/hostname and true; tests point them into a temp dir. */
  const char *resolv_conf;
  const char *hostname_file;
  bool set_hostname;
  /* CreateSandbox makes the pod's IPC and UTS namespaces under <sandbox_dir>/ns (NULL: each
   * container gets its own, as in tests without CreateSandbox). */
  const char *sandbox_dir;
};

struct agent_process {
  struct agent_process *next;
  char *exec_id;
  pid_t pid;             /* 0 until started */
  int stdin_fd;          /* our write end, -1 when closed */
  int stdout_fd;         /* our read end (the pty master with a terminal) */
  int stderr_fd;
  bool terminal;
  bool exited;
  int exit_code;         /* exit status, or 128 + signal */
};

enum agent_container_state {
  CONTAINER_CREATED,
  CONTAINER_RUNNING,
  CONTAINER_PAUSED,
  CONTAINER_STOPPED,
};

struct agent_container {
  struct agent_container *next;
  char *id;
  char *bundle;
  enum agent_container_state state;
  struct agent_process *procs;  /* the init process has exec_id == id */
  char **mounts;                /* storages mounted for it, unmounted on removal */
  size_t n_mounts;
  uint64_t oom_kills_seen;
  char *oom_file;               /* cgroup file with the oom_kill counter (memory.events
                                   or v1 memory.oom_control), found at create */
  bool runtime_invoked;         /* `create` ran: a failed create must `delete -f` */
};

struct agent {
  struct agent_config cfg;
  pthread_mutex_t lock;         /* the tables below; never held across a runtime call */
  pthread_cond_t cond;          /* broadcast when a tracked process exits */
  pthread_mutex_t ops_lock;     /* serializes lifecycle operations (they run the runtime);
                                   only they add or free containers and processes */
  pthread_mutex_t net_lock;     /* serializes the network RPCs (they edit one netns) */
  struct agent_container *containers;
  size_t n_containers;
  bool sandbox_created;
  char *sandbox_id;
  char *sandbox_pidns;          /* /proc/<pid>/ns/pid of the pod's first container, NULL
                                   before it: what sandbox_pidns containers join */
  struct agent_sandbox_ns sandbox_ns; /* the pod's IPC and UTS namespaces */
  char **sandbox_mounts;
  size_t n_sandbox_mounts;
  struct agent_policy policy;
  char *initdata_digest;        /* "initdata-digest=<alg>:<hex>" (common/initdata.h) or NULL */
  /* Set by DestroySandbox; main powers the VM off when it sees it (PID 1 only). */
  volatile bool shutdown_requested;
  void (*on_shutdown)(struct agent *a);
  void *service_bindings;       /* service.c's per-method handler data */
};

int agent_init(struct agent *a, const struct agent_config *cfg, veil_error_t *err);
void agent_fini(struct agent *a);

/* Lookups; the caller holds a->lock. */
struct agent_container *agent_find_container(struct agent *a, const char *id);
struct agent_process *agent_find_process(struct agent_container *c, const char *exec_id);
/* Look up container + process, with NotFound errors. Caller holds a->lock. */
struct agent_process *agent_lookup_process(struct agent *a, const char *cid, const char *exec_id,
                                           struct agent_container **out_c, veil_error_t *err);

/* Called by the reaper thread when a tracked pid exits. */
void agent_process_exited(struct agent *a, pid_t pid, int wait_status);

void agent_process_free(struct agent_process *p);
void agent_container_free(struct agent_container *c);

#endif
