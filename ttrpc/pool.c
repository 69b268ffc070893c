/* Worker pool (see pool.h). One mutex, one condition variable, a FIFO of jobs. */
#include "ttrpc/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define POOL_IDLE_EXIT_S 30 /* an idle worker exits after this long ... */
#define POOL_KEEP_WARM 4    /* ... unless only this many are left */
#define WORKER_STACK_SIZE (1024 * 1024) /* handlers are ordinary code: keep room */

struct job {
  struct job *next;
  ttrpc_job_fn fn;
  void *arg;
};

/* A worker that exited; joined outside the lock (so the pool can be freed
 * only once no worker is still running). */
struct worker {
  struct worker *next;
  ttrpc_pool *pool;
  pthread_t thread;
};

struct ttrpc_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;      /* jobs queued or stopping */
  pthread_cond_t exit_cv; /* a worker exited */
  struct job *head, *tail;
  struct job *free_jobs;  /* recycled job nodes */
  struct worker *exited;  /* to be joined */
  unsigned queued;        /* jobs in the FIFO */
  unsigned max, workers, idle;
  bool stopping;
};

static void *worker_main(void *arg)
{
  struct worker *self = arg;
  ttrpc_pool *p = self->pool;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->head == NULL && !p->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += POOL_IDLE_EXIT_S;
      p->idle++;
      int rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
      p->idle--;
      if (rc == ETIMEDOUT && p->head == NULL && p->workers > POOL_KEEP_WARM)
        goto out;
    }
    struct job *j = p->head;
    if (j == NULL)
      break; /* stopping and drained */
    p->head = j->next;
    if (p->head == NULL)
      p->tail = NULL;
    p->queued--;
    ttrpc_job_fn fn = j->fn;
    void *jarg = j->arg;
    j->next = p->free_jobs;
    p->free_jobs = j;
    pthread_mutex_unlock(&p->mu);
    fn(jarg);
    pthread_mutex_lock(&p->mu);
  }
out:
  p->workers--;
  self->next = p->exited;
  p->exited = self;
  pthread_cond_broadcast(&p->exit_cv);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

ttrpc_pool *ttrpc_pool_new(unsigned max_workers, veil_error_t *err)
{
  ttrpc_pool *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    veil_error_make(err, ENOMEM, "allocate worker pool");
    return NULL;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, &ca);
  pthread_cond_init(&p->exit_cv, NULL);
  pthread_condattr_destroy(&ca);
  p->max = max_workers ? max_workers : 1024;
  return p;
}

/* Called with p->mu held. */
static int spawn_worker(ttrpc_pool *p)
{
  struct worker *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return ENOMEM;
  w->pool = p;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, WORKER_STACK_SIZE);
  int rc = pthread_create(&w->thread, &attr, worker_main, w);
  pthread_attr_destroy(&attr);
  if (rc == 0)
    p->workers++;
  else
    free(w);
  return rc;
}

static void join_exited(struct worker *w)
{
  while (w) {
    struct worker *next = w->next;
    pthread_join(w->thread, NULL);
    free(w);
    w = next;
  }
}

/* Find workers for queued jobs: wake idle ones and start at most max_spawn
 * more. p->mu held. Returns the error of a failed thread start, else 0. */
static int wake_for_queue(ttrpc_pool *p, unsigned max_spawn)
{
  int rc = 0;
  unsigned wake = p->queued < p->idle ? p->queued : p->idle;
  for (unsigned i = 0; i < wake; i++)
    pthread_cond_signal(&p->cv);
  for (unsigned i = 0; p->idle + i < p->queued && i < max_spawn && p->workers < p->max; i++)
    if ((rc = spawn_worker(p)) != 0)
      break;
  return rc;
}

int ttrpc_pool_submit(ttrpc_pool *p, ttrpc_job_fn fn, void *arg, veil_error_t *err)
{
  pthread_mutex_lock(&p->mu);
  struct worker *exited = p->exited;
  p->exited = NULL;
  struct job *j = p->free_jobs;
  if (j)
    p->free_jobs = j->next;
  else if ((j = malloc(sizeof(*j))) == NULL) {
    pthread_mutex_unlock(&p->mu);
    join_exited(exited);
    return veil_error_make(err, ENOMEM, "allocate a worker job");
  }
  j->fn = fn;
  j->arg = arg;
  j->next = NULL;
  if (p->tail)
    p->tail->next = j;
  else
    p->head = j;
  p->tail = j;
  p->queued++;
  int rc = wake_for_queue(p, 1);
  if (rc != 0 && p->workers == 0) {
    /* unqueue: nobody could ever run it */
    p->head = p->tail = NULL;
    p->queued = 0;
    j->next = p->free_jobs;
    p->free_jobs = j;
    pthread_mutex_unlock(&p->mu);
    join_exited(exited);
    errno = rc;
    return veil_error_errno(err, "start a worker thread");
  }
  if (rc != 0)
    log_warn("ttrpc: could not start another worker thread (%s); the job waits", strerror(rc));
  pthread_mutex_unlock(&p->mu);
  join_exited(exited);
  return 0;
}


int ttrpc_pool_try_submit_now(ttrpc_pool *p, ttrpc_job_fn fn, void *arg)
{
  pthread_mutex_lock(&p->mu);
  struct worker *exited = p->exited;
  p->exited = NULL;
  int rc = -1;
  if (p->stopping)
    goto out;
  struct job *j = p->free_jobs;
  if (j)
    p->free_jobs = j->next;
  else if ((j = malloc(sizeof(*j))) == NULL)
    goto out;
  /* This job goes first, so it needs an idle worker beyond those the queued
   * jobs will take. */
  if (p->idle <= p->queued && (p->workers >= p->max || spawn_worker(p) != 0)) {
    j->next = p->free_jobs;
    p->free_jobs = j;
    goto out;
  }
  j->fn = fn;
  j->arg = arg;
  j->next = p->head;
  p->head = j;
  if (p->tail == NULL)
    p->tail = j;
  p->queued++;
  pthread_cond_signal(&p->cv);
  rc = 0;
out:
  pthread_mutex_unlock(&p->mu);
  join_exited(exited);
  return rc;
}

void ttrpc_pool_free(ttrpc_pool *p)
{
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  if (p->queued > 0 && p->workers == 0)
    spawn_worker(p); /* lazily queued jobs still run */
  pthread_cond_broadcast(&p->cv);
  while (p->workers > 0)
    pthread_cond_wait(&p->exit_cv, &p->mu);
  struct worker *exited = p->exited;
  p->exited = NULL;
  pthread_mutex_unlock(&p->mu);
  join_exited(exited);
  while (p->free_jobs) {
    struct job *j = p->free_jobs;
    p->free_jobs = j->next;
    free(j);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->exit_cv);
  free(p);
}
