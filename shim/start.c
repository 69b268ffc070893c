/* `start`: create (or find) the pod's shim server and print its address.
 *
 * containerd reads stdout+stderr together, so nothing but the address is printed, and the
 * forked server gets /dev/null for stdio (else containerd would wait for EOF forever). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "shim/address.h"
#include "shim/bundle.h"
#include "shim/commands.h"
#include "shim/options.h"
#include "ttrpc/ttrpc.h"

#define START_STDIN_MAX (1u << 20)

/* Is someone serving at this unix socket path? */
static int socket_alive(const char *path)
{
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
    return 0;
  strcpy(sa.sun_path, path);
  return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
}

static int write_bundle_file(const char *name, const char *content, veil_error_t *err)
{
  return veil_write_file_atomic(name, content, strlen(content), 0644, err);
}

static int fork_server(const struct shim_args *args, int listen_fd, const char *config_path,
                       pid_t *out_pid, veil_error_t *err)
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
    if (config_path)
      setenv("VEIL_OPTIONS_CONFIG_PATH", config_path, 1);
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

int shim_cmd_start(const struct shim_args *args)
{
  cleanup_error veil_error_t err = NULL;
  cleanup_free char *stdin_buf = NULL;
  cleanup_free char *config_path = NULL;
  size_t stdin_len = 0;
  char address[512];
  cleanup_close int listen_fd = -1;

  if (veil_read_fd_all(0, START_STDIN_MAX, &stdin_buf, &stdin_len, &err) < 0)
    goto fail;
  if (shim_options_from_start_stdin((const uint8_t *)stdin_buf, stdin_len, args->id,
                                    args->namespace_, &config_path, &err) < 0)
    goto fail;

  char cwd[PATH_MAX];
  const char *bundle = args->bundle;
  if (bundle == NULL) {
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
      veil_error_errno(&err, "getcwd");
      goto fail;
    }
    bundle = cwd;
  }
  json_t *spec = shim_bundle_load_spec(bundle, &err);
  if (spec == NULL)
    goto fail;
  const char *ctype = shim_spec_annotation(spec, ANNOT_CONTAINER_TYPE);
  const char *sandbox_id = shim_spec_annotation(spec, ANNOT_SANDBOX_ID);
  /* A CRI app container joins its pod's shim: one shim and one VM per pod. */
  const char *group = args->id;
  bool join = ctype && strcmp(ctype, "container") == 0 && sandbox_id && sandbox_id[0];
  if (join)
    group = sandbox_id;
  int r = shim_socket_address(args->address, args->namespace_, group, NULL, address,
                              sizeof(address), &err);
  json_decref(spec);
  if (r < 0)
    goto fail;
  const char *path = shim_address_path(address);

  if (join || socket_alive(path)) {
    if (!socket_alive(path)) {
      veil_error_make(&err, ENOENT, "the shim of sandbox %s is not running at %s", group, path);
      goto fail;
    }
    if (write_bundle_file("address", address, &err) < 0)
      goto fail;
    printf("%s", address);
    return 0;
  }

  unlink(path); /* a stale socket of a dead shim */
  if (veil_mkdir_p(SHIM_SOCKET_DIR, 0700, &err) < 0)
    goto fail;
  listen_fd = ttrpc_listen_unix(path, &err);
  if (listen_fd < 0)
    goto fail;
  pid_t pid = -1;
  if (fork_server(args, listen_fd, config_path, &pid, &err) < 0) {
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
