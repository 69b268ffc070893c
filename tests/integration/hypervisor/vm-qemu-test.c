/* Integration: veil_vm_start/stop with real QEMU (TCG) and the real guest image: boot, reach
 * the agent over the virtio-serial channel and call Check, graceful stop, nothing left behind;
 * and the bad inputs (missing kernel/firmware, TEE absent, TEE too new for this QEMU, QEMU
 * failing at start) each fail with a clear error and leave nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <sys/prctl.h>

#include "hypervisor/vm.h"
#include "vm_test_util.h"
#include "vsock/agent_client.h"

static char run_base[] = "/tmp/veil-vmtest-XXXXXX";

static int setup(void **state)
{
  (void)state;
  return mkdtemp(run_base) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  cleanup_error veil_error_t e = NULL;
  return veil_remove_tree(run_base, &e);
}

static void run_dir_of(const char *id, char *out, size_t n)
{
  snprintf(out, n, "%s/%s", run_base, id);
}

/* The VM of the running test: killed and freed by the per-test teardown even when an
 * assertion fails half-way, so a failing test leaves no QEMU behind. */
static struct veil_vm *current_vm;

static int free_current_vm(void **state)
{
  (void)state;
  veil_vm_free(current_vm);
  current_vm = NULL;
  return 0;
}

static bool vm_alive(void *user)
{
  return !veil_vm_exited(user, NULL);
}

