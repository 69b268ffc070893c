/* guest-e2e: boots the dev guest image under QEMU TCG and drives veil-agent through the
 * host's agent client (agent_client/) over the virtio-serial channel (unix socket), with the
 * containers' rootfs on the 9p share, as the shim does:
 *   CreateSandbox(9p storage) -> c1 `echo hello; exit 3` (stdout, exit code) -> c2 in the same
 *   sandbox (stderr) -> c3 long-running: ExecProcess into it, SignalProcess(SIGTERM) -> 137
 *   (init without a TERM handler: SIGKILL, as kata-agent) -> c3t traps TERM -> its own exit
 *   -> c4 `cat`: stdin round trip -> c5 with a terminal -> c6 veil-vsock-check: the agent over
 *   vsock loopback INSIDE the guest -> oci-*: the spec versions containerd 1.7 and 2.x write
 *   -> RemoveContainer -> DestroySandbox -> QEMU exits by itself.
 *
 *   guest-e2e <vmlinux|vmlinuz> <initrd.img> <veil-vsock-check>
 *
 * Fails (never skips) when the image cannot boot. The guest console is saved to
 * $VEIL_BUILD_ROOT/meson-logs/guest-e2e-console.log (else the temp dir) and its tail printed
 * on failure. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "guest_qemu.h"
#include "agent_client/agent_client.h"

#define SHARED_GUEST "/run/kata-containers/shared/containers"
#define BOOT_TIMEOUT_MS 120000

static char workdir[] = "/tmp/veil-guest-e2e.XXXXXX";
static char console_path[4096];
static pid_t qemu_pid = -1;
static veil_agent *agent;

static void print_console_tail(void)
{
  cleanup_file FILE *f = fopen(console_path, "r");
  if (f == NULL) {
    fprintf(stderr, "(no guest console at %s)\n", console_path);
    return;
  }
  static char buf[8192];
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fprintf(stderr, "---- guest console tail (%s) ----\n%s\n---- end of console ----\n",
          console_path, buf);
}

static void cleanup(void)
{
  if (agent) {
    veil_agent_free(agent);
    agent = NULL;
  }
  if (qemu_pid > 0) {
    kill(qemu_pid, SIGKILL);
    waitpid(qemu_pid, NULL, 0);
    qemu_pid = -1;
  }
  if (workdir[sizeof(workdir) - 2] != 'X') {
    char cmd[sizeof(workdir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", workdir);
    if (system(cmd) != 0)
      fprintf(stderr, "warning: could not remove %s\n", workdir);
  }
}

static void VEIL_PRINTF(1, 2) fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  if (agent)
    veil_agent_close(agent);
  if (qemu_pid > 0) {
    kill(qemu_pid, SIGKILL);
    waitpid(qemu_pid, NULL, 0);
    qemu_pid = -1;
  }
  print_console_tail();
  cleanup();
  exit(1);
}

#define OK(call)                                                             \
  do {                                                                       \
    cleanup_error veil_error_t err_ = NULL;                                  \
    veil_error_t *err = &err_;                                               \
    if ((call) < 0)                                                          \
      fail("%s:%d: %s: %s", __FILE__, __LINE__, #call, err_->msg);          \
  } while (0)

static void step(const char *what)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  printf("[%ld.%03ld] %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000, what);
  fflush(stdout);
}

/* ---- host side: the share with one busybox rootfs per container ---- */

static void copy_file(const char *from, const char *to, mode_t mode)
{
  cleanup_close int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    fail("open %s: %s (install busybox-static: scripts/setup)", from, strerror(errno));
  cleanup_close int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0)
    fail("create %s: %s", to, strerror(errno));
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof(buf))) > 0)
    if (write(out, buf, (size_t)n) != n)
      fail("write %s: %s", to, strerror(errno));
  if (n < 0)
    fail("read %s: %s", from, strerror(errno));
}

