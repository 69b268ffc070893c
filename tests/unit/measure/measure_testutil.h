/* Helpers shared by the measurement unit tests: the vectors in tests/data/measure, a scratch
 * dir, running a program; the inputs themselves come from measure_inputs.h. */
#ifndef VEIL_TESTS_MEASURE_TESTUTIL_H
#define VEIL_TESTS_MEASURE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "measure_inputs.h"

#define MEASURE_PYTHON "/usr/bin/python3"
#define DEBIAN_OVMF "/usr/share/ovmf/OVMF.fd"

/* A file of tests/data/measure (the vectors) in the source tree: static storage. */
static inline const char *measure_data_file(const char *name)
{
  static char path[4096];
  const char *src = getenv("VEIL_SOURCE_ROOT");
  snprintf(path, sizeof(path), "%s/tests/data/measure/%s", src ? src : ".", name);
  return path;
}

/* A fresh scratch directory (removed with measure_rmdir). */
static inline char *measure_tmpdir(void)
{
  char *t = strdup("/tmp/veil-measure-test.XXXXXX");
  if (!t || !mkdtemp(t)) {
    free(t);
    return NULL;
  }
  return t;
}

static inline void measure_rmdir(char *dir)
{
  veil_error_t err = NULL;
  if (dir)
    veil_remove_tree(dir, &err);
  veil_error_release(&err);
  free(dir);
}

/* Run argv (NULL-terminated) and return its exit status, or -1. */
static inline int measure_run(char *const argv[])
{
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0)
    return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Read a whole file into a malloc'd buffer (NULL on error). */
static inline unsigned char *measure_slurp(const char *path, size_t *len)
{
  char *data = NULL;
  veil_error_t err = NULL;
  if (veil_read_file(path, 256u << 20, &data, len, &err) < 0) {
    fprintf(stderr, "read %s: %s\n", path, err->msg);
    veil_error_release(&err);
    return NULL;
  }
  return (unsigned char *)data;
}

#endif
