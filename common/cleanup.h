/* veil's one cleanup idiom: scope-bound resources via __attribute__((cleanup)).
 * Ownership leaves a scope through steal_pointer()/steal_fd(). */
#ifndef VEIL_COMMON_CLEANUP_H
#define VEIL_COMMON_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void veil_cleanup_freep(void *p)
{
  void **pp = (void **)p;
  free(*pp);
  *pp = NULL;
}
static inline void veil_cleanup_closep(int *fd)
{
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
    *fd = -1;
  }
}
static inline void veil_cleanup_filep(FILE **f)
{
  if (*f) {
    fclose(*f);
    *f = NULL;
  }
}
static inline void veil_cleanup_dirp(DIR **d)
{
  if (*d) {
    closedir(*d);
    *d = NULL;
  }
}
/* A child process that must not outlive the scope: SIGKILL + reap. */
static inline void veil_cleanup_pidp(pid_t *pid)
{
  if (*pid > 0) {
    int saved = errno, status;
    kill(*pid, SIGKILL);
    while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
      ;
    errno = saved;
    *pid = -1;
  }
}
/* A NULL-terminated array of heap strings. */
static inline void veil_cleanup_strvp(char ***v)
{
  if (*v) {
    for (char **s = *v; *s; s++)
      free(*s);
    free(*v);
    *v = NULL;
  }
}

#define cleanup_free __attribute__((cleanup(veil_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(veil_cleanup_closep)))
#define cleanup_file __attribute__((cleanup(veil_cleanup_filep)))
#define cleanup_dir __attribute__((cleanup(veil_cleanup_dirp)))
#define cleanup_pid __attribute__((cleanup(veil_cleanup_pidp)))
#define cleanup_strv __attribute__((cleanup(veil_cleanup_strvp)))

/* Define a cleanup helper for a type with its own free function, e.g.
 * VEIL_DEFINE_CLEANUP(json_t, json_decref) then `cleanup(json_t) json_t *j`. */
#define VEIL_DEFINE_CLEANUP(type, fn)                                        \
  static inline void veil_cleanup_##fn(type **p)                            \
  {                                                                          \
    if (*p) {                                                                \
      fn(*p);                                                                \
      *p = NULL;                                                             \
    }                                                                        \
  }
#define cleanup_with(fn) __attribute__((cleanup(veil_cleanup_##fn)))

static inline void *veil_steal_pointer(void *pp)
{
  void **p = (void **)pp;
  void *v = *p;
  *p = NULL;
  return v;
}
#define steal_pointer(pp) veil_steal_pointer(pp)

static inline int steal_fd(int *fd)
{
  int v = *fd;
  *fd = -1;
  return v;
}
static inline pid_t steal_pid(pid_t *pid)
{
  pid_t v = *pid;
  *pid = -1;
  return v;
}

#endif
