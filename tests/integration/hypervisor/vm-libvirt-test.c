/* Integration: the libvirt backend against a real libvirtd (started by with-libvirtd.sh): boot
 * the dev guest as a transient TCG domain, reach the agent over the unix channel
 * (agent.channel.0) and call Check, stop it, nothing left behind; and a domain libvirt refuses
 * fails cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>

#include "hypervisor/vm.h"
#include "vm_test_util.h"
#include "agent_client/agent_client.h"

static char run_base[] = "/tmp/veil-lvtest-XXXXXX";

static int setup(void **state)
{
  (void)state;
  if (getenv("VEIL_LIBVIRT_URI") == NULL) {
    fprintf(stderr, "VEIL_LIBVIRT_URI unset: run through with-libvirtd.sh\n");
    return -1;
  }
  /* 0711 like the default run dir base: QEMU and vhost-device-vsock run as libvirt's
   * unprivileged user and must reach the VM's run dir below it. */
  return mkdtemp(run_base) && chmod(run_base, 0711) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  cleanup_error veil_error_t e = NULL;
  return veil_remove_tree(run_base, &e);
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

static char *libvirt_extra(const char *more)
{
  char *s = NULL;
  if (asprintf(&s, "{\"backend\":\"libvirt\",\"libvirt_uri\":\"%s\"%s}", getenv("VEIL_LIBVIRT_URI"), more) < 0)
    return NULL;
  return s;
}

static void test_libvirt_dev_boot_check_stop(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  cleanup_free char *extra = libvirt_extra("");
  cleanup_with(veil_config_free) struct veil_config *c = test_config("dev", run_base, extra, &err);
  if (c == NULL)
    fail_msg("config: %s", err->msg);
  struct veil_vm_spec spec = { .config = c, .id = "lv1" };
  struct veil_vm *vm = NULL;
  if (veil_vm_start(&spec, &vm, &err) < 0)
    fail_msg("start: %s", err->msg);
  current_vm = vm;
  pid_t pid = veil_vm_pid(vm);
  assert_true(pid > 0);
  char rd[1200], expect[1300];
  snprintf(rd, sizeof(rd), "%s/lv1", run_base);
  /* no /dev/vhost-vsock here: hybrid vsock through vhost-device-vsock, as with QEMU */
  snprintf(expect, sizeof(expect), "hvsock://%s/vsock.sock:1024", rd);
  if (access("/dev/vhost-vsock", F_OK) == 0)
    snprintf(expect, sizeof(expect), "vsock://");
  if (strncmp(veil_vm_agent_address(vm), expect, strlen(expect)) != 0)
    fail_msg("agent address %s, want %s...", veil_vm_agent_address(vm), expect);
  /* libvirt clears QEMU's capabilities (clear_emulator_capabilities) and applies its sandbox */
  assert_int_equal(proc_caps(pid, "CapEff"), 0);
  assert_int_equal(proc_caps(pid, "Seccomp"), 2);
  if (agent_expected()) {
    veil_agent *a = veil_agent_dial_ready(veil_vm_agent_address(vm), 120000, vm_alive, vm, &err);
    if (a == NULL)
      fail_msg("agent: %s", err->msg);
    Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
    Grpc__HealthCheckResponse *resp = NULL;
    if (veil_agent_check(a, &req, &resp, &err) < 0)
      fail_msg("Check: %s", err->msg);
    assert_int_equal(resp->status, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    grpc__health_check_response__free_unpacked(resp, NULL);
    veil_agent_free(a);
  } else {
    snprintf(expect, sizeof(expect), "%s/console.log", rd);
    for (int i = 0;; i++) {
      cleanup_free char *console = NULL;
      cleanup_error veil_error_t e2 = NULL;
      if (veil_read_file(expect, 1 << 20, &console, NULL, &e2) == 0 && strstr(console, "veil-test-guest: up"))
        break;
      assert_true(i < 600);
      poll(NULL, 0, 200);
    }
  }
  if (veil_vm_stop(vm, 15000, &err) < 0)
    fail_msg("stop: %s", err->msg);
  assert_true(veil_vm_exited(vm, NULL));
  fprintf(stderr, "# exit reason: %s\n", veil_vm_exit_reason(vm));
  current_vm = NULL;
  veil_vm_free(vm);
  for (int i = 0; i < 100 && !process_gone(pid); i++)
    poll(NULL, 0, 50);  /* libvirtd reaps its QEMU */
  assert_true(process_gone(pid));
  assert_int_equal(access(rd, F_OK), -1);
}

static void test_libvirt_bad_domain_leaves_nothing(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  cleanup_free char *extra = libvirt_extra(",\"vcpu_type\":\"no-such-cpu-model\",\"accel\":\"tcg\"");
  cleanup_with(veil_config_free) struct veil_config *c = test_config("dev", run_base, extra, &err);
  assert_non_null(c);
  struct veil_vm_spec spec = { .config = c, .id = "lvbad" };
  struct veil_vm *vm = NULL;
  assert_int_equal(veil_vm_start(&spec, &vm, &err), -1);
  fprintf(stderr, "# lvbad: %s\n", err->msg);
  assert_non_null(strstr(err->msg, "libvirt create domain"));
  assert_non_null(strstr(err->msg, "no-such-cpu-model"));
  char rd[1200];
  snprintf(rd, sizeof(rd), "%s/lvbad", run_base);
  assert_int_equal(access(rd, F_OK), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_libvirt_bad_domain_leaves_nothing, free_current_vm),
    cmocka_unit_test_teardown(test_libvirt_dev_boot_check_stop, free_current_vm),
  };
  return cmocka_run_group_tests_name("vm-libvirt", tests, setup, teardown);
}
