/* The shim server: forked by `start` with the listening socket as fd 3. It serves the Task
 * API (v2 and v3) and containerd 2.x's Sandbox API on it. Logs go to the
 * bundle's `log` fifo (containerd copies it into its own log); it is a child subreaper
 * so guest-side helpers it spawns (QEMU) are reaped here; SIGTERM/SIGINT stop it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "shim/address.h"
#include "shim/commands.h"
#include "shim/events.h"
#include "shim/sandbox_service.h"
#include "shim/shim.h"
#include "shim/state_dir.h"
#include "shim/task_service.h"

struct shim *the_shim;

static void on_stop_signal(int sig)
{
  (void)sig;
  if (the_shim && the_shim->server)
    ttrpc_server_stop(the_shim->server);
}

static void open_log_fifo(void)
{
  /* Non-blocking open fails with ENXIO when containerd is not reading: keep stderr then. */
  int fd = open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return;
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  dup2(fd, 2);
  close(fd);
}

/* The address we listen on, to remove the socket file when we exit. */
static int listener_path(char *out, size_t len)
{
  struct sockaddr_un sa;
  socklen_t sl = sizeof(sa);
  memset(&sa, 0, sizeof(sa));
  if (getsockname(3, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_path[0] == '\0')
    return -1;
  snprintf(out, len, "%s", sa.sun_path);
  return 0;
}

int shim_cmd_serve(const struct shim_args *args)
{
  cleanup_error veil_error_t err = NULL;
  static struct shim shim;
  char sock_path[256] = "";

  open_log_fifo();
  /* Every agent-call thread would otherwise get its own malloc arena (shim RSS). */
  mallopt(M_ARENA_MAX, 2);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_stop_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  shim.args = *args;
  shim_state_set_scope(args->address, args->namespace_);
  pthread_mutex_init(&shim.lock, NULL);
  shim_sandbox_api_init(&shim);
  shim.ttrpc_address = getenv("TTRPC_ADDRESS");
  const char *opt = getenv("VEIL_OPTIONS_CONFIG_PATH");
  shim.options_config_path = opt && opt[0] ? strdup(opt) : NULL;
  the_shim = &shim;
  listener_path(sock_path, sizeof(sock_path));

  if (shim.ttrpc_address == NULL || shim.ttrpc_address[0] == '\0') {
    /* containerd sets TTRPC_ADDRESS; derive it as containerd does if it did not */
    static char derived[PATH_MAX];
    snprintf(derived, sizeof(derived), "%s.ttrpc", args->address);
    shim.ttrpc_address = derived;
  }
  if (shim_events_new(shim.ttrpc_address, args->namespace_, &shim.events, &err) < 0)
    goto fail;
  struct ttrpc_server_options so = {.require_same_uid = true};
  shim.server = ttrpc_server_new(&so, &err);
  if (shim.server == NULL || shim_task_service_register(&shim, shim.server, &err) < 0 ||
      shim_sandbox_service_register(&shim, shim.server, &err) < 0 ||
      ttrpc_server_add_listener(shim.server, 3, &err) < 0)
    goto fail;
  log_info("shim %s serving in namespace %s (pid %d)", args->id, args->namespace_,
           (int)getpid());
  if (ttrpc_server_run(shim.server, &err) < 0)
    goto fail;

  log_info("shim %s exiting", args->id);
  shim_sandbox_destroy(&shim);
  shim_sandbox_api_clear(&shim);
  shim_events_flush(shim.events, 3000);
  if (sock_path[0])
    unlink(sock_path);
  return 0;

fail:
  log_error("shim %s: %s", args->id, err ? err->msg : "unknown error");
  shim_sandbox_destroy(&shim);
  if (sock_path[0])
    unlink(sock_path);
  return 1;
}
