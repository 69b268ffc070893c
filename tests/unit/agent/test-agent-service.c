/* veil-agent as a service: RPC semantics without containers (real binary, real
 * ttrpc over a unix socket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent-harness.h"
#include "common/cleanup.h"

static int setup(void **state)
{
  static struct agent_fixture f;
  if (fx_start(&f) < 0)
    return -1;
  *state = &f;
  return 0;
}

static int teardown(void **state)
{
  return fx_stop(*state);
}

static void test_check_and_version(void **state)
{
  struct agent_fixture *f = *state;
  Grpc__CheckRequest req = GRPC__CHECK_REQUEST__INIT;
  uint8_t buf[64];
  size_t n = grpc__check_request__pack(&req, buf);
  uint8_t *resp = NULL;
  size_t len = 0;
  assert_int_equal(fx_call_raw(f, "grpc.Health", "Check", buf, n, &resp, &len, NULL), 0);
  Grpc__HealthCheckResponse *h = grpc__health_check_response__unpack(NULL, len, resp);
  assert_non_null(h);
  assert_int_equal(h->status, GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  grpc__health_check_response__free_unpacked(h, NULL);
  free(resp);
  assert_int_equal(fx_call_raw(f, "grpc.Health", "Version", buf, n, &resp, &len, NULL), 0);
  Grpc__VersionCheckResponse *v = grpc__version_check_response__unpack(NULL, len, resp);
  assert_non_null(v);
  assert_string_equal(v->agent_version, "0.1.0");
  grpc__version_check_response__free_unpacked(v, NULL);
  free(resp);
}

static void test_unknown_container_not_found(void **state)
{
  struct agent_fixture *f = *state;
  Grpc__StartContainerRequest s = GRPC__START_CONTAINER_REQUEST__INIT;
  s.container_id = "nope";
  assert_int_equal(fx_call(f, "StartContainer", &s.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  Grpc__WaitProcessRequest w = GRPC__WAIT_PROCESS_REQUEST__INIT;
  w.container_id = "nope";
  w.exec_id = "nope";
  assert_int_equal(fx_call(f, "WaitProcess", &w.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  Grpc__ReadStreamRequest r = GRPC__READ_STREAM_REQUEST__INIT;
  r.container_id = "nope";
  r.exec_id = "nope";
  assert_int_equal(fx_call(f, "ReadStdout", &r.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  Grpc__RemoveContainerRequest rm = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
  rm.container_id = "nope";
  assert_int_equal(fx_call(f, "RemoveContainer", &rm.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  Grpc__SignalProcessRequest sg = GRPC__SIGNAL_PROCESS_REQUEST__INIT;
  sg.container_id = "nope";
  sg.signal = 9;
  assert_int_equal(fx_call(f, "SignalProcess", &sg.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
}

static void test_malformed_protobuf_invalid_argument(void **state)
{
  struct agent_fixture *f = *state;
  /* field 1, wire type 2 (bytes) with a length running past the end */
  const uint8_t bad[] = { 0x0a, 0x7f, 'x' };
  assert_int_equal(fx_call_raw(f, "grpc.AgentService", "CreateContainer", bad, sizeof(bad), NULL,
                               NULL, NULL),
                   VEIL_GRPC_INVALID_ARGUMENT);
  const uint8_t bad2[] = { 0xff, 0xff, 0xff };
  assert_int_equal(fx_call_raw(f, "grpc.AgentService", "ReadStdout", bad2, sizeof(bad2), NULL,
                               NULL, NULL),
                   VEIL_GRPC_INVALID_ARGUMENT);
  /* the agent is still serving */
  assert_int_equal(fx_call_raw(f, "grpc.Health", "Check", NULL, 0, NULL, NULL, NULL), 0);
}

static void test_unimplemented(void **state)
{
  struct agent_fixture *f = *state;
  Grpc__GetIPTablesRequest g = GRPC__GET_IPTABLES_REQUEST__INIT;
  assert_int_equal(fx_call(f, "GetIPTables", &g.base, NULL, NULL), VEIL_GRPC_UNIMPLEMENTED);
  assert_int_equal(fx_call_raw(f, "grpc.AgentService", "NoSuchMethod", NULL, 0, NULL, NULL, NULL),
                   VEIL_GRPC_UNIMPLEMENTED);
}

