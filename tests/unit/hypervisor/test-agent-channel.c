/* Agent channel selection. /dev/vhost-vsock does not exist here: a fake root supplies the
 * device node as a file and a fake VHOST_VSOCK_SET_GUEST_CID (never AF_VSOCK on this host), and
 * the vhost-device-vsock binary as a file whose exec bit decides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_tree.h"
#include "hypervisor/agent_channel.h"

static uint64_t tried[16];
static int n_tried;

/* CIDs 3 and 4 are taken by other VMs */
static int fake_set_cid_busy_3_4(int fd, uint64_t cid)
{
  (void)fd;
  tried[n_tried++ % 16] = cid;
  if (cid < 5) {
    errno = EADDRINUSE;
    return -1;
  }
  return 0;
}

static int fake_set_cid_eperm(int fd, uint64_t cid)
{
  (void)fd;
  (void)cid;
  errno = EPERM;
  return -1;
}

/* A config of the profile with the given agent_channel; vhost-device-vsock at /opt/vdv. */
static struct veil_config *config(enum veil_profile profile, const char *channel)
{
  struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_config_new_default(profile, &c, &err), 0);
  free(c->agent_channel);
  free(c->vhost_user_vsock_path);
  c->agent_channel = strdup(channel);
  c->vhost_user_vsock_path = strdup("/opt/vdv");
  return c;
}

static void fake_helper(const char *root)
{
  fake_write(root, "opt/vdv", "#!/bin/sh\n");
  char path[4096];
  snprintf(path, sizeof(path), "%s/opt/vdv", root);
  assert_int_equal(chmod(path, 0755), 0);
}

static void test_virtio_serial_is_explicit(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "dev/vhost-vsock", "");  /* even with vhost-vsock present */
  fake_helper(root);
  struct veil_config *c = config(VEIL_PROFILE_DEV, "virtio-serial");
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  struct veil_channel_host host = { .root = root, .set_cid = fake_set_cid_busy_3_4, .reserve_cid = true };
  assert_int_equal(veil_agent_channel_select(c, &host, "/run/veil/x", &ch, &err), 0);
  assert_int_equal(ch.kind, VEIL_CHANNEL_VIRTIO_SERIAL);
  assert_string_equal(ch.address, "unix:///run/veil/x/agent.sock");
  assert_string_equal(ch.unix_path, "/run/veil/x/agent.sock");
  assert_int_equal(ch.vhost_fd, -1);
  veil_agent_channel_clear(&ch);
  veil_config_free(c);
  fake_tree_free(root);
}

static void test_vsock_without_vhost_vsock_is_hybrid(void **state)
{
  (void)state;
  char *root = fake_tree_new();  /* like this host: no /dev/vhost-vsock */
  fake_helper(root);
  enum veil_profile profiles[] = { VEIL_PROFILE_DEV, VEIL_PROFILE_SNP, VEIL_PROFILE_TDX, VEIL_PROFILE_SE };
  for (size_t i = 0; i < 4; i++) {
    struct veil_config *c = config(profiles[i], "vsock");
    struct veil_agent_channel ch;
    cleanup_error veil_error_t err = NULL;
    struct veil_channel_host host = { .root = root, .reserve_cid = true };
    assert_int_equal(veil_agent_channel_select(c, &host, "/run/veil/y", &ch, &err), 0);
    assert_int_equal(ch.kind, VEIL_CHANNEL_HYBRID_VSOCK);
    assert_string_equal(ch.address, "hvsock:///run/veil/y/vsock.sock:1024");
    assert_string_equal(ch.unix_path, "/run/veil/y/vsock.sock");
    assert_string_equal(ch.vhost_user_path, "/run/veil/y/vhost-vsock.sock");
    assert_string_equal(ch.helper_path, "/opt/vdv");  /* the config's path, not the fake root's */
    assert_int_equal(ch.cid, 3);
    assert_int_equal(ch.vhost_fd, -1);
    veil_agent_channel_clear(&ch);
    veil_config_free(c);
  }
  fake_tree_free(root);
}

/* Neither vhost-vsock nor the helper: refused up front, saying what is missing and how to get
 * it (no silent virtio-serial fallback that would wait out the dial timeout). */
