/* The agent's child reaper (reaper.h). */
#include "agent/reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define REAPER_SLOTS 4096
#define REAPER_UNCLAIMED 256

enum slot_kind { SLOT_FREE, SLOT_SPAWNED, SLOT_ADOPTED };

struct slot {
  pid_t pid;
  enum slot_kind kind;
  bool exited;
  int status;
};

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;       /* a spawned child exited */
  pthread_cond_t have_child; /* a child was spawned: the reaper may wait again */
  struct slot slots[REAPER_SLOTS];
  struct { pid_t pid; int status; } unclaimed[REAPER_UNCLAIMED];
  unsigned unclaimed_next;
  reaper_exit_fn on_exit;
  void *user;
  pthread_t thread;
  bool running;
  volatile bool stop;
} R = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
        .have_child = PTHREAD_COND_INITIALIZER };

static struct slot *find_slot(pid_t pid)
{
  for (size_t i = 0; i < REAPER_SLOTS; i++)
    if (R.slots[i].kind != SLOT_FREE && R.slots[i].pid == pid)
      return &R.slots[i];
  return NULL;
}

static struct slot *new_slot(pid_t pid, enum slot_kind kind)
{
  for (size_t i = 0; i < REAPER_SLOTS; i++)
    if (R.slots[i].kind == SLOT_FREE) {
      R.slots[i] = (struct slot){ .pid = pid, .kind = kind };
      return &R.slots[i];
    }
  return NULL;
}

int reaper_exit_code(int st)
{
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  return 255;
}

static void *reaper_main(void *arg)
{
  (void)arg;
  while (!R.stop) {
    int st;
    pid_t pid = waitpid(-1, &st, 0);
    if (pid < 0) {
      if (errno == EINTR)
        continue;
      /* ECHILD: nothing to wait for until the next spawn (or a short while). */
      pthread_mutex_lock(&R.lock);
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 100 * 1000 * 1000;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait(&R.have_child, &R.lock, &ts);
      pthread_mutex_unlock(&R.lock);
      continue;
    }
    pthread_mutex_lock(&R.lock);
    struct slot *s = find_slot(pid);
    bool notify = false;
    if (s && s->kind == SLOT_SPAWNED) {
      s->exited = true;
      s->status = st;
      pthread_cond_broadcast(&R.cond);
    } else if (s && s->kind == SLOT_ADOPTED) {
      s->kind = SLOT_FREE;
      notify = true;
    } else {
      /* Not (yet) known: remember it in case a pid file names it later. */
      R.unclaimed[R.unclaimed_next % REAPER_UNCLAIMED].pid = pid;
      R.unclaimed[R.unclaimed_next % REAPER_UNCLAIMED].status = st;
      R.unclaimed_next++;
    }
    reaper_exit_fn fn = R.on_exit;
    void *user = R.user;
    pthread_mutex_unlock(&R.lock);
    if (notify && fn)
      fn(user, pid, st);
    else if (!s)
      log_debug("reaped orphan pid=%d status=%d", (int)pid, st);
  }
  return NULL;
}

int reaper_start(reaper_exit_fn on_adopted_exit, void *user, veil_error_t *err)
{
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
    return veil_error_errno(err, "prctl(PR_SET_CHILD_SUBREAPER)");
  R.on_exit = on_adopted_exit;
  R.user = user;
  R.stop = false;
  int rc = pthread_create(&R.thread, NULL, reaper_main, NULL);
  if (rc != 0)
    return veil_error_make(err, rc, "start the reaper thread");
  R.running = true;
  return 0;
}

void reaper_stop(void)
{
  /* The thread may be blocked in waitpid(); it is detached and dies with the process. */
  R.stop = true;
  if (R.running)
    pthread_detach(R.thread);
  R.running = false;
}

pid_t reaper_spawn(char *const argv[], int in_fd, int out_fd, int err_fd, veil_error_t *err)
{
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0)
    return veil_error_errno(err, "open /dev/null");
  pthread_mutex_lock(&R.lock);
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int fds[3] = { in_fd >= 0 ? in_fd : null_fd, out_fd >= 0 ? out_fd : null_fd,
                   err_fd >= 0 ? err_fd : null_fd };
    /* Move the sources above 2 first so that dup2 cannot clobber one with another. */
    for (int i = 0; i < 3; i++)
      if (fds[i] <= 2)
        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
    for (int i = 0; i < 3; i++)
      if (dup2(fds[i], i) < 0)
        _exit(127);
    execv(argv[0], argv);
    _exit(127);
  }
  int saved = errno;
  if (pid > 0) {
    if (!new_slot(pid, SLOT_SPAWNED))
      log_warn("reaper: slot table full, pid=%d untracked", (int)pid);
    pthread_cond_broadcast(&R.have_child);
  }
  pthread_mutex_unlock(&R.lock);
  close(null_fd);
  if (pid < 0) {
    errno = saved;
    return veil_error_errno(err, "fork for %s", argv[0]);
  }
  return pid;
}

int reaper_wait(pid_t pid, int *wait_status, veil_error_t *err)
{
  pthread_mutex_lock(&R.lock);
  struct slot *s = find_slot(pid);
  if (!s || s->kind != SLOT_SPAWNED) {
    pthread_mutex_unlock(&R.lock);
    return veil_error_make(err, ECHILD, "pid %d was not spawned by the agent", (int)pid);
  }
  while (!s->exited)
    pthread_cond_wait(&R.cond, &R.lock);
  *wait_status = s->status;
  s->kind = SLOT_FREE;
  pthread_mutex_unlock(&R.lock);
  return 0;
}

void reaper_adopt(pid_t pid)
{
  pthread_mutex_lock(&R.lock);
  for (unsigned i = 0; i < REAPER_UNCLAIMED; i++)
    if (R.unclaimed[i].pid == pid) {
      int st = R.unclaimed[i].status;
      R.unclaimed[i].pid = 0;
      reaper_exit_fn fn = R.on_exit;
      void *user = R.user;
      pthread_mutex_unlock(&R.lock);
      if (fn)
        fn(user, pid, st);
      return;
    }
  if (!find_slot(pid) && !new_slot(pid, SLOT_ADOPTED))
    log_warn("reaper: slot table full, pid=%d untracked", (int)pid);
  pthread_mutex_unlock(&R.lock);
}