static void make_rootfs(const char *cid, const char *vsock_check)
{
  static const char *dirs[] = {"", "/bin", "/proc", "/dev", "/sys", "/tmp", "/etc"};
  static const char *applets[] = {"sh", "echo", "cat", "sleep", "test", "true", "ls", "kill"};
  char path[1024], base[256];
  snprintf(base, sizeof(base), "%s/shared/%s", workdir, cid);
  mkdir(base, 0755);
  for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    snprintf(path, sizeof(path), "%s/rootfs%s", base, dirs[i]);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
      fail("mkdir %s: %s", path, strerror(errno));
  }
  snprintf(path, sizeof(path), "%s/rootfs/bin/busybox", base);
  copy_file("/bin/busybox", path, 0755);
  for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
    snprintf(path, sizeof(path), "%s/rootfs/bin/%s", base, applets[i]);
    if (symlink("busybox", path) < 0)
      fail("symlink %s: %s", path, strerror(errno));
  }
  if (vsock_check) {
    snprintf(path, sizeof(path), "%s/rootfs/bin/veil-vsock-check", base);
    copy_file(vsock_check, path, 0755);
  }
}

static void start_qemu(const char *kernel, const char *initrd)
{
  char sock[256], shared[256];
  snprintf(sock, sizeof(sock), "%s/agent.sock", workdir);
  snprintf(shared, sizeof(shared), "%s/shared", workdir);
  struct guest_qemu q = {
    .kernel = kernel,
    .initrd = initrd,
    .agent_socket = sock,
    .shared_dir = shared,
    .console_path = console_path,
    .extra_params = "agent.log=debug",
  };
  cleanup_error veil_error_t err = NULL;
  qemu_pid = guest_qemu_start(&q, &err);
  if (qemu_pid < 0)
    fail("start QEMU: %s", err->msg);
}

static bool qemu_alive(void *user)
{
  (void)user;
  int status;
  pid_t r = waitpid(qemu_pid, &status, WNOHANG);
  if (r == qemu_pid) {
    qemu_pid = -1;
    return false;
  }
  return true;
}

/* ---- containers ---- */

/* A runtime-spec like the shim's: mount/ipc/uts (+pid) namespaces, the usual /proc, /dev,
 * /sys mounts, root on the share. */
struct spec {
  Grpc__Spec spec;
  Grpc__Process process;
  Grpc__User user;
  Grpc__Root root;
  Grpc__Linux linux;
  Grpc__Box console;
  Grpc__Mount mounts[5];
  Grpc__Mount *mount_ptrs[5];
  Grpc__LinuxNamespace ns[4];
  Grpc__LinuxNamespace *ns_ptrs[4];
  char root_path[512];
  char *env[2];
};

