/* Work inside a network namespace on a dedicated thread (see podnet.h for why a thread). */
#include "podnet/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/errno.h>

#include "common/cleanup.h"

struct ns_job {
  const char *path;      /* NULL: unshare a fresh netns */
  podnet_ns_fn fn;
  void *arg;
  int rc;
  veil_error_t err;
};

static int enter(struct ns_job *j)
{
  if (j->path == NULL) {
    if (unshare(CLONE_NEWNET) < 0)
      return veil_error_errno(&j->err, "create a network namespace (unshare)");
    return 0;
  }
  if (j->path[0] != '/')
    return veil_error_make(&j->err, EINVAL, "network namespace path `%s` is not absolute", j->path);
  cleanup_close int fd = open(j->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return veil_error_make(&j->err, ENOENT, "network namespace `%s` does not exist (was the pod's netns "
                           "deleted, or CNI not run?)", j->path);
  if (fd < 0)
    return veil_error_errno(&j->err, "open network namespace `%s`", j->path);
  if (setns(fd, CLONE_NEWNET) < 0) {
    if (errno == EINVAL)
      return veil_error_make(&j->err, EINVAL, "`%s` is not a network namespace", j->path);
    return veil_error_errno(&j->err, "enter network namespace `%s`", j->path);
  }
  return 0;
}

static void *ns_thread(void *p)
{
  struct ns_job *j = p;
  j->rc = -1;
  if (enter(j) < 0)
    return NULL;
  struct nl_sock *sk = nl_socket_alloc();
  if (sk == NULL) {
    veil_error_make(&j->err, ENOMEM, "out of memory");
    return NULL;
  }
  int r = nl_connect(sk, NETLINK_ROUTE);  /* the socket belongs to this thread's netns for good */
  if (r < 0) {
    podnet_nl_error(&j->err, r, "rtnetlink socket");
  } else {
    j->rc = j->fn(sk, j->arg, &j->err);
    if (j->rc < 0 && j->err == NULL)
      veil_error_make(&j->err, EIO, "network namespace operation failed");
  }
  nl_socket_free(sk);
  return NULL;  /* the thread ends here: its netns reference goes with it */
}

static int run(struct ns_job *j, veil_error_t *err)
{
  pthread_t t;
  int r = pthread_create(&t, NULL, ns_thread, j);
  if (r != 0)
    return veil_error_make(err, r, "start network namespace thread: %s", strerror(r));
  pthread_join(t, NULL);
  if (j->rc < 0) {
    veil_error_release(err);
    *err = steal_pointer(&j->err);
    return -1;
  }
  return j->rc;
}

int podnet_in_netns(const char *netns_path, podnet_ns_fn fn, void *arg, veil_error_t *err)
{
  if (netns_path == NULL || netns_path[0] == '\0')
    return veil_error_make(err, EINVAL, "no network namespace path");
  struct ns_job j = { .path = netns_path, .fn = fn, .arg = arg };
  return run(&j, err);
}

int podnet_in_new_netns(podnet_ns_fn fn, void *arg, veil_error_t *err)
{
  struct ns_job j = { .fn = fn, .arg = arg };
  return run(&j, err);
}

int podnet_nl_errno(int nlerr)
{
  switch (nlerr < 0 ? -nlerr : nlerr) {
  case NLE_EXIST: return EEXIST;
  case NLE_OBJ_NOTFOUND: return ENOENT;
  case NLE_NODEV: return ENODEV;
  case NLE_PERM: return EPERM;
  case NLE_NOACCESS: return EACCES;
  case NLE_BUSY: return EBUSY;
  case NLE_NOMEM: return ENOMEM;
  case NLE_INVAL: return EINVAL;
  case NLE_RANGE: return ERANGE;
  case NLE_OPNOTSUPP: return EOPNOTSUPP;
  case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
  case NLE_AGAIN: return EAGAIN;
  case NLE_MSGSIZE: return EMSGSIZE;
  default: return EIO;
  }
}

int podnet_nl_error(veil_error_t *err, int nlerr, const char *fmt, ...)
{
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  return veil_error_make(err, podnet_nl_errno(nlerr), "%s: %s", what, nl_geterror(nlerr));
}