static void test_create_container_bad_requests(void **state)
{
  struct agent_fixture *f = *state;
  Grpc__CreateContainerRequest c = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  c.container_id = "../etc";
  assert_int_equal(fx_call(f, "CreateContainer", &c.base, NULL, NULL), VEIL_GRPC_INVALID_ARGUMENT);
  c.container_id = "ok";
  /* no OCI spec */
  assert_int_equal(fx_call(f, "CreateContainer", &c.base, NULL, NULL), VEIL_GRPC_INVALID_ARGUMENT);
  /* guest pull is refused with a clear error */
  Grpc__Spec spec = GRPC__SPEC__INIT;
  Grpc__Process proc = GRPC__PROCESS__INIT;
  char *args[] = { "/bin/true" };
  proc.n_args = 1;
  proc.args = args;
  Grpc__Root root = GRPC__ROOT__INIT;
  root.path = "/run/kata-containers/ok/rootfs";
  spec.process = &proc;
  spec.root = &root;
  c.oci = &spec;
  Grpc__Storage st = GRPC__STORAGE__INIT;
  st.driver = "image_guest_pull";
  st.source = "docker.io/library/busybox:latest";
  st.mount_point = "/run/kata-containers/ok/rootfs";
  Grpc__Storage *sts[] = { &st };
  c.n_storages = 1;
  c.storages = sts;
  char *msg = NULL;
  size_t n = grpc__create_container_request__get_packed_size(&c);
  uint8_t *buf = malloc(n);
  grpc__create_container_request__pack(&c, buf);
  assert_int_equal(fx_call_raw(f, "grpc.AgentService", "CreateContainer", buf, n, NULL, NULL, &msg),
                   VEIL_GRPC_FAILED_PRECONDITION);
  assert_non_null(strstr(msg, "guest image pull is not supported"));
  free(msg);
  free(buf);
  /* and left nothing behind: the id is free */
  Grpc__StartContainerRequest s = GRPC__START_CONTAINER_REQUEST__INIT;
  s.container_id = "ok";
  assert_int_equal(fx_call(f, "StartContainer", &s.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
}

static void copy(struct agent_fixture *f, const char *path, const char *data, int expect)
{
  Grpc__CopyFileRequest c = GRPC__COPY_FILE_REQUEST__INIT;
  c.path = (char *)path;
  c.file_size = (int64_t)strlen(data);
  c.file_mode = 0100644;
  c.dir_mode = 0755;
  c.uid = -1;
  c.gid = -1;
  c.data.data = (uint8_t *)data;
  c.data.len = strlen(data);
  assert_int_equal(fx_call(f, "CopyFile", &c.base, NULL, NULL), expect);
}

static void test_copy_file_paths(void **state)
{
  struct agent_fixture *f = *state;
  char ok[PATH_MAX + 64], dotdot[PATH_MAX + 64], sibling[PATH_MAX + 64];
  snprintf(ok, sizeof(ok), "%s/copy/sub/dir/file.txt", f->dir);
  snprintf(dotdot, sizeof(dotdot), "%s/copy/../escape.txt", f->dir);
  snprintf(sibling, sizeof(sibling), "%s/copyx/file.txt", f->dir);
  copy(f, ok, "hello copy", 0);
  cleanup_free char *got = NULL;
  size_t len;
  veil_error_t err = NULL;
  assert_int_equal(veil_read_file(ok, 1024, &got, &len, &err), 0);
  assert_string_equal(got, "hello copy");
  copy(f, dotdot, "x", VEIL_GRPC_INVALID_ARGUMENT);
  copy(f, sibling, "x", VEIL_GRPC_INVALID_ARGUMENT);
  copy(f, "/etc/veil-should-not-exist", "x", VEIL_GRPC_INVALID_ARGUMENT);
  copy(f, "relative/path", "x", VEIL_GRPC_INVALID_ARGUMENT);
  char escape[PATH_MAX + 64];
  snprintf(escape, sizeof(escape), "%s/escape.txt", f->dir);
  assert_int_equal(access(escape, F_OK), -1);
  assert_int_equal(access("/etc/veil-should-not-exist", F_OK), -1);
  /* a symlink created through CopyFile cannot redirect a later write */
  char link[PATH_MAX + 64], through[PATH_MAX + 64];
  snprintf(link, sizeof(link), "%s/copy/link", f->dir);
  snprintf(through, sizeof(through), "%s/copy/link/newsub/escape2.txt", f->dir);
  Grpc__CopyFileRequest l = GRPC__COPY_FILE_REQUEST__INIT;
  l.path = link;
  l.file_mode = 0120777;
  l.data.data = (uint8_t *)f->dir;
  l.data.len = strlen(f->dir);
  l.file_size = (int64_t)l.data.len;
  assert_int_equal(fx_call(f, "CopyFile", &l.base, NULL, NULL), 0);
  copy(f, through, "x", VEIL_GRPC_INVALID_ARGUMENT);
  snprintf(escape, sizeof(escape), "%s/newsub", f->dir);
  assert_int_equal(access(escape, F_OK), -1); /* not even the parent directory */
  /* size bound and chunk outside the announced size */
  Grpc__CopyFileRequest c = GRPC__COPY_FILE_REQUEST__INIT;
  c.path = ok;
  c.file_size = 1ll << 40;
  assert_int_equal(fx_call(f, "CopyFile", &c.base, NULL, NULL), VEIL_GRPC_INVALID_ARGUMENT);
  c.file_size = 2;
  c.data.data = (uint8_t *)"abc";
  c.data.len = 3;
  assert_int_equal(fx_call(f, "CopyFile", &c.base, NULL, NULL), VEIL_GRPC_INVALID_ARGUMENT);
}

static int set_policy(struct agent_fixture *f, const char *text)
{
  Grpc__SetPolicyRequest p = GRPC__SET_POLICY_REQUEST__INIT;
  p.policy = (char *)text;
  return fx_call(f, "SetPolicy", &p.base, NULL, NULL);
}

static void test_policy_allow_deny(void **state)
{
  struct agent_fixture *f = *state;
  /* unsupported Rego is rejected, and does not change the policy */
  assert_int_equal(set_policy(f, "package agent_policy\nCreateContainerRequest { true }\n"),
                   VEIL_GRPC_INVALID_ARGUMENT);
  Grpc__GuestDetailsRequest g = GRPC__GUEST_DETAILS_REQUEST__INIT;
  assert_int_equal(fx_call(f, "GetGuestDetails", &g.base, NULL, NULL), 0);
  assert_int_equal(set_policy(f, "package agent_policy\n"
                                 "# allow what the test needs\n"
                                 "default SetPolicyRequest := true\n"
                                 "default StartContainerRequest := true\n"
                                 "default GuestDetailsRequest = false\n"),
                   0);
  assert_int_equal(fx_call(f, "GetGuestDetails", &g.base, NULL, NULL), VEIL_GRPC_PERMISSION_DENIED);
  /* not listed -> denied (kata semantics) */
  Grpc__CopyFileRequest c = GRPC__COPY_FILE_REQUEST__INIT;
  assert_int_equal(fx_call(f, "CopyFile", &c.base, NULL, NULL), VEIL_GRPC_PERMISSION_DENIED);
  /* allowed -> the request runs (and fails on its own merits) */
  Grpc__StartContainerRequest s = GRPC__START_CONTAINER_REQUEST__INIT;
  s.container_id = "nope";
  assert_int_equal(fx_call(f, "StartContainer", &s.base, NULL, NULL), VEIL_GRPC_NOT_FOUND);
  /* health is not subject to the policy */
  assert_int_equal(fx_call_raw(f, "grpc.Health", "Check", NULL, 0, NULL, NULL, NULL), 0);
  assert_int_equal(set_policy(f, "default SetPolicyRequest := true\n"
                                 "default GuestDetailsRequest := true\n"),
                   0);
  assert_int_equal(fx_call(f, "GetGuestDetails", &g.base, NULL, NULL), 0);
}

static void test_guest_details(void **state)
{
  struct agent_fixture *f = *state;
  Grpc__GuestDetailsRequest g = GRPC__GUEST_DETAILS_REQUEST__INIT;
  uint8_t *resp = NULL;
  size_t len = 0;
  assert_int_equal(fx_call(f, "GetGuestDetails", &g.base, &resp, &len), 0);
  Grpc__GuestDetailsResponse *d = grpc__guest_details_response__unpack(NULL, len, resp);
  assert_non_null(d);
  assert_non_null(d->agent_details);
  assert_string_equal(d->agent_details->version, "0.1.0");
  assert_false(d->agent_details->init_daemon);
  assert_true(d->agent_details->n_storage_handlers >= 5);
  assert_true(d->agent_details->supports_seccomp);
  assert_int_equal(d->agent_details->n_extra_features, 0); /* no initdata outside a guest */
  grpc__guest_details_response__free_unpacked(d, NULL);
  free(resp);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_check_and_version, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unknown_container_not_found, setup, teardown),
    cmocka_unit_test_setup_teardown(test_malformed_protobuf_invalid_argument, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unimplemented, setup, teardown),
    cmocka_unit_test_setup_teardown(test_create_container_bad_requests, setup, teardown),
    cmocka_unit_test_setup_teardown(test_copy_file_paths, setup, teardown),
    cmocka_unit_test_setup_teardown(test_policy_allow_deny, setup, teardown),
    cmocka_unit_test_setup_teardown(test_guest_details, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
