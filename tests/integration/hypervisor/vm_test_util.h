/* Helpers shared by the VM integration tests: temp run dirs, configs pointing at the build
 * tree's guest image, and "nothing left behind" checks. */
#ifndef VEIL_TESTS_VM_TEST_UTIL_H
#define VEIL_TESTS_VM_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "hypervisor/config.h"

VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)

/* The guest image: <builddir>/guest/{vmlinuz,initrd.img}; VEIL_TEST_KERNEL/VEIL_TEST_INITRD
 * override it (for a kernel without the agent, also set VEIL_TEST_AGENT=0). */
static inline void guest_paths(char *kernel, char *initrd, size_t n)
{
  const char *b = getenv("VEIL_BUILD_ROOT");
  snprintf(kernel, n, "%s", getenv("VEIL_TEST_KERNEL") ? getenv("VEIL_TEST_KERNEL") : "");
  snprintf(initrd, n, "%s", getenv("VEIL_TEST_INITRD") ? getenv("VEIL_TEST_INITRD") : "");
  if (!kernel[0])
    snprintf(kernel, n, "%s/guest/vmlinuz", b ? b : ".");
  if (!initrd[0])
    snprintf(initrd, n, "%s/guest/initrd.img", b ? b : ".");
}

static inline bool agent_expected(void)
{
  const char *a = getenv("VEIL_TEST_AGENT");
  return !(a && strcmp(a, "0") == 0);
}

/* vhost-device-vsock from the setup's cache ($VEIL_VHOST_USER_VSOCK, set by tests/meson.build). */
static inline const char *vhost_user_vsock(void)
{
  const char *p = getenv("VEIL_VHOST_USER_VSOCK");
  return p && p[0] == '/' ? p : "/VEIL_VHOST_USER_VSOCK-is-unset";
}

/* Fails (never skips) when the helper is missing, saying how to get it. */
static inline bool vhost_user_vsock_present(void)
{
  if (access(vhost_user_vsock(), X_OK) == 0)
    return true;
  fprintf(stderr, "vhost-device-vsock missing at %s: run scripts/setup (scripts/fetch-vhost-device-vsock)\n",
          vhost_user_vsock());
  return false;
}

/* A config for profile with the guest image, the run dir base and the vsock helper, with
 * `extra` (a JSON object text, may be NULL) merged over it. */
static inline struct veil_config *test_config(const char *profile, const char *run_base, const char *extra,
                                              veil_error_t *err)
{
  char kernel[1024], initrd[1024];
  guest_paths(kernel, initrd, sizeof(kernel));
  json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "profile", profile, "kernel", kernel, "initrd", initrd,
                        "run_dir", run_base, "vhost_user_vsock_path", vhost_user_vsock());
  json_t *o = extra ? json_loads(extra, 0, NULL) : NULL;
  if (j == NULL || (extra && o == NULL) || (o && json_object_update(j, o) < 0)) {
    json_decref(j);
    json_decref(o);
    veil_error_make(err, EINVAL, "bad test config");
    return NULL;
  }
  json_decref(o);
  cleanup_free char *text = json_dumps(j, 0);
  json_decref(j);
  struct veil_config *c = NULL;
  if (text == NULL || veil_config_parse("test-config", text, strlen(text), &c, err) < 0)
    return NULL;
  return c;
}

static inline bool dir_is_empty(const char *path)
{
  cleanup_dir DIR *d = opendir(path);
  struct dirent *de;
  while (d && (de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      return false;
  return true;
}

/* No child process of ours remains (reaped or not). */
static inline bool no_children(void)
{
  return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static inline bool process_gone(pid_t pid)
{
  return kill(pid, 0) < 0 && errno == ESRCH;
}

/* "CapEff:\t0000..." from /proc/<pid>/status */
static inline unsigned long long proc_caps(pid_t pid, const char *field)
{
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  cleanup_file FILE *f = fopen(path, "re");
  size_t n = strlen(field);
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      return strtoull(line + n + 1, NULL, 16);
  return ~0ULL;
}

/* "Max file size  <soft>  <hard>  bytes" from /proc/<pid>/limits: the soft limit. */
static inline unsigned long long proc_limit(pid_t pid, const char *name)
{
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
  cleanup_file FILE *f = fopen(path, "re");
  size_t n = strlen(name);
  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, name, n) == 0)
      return strtoull(line + n, NULL, 10);
  return 0;
}

#endif
