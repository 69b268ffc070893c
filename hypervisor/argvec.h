/* A growable NULL-terminated vector of heap strings (QEMU argv, lists of reasons). */
#ifndef VEIL_HYPERVISOR_ARGVEC_H
#define VEIL_HYPERVISOR_ARGVEC_H

#include <stddef.h>

#include "common/error.h"

struct veil_argvec {
  char **v;   /* NULL-terminated; NULL until the first push */
  size_t n;
  size_t cap;
  int failed; /* an allocation failed: every later push is a no-op */
};

void veil_argvec_push(struct veil_argvec *a, const char *s);
void veil_argvec_pushf(struct veil_argvec *a, const char *fmt, ...) VEIL_PRINTF(2, 3);
/* Pass the vector out (or fail with ENOMEM if an allocation failed). */
int veil_argvec_finish(struct veil_argvec *a, char ***out, veil_error_t *err);
void veil_argvec_clear(struct veil_argvec *a);
/* Join with sep into a new string (NULL on ENOMEM). */
char *veil_strv_join(char *const *v, const char *sep);
size_t veil_strv_len(char *const *v);

#endif
