#ifndef VEIL_SHIM_TASK_LIFECYCLE_H
#define VEIL_SHIM_TASK_LIFECYCLE_H
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "shim/shim.h"

int shim_task_create(struct shim *s, const Containerd__Task__V2__CreateTaskRequest *req,
                     uint32_t *pid, veil_error_t *err);
/* ts receives exited_at and is referenced by resp. */
int shim_task_delete(struct shim *s, const char *id, const char *exec_id,
                     Containerd__Task__V2__DeleteResponse *resp, Google__Protobuf__Timestamp *ts,
                     veil_error_t *err);
#endif
