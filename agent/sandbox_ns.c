/* The pod's shared IPC and UTS namespaces. A child process unshares them and waits; the agent
 * bind-mounts the child's /proc/<pid>/ns files, which keeps the namespaces alive after the
 * child exits. */
#include "agent/sandbox_ns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"

/* Runs in the forked child of a threaded process: system calls only. */
_Noreturn static void holder(int ready_fd, int release_fd, const char *hostname)
{
  char ok = 1;
  if (unshare(CLONE_NEWIPC | CLONE_NEWUTS) < 0 ||
      (hostname && hostname[0] && sethostname(hostname, strlen(hostname)) < 0))
    ok = 0;
  if (write(ready_fd, &ok, 1) != 1)
    _exit(1);
  char c;
  while (read(release_fd, &c, 1) < 0 && errno == EINTR)
    ;
  _exit(0);
}

static int bind_ns(pid_t pid, const char *type, const char *dir, char **out, veil_error_t *err)
{
  cleanup_free char *target = NULL;
  if (asprintf(&target, "%s/%s", dir, type) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return veil_error_errno(err, "create %s", target);
  close(fd);
  char source[64];
  snprintf(source, sizeof(source), "/proc/%d/ns/%s", (int)pid, type);
  if (mount(source, target, NULL, MS_BIND, NULL) < 0) {
    int saved = errno;
    unlink(target);
    errno = saved;
    return veil_error_errno(err, "bind %s on %s", source, target);
  }
  *out = steal_pointer(&target);
  return 0;
}

int agent_sandbox_ns_create(const char *sandbox_dir, const char *hostname,
                            struct agent_sandbox_ns *out, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  cleanup_free char *dir = NULL;
  if (asprintf(&dir, "%s/ns", sandbox_dir) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (veil_mkdir_p(dir, 0700, err) < 0)
    return veil_error_wrap(err, "the pod's namespace dir");
  int ready[2], release[2];
  if (pipe2(ready, O_CLOEXEC) < 0)
    return veil_error_errno(err, "pipe");
  if (pipe2(release, O_CLOEXEC) < 0) {
    close(ready[0]);
    close(ready[1]);
    return veil_error_errno(err, "pipe");
  }
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(ready[0]), close(ready[1]), close(release[0]), close(release[1]);
    errno = saved;
    return veil_error_errno(err, "fork the namespace holder");
  }
  if (pid == 0) {
    /* the child must not hold the ends it waits on, or it never sees EOF */
    close(ready[0]);
    close(release[1]);
    holder(ready[1], release[0], hostname);
  }
  close(ready[1]);
  close(release[0]);
  char ok = 0;
  ssize_t n;
  while ((n = read(ready[0], &ok, 1)) < 0 && errno == EINTR)
    ;
  close(ready[0]);
  int rc = 0;
  if (n != 1 || !ok)
    rc = veil_error_make(err, EPERM, "the namespace holder could not unshare IPC/UTS or set the "
                                     "hostname `%s`", hostname ? hostname : "");
  else if (bind_ns(pid, "ipc", dir, &out->ipc, err) < 0 || bind_ns(pid, "uts", dir, &out->uts, err) < 0)
    rc = -1;
  close(release[1]); /* the holder exits; the bind mounts keep the namespaces */
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  if (rc < 0) {
    agent_sandbox_ns_release(out);
    return veil_error_wrap(err, "the pod's shared namespaces");
  }
  return 0;
}

static void release_one(char **path)
{
  if (*path) {
    umount2(*path, MNT_DETACH);
    unlink(*path);
    free(*path);
    *path = NULL;
  }
}

void agent_sandbox_ns_release(struct agent_sandbox_ns *ns)
{
  release_one(&ns->ipc);
  release_one(&ns->uts);
}

int agent_sandbox_ns_join(const struct agent_sandbox_ns *ns, json_t *config, veil_error_t *err)
{
  json_t *list = json_object_get(json_object_get(config, "linux"), "namespaces");
  if (!ns->ipc || !json_is_array(list))
    return 0;
  size_t i;
  json_t *entry;
  json_array_foreach(list, i, entry) {
    const char *type = json_string_value(json_object_get(entry, "type"));
    const char *path = type && strcmp(type, "ipc") == 0   ? ns->ipc
                       : type && strcmp(type, "uts") == 0 ? ns->uts
                                                          : NULL;
    if (path && json_object_set_new(entry, "path", json_string(path)) < 0)
      return veil_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}
