/* Sandbox-wide RPCs: CreateSandbox, DestroySandbox, SetGuestDateTime, GetGuestDetails. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/ops.h"
#include "agent/storage.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

static const char *storage_handlers[] = { "9p", "virtio-fs", "blk", "ephemeral", "local" };

static void unmount_all(char **mounts, size_t n)
{
  while (n > 0) {
    agent_storage_unmount(mounts[--n]);
    free(mounts[n]);
  }
  free(mounts);
}

int agent_create_sandbox(struct agent *a, const Grpc__CreateSandboxRequest *r, veil_error_t *err)
{
  /* Bad input is refused before anything is mounted or written. */
  if (agent_check_hostname(r->hostname, err) < 0 || agent_check_dns(r->dns, r->n_dns, err) < 0)
    return -1;
  pthread_mutex_lock(&a->ops_lock);
  int rc = -1;
  if (a->sandbox_created) {
    veil_error_grpc(err, VEIL_GRPC_ALREADY_EXISTS, "the sandbox was already created");
    goto out;
  }
  if (r->n_storages > 64) {
    veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "too many sandbox storages");
    goto out;
  }
  char **mounts = calloc(r->n_storages + 1, sizeof(char *));
  size_t n = 0;
  if (!mounts) {
    veil_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < r->n_storages; i++) {
    char *m = NULL;
    if (agent_storage_mount(r->storages[i], a->cfg.mount_storages, &m, err) < 0) {
      veil_error_wrap(err, "create sandbox");
      unmount_all(mounts, n);
      goto out;
    }
    if (m)
      mounts[n++] = m;
  }
  /* The guest's own files: the fallback for containers without the pod's bind mounts,
   * and what the guest's resolver uses. */
  if (agent_apply_hostname(a, r->hostname, err) < 0 ||
      agent_apply_dns(a, r->dns, r->n_dns, err) < 0) {
    unmount_all(mounts, n);
    goto out;
  }
  struct agent_sandbox_ns ns = { 0 };
  if (a->cfg.sandbox_dir &&
      agent_sandbox_ns_create(a->cfg.sandbox_dir, r->hostname, &ns, err) < 0) {
    veil_error_wrap(err, "create sandbox");
    unmount_all(mounts, n);
    goto out;
  }
  for (size_t i = 0; i < r->n_kernel_modules; i++)
    log_warn("CreateSandbox: kernel module %s not loaded (veil-agent loads only the guest "
             "image's module list)", r->kernel_modules[i]->name);
  pthread_mutex_lock(&a->lock);
  a->sandbox_created = true;
  free(a->sandbox_id);
  a->sandbox_id = r->sandbox_id ? strdup(r->sandbox_id) : NULL;
  a->sandbox_mounts = mounts;
  a->n_sandbox_mounts = n;
  a->sandbox_ns = ns;
  pthread_mutex_unlock(&a->lock);
  log_info("sandbox created id=%s storages=%zu hostname=%s dns=%zu",
           r->sandbox_id ? r->sandbox_id : "", n, r->hostname ? r->hostname : "", r->n_dns);
  rc = 0;
out:
  pthread_mutex_unlock(&a->ops_lock);
  return rc;
}

int agent_destroy_sandbox(struct agent *a, veil_error_t *err)
{
  (void)err;
  agent_remove_all_containers(a);
  pthread_mutex_lock(&a->ops_lock);
  for (size_t i = a->n_sandbox_mounts; i-- > 0;) {
    agent_storage_unmount(a->sandbox_mounts[i]);
    free(a->sandbox_mounts[i]);
  }
  free(a->sandbox_mounts);
  a->sandbox_mounts = NULL;
  a->n_sandbox_mounts = 0;
  pthread_mutex_lock(&a->lock);
  agent_sandbox_ns_release(&a->sandbox_ns);
  pthread_mutex_unlock(&a->lock);
  a->sandbox_created = false;
  a->shutdown_requested = true;
  pthread_mutex_unlock(&a->ops_lock);
  log_info("sandbox destroyed");
  if (a->on_shutdown)
    a->on_shutdown(a);
  return 0;
}

int agent_set_time(struct agent *a, int64_t sec, int64_t usec, veil_error_t *err)
{
  if (sec < 0 || usec < 0 || usec >= 1000000)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "bad time %lld.%06lld",
                           (long long)sec, (long long)usec);
  if (!a->cfg.pid1) {
    /* Not the guest's init: the clock belongs to whoever runs us. */
    log_info("SetGuestDateTime ignored (not running as PID 1)");
    return 0;
  }
  struct timeval tv = { .tv_sec = (time_t)sec, .tv_usec = (suseconds_t)usec };
  if (settimeofday(&tv, NULL) < 0)
    return veil_error_errno(err, "settimeofday");
  return 0;
}

int agent_guest_details(struct agent *a, const Grpc__GuestDetailsRequest *r,
                        Grpc__GuestDetailsResponse *resp, Grpc__AgentDetails *d, veil_error_t *err)
{
  (void)err;
  grpc__guest_details_response__init(resp);
  grpc__agent_details__init(d);
  resp->agent_details = d;
  if (r->mem_block_size) {
    cleanup_free char *s = NULL;
    size_t len;
    veil_error_t e = NULL;
    if (veil_read_file("/sys/devices/system/memory/block_size_bytes", 64, &s, &len, &e) == 0)
      resp->mem_block_size_bytes = strtoull(s, NULL, 16);
    veil_error_release(&e);
  }
  if (r->mem_hotplug_probe)
    resp->support_mem_hotplug_probe = access("/sys/devices/system/memory/probe", F_OK) == 0;
  d->version = (char *)AGENT_VERSION;
  d->init_daemon = a->cfg.pid1;
  d->n_storage_handlers = sizeof(storage_handlers) / sizeof(storage_handlers[0]);
  d->storage_handlers = (char **)storage_handlers;
  /* linux.seccomp is passed to crun/runc, which apply it (both built with libseccomp). */
  d->supports_seccomp = true;
  pthread_mutex_lock(&a->lock);
  if (a->initdata_digest) {
    d->extra_features = calloc(1, sizeof(char *));
    if (d->extra_features && (d->extra_features[0] = strdup(a->initdata_digest)))
      d->n_extra_features = 1;
  }
  pthread_mutex_unlock(&a->lock);
  return 0;
}

void agent_guest_details_free(Grpc__GuestDetailsResponse *resp, Grpc__AgentDetails *d)
{
  (void)resp;
  for (size_t i = 0; i < d->n_extra_features; i++)
    free(d->extra_features[i]);
  free(d->extra_features);
}
