/* The name of a VM's run dir: short ids as they are, long ones (CRI's 64 hex) in a fixed-length
 * digest form so the unix sockets inside stay within sun_path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hypervisor/vm_internal.h"

static void short_id_is_kept(void **state)
{
  (void)state;
  char name[VEIL_VM_RUN_DIR_NAME_MAX + 1];
  veil_vm_run_dir_name("web-1", name);
  assert_string_equal(name, "web-1");
  /* exactly at the limit: still the id itself */
  const char *at_limit = "abcdefghijklmnopqrstuvwxyz0123456";
  assert_int_equal(strlen(at_limit), VEIL_VM_RUN_DIR_NAME_MAX);
  veil_vm_run_dir_name(at_limit, name);
  assert_string_equal(name, at_limit);
}

static void long_id_is_prefix_and_digest(void **state)
{
  (void)state;
  const char *cri = "15c38f606ce277a48d44d070b99c6067290fc34267453b3195cc6b36761b7e47";
  char name[VEIL_VM_RUN_DIR_NAME_MAX + 1];
  veil_vm_run_dir_name(cri, name);
  assert_int_equal(strlen(name), VEIL_VM_RUN_DIR_NAME_MAX);
  assert_memory_equal(name, cri, 16);
  assert_int_equal(name[16], '-');
  /* sha256("15c3...7e47") begins with these 16 hex digits (sha256sum of the id, no newline) */
  assert_string_equal(name + 17, "63cdb5378bf760ce");
}

static void same_prefix_different_dirs(void **state)
{
  (void)state;
  char a[VEIL_VM_RUN_DIR_NAME_MAX + 1], b[VEIL_VM_RUN_DIR_NAME_MAX + 1];
  veil_vm_run_dir_name("a-very-long-container-name-from-ctr-number-1", a);
  veil_vm_run_dir_name("a-very-long-container-name-from-ctr-number-2", b);
  assert_memory_equal(a, b, 16);
  assert_string_not_equal(a, b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(short_id_is_kept),
    cmocka_unit_test(long_id_is_prefix_and_digest),
    cmocka_unit_test(same_prefix_different_dirs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
