#include "hypervisor/argvec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

static void push_owned(struct veil_argvec *a, char *s)
{
  if (a->failed || s == NULL) {
    a->failed = 1;
    free(s);
    return;
  }
  if (a->n + 1 >= a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 32;
    char **nv = realloc(a->v, cap * sizeof(*nv));
    if (nv == NULL) {
      a->failed = 1;
      free(s);
      return;
    }
    a->v = nv;
    a->cap = cap;
  }
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
}

void veil_argvec_push(struct veil_argvec *a, const char *s)
{
  push_owned(a, s ? strdup(s) : NULL);
}

void veil_argvec_pushf(struct veil_argvec *a, const char *fmt, ...)
{
  char *s = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  push_owned(a, s);
}

void veil_argvec_clear(struct veil_argvec *a)
{
  for (size_t i = 0; i < a->n; i++)
    free(a->v[i]);
  free(a->v);
  memset(a, 0, sizeof(*a));
}

int veil_argvec_finish(struct veil_argvec *a, char ***out, veil_error_t *err)
{
  if (a->failed) {
    veil_argvec_clear(a);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  if (a->v == NULL) {
    a->v = calloc(1, sizeof(char *));
    if (a->v == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
  }
  *out = a->v;
  memset(a, 0, sizeof(*a));
  return 0;
}

size_t veil_strv_len(char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

char *veil_strv_join(char *const *v, const char *sep)
{
  size_t len = 1, seplen = strlen(sep);
  for (size_t i = 0; v && v[i]; i++)
    len += strlen(v[i]) + seplen;
  char *s = malloc(len), *p = s;
  if (s == NULL)
    return NULL;
  *p = '\0';
  for (size_t i = 0; v && v[i]; i++) {
    if (i > 0)
      p = stpcpy(p, sep);
    p = stpcpy(p, v[i]);
  }
  return s;
}