static void test_dev_boot_check_graceful_stop(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  char share[1200];
  snprintf(share, sizeof(share), "%s/share-src", run_base);
  assert_int_equal(mkdir(share, 0755), 0);
  cleanup_with(veil_config_free) struct veil_config *c = test_config("dev", run_base, NULL, &err);
  assert_non_null(c);
  struct veil_vm_share sh = { "veilshared", share, false };
  struct veil_vm_spec spec = { .config = c, .id = "boot1", .shares = &sh, .n_shares = 1 };
  struct veil_vm *vm = NULL;
  if (veil_vm_start(&spec, &vm, &err) < 0)
    fail_msg("start: %s", err->msg);
  current_vm = vm;
  pid_t pid = veil_vm_pid(vm);
  assert_true(pid > 0);
  char rd[1200], expect[1300];
  run_dir_of("boot1", rd, sizeof(rd));
  assert_string_equal(veil_vm_run_dir(vm), rd);
  snprintf(expect, sizeof(expect), "unix://%s/agent.sock", rd);
  assert_string_equal(veil_vm_agent_address(vm), expect);

  /* hardening: run dir 0700, QMP socket 0600, QEMU holds no capabilities at all */
  struct stat st;
  assert_int_equal(stat(rd, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  snprintf(expect, sizeof(expect), "%s/qmp.sock", rd);
  assert_int_equal(stat(expect, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(proc_caps(pid, "CapEff"), 0);
  assert_int_equal(proc_caps(pid, "CapPrm"), 0);
  assert_int_equal(proc_caps(pid, "CapBnd"), 0);
  assert_int_equal(proc_caps(pid, "NoNewPrivs"), 1);
  assert_int_equal(proc_caps(pid, "Seccomp"), 2);  /* -sandbox on: filter mode */
  assert_false(veil_vm_exited(vm, NULL));
  assert_string_equal(veil_vm_exit_reason(vm), "");

  if (agent_expected()) {
    veil_agent *a = veil_agent_dial_ready(veil_vm_agent_address(vm), 120000, vm_alive, vm, &err);
    if (a == NULL) {
      char log[1300];
      snprintf(log, sizeof(log), "%s/console.log", rd);
      cleanup_free char *console = NULL;
      cleanup_error veil_error_t e2 = NULL;
      veil_read_file(log, 1 << 20, &console, NULL, &e2);
      fail_msg("agent: %s\nconsole:\n%s", err->msg, console ? console : "(none)");
    }
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *resp = NULL;
    if (veil_agent_check(a, &req, &resp, &err) < 0)
      fail_msg("Check: %s", err->msg);
    assert_int_equal(resp->status, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    grpc__health_check_response__free_unpacked(resp, NULL);
    veil_agent_free(a);
  } else {
    /* a kernel without the agent: wait for its console line instead */
    char log[1300];
    snprintf(log, sizeof(log), "%s/console.log", rd);
    for (int i = 0; i < 600; i++) {
      cleanup_free char *console = NULL;
      cleanup_error veil_error_t e2 = NULL;
      if (veil_read_file(log, 1 << 20, &console, NULL, &e2) == 0 && strstr(console, "veil-test-guest: up"))
        break;
      assert_true(i < 599);
      poll(NULL, 0, 200);
    }
  }
  /* graceful stop: system_powerdown, then quit */
  if (veil_vm_stop(vm, 10000, &err) < 0)
    fail_msg("stop: %s", err->msg);
  int status = -1;
  assert_true(veil_vm_exited(vm, &status));
  const char *why = veil_vm_exit_reason(vm);
  assert_true(strcmp(why, "guest-shutdown") == 0 || strcmp(why, "quit") == 0);
  fprintf(stderr, "# exit reason: %s, status %d\n", why, status);
  assert_true(WIFEXITED(status));  /* not killed: QEMU left on its own */
  current_vm = NULL;
  veil_vm_free(vm);
  assert_true(process_gone(pid));
  assert_int_equal(access(rd, F_OK), -1);
  assert_true(no_children());
}

/* Start a VM that must fail; assert the error names `needle`, and that nothing is left. */
static void expect_start_failure(const char *profile, const char *extra, const char *id, const char *needle,
                                 const char *needle2)
{
  cleanup_error veil_error_t err = NULL;
  cleanup_with(veil_config_free) struct veil_config *c = test_config(profile, run_base, extra, &err);
  if (c == NULL)
    fail_msg("config: %s", err->msg);
  struct veil_vm_spec spec = { .config = c, .id = id };
  struct veil_vm *vm = NULL;
  assert_int_equal(veil_vm_start(&spec, &vm, &err), -1);
  assert_null(vm);
  fprintf(stderr, "# %s: %s\n", id, err->msg);
  if (strstr(err->msg, needle) == NULL || (needle2 && strstr(err->msg, needle2) == NULL))
    fail_msg("error `%s` lacks `%s`/`%s`", err->msg, needle, needle2 ? needle2 : "");
  char rd[1200];
  run_dir_of(id, rd, sizeof(rd));
  assert_int_equal(access(rd, F_OK), -1);
  assert_true(dir_is_empty(run_base) || access(rd, F_OK) < 0);
  assert_true(no_children());
}

static void test_missing_kernel(void **state)
{
  (void)state;
  expect_start_failure("dev", "{\"kernel\":\"/nonexistent/vmlinuz\"}", "nokernel", "/nonexistent/vmlinuz",
                       "kernel");
}

static void test_missing_explicit_firmware(void **state)
{
  (void)state;
  expect_start_failure("dev", "{\"firmware\":\"/nonexistent/OVMF.fd\"}", "nofw", "/nonexistent/OVMF.fd",
                       "firmware");
}

static void test_no_firmware_descriptor_for_sev_es(void **state)
{
  (void)state;
  /* Debian's ovmf descriptors offer amd-sev but not amd-sev-es: the error lists them */
  expect_start_failure("sev-es", "{\"accel\":\"kvm\",\"shared_fs\":\"none\"}", "nofwdesc",
                       "no firmware for sev-es", "60-edk2-x86_64.json: lacks feature amd-sev-es");
}

static void test_tee_absent_on_host(void **state)
{
  (void)state;
  /* QEMU 7.2 has sev-guest and Debian has an amd-sev firmware, but this host has no SEV */
  expect_start_failure("sev", "{\"accel\":\"kvm\",\"shared_fs\":\"none\"}", "nosev",
                       "this host cannot run sev guests", "kvm_amd/parameters/sev");
}

static void test_snp_too_new_for_qemu(void **state)
{
  (void)state;
  expect_start_failure("snp", "{\"accel\":\"kvm\",\"shared_fs\":\"none\"}", "snpold", "sev-snp-guest",
                       "QEMU >= 9.1");
}

static void test_tdx_too_new_for_qemu(void **state)
{
  (void)state;
  expect_start_failure("tdx", "{\"accel\":\"kvm\",\"shared_fs\":\"none\"}", "tdxold", "tdx-guest",
                       "QEMU >= 10.1");
}

static void test_qemu_fails_at_start(void **state)
{
  (void)state;
  /* a CPU model QEMU does not know: QEMU exits at once; its stderr is in the error */
  expect_start_failure("dev", "{\"vcpu_type\":\"no-such-cpu-model\"}", "badarg", "QEMU exited during start",
                       "no-such-cpu-model");
}

static void test_duplicate_id_refused(void **state)
{
  (void)state;
  char rd[1200];
  run_dir_of("dup", rd, sizeof(rd));
  assert_int_equal(mkdir(rd, 0700), 0);  /* as if a VM with this id were running */
  cleanup_error veil_error_t err = NULL;
  cleanup_with(veil_config_free) struct veil_config *c = test_config("dev", run_base, NULL, &err);
  assert_non_null(c);
  struct veil_vm_spec spec = { .config = c, .id = "dup" };
  struct veil_vm *vm = NULL;
  assert_int_equal(veil_vm_start(&spec, &vm, &err), -1);
  assert_non_null(strstr(err->msg, "is a VM with this id running"));
  assert_int_equal(access(rd, F_OK), 0);  /* someone else's: left alone */
  assert_int_equal(rmdir(rd), 0);
  assert_true(no_children());
}

/* A guest that powers itself off: the exit fd becomes readable, the exit is reaped and the
 * reason comes from QMP's SHUTDOWN event (guest=true). The guest is the image's kernel with a
 * two-line busybox initramfs built here. */
static void test_guest_poweroff_observed(void **state)
{
  (void)state;
  char dir[1200], cmd[9000], initrd[1300];
  snprintf(dir, sizeof(dir), "%s/poweroff-initrd", run_base);
  snprintf(initrd, sizeof(initrd), "%s.img", dir);
  snprintf(cmd, sizeof(cmd),
           "set -e; mkdir -p %s/bin; cp /bin/busybox %s/bin/busybox; "
           "printf '#!/bin/busybox sh\\n/bin/busybox echo veil-poweroff-guest\\n/bin/busybox poweroff -f\\n' > %s/init; "
           "chmod 755 %s/init; cd %s && find . | cpio -o -H newc --quiet | gzip > %s",
           dir, dir, dir, dir, dir, initrd);
  assert_int_equal(system(cmd), 0);
  cleanup_error veil_error_t err = NULL;
  char extra[1600];
  snprintf(extra, sizeof(extra), "{\"initrd\":\"%s\"}", initrd);
  cleanup_with(veil_config_free) struct veil_config *c = test_config("dev", run_base, extra, &err);
  assert_non_null(c);
  struct veil_vm_spec spec = { .config = c, .id = "poweroff" };
  struct veil_vm *vm = NULL;
  if (veil_vm_start(&spec, &vm, &err) < 0)
    fail_msg("start: %s", err->msg);
  current_vm = vm;
  pid_t pid = veil_vm_pid(vm);
  struct pollfd p = { .fd = veil_vm_exit_fd(vm), .events = POLLIN };
  assert_int_equal(poll(&p, 1, 240000), 1);  /* generous: TCG on a loaded host */
  int status = -1;
  assert_true(veil_vm_exited(vm, &status));
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_string_equal(veil_vm_exit_reason(vm), "guest-shutdown");
  assert_int_equal(veil_vm_stop(vm, 1000, &err), 0);  /* already gone: a no-op */
  current_vm = NULL;
  veil_vm_free(vm);
  assert_true(process_gone(pid));
  assert_true(no_children());
}

int main(void)
{
  /* QEMU children are ours: make sure none outlives a crashing test */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_missing_kernel, free_current_vm),
    cmocka_unit_test_teardown(test_missing_explicit_firmware, free_current_vm),
    cmocka_unit_test_teardown(test_no_firmware_descriptor_for_sev_es, free_current_vm),
    cmocka_unit_test_teardown(test_tee_absent_on_host, free_current_vm),
    cmocka_unit_test_teardown(test_snp_too_new_for_qemu, free_current_vm),
    cmocka_unit_test_teardown(test_tdx_too_new_for_qemu, free_current_vm),
    cmocka_unit_test_teardown(test_qemu_fails_at_start, free_current_vm),
    cmocka_unit_test_teardown(test_duplicate_id_refused, free_current_vm),
    cmocka_unit_test_teardown(test_dev_boot_check_graceful_stop, free_current_vm),
    cmocka_unit_test_teardown(test_guest_poweroff_observed, free_current_vm),
  };
  return cmocka_run_group_tests_name("vm-qemu", tests, setup, teardown);
}
