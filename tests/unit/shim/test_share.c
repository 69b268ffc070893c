/* shim/share.c: the guest-facing share is read-only where the shim creates mount targets,
 * binds show up through the export (rw or ro as asked), targets are never reached through a
 * symlink, and undo + teardown leave nothing. "Writes through the export" stand for what a
 * compromised guest can do through QEMU's 9p/virtio-fs server. Private mount namespace. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include "common/mountinfo.h"
#include "shim/share.h"

static char base[64], state[128], host[128];

static char *at(const char *dir, const char *rel)
{
  static char bufs[4][512];
  static int i;
  char *b = bufs[i++ % 4];
  snprintf(b, 512, "%s/%s", dir, rel);
  return b;
}

static bool exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *content)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static int setup(void **state_)
{
  (void)state_;
  snprintf(base, sizeof(base), "/tmp/veil-share.XXXXXX");
  assert_non_null(mkdtemp(base));
  snprintf(state, sizeof(state), "%s/state", base);
  snprintf(host, sizeof(host), "%s/host", base);
  assert_int_equal(mkdir(state, 0700), 0);
  assert_int_equal(mkdir(host, 0755), 0);
  assert_int_equal(mkdir(at(host, "rootfs"), 0755), 0);
  write_file(at(host, "rootfs/bin-sh"), "shell");
  assert_int_equal(mkdir(at(host, "volume"), 0755), 0);
  write_file(at(host, "hosts"), "127.0.0.1 localhost\n");
  assert_int_equal(mkdir(at(host, "etc-cron.d"), 0755), 0);
  return 0;
}

static int teardown(void **state_)
{
  (void)state_;
  char cmd[256];
  snprintf(cmd, sizeof(cmd), "umount -R %s 2>/dev/null; rm -rf %s", base, base);
  return system(cmd) == 0 ? 0 : 0;
}

static void test_export_is_read_only_binds_are_not(void **state_)
{
  (void)state_;
  struct shim_share sh;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_share_setup(&sh, state, &err), 0);
  assert_int_equal(shim_share_bind(&sh, at(host, "rootfs"), "c1/rootfs", false, &err), 0);
  assert_int_equal(shim_share_bind(&sh, at(host, "hosts"), "c1-mount0", false, &err), 0);
  assert_int_equal(shim_share_bind(&sh, at(host, "volume"), "c1-mount1", true, &err), 0);

  /* the guest sees every bind through the export */
  assert_true(exists(at(sh.export_dir, "c1/rootfs/bin-sh")));
  assert_true(exists(at(sh.export_dir, "c1-mount0")));
  /* ... cannot plant anything where the shim creates targets (CVE-2020-2026) */
  assert_int_equal(symlink(at(host, "etc-cron.d"), at(sh.export_dir, "c2-mount0")), -1);
  assert_int_equal(errno, EROFS);
  assert_int_equal(symlink("/etc", at(sh.export_dir, "c1/evil")), -1);
  assert_int_equal(errno, EROFS);
  assert_int_equal(rename(at(sh.export_dir, "c1"), at(sh.export_dir, "moved")), -1);
  assert_int_equal(errno, EROFS);
  assert_int_equal(mkdir(at(sh.export_dir, "c3"), 0755), -1);
  assert_int_equal(errno, EROFS);
  /* ... writes its own rootfs, and not a read-only volume */
  write_file(at(sh.export_dir, "c1/rootfs/new-file"), "guest wrote this");
  assert_true(exists(at(host, "rootfs/new-file")));
  assert_int_equal(open(at(sh.export_dir, "c1-mount1/x"), O_CREAT | O_WRONLY, 0644), -1);
  assert_int_equal(errno, EROFS);

  shim_share_unbind(&sh, "c1/rootfs");
  shim_share_unbind(&sh, "c1-mount0");
  shim_share_unbind(&sh, "c1-mount1");
  assert_int_equal(shim_share_remove(&sh, "c1", &err), 0);
  assert_int_equal(shim_share_remove(&sh, "c1-mount0", &err), 0);
  assert_int_equal(shim_share_remove(&sh, "c1-mount1", &err), 0);
  assert_true(exists(at(host, "rootfs/bin-sh")));
  assert_true(exists(at(host, "hosts")));
  assert_false(exists(at(sh.mounts_dir, "c1")));
  assert_int_equal(shim_share_teardown(&sh, &err), 0);
  cleanup_strv char **left = NULL;
  assert_int_equal(veil_mounts_below(state, &left, &err), 0);
  assert_null(left[0]);
  assert_false(exists(at(state, "mounts")));
  assert_false(exists(at(state, "shared")));
}

