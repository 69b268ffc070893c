/* Helpers shared by the measurement unit tests: the shared test-data dir, a scratch dir,
 * and regenerating inputs with the Python generators in testdata/measure/. */
#ifndef VEIL_TESTS_MEASURE_TESTUTIL_H
#define VEIL_TESTS_MEASURE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"

#define MEASURE_PYTHON "/usr/bin/python3"
#define DEBIAN_OVMF "/usr/share/ovmf/OVMF.fd"

/* testdata/measure in the shared dir: $VEIL_SHARED_DIR, else ../shared next to the source root. */
static inline const char *measure_data_dir(void)
{
  static char dir[2048];
  const char *shared = getenv("VEIL_SHARED_DIR");
  const char *src = getenv("VEIL_SOURCE_ROOT");
  if (shared && *shared)
    snprintf(dir, sizeof(dir), "%s/testdata/measure", shared);
  else
    snprintf(dir, sizeof(dir), "%s/../shared/testdata/measure", src ? src : ".");
  return dir;
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

/* Run a generator script of testdata/measure with extra arguments. */
static inline int measure_gen(const char *script, const char *const *args)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", measure_data_dir(), script);
  char *argv[24] = { (char *)MEASURE_PYTHON, path };
  size_t n = 2;
  for (; args[n - 2] && n < 23; n++)
    argv[n] = (char *)args[n - 2];
  argv[n] = NULL;
  return measure_run(argv);
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
