/* Agent channel selection. /dev/vhost-vsock does not exist here: a fake root supplies the
 * device node as a file and a fake VHOST_VSOCK_SET_GUEST_CID (never AF_VSOCK on this host). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
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

static void test_dev_is_always_unix(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "dev/vhost-vsock", "");
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_agent_channel_select(VEIL_PROFILE_DEV, root, "/run/veil/x", fake_set_cid_busy_3_4,
                                             &ch, &err), 0);
  assert_int_equal(ch.kind, VEIL_CHANNEL_UNIX);
  assert_string_equal(ch.address, "unix:///run/veil/x/agent.sock");
  assert_string_equal(ch.unix_path, "/run/veil/x/agent.sock");
  assert_int_equal(ch.vhost_fd, -1);
  veil_agent_channel_clear(&ch);
  fake_tree_free(root);
}

static void test_tee_without_vhost_vsock_falls_back_to_unix(void **state)
{
  (void)state;
  char *root = fake_tree_new();  /* like this host: no /dev/vhost-vsock */
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_agent_channel_select(VEIL_PROFILE_SNP, root, "/run/veil/y", NULL, &ch, &err), 0);
  assert_int_equal(ch.kind, VEIL_CHANNEL_UNIX);
  assert_string_equal(ch.address, "unix:///run/veil/y/agent.sock");
  veil_agent_channel_clear(&ch);
  /* and the real root of this host has none either */
  assert_int_equal(veil_agent_channel_select(VEIL_PROFILE_TDX, "/", "/run/veil/z", NULL, &ch, &err), 0);
  assert_int_equal(ch.kind, VEIL_CHANNEL_UNIX);
  veil_agent_channel_clear(&ch);
  fake_tree_free(root);
}

static void test_fake_vhost_cid_skips_in_use(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "dev/vhost-vsock", "");
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  n_tried = 0;
  assert_int_equal(veil_agent_channel_select(VEIL_PROFILE_SNP, root, "/run/veil/v", fake_set_cid_busy_3_4,
                                             &ch, &err), 0);
  assert_int_equal(ch.kind, VEIL_CHANNEL_VSOCK);
  assert_int_equal(ch.cid, 5);
  assert_int_equal(n_tried, 3);
  assert_int_equal(tried[0], 3);
  assert_string_equal(ch.address, "vsock://5:1024");
  assert_true(ch.vhost_fd >= 0);  /* held open: it is what keeps the CID reserved */
  assert_int_equal(fcntl(ch.vhost_fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  veil_agent_channel_clear(&ch);
  assert_int_equal(ch.vhost_fd, -1);
  fake_tree_free(root);
}

static void test_fake_vhost_other_error_fails(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "dev/vhost-vsock", "");
  struct veil_agent_channel ch;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_agent_channel_select(VEIL_PROFILE_TDX, root, "/run/veil/w", fake_set_cid_eperm, &ch,
                                             &err), -1);
  assert_non_null(strstr(err->msg, "reserve guest CID 3"));
  assert_non_null(strstr(err->msg, "VHOST_VSOCK_SET_GUEST_CID"));
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
    cmocka_unit_test(test_dev_is_always_unix),
    cmocka_unit_test(test_tee_without_vhost_vsock_falls_back_to_unix),
    cmocka_unit_test(test_fake_vhost_cid_skips_in_use),
    cmocka_unit_test(test_fake_vhost_other_error_fails),
    cmocka_unit_test(test_ioctl_number),
  };
  return cmocka_run_group_tests_name("agent-channel", tests, NULL, NULL);
}