static void test_targets_never_follow_links(void **state_)
{
  (void)state_;
  struct shim_share sh;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_share_setup(&sh, state, &err), 0);
  /* a link where a target goes (say a bug, or an earlier root process, put it there) */
  assert_int_equal(symlink(at(host, "etc-cron.d"), at(sh.mounts_dir, "c1-mount0")), 0);
  assert_int_equal(symlink(at(host, "etc-cron.d"), at(sh.mounts_dir, "c2")), 0);
  assert_int_equal(shim_share_bind(&sh, at(host, "volume"), "c1-mount0", false, &err), -1);
  assert_true(err->status == ELOOP || err->status == ENOTDIR); /* the link is not entered */
  veil_error_release(&err);
  assert_int_equal(shim_share_bind(&sh, at(host, "rootfs"), "c2/rootfs", false, &err), -1);
  veil_error_release(&err);
  cleanup_strv char **mounted = NULL;
  assert_int_equal(veil_mounts_below(host, &mounted, &err), 0);
  assert_null(mounted[0]); /* nothing landed on the link target */
  /* bad names */
  const char *bad[] = {"", "/abs", "../up", "a/../b", "a//b", ".", "c1/./x"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(shim_share_bind(&sh, at(host, "volume"), bad[i], false, &err), -1);
    assert_int_equal(err->status, EINVAL);
    veil_error_release(&err);
  }
  /* a missing source is a clear error and leaves no target */
  assert_int_equal(shim_share_bind(&sh, at(host, "missing"), "c9-mount0", false, &err), -1);
  assert_non_null(strstr(err->msg, "missing"));
  veil_error_release(&err);
  assert_false(exists(at(sh.mounts_dir, "c9-mount0")));
  assert_int_equal(shim_share_remove(&sh, "c1-mount0", &err), 0); /* removes the link only */
  assert_int_equal(shim_share_remove(&sh, "c2", &err), 0);
  assert_true(exists(at(host, "etc-cron.d")));
  assert_int_equal(shim_share_teardown(&sh, &err), 0);
}

static void test_remove_refuses_a_live_bind(void **state_)
{
  (void)state_;
  struct shim_share sh;
  cleanup_error veil_error_t err = NULL;
  write_file(at(host, "volume/data"), "keep");
  assert_int_equal(shim_share_setup(&sh, state, &err), 0);
  assert_int_equal(shim_share_bind(&sh, at(host, "volume"), "c1-mount0", false, &err), 0);
  assert_int_equal(shim_share_remove(&sh, "c1-mount0", &err), -1);
  assert_int_equal(err->status, EBUSY);
  veil_error_release(&err);
  assert_true(exists(at(host, "volume/data")));
  /* teardown unmounts first, so the volume survives it too */
  assert_int_equal(shim_share_teardown(&sh, &err), 0);
  assert_true(exists(at(host, "volume/data")));
  assert_false(exists(at(state, "mounts")));
}

int main(void)
{
  if (geteuid() != 0) {
    fprintf(stderr, "test-shim-share needs root (it mounts)\n");
    return 1;
  }
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    perror("private mount namespace");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_export_is_read_only_binds_are_not, setup, teardown),
      cmocka_unit_test_setup_teardown(test_targets_never_follow_links, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remove_refuses_a_live_bind, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
