/* veil-agent running real containers under a real OCI runtime on this host:
 * runc, because this host has hybrid cgroups (v1 + an empty v2 mount) and crun 1.8
 * refuses that ("cgroups in hybrid mode not supported"); the guest (cgroup2 only)
 * uses crun. Both take the same command lines from the agent.
 * a busybox rootfs, stdout/stderr through ReadStdout/ReadStderr, exit codes through
 * WaitProcess, exec, signals, duplicates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent-harness.h"
#include "common/cleanup.h"

struct crun_fixture {
  struct agent_fixture a;
  char rootfs[PATH_MAX + 16];
};

/* The network namespace the sysctl test runs its agent in ("" = the host's). */
static char netns_path[64];

static int setup_with(void **state, const char *netns, const char *const *extra)
{
  static struct crun_fixture f;
  if (access("/usr/sbin/runc", X_OK) < 0 || access("/bin/busybox", X_OK) < 0) {
    fprintf(stderr, "runc (package runc) and /bin/busybox (busybox-static) are required\n");
    return -1;
  }
  struct fx_options o = { .runtime = "/usr/sbin/runc", .netns = netns, .extra = extra };
  if (fx_start_opts(&f.a, &o) < 0)
    return -1;
  snprintf(f.rootfs, sizeof(f.rootfs), "%s/rootfs", f.a.dir);
  char p[PATH_MAX + 64];
  veil_error_t err = NULL;
  snprintf(p, sizeof(p), "%s/bin", f.rootfs);
  if (veil_mkdir_p(p, 0755, &err) < 0)
    return -1;
  for (const char *d = "proc\0dev\0tmp\0"; *d; d += strlen(d) + 1) {
    snprintf(p, sizeof(p), "%s/%s", f.rootfs, d);
    mkdir(p, 0755);
  }
  snprintf(p, sizeof(p), "cp /bin/busybox %s/bin/busybox", f.rootfs);
  if (system(p) != 0)
    return -1;
  for (const char *b = "sh\0sleep\0stty\0tty\0dd\0"; *b; b += strlen(b) + 1) {
    snprintf(p, sizeof(p), "%s/bin/%s", f.rootfs, b);
    if (symlink("busybox", p) < 0)
      return -1;
  }
  *state = &f;
  return 0;
}

static int setup(void **state)
{
  return setup_with(state, NULL, NULL);
}

/* The agent with a sandbox dir, as the guest's init has: CreateSandbox makes the pod's
 * shared IPC and UTS namespaces there. */
static char sandbox_dir[64];

static int setup_with_sandbox_dir(void **state)
{
  snprintf(sandbox_dir, sizeof(sandbox_dir), "/tmp/veil-agent-sandbox-%d", (int)getpid());
  static const char *extra[3];
  extra[0] = "--sandbox-dir";
  extra[1] = sandbox_dir;
  return setup_with(state, NULL, extra);
}

/* The agent in a network namespace of its own, as in the guest, where the guest's namespace
 * is the pod's: net.* sysctls written there must not touch the host's. */
static int setup_in_netns(void **state)
{
  char cmd[128];
  snprintf(netns_path, sizeof(netns_path), "/run/netns/veil-agent-sysctl-%d", (int)getpid());
  snprintf(cmd, sizeof(cmd), "ip netns add %s", netns_path + strlen("/run/netns/"));
  if (system(cmd) != 0)
    return -1;
  return setup_with(state, netns_path, NULL);
}

static int teardown(void **state)
{
  struct crun_fixture *f = *state;
  int r = fx_stop(&f->a);
  if (netns_path[0]) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ip netns delete %s", netns_path + strlen("/run/netns/"));
    if (system(cmd) != 0)
      r = -1;
    netns_path[0] = '\0';
  }
  if (sandbox_dir[0]) {
    veil_error_t err = NULL;
    if (veil_remove_tree(sandbox_dir, &err) < 0) {
      veil_error_release(&err);
      r = -1;
    }
    sandbox_dir[0] = '\0';
  }
  return r;
}

