/* A worker pool that grows on demand: a job submitted while every worker is
 * busy starts a new worker (up to max), so a blocking handler never delays
 * another. Workers idle for a while exit, keeping a few warm. */
#ifndef VEIL_TTRPC_POOL_H
#define VEIL_TTRPC_POOL_H

#include "common/error.h"

typedef struct ttrpc_pool ttrpc_pool;
typedef void (*ttrpc_job_fn)(void *arg);

ttrpc_pool *ttrpc_pool_new(unsigned max_workers, veil_error_t *err);
/* Queue a job. Fails only when no worker exists and none can be started. */
int ttrpc_pool_submit(ttrpc_pool *p, ttrpc_job_fn fn, void *arg, veil_error_t *err);
/* Run fn on a worker right away: succeeds only when a worker is idle or one
 * more can be started; the job goes ahead of queued ones. Never blocks. */
int ttrpc_pool_try_submit_now(ttrpc_pool *p, ttrpc_job_fn fn, void *arg);
/* Runs queued jobs to completion, joins all workers, frees the pool. */
void ttrpc_pool_free(ttrpc_pool *p);

#endif
