/* QEMU capability probe: this host's real QEMU 7.2, and parsed outputs of newer versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/cleanup.h"
#include "hypervisor/qemu_caps.h"

VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)

static struct veil_config *cfg(const char *json)
{
  struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_config_parse("t.json", json, strlen(json), &c, &err) < 0)
    fail_msg("%s", err->msg);
  return c;
}

static void test_real_qemu_7_2(void **state)
{
  (void)state;
  const struct veil_qemu_caps *caps = NULL, *again = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_qemu_caps_get("/usr/bin/qemu-system-x86_64", &caps, &err) < 0)
    fail_msg("%s", err->msg);
  assert_true(caps->major >= 7);
  assert_true(veil_qemu_caps_has_object(caps, "sev-guest"));
  assert_true(veil_qemu_caps_has_machine(caps, "q35"));
  assert_true(caps->sandbox);
  /* cached per path + mtime: the same object */
  assert_int_equal(veil_qemu_caps_get("/usr/bin/qemu-system-x86_64", &again, &err), 0);
  assert_ptr_equal(caps, again);
  if (caps->major < 9) {
    cleanup_with(veil_config_free) struct veil_config *snp = cfg("{\"profile\":\"snp\"}");
    assert_int_equal(veil_qemu_caps_check_profile(caps, snp, &err), -1);
    assert_non_null(strstr(err->msg, "sev-snp-guest"));
    assert_non_null(strstr(err->msg, "QEMU >= 9.1"));
    veil_error_release(&err);
    cleanup_with(veil_config_free) struct veil_config *tdx = cfg("{\"profile\":\"tdx\"}");
    assert_int_equal(veil_qemu_caps_check_profile(caps, tdx, &err), -1);
    assert_non_null(strstr(err->msg, "QEMU >= 10.1"));
    veil_error_release(&err);
  }
  cleanup_with(veil_config_free) struct veil_config *sev = cfg("{\"profile\":\"sev\"}");
  assert_int_equal(veil_qemu_caps_check_profile(caps, sev, &err), 0);
  cleanup_with(veil_config_free) struct veil_config *dev = cfg("{\"profile\":\"dev\",\"machine_type\":\"nosuch\"}");
  assert_int_equal(veil_qemu_caps_check_profile(caps, dev, &err), -1);
  assert_non_null(strstr(err->msg, "no machine `nosuch`"));
}

static void test_missing_binary(void **state)
{
  (void)state;
  const struct veil_qemu_caps *caps = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_qemu_caps_get("/nonexistent/qemu", &caps, &err), -1);
  assert_non_null(strstr(err->msg, "qemu_path"));
  veil_error_release(&err);
  assert_int_equal(veil_qemu_caps_get("/etc/hostname", &caps, &err), -1);  /* not executable */
}

static void test_parse_qemu_10_1_output(void **state)
{
  (void)state;
  struct veil_qemu_caps caps;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_qemu_caps_parse("QEMU emulator version 10.1.0\nCopyright\n",
                                        "List of user creatable objects:\n  sev-guest\n  sev-snp-guest\n  tdx-guest\n",
                                        "Supported machines are:\nq35                  Standard PC (alias of pc-q35-10.1)\n"
                                        "pc-q35-10.1          Standard PC (Q35 + ICH9, 2009) (default)\n",
                                        "-sandbox on[,obsolete=allow|deny]\n", &caps, &err), 0);
  caps.path = strdup("/opt/qemu");
  assert_int_equal(caps.major, 10);
  assert_int_equal(caps.minor, 1);
  assert_true(veil_qemu_caps_has_machine(&caps, "pc-q35-10.1"));
  cleanup_with(veil_config_free) struct veil_config *tdx = cfg("{\"profile\":\"tdx\"}");
  assert_int_equal(veil_qemu_caps_check_profile(&caps, tdx, &err), 0);
  cleanup_with(veil_config_free) struct veil_config *se = cfg("{\"profile\":\"se\"}");
  assert_int_equal(veil_qemu_caps_check_profile(&caps, se, &err), -1);
  assert_non_null(strstr(err->msg, "s390-pv-guest"));
  veil_qemu_caps_clear(&caps);
  assert_int_equal(veil_qemu_caps_parse("garbage", "", "", "", &caps, &err), -1);
}

static void test_no_seccomp_refused_with_hardening(void **state)
{
  (void)state;
  struct veil_qemu_caps caps;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_qemu_caps_parse("QEMU emulator version 8.0.0", "List:\n", "q35  x\n", "no sandbox here",
                                        &caps, &err), 0);
  caps.path = strdup("/opt/qemu");
  cleanup_with(veil_config_free) struct veil_config *dev = cfg("{\"profile\":\"dev\"}");
  assert_int_equal(veil_qemu_caps_check_profile(&caps, dev, &err), -1);
  assert_non_null(strstr(err->msg, "without seccomp"));
  veil_error_release(&err);
  cleanup_with(veil_config_free) struct veil_config *soft = cfg("{\"profile\":\"dev\",\"hardening\":false}");
  assert_int_equal(veil_qemu_caps_check_profile(&caps, soft, &err), 0);
  veil_qemu_caps_clear(&caps);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_real_qemu_7_2),
    cmocka_unit_test(test_missing_binary),
    cmocka_unit_test(test_parse_qemu_10_1_output),
    cmocka_unit_test(test_no_seccomp_refused_with_hardening),
  };
  return cmocka_run_group_tests_name("qemu-caps", tests, NULL, NULL);
}
