/* common/remove_tree.c and common/mountinfo.c against real mounts and planted symlinks: the
 * remover never follows a link out of the tree and never enters a mount still in it; the
 * mountinfo reader unescapes mount points and matches whole path components. Runs in a
 * private mount namespace (root), so nothing it mounts is seen outside. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileutil.h"
#include "common/mountinfo.h"

static char base[64];

static void put(const char *rel, const char *content)
{
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", base, rel);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static bool exists(const char *rel)
{
  char p[512];
  struct stat st;
  snprintf(p, sizeof(p), "%s/%s", base, rel);
  return lstat(p, &st) == 0;
}

static void mk(const char *rel)
{
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", base, rel);
  assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state)
{
  (void)state;
  snprintf(base, sizeof(base), "/tmp/veil-fs-safety.XXXXXX");
  assert_non_null(mkdtemp(base));
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "umount -R %s 2>/dev/null; rm -rf %s", base, base);
  return system(cmd) == 0 ? 0 : 0;
}

static void test_remove_tree_keeps_link_targets(void **state)
{
  (void)state;
  mk("outside");
  put("outside/precious", "keep");
  mk("tree");
  mk("tree/d");
  put("tree/d/f", "x");
  char link[512], target[512];
  snprintf(target, sizeof(target), "%s/outside", base);
  snprintf(link, sizeof(link), "%s/tree/d/escape", base);
  assert_int_equal(symlink(target, link), 0);
  snprintf(link, sizeof(link), "%s/tree/top-link", base);
  assert_int_equal(symlink(target, link), 0);
  char tree[512];
  snprintf(tree, sizeof(tree), "%s/tree", base);
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_remove_tree(tree, &err), 0);
  assert_false(exists("tree"));
  assert_true(exists("outside/precious"));
  /* a missing path is fine; a path that is itself a symlink is removed, not followed */
  assert_int_equal(veil_remove_tree(tree, &err), 0);
  snprintf(link, sizeof(link), "%s/link-to-outside", base);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(veil_remove_tree(link, &err), 0);
  assert_false(exists("link-to-outside"));
  assert_true(exists("outside/precious"));
}

static void test_remove_tree_never_enters_a_mount(void **state)
{
  (void)state;
  mk("volume");
  put("volume/data", "keep");
  mk("tree");
  mk("tree/bind");
  char src[512], dst[512], tree[512];
  snprintf(src, sizeof(src), "%s/volume", base);
  snprintf(dst, sizeof(dst), "%s/tree/bind", base);
  snprintf(tree, sizeof(tree), "%s/tree", base);
  assert_int_equal(mount(src, dst, NULL, MS_BIND, NULL), 0);
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_remove_tree(tree, &err), -1);
  assert_int_equal(err->status, EBUSY);
  assert_non_null(strstr(err->msg, "mount point"));
  assert_true(exists("volume/data"));
  /* the tree itself being a mount point is refused as well */
  veil_error_release(&err);
  assert_int_equal(veil_remove_tree(dst, &err), -1);
  assert_int_equal(err->status, EBUSY);
  assert_true(exists("volume/data"));
  assert_int_equal(umount2(dst, MNT_DETACH), 0);
  veil_error_release(&err);
  assert_int_equal(veil_remove_tree(tree, &err), 0);
  assert_false(exists("tree"));
  assert_true(exists("volume/data"));
}

static void test_mountinfo_parse(void **state)
{
  (void)state;
  const char *text =
      "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "30 22 0:5 / /run/veil/a rw - tmpfs tmpfs rw\n"
      "31 30 0:6 / /run/veil/a/with\\040space rw - tmpfs tmpfs rw\n"
      "32 22 0:7 / /run/veil/ab rw - tmpfs tmpfs rw\n"
      "33 30 0:8 / /run/veil/a/back\\134slash rw - tmpfs tmpfs rw\n"
      "garbage line\n"
      "34 30 0:9 / /run/veil/a/bad\\04x rw - tmpfs tmpfs rw\n"
      "35 30 0:9 / /run/veil/a/no-more-fields";
  cleanup_strv char **v = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_mounts_below_in(text, strlen(text), "/run/veil/a/", &v, &err), 0);
  assert_string_equal(v[0], "/run/veil/a");
  assert_string_equal(v[1], "/run/veil/a/with space");
  assert_string_equal(v[2], "/run/veil/a/back\\slash");
  assert_string_equal(v[3], "/run/veil/a/bad\\04x"); /* not an escape: kept as it is */
  assert_null(v[4]); /* the last line has no field after the mount point */
  veil_cleanup_strvp(&v);
  assert_int_equal(veil_mounts_below_in(text, strlen(text), "/", &v, &err), 0);
  size_t n = 0;
  while (v[n])
    n++;
  assert_int_equal(n, 6);
}

static void test_unmount_below_nested_and_escaped(void **state)
{
  (void)state;
  mk("m");
  mk("m/a b");
  char m[512], ab[512], inner[512];
  snprintf(m, sizeof(m), "%s/m", base);
  snprintf(ab, sizeof(ab), "%s/m/a b", base);
  assert_int_equal(mount("tmpfs", m, "tmpfs", 0, NULL), 0);
  assert_int_equal(mkdir(ab, 0755), 0);
  assert_int_equal(mount("tmpfs", ab, "tmpfs", 0, NULL), 0);
  snprintf(inner, sizeof(inner), "%s/m/a b/in", base);
  assert_int_equal(mkdir(inner, 0755), 0);
  assert_int_equal(mount("tmpfs", inner, "tmpfs", 0, NULL), 0);
  assert_int_equal(mount("tmpfs", inner, "tmpfs", 0, NULL), 0); /* stacked */
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_unmount_below(m, 8, &err), 0);
  cleanup_strv char **v = NULL;
  assert_int_equal(veil_mounts_below(base, &v, &err), 0);
  assert_null(v[0]);
}

int main(void)
{
  if (geteuid() != 0) {
    fprintf(stderr, "test-fs-safety needs root (it mounts)\n");
    return 1;
  }
  /* private mount namespace: what the tests mount stays here */
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    perror("private mount namespace");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_remove_tree_keeps_link_targets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remove_tree_never_enters_a_mount, setup, teardown),
      cmocka_unit_test(test_mountinfo_parse),
      cmocka_unit_test_setup_teardown(test_unmount_below_nested_and_escaped, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