static bool with_terminal;
static bool share_pidns; /* CreateContainerRequest.sandbox_pidns */
static int64_t memory_limit; /* bytes, 0 = none */
static const char *spec_hostname = "veiltest"; /* Spec.hostname, NULL = none */
static Grpc__Linux__SysctlEntry **sysctls; /* linux.sysctl, NULL = none */
static size_t n_sysctls;

/* CreateContainer for `sh -c script` (with a terminal when with_terminal). */
static int create(struct crun_fixture *f, const char *id, const char *script)
{
  Grpc__CreateContainerRequest c = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  c.container_id = (char *)id;
  c.exec_id = (char *)id;
  Grpc__Spec spec = GRPC__SPEC__INIT;
  spec.version = "1.0.2";
  Grpc__Process proc = GRPC__PROCESS__INIT;
  char *args[] = { "/bin/sh", "-c", (char *)script };
  char *env[] = { "PATH=/bin" };
  proc.n_args = 3;
  proc.args = args;
  proc.n_env = 1;
  proc.env = env;
  proc.cwd = "/";
  proc.terminal = with_terminal;
  Grpc__User user = GRPC__USER__INIT;
  proc.user = &user;
  Grpc__Root root = GRPC__ROOT__INIT;
  root.path = f->rootfs;
  spec.process = &proc;
  spec.root = &root;
  spec.hostname = (char *)spec_hostname;
  Grpc__Mount proc_m = GRPC__MOUNT__INIT, dev_m = GRPC__MOUNT__INIT;
  proc_m.destination = "/proc";
  proc_m.source = "proc";
  proc_m.type = "proc";
  dev_m.destination = "/dev";
  dev_m.source = "tmpfs";
  dev_m.type = "tmpfs";
  char *dev_opts[] = { "nosuid", "mode=755" };
  dev_m.n_options = 2;
  dev_m.options = dev_opts;
  Grpc__Mount pts_m = GRPC__MOUNT__INIT;
  pts_m.destination = "/dev/pts";
  pts_m.source = "devpts";
  pts_m.type = "devpts";
  char *pts_opts[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620" };
  pts_m.n_options = 5;
  pts_m.options = pts_opts;
  Grpc__Mount *mounts[] = { &proc_m, &dev_m, &pts_m };
  spec.n_mounts = 3;
  spec.mounts = mounts;
  Grpc__Linux lx = GRPC__LINUX__INIT;
  Grpc__LinuxNamespace ns[4];
  Grpc__LinuxNamespace *nsp[4];
  const char *types[] = { "pid", "mount", "ipc", "uts" };
  for (int i = 0; i < 4; i++) {
    grpc__linux_namespace__init(&ns[i]);
    ns[i].type = (char *)types[i];
    nsp[i] = &ns[i];
  }
  lx.n_namespaces = 4;
  lx.namespaces = nsp;
  Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
  Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
  if (memory_limit) {
    mem.limit = memory_limit;
    res.memory = &mem;
    lx.resources = &res;
  }
  lx.sysctl = sysctls;
  lx.n_sysctl = n_sysctls;
  spec.linux = &lx;
  c.oci = &spec;
  c.sandbox_pidns = share_pidns;
  return fx_call(&f->a, "CreateContainer", &c.base, NULL, NULL);
}

static int start(struct crun_fixture *f, const char *id)
{
  Grpc__StartContainerRequest s = GRPC__START_CONTAINER_REQUEST__INIT;
  s.container_id = (char *)id;
  return fx_call(&f->a, "StartContainer", &s.base, NULL, NULL);
}

/* Read a stream to EOF. */
static char *read_all(struct crun_fixture *f, const char *method, const char *id, const char *exec,
                      uint32_t chunk)
{
  size_t cap = 4096, len = 0;
  char *out = calloc(1, cap);
  for (;;) {
    Grpc__ReadStreamRequest r = GRPC__READ_STREAM_REQUEST__INIT;
    r.container_id = (char *)id;
    r.exec_id = (char *)exec;
    r.len = chunk;
    uint8_t *resp = NULL;
    size_t rl = 0;
    assert_int_equal(fx_call(&f->a, method, &r.base, &resp, &rl), 0);
    Grpc__ReadStreamResponse *m = grpc__read_stream_response__unpack(NULL, rl, resp);
    assert_non_null(m);
    free(resp);
    size_t n = m->data.len;
    assert_true(n <= chunk);
    if (n == 0) {
      grpc__read_stream_response__free_unpacked(m, NULL);
      return out;
    }
    assert_true(len + n < cap);
    memcpy(out + len, m->data.data, n);
    len += n;
    grpc__read_stream_response__free_unpacked(m, NULL);
  }
}

static int wait_status(struct crun_fixture *f, const char *id, const char *exec)
{
  Grpc__WaitProcessRequest w = GRPC__WAIT_PROCESS_REQUEST__INIT;
  w.container_id = (char *)id;
  w.exec_id = (char *)exec;
  uint8_t *resp = NULL;
  size_t rl = 0;
  assert_int_equal(fx_call(&f->a, "WaitProcess", &w.base, &resp, &rl), 0);
  Grpc__WaitProcessResponse *m = grpc__wait_process_response__unpack(NULL, rl, resp);
  assert_non_null(m);
  int st = m->status;
  grpc__wait_process_response__free_unpacked(m, NULL);
  free(resp);
  return st;
}

static int remove_container(struct crun_fixture *f, const char *id)
{
  Grpc__RemoveContainerRequest r = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
  r.container_id = (char *)id;
  r.timeout = 10;
  return fx_call(&f->a, "RemoveContainer", &r.base, NULL, NULL);
}

static void test_run_busybox_stdout_and_exit_code(void **state)
{
  struct crun_fixture *f = *state;
  assert_int_equal(create(f, "c1", "echo hello from $(hostname); echo oops >&2; exit 3"), 0);
  assert_int_equal(create(f, "c1", "true"), VEIL_GRPC_ALREADY_EXISTS);
  assert_int_equal(start(f, "c1"), 0);
  /* 4-byte reads: the len bound is honoured and the data reassembles */
  char *out = read_all(f, "ReadStdout", "c1", "c1", 4);
  assert_string_equal(out, "hello from veiltest\n");
  free(out);
  char *err = read_all(f, "ReadStderr", "c1", "c1", 32768);
  assert_string_equal(err, "oops\n");
  free(err);
  assert_int_equal(wait_status(f, "c1", "c1"), 3);
  /* as kata-agent: a waited process is gone, its output with it */
  Grpc__ReadStreamRequest gone = GRPC__READ_STREAM_REQUEST__INIT;
  gone.container_id = "c1";
  gone.exec_id = "c1";
  gone.len = 16;
  assert_int_equal(fx_call(&f->a, "ReadStdout", &gone.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  Grpc__WaitProcessRequest again = GRPC__WAIT_PROCESS_REQUEST__INIT;
  again.container_id = "c1";
  again.exec_id = "c1";
  assert_int_equal(fx_call(&f->a, "WaitProcess", &again.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  assert_int_equal(remove_container(f, "c1"), 0);
  assert_int_equal(remove_container(f, "c1"), VEIL_GRPC_NOT_FOUND);
}

/* The host sends no pid namespace (kata's handlePidNamespace): each container gets its own,
 * or the pod's first container's with sandbox_pidns (shareProcessNamespace). */
static void test_pid_namespaces(void **state)
{
  struct crun_fixture *f = *state;
  share_pidns = false;
  assert_int_equal(create(f, "pod", "exec sleep 1000"), 0);
  assert_int_equal(start(f, "pod"), 0);
  assert_int_equal(create(f, "solo", "read c < /proc/1/comm; echo $c"), 0);
  assert_int_equal(start(f, "solo"), 0);
  char *out = read_all(f, "ReadStdout", "solo", "solo", 4096);
  assert_string_equal(out, "sh\n"); /* its own namespace: it is pid 1 there */
  free(out);
  share_pidns = true;
  assert_int_equal(create(f, "shared", "read c < /proc/1/comm; echo $c"), 0);
  assert_int_equal(start(f, "shared"), 0);
  out = read_all(f, "ReadStdout", "shared", "shared", 4096);
  assert_string_equal(out, "sleep\n"); /* the pod's: its pid 1 is the first container */
  free(out);
  share_pidns = false;
  assert_int_equal(wait_status(f, "solo", "solo"), 0);
  assert_int_equal(wait_status(f, "shared", "shared"), 0);
  assert_int_equal(remove_container(f, "shared"), 0);
  assert_int_equal(remove_container(f, "solo"), 0);
  assert_int_equal(remove_container(f, "pod"), 0);
}

static void test_exec_and_signals(void **state)
{
  struct crun_fixture *f = *state;
  assert_int_equal(create(f, "c2", "read line; echo got $line; exec sleep 1000"), 0);
  assert_int_equal(start(f, "c2"), 0);
  /* stdin reaches the init process */
  Grpc__WriteStreamRequest w = GRPC__WRITE_STREAM_REQUEST__INIT;
  w.container_id = "c2";
  w.exec_id = "c2";
  w.data.data = (uint8_t *)"ping\n";
  w.data.len = 5;
  assert_int_equal(fx_call(&f->a, "WriteStdin", &w.base, NULL, NULL), 0);
  Grpc__ReadStreamRequest r = GRPC__READ_STREAM_REQUEST__INIT;
  r.container_id = "c2";
  r.exec_id = "c2";
  r.len = 100;
  uint8_t *resp = NULL;
  size_t rl = 0;
  assert_int_equal(fx_call(&f->a, "ReadStdout", &r.base, &resp, &rl), 0);
  Grpc__ReadStreamResponse *m = grpc__read_stream_response__unpack(NULL, rl, resp);
  assert_non_null(m);
  assert_int_equal(m->data.len, 9);
  assert_memory_equal(m->data.data, "got ping\n", 9);
  grpc__read_stream_response__free_unpacked(m, NULL);
  free(resp);

  /* an exec'd process with its own stdio and exit code */
  Grpc__ExecProcessRequest e = GRPC__EXEC_PROCESS_REQUEST__INIT;
  e.container_id = "c2";
  e.exec_id = "e1";
  Grpc__Process proc = GRPC__PROCESS__INIT;
  char *args[] = { "/bin/sh", "-c", "echo exec out; exit 7" };
  proc.n_args = 3;
  proc.args = args;
  proc.cwd = "/";
  Grpc__User user = GRPC__USER__INIT;
  proc.user = &user;
  e.process = &proc;
  assert_int_equal(fx_call(&f->a, "ExecProcess", &e.base, NULL, NULL), 0);
  assert_int_equal(fx_call(&f->a, "ExecProcess", &e.base, NULL, NULL), VEIL_GRPC_ALREADY_EXISTS);
  char *out = read_all(f, "ReadStdout", "c2", "e1", 32768);
  assert_string_equal(out, "exec out\n");
  free(out);
  assert_int_equal(wait_status(f, "c2", "e1"), 7);

  /* a signal to the init process: WaitProcess reports 128 + signo */
  Grpc__SignalProcessRequest s = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
  s.container_id = "c2";
  s.exec_id = "c2";
  s.signal = 9;
  assert_int_equal(fx_call(&f->a, "SignalProcess", &s.base, NULL, NULL), 0);
  assert_int_equal(wait_status(f, "c2", "c2"), 128 + 9);
  assert_int_equal(remove_container(f, "c2"), 0);
}

static void test_signal_all_processes(void **state)
{
  struct crun_fixture *f = *state;
  assert_int_equal(create(f, "c3", "exec sleep 1000"), 0);
  assert_int_equal(start(f, "c3"), 0);
  Grpc__ExecProcessRequest e = GRPC__EXEC_PROCESS_REQUEST__INIT;
  e.container_id = "c3";
  e.exec_id = "sleeper";
  Grpc__Process proc = GRPC__PROCESS__INIT;
  char *args[] = { "/bin/sleep", "1000" };
  proc.n_args = 2;
  proc.args = args;
  Grpc__User user = GRPC__USER__INIT;
  proc.user = &user;
  e.process = &proc;
  assert_int_equal(fx_call(&f->a, "ExecProcess", &e.base, NULL, NULL), 0);
  /* An empty exec_id signals every process of the container (SIGKILL: the
   * container's init ignores signals it has no handler for). */
  Grpc__SignalProcessRequest s = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
  s.container_id = "c3";
  s.exec_id = "";
  s.signal = 9;
  assert_int_equal(fx_call(&f->a, "SignalProcess", &s.base, NULL, NULL), 0);
  assert_int_equal(wait_status(f, "c3", "sleeper"), 128 + 9);
  assert_int_equal(wait_status(f, "c3", "c3"), 128 + 9);
  /* stats of a stopped container: not running */
  Grpc__StatsContainerRequest st = GRPC__STATS_CONTAINER_REQUEST__INIT;
  st.container_id = "c3";
  assert_int_equal(fx_call(&f->a, "StatsContainer", &st.base, NULL, NULL),
                   VEIL_GRPC_FAILED_PRECONDITION);
  assert_int_equal(remove_container(f, "c3"), 0);
}

static void test_stats_and_pause(void **state)
{
  struct crun_fixture *f = *state;
  assert_int_equal(create(f, "c4", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 1000"), 0);
  assert_int_equal(start(f, "c4"), 0);
  Grpc__StatsContainerRequest st = GRPC__STATS_CONTAINER_REQUEST__INIT;
  st.container_id = "c4";
  uint8_t *resp = NULL;
  size_t rl = 0;
  assert_int_equal(fx_call(&f->a, "StatsContainer", &st.base, &resp, &rl), 0);
  Grpc__StatsContainerResponse *m = grpc__stats_container_response__unpack(NULL, rl, resp);
  assert_non_null(m);
  assert_non_null(m->cgroup_stats);
  assert_true(m->cgroup_stats->memory_stats->usage->usage > 0);
  assert_true(m->cgroup_stats->cpu_stats->cpu_usage->total_usage > 0);
  grpc__stats_container_response__free_unpacked(m, NULL);
  free(resp);
  Grpc__PauseContainerRequest p = GRPC__PAUSE_CONTAINER_REQUEST__INIT;
  p.container_id = "c4";
  assert_int_equal(fx_call(&f->a, "PauseContainer", &p.base, NULL, NULL), 0);
  assert_int_equal(fx_call(&f->a, "PauseContainer", &p.base, NULL, NULL),
                   VEIL_GRPC_FAILED_PRECONDITION);
  Grpc__ResumeContainerRequest rs = GRPC__RESUME_CONTAINER_REQUEST__INIT;
  rs.container_id = "c4";
  assert_int_equal(fx_call(&f->a, "ResumeContainer", &rs.base, NULL, NULL), 0);
  /* remove kills a running container */
  assert_int_equal(remove_container(f, "c4"), 0);
}

static void test_terminal_and_resize(void **state)
{
  struct crun_fixture *f = *state;
  with_terminal = true;
  int rc = create(f, "t1", "stty size; echo on-$(tty)");
  with_terminal = false;
  assert_int_equal(rc, 0);
  Grpc__TtyWinResizeRequest r = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
  r.container_id = "t1";
  r.exec_id = "t1";
  r.row = 33;
  r.column = 101;
  assert_int_equal(fx_call(&f->a, "TtyWinResize", &r.base, NULL, NULL), 0);
  assert_int_equal(start(f, "t1"), 0);
  char *out = read_all(f, "ReadStdout", "t1", "t1", 32768);
  assert_non_null(strstr(out, "33 101"));
  assert_non_null(strstr(out, "on-/dev/pts/"));
  free(out);
  /* a terminal has no separate stderr: EOF at once */
  char *err = read_all(f, "ReadStderr", "t1", "t1", 32768);
  assert_string_equal(err, "");
  free(err);
  assert_int_equal(wait_status(f, "t1", "t1"), 0);
  /* no terminal: resize is refused */
  assert_int_equal(create(f, "t2", "true"), 0);
  r.container_id = "t2";
  r.exec_id = "t2";
  assert_int_equal(fx_call(&f->a, "TtyWinResize", &r.base, NULL, NULL),
                   VEIL_GRPC_FAILED_PRECONDITION);
  assert_int_equal(remove_container(f, "t1"), 0);
  assert_int_equal(remove_container(f, "t2"), 0);
}

static void test_oom_event(void **state)
{
  struct crun_fixture *f = *state;
  memory_limit = 16 << 20;
  /* dd's 64 MiB buffer cannot fit in 16 MiB */
  int rc = create(f, "oom1", "dd if=/dev/zero of=/dev/null bs=64M count=1");
  memory_limit = 0;
  assert_int_equal(rc, 0);
  assert_int_equal(start(f, "oom1"), 0);
  Grpc__GetOOMEventRequest o = GRPC__GET_OOMEVENT_REQUEST__INIT;
  uint8_t *resp = NULL;
  size_t rl = 0;
  assert_int_equal(fx_call(&f->a, "GetOOMEvent", &o.base, &resp, &rl), 0);
  Grpc__OOMEvent *e = grpc__oomevent__unpack(NULL, rl, resp);
  assert_non_null(e);
  assert_string_equal(e->container_id, "oom1");
  grpc__oomevent__free_unpacked(e, NULL);
  free(resp);
  assert_int_equal(wait_status(f, "oom1", "oom1"), 128 + 9);
  assert_int_equal(remove_container(f, "oom1"), 0);
}

/* containerd 2.x's CRI sends net.ipv4.ip_unprivileged_port_start and ping_group_range for
 * every container; an OCI runtime refuses net.* sysctls for a container without a network
 * namespace of its own (runc: "not allowed in host network namespace"). The agent writes them
 * in its namespace (the pod's) and keeps the IPC one for the runtime. */
static void test_net_sysctls_in_the_pod_namespace(void **state)
{
  struct crun_fixture *f = *state;
  char *host_before = NULL;
  size_t len = 0;
  veil_error_t err = NULL;
  assert_int_equal(veil_read_file("/proc/sys/net/ipv4/ping_group_range", 256, &host_before, &len,
                                  &err), 0);
  Grpc__Linux__SysctlEntry e[3];
  Grpc__Linux__SysctlEntry *ep[3];
  const char *kv[3][2] = { { "net.ipv4.ping_group_range", "0 2147483647" },
                           { "net.ipv4.ip_unprivileged_port_start", "0" },
                           { "kernel.shmmni", "1234" } };
  for (int i = 0; i < 3; i++) {
    grpc__linux__sysctl_entry__init(&e[i]);
    e[i].key = (char *)kv[i][0];
    e[i].value = (char *)kv[i][1];
    ep[i] = &e[i];
  }
  sysctls = ep;
  n_sysctls = 3;
  int r = create(f, "sys", "cat /proc/sys/net/ipv4/ping_group_range "
                           "/proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shmmni");
  sysctls = NULL;
  n_sysctls = 0;
  assert_int_equal(r, 0);
  assert_int_equal(start(f, "sys"), 0);
  char *out = read_all(f, "ReadStdout", "sys", "sys", 4096);
  assert_string_equal(out, "0\t2147483647\n0\n1234\n");
  free(out);
  assert_int_equal(wait_status(f, "sys", "sys"), 0);
  assert_int_equal(remove_container(f, "sys"), 0);
  char *host_after = NULL;
  assert_int_equal(veil_read_file("/proc/sys/net/ipv4/ping_group_range", 256, &host_after, &len,
                                  &err), 0);
  assert_string_equal(host_after, host_before);
  free(host_before);
  free(host_after);

  /* a sysctl the kernel does not have fails the create, naming it */
  Grpc__Linux__SysctlEntry bad = GRPC__LINUX__SYSCTL_ENTRY__INIT;
  bad.key = "net.ipv4.no_such_sysctl";
  bad.value = "1";
  Grpc__Linux__SysctlEntry *badp = &bad;
  sysctls = &badp;
  n_sysctls = 1;
  r = create(f, "bad", "true");
  sysctls = NULL;
  n_sysctls = 0;
  assert_int_equal(r, VEIL_GRPC_INVALID_ARGUMENT);
  assert_int_equal(remove_container(f, "bad"), VEIL_GRPC_NOT_FOUND);
}

/* Containers of one pod share its IPC and UTS namespaces (kata-agent's shared namespaces):
 * both see the same namespaces, not the agent's, and the pod's hostname from CreateSandbox.
 * DestroySandbox releases them. */
static void test_pod_shares_ipc_and_uts(void **state)
{
  struct crun_fixture *f = *state;
  Grpc__CreateSandboxRequest sb = GRPC__CREATE_SANDBOX_REQUEST__INIT;
  sb.sandbox_id = "pod1";
  sb.hostname = "podhost";
  assert_int_equal(fx_call(&f->a, "CreateSandbox", &sb.base, NULL, NULL), 0);
  char ipc_file[128];
  snprintf(ipc_file, sizeof(ipc_file), "%s/ns/ipc", sandbox_dir);
  assert_int_equal(access(ipc_file, F_OK), 0);
  spec_hostname = NULL;
  const char *script = "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname";
  char *out[2];
  const char *ids[2] = { "pause", "app" };
  for (int i = 0; i < 2; i++) {
    assert_int_equal(create(f, ids[i], script), 0);
    assert_int_equal(start(f, ids[i]), 0);
    out[i] = read_all(f, "ReadStdout", ids[i], ids[i], 4096);
    assert_int_equal(wait_status(f, ids[i], ids[i]), 0);
  }
  spec_hostname = "veiltest";
  assert_string_equal(out[0], out[1]);
  char own_ipc[64] = "";
  assert_true(readlink("/proc/self/ns/ipc", own_ipc, sizeof(own_ipc) - 1) > 0);
  assert_null(strstr(out[0], own_ipc));
  assert_non_null(strstr(out[0], "\npodhost\n"));
  free(out[0]);
  free(out[1]);
  for (int i = 0; i < 2; i++)
    assert_int_equal(remove_container(f, ids[i]), 0);
  Grpc__DestroySandboxRequest d = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
  assert_int_equal(fx_call(&f->a, "DestroySandbox", &d.base, NULL, NULL), 0);
  assert_int_equal(access(ipc_file, F_OK), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_run_busybox_stdout_and_exit_code, setup, teardown),
    cmocka_unit_test_setup_teardown(test_exec_and_signals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pid_namespaces, setup, teardown),
    cmocka_unit_test_setup_teardown(test_signal_all_processes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stats_and_pause, setup, teardown),
    cmocka_unit_test_setup_teardown(test_terminal_and_resize, setup, teardown),
    cmocka_unit_test_setup_teardown(test_oom_event, setup, teardown),
    cmocka_unit_test_setup_teardown(test_net_sysctls_in_the_pod_namespace, setup_in_netns, teardown),
    cmocka_unit_test_setup_teardown(test_pod_shares_ipc_and_uts, setup_with_sandbox_dir, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