static void build_spec(struct spec *s, const char *cid, char **args, size_t n_args, bool terminal,
                       bool pid_ns)
{
  static char *proc_opts[] = {"nosuid", "noexec", "nodev"};
  static char *dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
  static char *pts_opts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"};
  static char *shm_opts[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
  static char *sys_opts[] = {"nosuid", "noexec", "nodev", "ro"};
  static struct { char *dst, *type, **opts; size_t n; } m[] = {
    {"/proc", "proc", proc_opts, 3}, {"/dev", "tmpfs", dev_opts, 4},
    {"/dev/pts", "devpts", pts_opts, 5}, {"/dev/shm", "tmpfs", shm_opts, 5},
    {"/sys", "sysfs", sys_opts, 4},
  };
  static char *ns_types[] = {"mount", "ipc", "uts", "pid"};

  memset(s, 0, sizeof(*s));
  s->spec = (Grpc__Spec)GRPC__SPEC__INIT;
  s->process = (Grpc__Process)GRPC__PROCESS__INIT;
  s->user = (Grpc__User)GRPC__USER__INIT;
  s->root = (Grpc__Root)GRPC__ROOT__INIT;
  s->linux = (Grpc__Linux)GRPC__LINUX__INIT;
  s->console = (Grpc__Box)GRPC__BOX__INIT;
  s->console.height = 24;
  s->console.width = 80;
  s->env[0] = "PATH=/bin";
  s->env[1] = "TERM=xterm";
  s->process.terminal = terminal;
  if (terminal)
    s->process.consolesize = &s->console;
  s->process.user = &s->user;
  s->process.args = args;
  s->process.n_args = n_args;
  s->process.env = s->env;
  s->process.n_env = 2;
  s->process.cwd = "/";
  snprintf(s->root_path, sizeof(s->root_path), SHARED_GUEST "/%s/rootfs", cid);
  s->root.path = s->root_path;
  for (size_t i = 0; i < 5; i++) {
    s->mounts[i] = (Grpc__Mount)GRPC__MOUNT__INIT;
    s->mounts[i].destination = m[i].dst;
    s->mounts[i].source = m[i].type;
    s->mounts[i].type = m[i].type;
    s->mounts[i].options = m[i].opts;
    s->mounts[i].n_options = m[i].n;
    s->mount_ptrs[i] = &s->mounts[i];
  }
  for (size_t i = 0; i < 4; i++) {
    s->ns[i] = (Grpc__LinuxNamespace)GRPC__LINUX_NAMESPACE__INIT;
    s->ns[i].type = ns_types[i];
    s->ns_ptrs[i] = &s->ns[i];
  }
  s->linux.namespaces = s->ns_ptrs;
  s->linux.n_namespaces = pid_ns ? 4 : 3;
  s->linux.cgroupspath = "";
  s->spec.version = "1.0.2";
  s->spec.process = &s->process;
  s->spec.root = &s->root;
  s->spec.hostname = "veil-e2e";
  s->spec.mounts = s->mount_ptrs;
  s->spec.n_mounts = 5;
  s->spec.linux = &s->linux;
}

static void create_and_start_version(const char *cid, char **args, size_t n_args,
                                     bool terminal, bool pid_ns, const char *oci_version)
{
  struct spec s;
  build_spec(&s, cid, args, n_args, terminal, pid_ns);
  if (oci_version)
    s.spec.version = (char *)oci_version;
  Grpc__CreateContainerRequest req = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  req.container_id = (char *)cid;
  req.exec_id = (char *)cid;
  req.oci = &s.spec;
  OK(veil_agent_create_container(agent, &req, err));
  Grpc__StartContainerRequest start = GRPC__START_CONTAINER_REQUEST__INIT;
  start.container_id = (char *)cid;
  OK(veil_agent_start_container(agent, &start, err));
}

static void create_and_start(const char *cid, char **args, size_t n_args, bool terminal,
                             bool pid_ns)
{
  create_and_start_version(cid, args, n_args, terminal, pid_ns, NULL);
}

/* Everything a process writes to stdout (or stderr) until EOF, NUL-terminated. */
static char *read_all(const char *cid, const char *exec_id, bool stderr_stream)
{
  size_t cap = 4096, len = 0;
  char *out = malloc(cap);
  if (out == NULL)
    fail("out of memory");
  for (;;) {
    Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
    req.container_id = (char *)cid;
    req.exec_id = (char *)exec_id;
    req.len = 32 * 1024;
    Grpc__ReadStreamResponse *resp = NULL;
    if (stderr_stream)
      OK(veil_agent_read_stderr(agent, &req, &resp, err));
    else
      OK(veil_agent_read_stdout(agent, &req, &resp, err));
    size_t n = resp->data.len;
    if (n > 0) {
      if (len + n + 1 > cap) {
        cap = (len + n + 1) * 2;
        char *p = realloc(out, cap);
        if (p == NULL)
          fail("out of memory");
        out = p;
      }
      memcpy(out + len, resp->data.data, n);
      len += n;
    }
    grpc__read_stream_response__free_unpacked(resp, NULL);
    if (n == 0 || len > 1024 * 1024)
      break;
  }
  out[len] = '\0';
  return out;
}

/* What one ReadStdout returns (it blocks until the process writes or exits). */
static char *read_some(const char *cid, const char *exec_id)
{
  Grpc__ReadStreamRequest req = GRPC__READ_STREAM_REQUEST__INIT;
  req.container_id = (char *)cid;
  req.exec_id = (char *)exec_id;
  req.len = 4096;
  Grpc__ReadStreamResponse *resp = NULL;
  OK(veil_agent_read_stdout(agent, &req, &resp, err));
  char *out = strndup((const char *)resp->data.data, resp->data.len);
  grpc__read_stream_response__free_unpacked(resp, NULL);
  if (out == NULL)
    fail("out of memory");
  return out;
}

struct reader_arg {
  const char *cid, *exec_id;
  char *out;
};

static void *reader_main(void *arg)
{
  struct reader_arg *r = arg;
  r->out = read_all(r->cid, r->exec_id, false);
  return NULL;
}

static int wait_process(const char *cid, const char *exec_id)
{
  Grpc__WaitProcessRequest req = GRPC__WAIT_PROCESS_REQUEST__INIT;
  req.container_id = (char *)cid;
  req.exec_id = (char *)exec_id;
  Grpc__WaitProcessResponse *resp = NULL;
  OK(veil_agent_wait_process(agent, &req, &resp, err));
  int status = resp->status;
  grpc__wait_process_response__free_unpacked(resp, NULL);
  return status;
}

static void expect_output(const char *what, const char *got, const char *want, bool substring)
{
  bool ok = substring ? strstr(got, want) != NULL : strcmp(got, want) == 0;
  if (!ok)
    fail("%s: got \"%s\", want %s\"%s\"", what, got, substring ? "something containing " : "",
         want);
}

static void expect_status(const char *what, int got, int want)
{
  if (got != want)
    fail("%s: exit status %d, want %d", what, got, want);
}

static void remove_container(const char *cid)
{
  Grpc__RemoveContainerRequest req = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
  req.container_id = (char *)cid;
  req.timeout = 10;
  OK(veil_agent_remove_container(agent, &req, err));
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: guest-e2e <kernel> <initrd.img> <veil-vsock-check>\n");
    return 2;
  }
  const char *kernel = argv[1], *initrd = argv[2], *vsock_check = argv[3];
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  if (mkdtemp(workdir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  const char *build_root = getenv("VEIL_BUILD_ROOT");
  if (build_root)
    snprintf(console_path, sizeof(console_path), "%s/meson-logs/guest-e2e-console.log",
             build_root);
  else
    snprintf(console_path, sizeof(console_path), "%s/console.log", workdir);
  for (int i = 1; i < 4; i++)
    if (access(argv[i], R_OK) < 0)
      fail("%s: %s (build the guest image: ninja guest-image)", argv[i], strerror(errno));

  char path[4200];
  snprintf(path, sizeof(path), "%s/shared", workdir);
  if (mkdir(path, 0755) < 0)
    fail("mkdir %s: %s", path, strerror(errno));
  static const char *cids[] = {"c1", "c2", "c3", "c3t", "c4", "c5"};
  for (size_t i = 0; i < sizeof(cids) / sizeof(cids[0]); i++)
    make_rootfs(cids[i], NULL);
  make_rootfs("c6", vsock_check);
  /* ociVersion as containerd writes it: 1.7 to 2.4 vendor runtime-spec 1.1.0 to 1.3.0 (2.3 and
   * 2.4: 1.3.0). The agent passes it through to config.json; the guest's crun must take it
   * (Debian 12's crun 1.8.1 said "unknown version specified"). */
  static const char *oci_versions[] = {"1.1.0", "1.2.0", "1.2.1", "1.3.0"};
  static const char *oci_cids[] = {"oci-1.1.0", "oci-1.2.0", "oci-1.2.1", "oci-1.3.0"};
  size_t n_oci = sizeof(oci_versions) / sizeof(oci_versions[0]);
  for (size_t i = 0; i < n_oci; i++)
    make_rootfs(oci_cids[i], NULL);

  step("boot guest");
  start_qemu(kernel, initrd);
  char address[4300];
  snprintf(address, sizeof(address), "unix://%s/agent.sock", workdir);
  {
    cleanup_error veil_error_t err = NULL;
    agent = veil_agent_dial_ready(address, BOOT_TIMEOUT_MS, qemu_alive, NULL, &err);
    if (agent == NULL)
      fail("guest did not become ready: %s", err->msg);
  }
  step("agent ready");

  Grpc__VersionCheckResponse *version = NULL;
  Grpc__CheckRequest check = GRPC__CHECK_REQUEST__INIT;
  OK(veil_agent_version(agent, &check, &version, err));
  printf("agent version %s (grpc %s)\n", version->agent_version, version->grpc_version);
  grpc__version_check_response__free_unpacked(version, NULL);

  step("CreateSandbox with the 9p share");
  Grpc__Storage storage = GRPC__STORAGE__INIT;
  char *storage_opts[] = {"trans=virtio", "version=9p2000.L", "msize=524288"};
  storage.driver = "9p";
  storage.source = "veilshared";
  storage.fstype = "9p";
  storage.options = storage_opts;
  storage.n_options = 3;
  storage.mount_point = SHARED_GUEST;
  Grpc__Storage *storages[] = {&storage};
  Grpc__CreateSandboxRequest sandbox = GRPC__CREATE_SANDBOX_REQUEST__INIT;
  sandbox.hostname = "veil-e2e";
  sandbox.sandbox_id = "e2e";
  sandbox.storages = storages;
  sandbox.n_storages = 1;
  OK(veil_agent_create_sandbox(agent, &sandbox, err));

  Grpc__GuestDetailsRequest details_req = GRPC__GUEST_DETAILS_REQUEST__INIT;
  Grpc__GuestDetailsResponse *details = NULL;
  OK(veil_agent_get_guest_details(agent, &details_req, &details, err));
  grpc__guest_details_response__free_unpacked(details, NULL);

  step("c1: stdout and exit code");
  char *c1_args[] = {"sh", "-c", "echo hello; exit 3"};
  create_and_start("c1", c1_args, 3, false, true);
  cleanup_free char *out1 = read_all("c1", "c1", false);
  expect_output("c1 stdout", out1, "hello\n", false);
  expect_status("c1", wait_process("c1", "c1"), 3);

  step("c2: second container in the sandbox, stderr");
  char *c2_args[] = {"sh", "-c", "echo second >&2"};
  create_and_start("c2", c2_args, 3, false, true);
  cleanup_free char *err2 = read_all("c2", "c2", true);
  expect_output("c2 stderr", err2, "second\n", false);
  expect_status("c2", wait_process("c2", "c2"), 0);

  step("c3: ExecProcess into a running container, then SIGTERM");
  char *c3_args[] = {"sleep", "1000"};
  create_and_start("c3", c3_args, 2, false, false);
  struct spec exec_spec;
  char *exec_args[] = {"sh", "-c", "echo exec-out; cat /proc/1/comm >/dev/null; exit 7"};
  build_spec(&exec_spec, "c3", exec_args, 3, false, false);
  Grpc__ExecProcessRequest exec = GRPC__EXEC_PROCESS_REQUEST__INIT;
  exec.container_id = "c3";
  exec.exec_id = "exec1";
  exec.process = &exec_spec.process;
  OK(veil_agent_exec_process(agent, &exec, err));
  cleanup_free char *exec_out = read_all("c3", "exec1", false);
  expect_output("exec stdout", exec_out, "exec-out\n", false);
  expect_status("exec", wait_process("c3", "exec1"), 7);
  Grpc__SignalProcessRequest sig = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
  sig.container_id = "c3";
  sig.exec_id = "c3";
  sig.signal = SIGTERM;
  OK(veil_agent_signal_process(agent, &sig, err));
  /* sleep is pid 1 of the container's pid namespace and has no TERM handler: the kernel
   * would drop SIGTERM, so the agent sends SIGKILL (kata-agent do_signal_process). */
  expect_status("c3 after SIGTERM", wait_process("c3", "c3"), 128 + SIGKILL);

  step("c3t: an init that traps TERM gets TERM itself");
  char *c3t_args[] = {"sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; "
                                  "while :; do sleep 0.1; done"};
  create_and_start("c3t", c3t_args, 3, false, false);
  cleanup_free char *ready = read_some("c3t", "c3t");
  expect_output("c3t ready", ready, "ready\n", false);
  sig.container_id = "c3t";
  sig.exec_id = "";
  OK(veil_agent_signal_process(agent, &sig, err));
  cleanup_free char *c3t_out = read_all("c3t", "c3t", false);
  expect_output("c3t after SIGTERM", c3t_out, "got-term\n", false);
  expect_status("c3t", wait_process("c3t", "c3t"), 42);

  step("c4: stdin round trip through cat (256 KiB, more than the pipes hold)");
  char *c4_args[] = {"cat"};
  create_and_start("c4", c4_args, 1, false, true);
  size_t big_len = 256 * 1024;
  cleanup_free char *big = malloc(big_len + 1);
  if (big == NULL)
    fail("out of memory");
  for (size_t i = 0; i < big_len; i++)
    big[i] = (char)('a' + (i * 7 + i / 4096) % 26);
  big[big_len] = '\0';
  /* cat blocks on its stdout once the pipe is full: read while writing, as the shim does */
  pthread_t reader;
  struct reader_arg ra = {"c4", "c4", NULL};
  if (pthread_create(&reader, NULL, reader_main, &ra) != 0)
    fail("pthread_create");
  OK(veil_agent_write_stdin_all(agent, "c4", "c4", big, big_len, err));
  Grpc__CloseStdinRequest close_stdin = GRPC__CLOSE_STDIN_REQUEST__INIT;
  close_stdin.container_id = "c4";
  close_stdin.exec_id = "c4";
  OK(veil_agent_close_stdin(agent, &close_stdin, err));
  pthread_join(reader, NULL);
  cleanup_free char *out4 = ra.out;
  if (strlen(out4) != big_len || strcmp(out4, big) != 0)
    fail("c4: %zu bytes came back through cat, want the %zu sent", strlen(out4), big_len);
  expect_status("c4", wait_process("c4", "c4"), 0);

  step("c5: terminal");
  char *c5_args[] = {"sh", "-c", "test -t 0 && test -t 1 && echo term-ok"};
  create_and_start("c5", c5_args, 3, true, true);
  Grpc__TtyWinResizeRequest resize = GRPC__TTY_WIN_RESIZE_REQUEST__INIT;
  resize.container_id = "c5";
  resize.exec_id = "c5";
  resize.row = 40;
  resize.column = 120;
  {
    /* the process may already have exited: a NotFound/FailedPrecondition is fine here */
    cleanup_error veil_error_t err = NULL;
    if (veil_agent_tty_win_resize(agent, &resize, &err) < 0)
      printf("TtyWinResize: %s (process gone, ignored)\n", err->msg);
  }
  cleanup_free char *out5 = read_all("c5", "c5", false);
  /* the pty's line discipline turns \n into \r\n: proof the output went through a terminal */
  expect_output("c5 terminal output", out5, "term-ok\r\n", true);
  expect_status("c5", wait_process("c5", "c5"), 0);

  step("c6: vsock loopback inside the guest");
  char *c6_args[] = {"veil-vsock-check", "vsock://1:1024"};
  create_and_start("c6", c6_args, 2, false, true);
  cleanup_free char *out6 = read_all("c6", "c6", false);
  cleanup_free char *err6 = read_all("c6", "c6", true);
  int st6 = wait_process("c6", "c6");
  if (strcmp(out6, "SERVING\n") != 0 || st6 != 0)
    fail("in-guest vsock Check: stdout \"%s\", stderr \"%s\", status %d; want SERVING", out6,
         err6, st6);

  for (size_t i = 0; i < n_oci; i++) {
    char what[64];
    snprintf(what, sizeof(what), "%s: a spec with ociVersion %s", oci_cids[i], oci_versions[i]);
    step(what);
    char *args[] = {"echo", (char *)oci_versions[i]};
    create_and_start_version(oci_cids[i], args, 2, false, true, oci_versions[i]);
    cleanup_free char *out = read_all(oci_cids[i], oci_cids[i], false);
    char want[32];
    snprintf(want, sizeof(want), "%s\n", oci_versions[i]);
    expect_output(what, out, want, false);
    expect_status(what, wait_process(oci_cids[i], oci_cids[i]), 0);
  }

  step("RemoveContainer");
  for (size_t i = 0; i < 5; i++)
    remove_container(cids[i]);
  remove_container("c6");
  for (size_t i = 0; i < n_oci; i++)
    remove_container(oci_cids[i]);

  step("DestroySandbox: the guest powers off");
  Grpc__DestroySandboxRequest destroy = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
  {
    /* the agent may power off before its reply leaves the channel */
    cleanup_error veil_error_t err = NULL;
    if (veil_agent_destroy_sandbox(agent, &destroy, &err) < 0 &&
        veil_error_grpc_code(err) != VEIL_GRPC_UNAVAILABLE)
      fail("DestroySandbox: %s", err->msg);
  }
  for (int i = 0; i < 600 && qemu_pid > 0; i++) {
    int status;
    if (waitpid(qemu_pid, &status, WNOHANG) == qemu_pid) {
      qemu_pid = -1;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("QEMU ended with status 0x%x after DestroySandbox", status);
      break;
    }
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
  }
  if (qemu_pid > 0)
    fail("QEMU still running 60 s after DestroySandbox");
  step("QEMU exited");
  cleanup();
  printf("PASS\n");
  return 0;
}
