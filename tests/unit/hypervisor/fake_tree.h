/* Fake host trees for the probe/firmware/channel tests: what cannot exist on this host (TEE
 * sysfs flags, SNP/TDX firmware descriptors, /dev/vhost-vsock) is written as files. */
#ifndef VEIL_TESTS_FAKE_TREE_H
#define VEIL_TESTS_FAKE_TREE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"

static inline char *fake_tree_new(void)
{
  char *d = strdup("/tmp/veil-fake-XXXXXX");
  return d && mkdtemp(d) ? d : NULL;
}

/* Write root/rel (creating parents) with the given content. */
static inline void fake_write(const char *root, const char *rel, const char *content)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", root, rel);
  char *slash = strrchr(path, '/');
  *slash = '\0';
  cleanup_error veil_error_t err = NULL;
  if (veil_mkdir_p(path, 0755, &err) < 0)
    abort();
  *slash = '/';
  if (veil_write_file_atomic(path, content, strlen(content), 0644, &err) < 0)
    abort();
}

static inline void fake_tree_free(char *root)
{
  cleanup_error veil_error_t err = NULL;
  if (root)
    veil_remove_tree(root, &err);
  free(root);
}

/* A firmware descriptor text (QEMU docs/interop/firmware.json) */
static inline char *fake_descriptor(const char *device, const char *file, const char *features)
{
  char *s = NULL;
  if (strcmp(device, "memory") == 0)
    asprintf(&s, "{\"interface-types\":[\"uefi\"],\"mapping\":{\"device\":\"memory\",\"filename\":\"%s\"},"
                 "\"targets\":[{\"architecture\":\"x86_64\",\"machines\":[\"pc-q35-*\"]}],\"features\":[%s]}",
             file, features);
  else
    asprintf(&s, "{\"interface-types\":[\"uefi\"],\"mapping\":{\"device\":\"flash\",\"executable\":"
                 "{\"filename\":\"%s\",\"format\":\"raw\"}},"
                 "\"targets\":[{\"architecture\":\"x86_64\",\"machines\":[\"pc-q35-*\"]}],\"features\":[%s]}",
             file, features);
  return s;
}

#endif
