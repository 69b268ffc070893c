/* `start`: create (or find) the pod's shim server and print its address.
 *
 * The answer is the bare `unix://` address, which every containerd from 1.6 to 2.4 accepts
 * (2.3+ first tries to parse a proto BootstrapResult, then falls back to it; a BootstrapResult
 * would be unreadable to a pre-2.3 daemon). containerd reads stdout and stderr together
 * (CombinedOutput), so stderr is /dev/null while `start` runs and a failure is one line on
 * stdout; the forked server gets /dev/null for stdio (else containerd would wait for EOF). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "shim/address.h"
#include "shim/bundle.h"
#include "shim/commands.h"
#include "shim/options.h"
#include "ttrpc/ttrpc.h"

#define START_STDIN_MAX (1u << 20)

static int write_bundle_file(const char *name, const char *content, veil_error_t *err)
{
  return veil_write_file_atomic(name, content, strlen(content), 0644, err);
}

static int fork_server(const struct shim_args *args, int listen_fd,
                       const struct shim_bootstrap *boot, pid_t *out_pid, veil_error_t *err)
{
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n < 0)
    return veil_error_errno(err, "readlink /proc/self/exe");
  self[n] = '\0';

  pid_t pid = fork();
  if (pid < 0)
    return veil_error_errno(err, "fork the shim server");
  if (pid == 0) {
    /* Child: fd 3 = listener, stdio = /dev/null, own session so ctr's signals miss it. */
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
      _exit(127);
    if (listen_fd != 3) {
      if (dup2(listen_fd, 3) < 0)
        _exit(127);
    } else {
      fcntl(3, F_SETFD, 0);
    }
    setsid();
    if (boot->config_path)
      setenv("VEIL_OPTIONS_CONFIG_PATH", boot->config_path, 1);
    /* 2.3+ names its ttrpc socket in BootstrapParams; the env var is the legacy channel. */
    if (boot->ttrpc_address)
      setenv("TTRPC_ADDRESS", boot->ttrpc_address, 1);
    const char *argv[16];
    int a = 0;
    argv[a++] = self;
    argv[a++] = "-namespace";
    argv[a++] = args->namespace_;
    argv[a++] = "-id";
    argv[a++] = args->id;
    argv[a++] = "-address";
    argv[a++] = args->address;
    argv[a++] = "-publish-binary";
    argv[a++] = args->publish_binary;
    if (args->debug)
      argv[a++] = "-debug";
    argv[a] = NULL;
    execv(self, (char *const *)argv);
    _exit(127);
  }
  *out_pid = pid;
  return 0;
}

static void silence_stderr(void)
{
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 2);
    close(null);
  }
}

int shim_cmd_start(const struct shim_args *args)
{
  cleanup_error veil_error_t err = NULL;
  cleanup_free char *stdin_buf = NULL;
  __attribute__((cleanup(shim_bootstrap_clear))) struct shim_bootstrap boot = {0};
  cleanup_free char *group = NULL; /* the shim's id: the pod's for a CRI app container */
  size_t stdin_len = 0;
  char address[512];
  cleanup_close int listen_fd = -1;

  silence_stderr();
  if (veil_read_fd_all(0, START_STDIN_MAX, &stdin_buf, &stdin_len, &err) < 0)
    goto fail;
  if (shim_bootstrap_from_start_stdin((const uint8_t *)stdin_buf, stdin_len, args->id,
                                      args->namespace_, &boot, &err) < 0)
    goto fail;
  const char *socket_dir = boot.socket_dir ? boot.socket_dir : SHIM_SOCKET_DIR;

  char cwd[PATH_MAX];
  const char *bundle = args->bundle;
  if (bundle == NULL) {
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
      veil_error_errno(&err, "getcwd");
      goto fail;
    }
    bundle = cwd;
  }
  /* containerd 2.x's shim sandboxer may start the pod's shim on a bundle without a spec */
  char spec_path[PATH_MAX + 16];
  snprintf(spec_path, sizeof(spec_path), "%s/config.json", bundle);
  json_t *spec = access(spec_path, F_OK) == 0 ? shim_bundle_load_spec(bundle, &err)
                                              : json_object();
  if (spec == NULL)
    goto fail;
  const char *ctype = shim_spec_annotation(spec, ANNOT_CONTAINER_TYPE);
  const char *sandbox_id = shim_spec_annotation(spec, ANNOT_SANDBOX_ID);
  /* A CRI app container joins its pod's shim: one shim and one VM per pod. */
  bool join = ctype && strcmp(ctype, "container") == 0 && sandbox_id && sandbox_id[0];
  group = strdup(join ? sandbox_id : args->id); /* outlives the spec */
  json_decref(spec);
  if (group == NULL) {
    veil_error_make(&err, ENOMEM, "out of memory");
    goto fail;
  }
  if (shim_socket_address(args->address, args->namespace_, group, socket_dir, address,
                          sizeof(address), &err) < 0)
    goto fail;
  const char *path = shim_address_path(address);

  if (join || shim_socket_alive(path)) {
    if (!shim_socket_alive(path)) {
      veil_error_make(&err, ENOENT, "the shim of sandbox %s is not running at %s", group, path);
      goto fail;
    }
    if (write_bundle_file("address", address, &err) < 0)
      goto fail;
    printf("%s", address);
    return 0;
  }

  unlink(path); /* a stale socket of a dead shim */
  if (veil_mkdir_p(socket_dir, 0700, &err) < 0)
    goto fail;
  listen_fd = ttrpc_listen_unix(path, &err);
  if (listen_fd < 0)
    goto fail;
  pid_t pid = -1;
  if (fork_server(args, listen_fd, &boot, &pid, &err) < 0) {
    unlink(path);
    goto fail;
  }
  char pidbuf[32];
  snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
  if (write_bundle_file("shim.pid", pidbuf, &err) < 0 ||
      write_bundle_file("address", address, &err) < 0) {
    kill(pid, SIGKILL);
    unlink(path);
    goto fail;
  }
  printf("%s", address);
  return 0;

fail:
  /* stdout is all containerd shows: say what went wrong there, once. */
  printf("veil shim start %s: %s\n", args->id, err ? err->msg : "unknown error");
  return 1;
}
