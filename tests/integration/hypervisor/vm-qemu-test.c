/* Integration: veil_vm_start/stop with real QEMU (TCG) and the real guest image: boot, reach
 * the agent over hybrid vsock (vhost-device-vsock; this host has no /dev/vhost-vsock) and over
 * the explicit virtio-serial channel and call Check, graceful stop, nothing left behind; the
 * helper killed under a running VM kills the VM; and the bad inputs (missing kernel/firmware,
 * no vsock at all, a helper that fails or never listens, TEE absent, TEE too new for this
 * QEMU, QEMU failing at start) each fail with a clear error and leave nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <sys/prctl.h>

#include "common/pidfile.h"
#include "hypervisor/vm.h"
#include "vm_test_util.h"
#include "agent_client/agent_client.h"

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

static void fail_with_console(const char *rd, const char *what, veil_error_t err)
{
  char log[1300];
  snprintf(log, sizeof(log), "%s/console.log", rd);
  cleanup_free char *console = NULL;
  cleanup_error veil_error_t e2 = NULL;
  veil_read_file(log, 1 << 20, &console, NULL, &e2);
  fail_msg("%s: %s\nconsole:\n%s", what, err->msg, console ? console : "(none)");
}

/* Health.Check through the VM's agent address (for hybrid vsock: CONNECT 1024 on vsock.sock). */
static void agent_check(struct veil_vm *vm, const char *rd)
{
  cleanup_error veil_error_t err = NULL;
  veil_agent *a = veil_agent_dial_ready(veil_vm_agent_address(vm), 120000, vm_alive, vm, &err);
  if (a == NULL)
    fail_with_console(rd, "agent", err);
  Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
  Grpc__HealthCheckResponse *resp = NULL;
  if (veil_agent_check(a, &req, &resp, &err) < 0)
    fail_msg("Check: %s", err->msg);
  assert_int_equal(resp->status, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  grpc__health_check_response__free_unpacked(resp, NULL);
  veil_agent_free(a);
}

static void wait_console_line(const char *rd, const char *line)
{
  char log[1300];
  snprintf(log, sizeof(log), "%s/console.log", rd);
  for (int i = 0; i < 600; i++) {
    cleanup_free char *console = NULL;
    cleanup_error veil_error_t e2 = NULL;
    if (veil_read_file(log, 1 << 20, &console, NULL, &e2) == 0 && strstr(console, line))
      return;
    poll(NULL, 0, 200);
  }
  fail_msg("no `%s` on the console", line);
}

static void assert_socket_0600(const char *rd, const char *name)
{
  char path[1300];
  struct stat st;
  snprintf(path, sizeof(path), "%s/%s", rd, name);
  if (stat(path, &st) < 0)
    fail_msg("%s: %s", path, strerror(errno));
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0600);
}

static bool exists_in(const char *rd, const char *name)
{
  char path[1300];
  snprintf(path, sizeof(path), "%s/%s", rd, name);
  return access(path, F_OK) == 0;
}

/* The helper of a hybrid-vsock VM: recorded with its start time, hardened like QEMU, its log
 * bounded; returns its pid. */
static pid_t assert_vsock_helper(const char *rd)
{
  char path[1300];
  pid_t helper = -1;
  snprintf(path, sizeof(path), "%s/vhost-vsock.pid", rd);
  assert_true(veil_pidfile_alive(path, &helper));
  assert_int_equal(proc_caps(helper, "CapEff"), 0);
  assert_int_equal(proc_caps(helper, "CapBnd"), 0);
  assert_int_equal(proc_caps(helper, "NoNewPrivs"), 1);
  assert_true(proc_limit(helper, "Max file size") == 1024 * 1024);
  assert_socket_0600(rd, "vhost-vsock.sock");
  assert_socket_0600(rd, "vsock.sock");
  assert_true(exists_in(rd, "vhost-vsock.log"));
  return helper;
}

/* Boot the dev guest on the given agent channel, Check the agent, stop gracefully; nothing
 * is left behind. */
