/* veil-agent: the guest agent serving grpc.AgentService and grpc.Health over
 * ttrpc (docs/agent.md). As PID 1 it also sets the guest up and powers it off
 * after DestroySandbox; otherwise it runs as a normal service (host tests). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/channel.h"
#include "agent/cmdline.h"
#include "agent/guest_init.h"
#include "agent/ops.h"
#include "agent/reaper.h"
#include "agent/service.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "ttrpc/ttrpc.h"

#define DEFAULT_SERVER_ADDR "vsock://-1:1024"
#define DEFAULT_CHANNEL "agent.channel.0"
#define INITDATA_DIR "/run/confidential-containers/initdata"

static ttrpc_server *g_server;

static void on_signal(int sig)
{
  (void)sig;
  if (g_server)
    ttrpc_server_stop(g_server);
}

static void on_exit_adopted(void *user, pid_t pid, int st)
{
  agent_process_exited(user, pid, st);
}

static void *poweroff_thread(void *arg)
{
  (void)arg;
  /* Let the DestroySandbox reply reach the host first. */
  poll(NULL, 0, 300);
  log_info("powering off");
  guest_power_off();
  return NULL;
}

static void on_shutdown_pid1(struct agent *a)
{
  (void)a;
  pthread_t t;
  if (pthread_create(&t, NULL, poweroff_thread, NULL) == 0)
    pthread_detach(t);
  else
    guest_power_off();
}

static const char *default_runtime(void)
{
  static const char *candidates[] = { "/usr/bin/crun", "/usr/sbin/runc", "/usr/bin/runc",
                                      "/bin/crun", "/sbin/runc" };
  for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
    if (access(candidates[i], X_OK) == 0)
      return candidates[i];
  return candidates[0];
}

static enum veil_log_level parse_level(const char *s)
{
  if (!s)
    return VEIL_LOG_INFO;
  if (strcmp(s, "debug") == 0 || strcmp(s, "trace") == 0)
    return VEIL_LOG_DEBUG;
  if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
    return VEIL_LOG_WARN;
  if (strcmp(s, "error") == 0)
    return VEIL_LOG_ERROR;
  return VEIL_LOG_INFO;
}

static int add_listener(ttrpc_server *s, const char *addr, veil_error_t *err)
{
  int fd = ttrpc_listen(addr, err);  /* vsock://-1:1024 = any CID, as kata-agent */
  if (fd < 0)
    return veil_error_wrap(err, "server address (agent.server_addr / --listen)");
  if (ttrpc_server_add_listener(s, fd, err) < 0)
    return -1;
  log_info("listening on %s", addr);
  return 0;
}