static void test_vsock_with_neither_fails_naming_both(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "opt/vdv", "not executable");
  struct veil_config *c = config(VEIL_PROFILE_SNP, "vsock");
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  struct veil_channel_host host = { .root = root, .reserve_cid = true };
  assert_int_equal(veil_agent_channel_select(c, &host, "/run/veil/n", &ch, &err), -1);
  assert_int_equal(err->status, ENOENT);
  const char *needles[] = { "profile snp", "/dev/vhost-vsock", "vhost_vsock module", "`/opt/vdv`",
                            "vhost_user_vsock_path", "scripts/fetch-vhost-device-vsock", "virtio-serial" };
  for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++)
    if (strstr(err->msg, needles[i]) == NULL)
      fail_msg("`%s` lacks `%s`", err->msg, needles[i]);
  assert_null(ch.address);
  veil_config_free(c);
  fake_tree_free(root);
}

static void test_run_dir_too_long_for_sockets(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_helper(root);
  struct veil_config *c = config(VEIL_PROFILE_DEV, "vsock");
  char run_dir[128];
  memset(run_dir, 'r', sizeof(run_dir));
  run_dir[0] = '/';
  run_dir[95] = '\0';  /* + "/vhost-vsock.sock" is over 107 bytes */
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  struct veil_channel_host host = { .root = root, .reserve_cid = true };
  assert_int_equal(veil_agent_channel_select(c, &host, run_dir, &ch, &err), -1);
  assert_non_null(strstr(err->msg, "config key run_dir"));
  veil_config_free(c);
  fake_tree_free(root);
}

static void test_fake_vhost_cid_skips_in_use(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "dev/vhost-vsock", "");
  struct veil_config *c = config(VEIL_PROFILE_SNP, "vsock");
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  n_tried = 0;
  struct veil_channel_host host = { .root = root, .set_cid = fake_set_cid_busy_3_4, .reserve_cid = true };
  assert_int_equal(veil_agent_channel_select(c, &host, "/run/veil/v", &ch, &err), 0);
  assert_int_equal(ch.kind, VEIL_CHANNEL_VHOST_VSOCK);
  assert_int_equal(ch.cid, 5);
  assert_int_equal(n_tried, 3);
  assert_int_equal(tried[0], 3);
  assert_string_equal(ch.address, "vsock://5:1024");
  assert_true(ch.vhost_fd >= 0);  /* held open: it is what keeps the CID reserved */
  assert_int_equal(fcntl(ch.vhost_fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  veil_agent_channel_clear(&ch);
  assert_int_equal(ch.vhost_fd, -1);
  /* libvirt picks the CID itself: nothing reserved, the address follows once it is known */
  host.reserve_cid = false;
  n_tried = 0;
  assert_int_equal(veil_agent_channel_select(c, &host, "/run/veil/v", &ch, &err), 0);
  assert_int_equal(ch.kind, VEIL_CHANNEL_VHOST_VSOCK);
  assert_int_equal(n_tried, 0);
  assert_int_equal(ch.vhost_fd, -1);
  assert_null(ch.address);
  assert_int_equal(veil_agent_channel_set_cid(&ch, 7, &err), 0);
  assert_string_equal(ch.address, "vsock://7:1024");
  veil_agent_channel_clear(&ch);
  veil_config_free(c);
  fake_tree_free(root);
}

static void test_fake_vhost_other_error_fails(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "dev/vhost-vsock", "");
  struct veil_config *c = config(VEIL_PROFILE_TDX, "vsock");
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  struct veil_channel_host host = { .root = root, .set_cid = fake_set_cid_eperm, .reserve_cid = true };
  assert_int_equal(veil_agent_channel_select(c, &host, "/run/veil/w", &ch, &err), -1);
  assert_non_null(strstr(err->msg, "reserve guest CID 3"));
  assert_non_null(strstr(err->msg, "VHOST_VSOCK_SET_GUEST_CID"));
  assert_int_equal(ch.vhost_fd, -1);  /* nothing held */
  veil_config_free(c);
  fake_tree_free(root);
}

static void test_ioctl_number(void **state)
{
  (void)state;
  /* _IOW(VHOST_VIRTIO 0xAF, 0x60, __u64) */
  assert_int_equal(VEIL_VHOST_VSOCK_SET_GUEST_CID, (1UL << 30) | (8UL << 16) | (0xAFUL << 8) | 0x60UL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_virtio_serial_is_explicit),
    cmocka_unit_test(test_vsock_without_vhost_vsock_is_hybrid),
    cmocka_unit_test(test_vsock_with_neither_fails_naming_both),
    cmocka_unit_test(test_run_dir_too_long_for_sockets),
    cmocka_unit_test(test_fake_vhost_cid_skips_in_use),
    cmocka_unit_test(test_fake_vhost_other_error_fails),
    cmocka_unit_test(test_ioctl_number),
  };
  return cmocka_run_group_tests_name("agent-channel", tests, NULL, NULL);
}