static void boot_check_stop(const char *id, const char *channel)
{
  cleanup_error veil_error_t err = NULL;
  char share[1200], extra[200];
  snprintf(share, sizeof(share), "%s/share-%s", run_base, id);
  assert_int_equal(mkdir(share, 0755), 0);
  snprintf(extra, sizeof(extra), "{\"agent_channel\":\"%s\"}", channel);
  cleanup_with(veil_config_free) struct veil_config *c = test_config("dev", run_base, extra, &err);
  assert_non_null(c);
  struct veil_vm_share sh = { "veilshared", share, false };
  struct veil_vm_spec spec = { .config = c, .id = id, .shares = &sh, .n_shares = 1 };
  struct veil_vm *vm = NULL;
  if (veil_vm_start(&spec, &vm, &err) < 0)
    fail_msg("start: %s", err->msg);
  current_vm = vm;
  bool hybrid = strcmp(channel, "vsock") == 0;
  pid_t pid = veil_vm_pid(vm);
  assert_true(pid > 0);
  char rd[1200], expect[1300];
  run_dir_of(id, rd, sizeof(rd));
  assert_string_equal(veil_vm_run_dir(vm), rd);
  if (hybrid)  /* no /dev/vhost-vsock here: hybrid vsock through vhost-device-vsock */
    snprintf(expect, sizeof(expect), "hvsock://%s/vsock.sock:1024", rd);
  else
    snprintf(expect, sizeof(expect), "unix://%s/agent.sock", rd);
  assert_string_equal(veil_vm_agent_address(vm), expect);

  /* hardening: run dir 0700, QMP socket 0600, QEMU holds no capabilities at all */
  struct stat st;
  assert_int_equal(stat(rd, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_socket_0600(rd, "qmp.sock");
  assert_int_equal(proc_caps(pid, "CapEff"), 0);
  assert_int_equal(proc_caps(pid, "CapPrm"), 0);
  assert_int_equal(proc_caps(pid, "CapBnd"), 0);
  assert_int_equal(proc_caps(pid, "NoNewPrivs"), 1);
  assert_int_equal(proc_caps(pid, "Seccomp"), 2);  /* -sandbox on: filter mode */
  pid_t qemu_recorded = -1;
  snprintf(expect, sizeof(expect), "%s/qemu.pid", rd);
  assert_true(veil_pidfile_alive(expect, &qemu_recorded));
  assert_int_equal(qemu_recorded, pid);
  pid_t helper = hybrid ? assert_vsock_helper(rd) : -1;
  if (!hybrid)
    assert_false(exists_in(rd, "vhost-vsock.pid"));
  assert_false(veil_vm_exited(vm, NULL));
  assert_string_equal(veil_vm_exit_reason(vm), "");

  if (agent_expected())
    agent_check(vm, rd);
  else  /* a kernel without the agent: wait for its console line instead */
    wait_console_line(rd, "veil-test-guest: up");
  /* graceful stop: system_powerdown, then quit; the helper goes with QEMU */
  if (veil_vm_stop(vm, 10000, &err) < 0)
    fail_msg("stop: %s", err->msg);
  int status = -1;
  assert_true(veil_vm_exited(vm, &status));
  const char *why = veil_vm_exit_reason(vm);
  assert_true(strcmp(why, "guest-shutdown") == 0 || strcmp(why, "quit") == 0);
  fprintf(stderr, "# %s: exit reason: %s, status %d\n", id, why, status);
  assert_true(WIFEXITED(status));  /* not killed: QEMU left on its own */
  if (hybrid) {
    assert_true(process_gone(helper));
    assert_false(exists_in(rd, "vhost-vsock.sock"));
    assert_false(exists_in(rd, "vsock.sock"));
    assert_false(exists_in(rd, "vhost-vsock.pid"));
  }
  current_vm = NULL;
  veil_vm_free(vm);
  assert_true(process_gone(pid));
  assert_int_equal(access(rd, F_OK), -1);
  assert_true(no_children());
}

static void test_dev_boot_hybrid_vsock(void **state)
{
  (void)state;
  assert_true(vhost_user_vsock_present());
  boot_check_stop("boot-hvsock", "vsock");
}

static void test_dev_boot_virtio_serial(void **state)
{
  (void)state;
  boot_check_stop("boot-serial", "virtio-serial");
}

/* The helper dies under a running VM: the agent channel is gone for good, so the VM is killed
 * and that shows as the VMM's exit (exit fd readable, reason agent-channel-lost). */
static void test_helper_killed_kills_vm(void **state)
{
  (void)state;
  assert_true(vhost_user_vsock_present());
  cleanup_error veil_error_t err = NULL;
  cleanup_with(veil_config_free) struct veil_config *c = test_config("dev", run_base, NULL, &err);
  assert_non_null(c);
  struct veil_vm_spec spec = { .config = c, .id = "helperdies" };
  struct veil_vm *vm = NULL;
  if (veil_vm_start(&spec, &vm, &err) < 0)
    fail_msg("start: %s", err->msg);
  current_vm = vm;
  char rd[1200];
  run_dir_of("helperdies", rd, sizeof(rd));
  pid_t pid = veil_vm_pid(vm), helper = assert_vsock_helper(rd);
  if (agent_expected())
    agent_check(vm, rd);  /* the channel works before */
  assert_int_equal(kill(helper, SIGKILL), 0);
  struct pollfd p = { .fd = veil_vm_exit_fd(vm), .events = POLLIN };
  assert_int_equal(poll(&p, 1, 30000), 1);
  int status = -1;
  assert_true(veil_vm_exited(vm, &status));
  assert_string_equal(veil_vm_exit_reason(vm), "agent-channel-lost");
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_true(process_gone(pid));
  assert_true(process_gone(helper));
  veil_agent *a = veil_agent_dial(veil_vm_agent_address(vm), 200, &err);
  assert_null(a);  /* nobody serves the address any more */
  current_vm = NULL;
  veil_vm_free(vm);
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

static void test_no_vsock_helper(void **state)
{
  (void)state;
  expect_start_failure("dev", "{\"vhost_user_vsock_path\":\"/nonexistent/vhost-device-vsock\"}", "nohelper",
                       "no vhost-device-vsock at `/nonexistent/vhost-device-vsock`", "/dev/vhost-vsock");
}

static void test_tee_profile_without_any_vsock(void **state)
{
  (void)state;
  /* refused before the host's TEE is even looked at, naming both ways to get vsock */
  expect_start_failure("snp", "{\"accel\":\"kvm\",\"shared_fs\":\"none\",\"vhost_user_vsock_path\":\"/nonexistent/vdv\"}",
                       "snpnovsock", "agent_channel \"vsock\" (profile snp)", "scripts/fetch-vhost-device-vsock");
}

static void test_vsock_helper_fails_at_start(void **state)
{
  (void)state;
  expect_start_failure("dev", "{\"vhost_user_vsock_path\":\"/bin/false\"}", "helperfails",
                       "vhost-device-vsock exited during start (status 1)", "vhost_user_vsock_path");
}

static void test_vsock_helper_never_listens(void **state)
{
  (void)state;
  char script[1200], extra[1400];
  snprintf(script, sizeof(script), "%s/silent-helper", run_base);
  cleanup_error veil_error_t err = NULL;
  const char *body = "#!/bin/sh\nexec sleep 600\n";
  assert_int_equal(veil_write_file_atomic(script, body, strlen(body), 0755, &err), 0);
  snprintf(extra, sizeof(extra), "{\"vhost_user_vsock_path\":\"%s\"}", script);
  expect_start_failure("dev", extra, "helpersilent", "did not listen on", "within 10000 ms");
  unlink(script);  /* the sleep was killed and reaped: no_children() held */
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
    cmocka_unit_test_teardown(test_no_vsock_helper, free_current_vm),
    cmocka_unit_test_teardown(test_tee_profile_without_any_vsock, free_current_vm),
    cmocka_unit_test_teardown(test_vsock_helper_fails_at_start, free_current_vm),
    cmocka_unit_test_teardown(test_vsock_helper_never_listens, free_current_vm),
    cmocka_unit_test_teardown(test_duplicate_id_refused, free_current_vm),
    cmocka_unit_test_teardown(test_dev_boot_hybrid_vsock, free_current_vm),
    cmocka_unit_test_teardown(test_dev_boot_virtio_serial, free_current_vm),
    cmocka_unit_test_teardown(test_helper_killed_kills_vm, free_current_vm),
    cmocka_unit_test_teardown(test_guest_poweroff_observed, free_current_vm),
  };
  return cmocka_run_group_tests_name("vm-qemu", tests, setup, teardown);
}