static int run(int argc, char **argv, veil_error_t *err)
{
  struct agent_options o = { 0 };
  bool pid1 = getpid() == 1;
  veil_log_set_component("agent");
  if (pid1) {
    if (guest_init_mounts(err) < 0)
      return -1;
    cleanup_free char *cmdline = NULL;
    size_t len;
    if (veil_read_file("/proc/cmdline", 65536, &cmdline, &len, err) < 0 ||
        agent_options_from_cmdline(&o, cmdline, err) < 0)
      return -1;
  }
  if (agent_options_from_argv(&o, argc, argv, err) < 0) {
    agent_options_free(&o);
    return -1;
  }
  veil_log_set_level(parse_level(o.log_level));
  log_info("veil-agent %s starting pid1=%d", AGENT_VERSION, pid1);
  if (pid1) {
    veil_error_t e = NULL;
    if (guest_load_modules(AGENT_MODULES_LIST, &e) < 0) {
      veil_log_error(VEIL_LOG_ERROR, e, "kernel modules");
      veil_error_release(&e);
    }
    /* As kata-agent does in init mode: the pod's processes expect a working lo. */
    if (agent_loopback_up(&e) < 0) {
      veil_log_error(VEIL_LOG_ERROR, e, "loopback");
      veil_error_release(&e);
    }
  }

  struct agent_config cfg = {
    .runtime = o.runtime ? o.runtime : default_runtime(),
    .state_dir = o.state_dir ? o.state_dir : VEIL_GUEST_CONTAINER_BASE,
    .runtime_root = o.runtime_root ? o.runtime_root : "/run/veil-agent/runtime",
    .copy_root = o.copy_root ? o.copy_root : VEIL_GUEST_COPY_FILE_ROOT,
    .pid1 = pid1,
    .no_pivot = o.no_pivot || (pid1 && guest_root_is_initramfs()),
    .mount_storages = true,
    .resolv_conf = o.resolv_conf ? o.resolv_conf : pid1 ? "/etc/resolv.conf" : NULL,
    .hostname_file = o.hostname_file ? o.hostname_file : pid1 ? "/etc/hostname" : NULL,
    .set_hostname = pid1,
    .sandbox_dir = o.sandbox_dir ? o.sandbox_dir : pid1 ? VEIL_GUEST_SANDBOX_DIR : NULL,
  };
  if (veil_mkdir_p(cfg.state_dir, 0700, err) < 0 || veil_mkdir_p(cfg.runtime_root, 0700, err) < 0)
    return -1;
  static struct agent a;
  agent_init(&a, &cfg, err);
  if (pid1) {
    a.on_shutdown = on_shutdown_pid1;
    veil_error_t e = NULL;
    a.initdata_digest = guest_read_initdata("/dev", INITDATA_DIR, &e);
    if (e) {
      /* A corrupt initdata disk must not go unnoticed: refuse to serve. */
      veil_log_error(VEIL_LOG_ERROR, e, "initdata");
      *err = e;
      return -1;
    }
  }
  log_info("runtime=%s no_pivot=%d state_dir=%s", cfg.runtime, cfg.no_pivot, cfg.state_dir);

  signal(SIGPIPE, SIG_IGN);
  if (reaper_start(on_exit_adopted, &a, err) < 0)
    return -1;
  struct ttrpc_server_options so = { 0 };
  ttrpc_server *s = ttrpc_server_new(&so, err);
  if (!s)
    return -1;
  g_server = s;
  if (agent_service_register(&a, s, err) < 0)
    return -1;
  const char *addr = o.server_addr ? o.server_addr : DEFAULT_SERVER_ADDR;
  if (add_listener(s, addr, err) < 0) {
    if (!pid1)
      return -1;
    /* In the guest the virtio-serial channel may still serve. */
    veil_log_error(VEIL_LOG_WARN, *err, "listener");
    veil_error_release(err);
  }
  const char *channel = o.channel ? o.channel : pid1 ? DEFAULT_CHANNEL : NULL;
  struct agent_channel *ch = NULL;
  if (channel && strcmp(channel, "none") != 0) {
    veil_error_t e = NULL;
    /* As PID 1 the port appears shortly after virtio_console is loaded: retry a while. */
    for (int i = 0; i < (pid1 ? 100 : 1); i++) {
      veil_error_release(&e);
      if ((ch = agent_channel_open(s, "/sys/class/virtio-ports", "/dev", channel, &e)))
        break;
      poll(NULL, 0, 30);
    }
    if (!ch) {
      veil_log_error(VEIL_LOG_WARN, e, "agent channel");
      veil_error_release(&e);
    }
  }
  if (!pid1) {
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
  }
  log_info("ready");
  int rc = ttrpc_server_run(s, err);
  log_info("stopping");
  agent_remove_all_containers(&a);
  g_server = NULL;
  ttrpc_server_free(s);
  agent_channel_free(ch);
  reaper_stop();
  agent_fini(&a);
  agent_options_free(&o);
  return rc;
}

int main(int argc, char **argv)
{
  veil_error_t err = NULL;
  if (run(argc, argv, &err) < 0) {
    veil_log_error(VEIL_LOG_ERROR, err, "veil-agent");
    veil_error_release(&err);
    if (getpid() == 1) {
      /* PID 1 must not exit (kernel panic): power off so the host sees it. */
      guest_power_off();
      for (;;)
        pause();
    }
    return 1;
  }
  return 0;
}
