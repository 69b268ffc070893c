/* Unit tests of the shim's pure pieces: argv (Go flag syntax), socket address, runtime
 * options decoding (legacy Any and BootstrapParams: identity check, ttrpc address, socket dir), OCI spec → grpc.Spec trimming, mount
 * option parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include <cmocka.h>

#include "bootstrap.pb-c.h"
#include "common/cleanup.h"
#include "github.com/containerd/containerd/pkg/runtimeoptions/v1/api.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "shim/address.h"
#include "shim/args.h"
#include "shim/mounts.h"
#include "shim/options.h"
#include "shim/spec.h"
#include "shim/virtual_volume.h"
#include "common/base64.h"

static void test_args_go_flag_syntax(void **state)
{
  (void)state;
  char *argv[] = {"shim", "-namespace", "k8s.io", "-address=/run/c.sock", "--id", "abc",
                  "-publish-binary", "/usr/bin/containerd", "-debug", "start", NULL};
  struct shim_args a;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_args_parse(10, argv, &a, &err), 0);
  assert_string_equal(a.namespace_, "k8s.io");
  assert_string_equal(a.address, "/run/c.sock");
  assert_string_equal(a.id, "abc");
  assert_string_equal(a.publish_binary, "/usr/bin/containerd");
  assert_true(a.debug);
  assert_string_equal(a.action, "start");
}

static void test_args_errors(void **state)
{
  (void)state;
  struct shim_args a;
  cleanup_error veil_error_t err = NULL;
  char *unknown[] = {"shim", "-bogus", "x", NULL};
  assert_int_equal(shim_args_parse(3, unknown, &a, &err), -1);
  assert_non_null(strstr(err->msg, "bogus"));
  veil_error_release(&err);
  char *missing[] = {"shim", "-id", NULL};
  assert_int_equal(shim_args_parse(2, missing, &a, &err), -1);
  assert_non_null(strstr(err->msg, "needs an argument"));
  veil_error_release(&err);
  char *action[] = {"shim", "-id", "x", "explode", NULL};
  assert_int_equal(shim_args_parse(4, action, &a, &err), -1);
  assert_non_null(strstr(err->msg, "explode"));
  veil_error_release(&err);
  char *serve[] = {"shim", "-id", "x", "-debug=false", NULL};
  assert_int_equal(shim_args_parse(4, serve, &a, &err), 0);
  assert_null(a.action);
  assert_false(a.debug);
}

static void test_socket_address_matches_containerd(void **state)
{
  (void)state;
  char out[256];
  cleanup_error veil_error_t err = NULL;
  /* sha256("/run/containerd/containerd.sock/default/test3"), as containerd's
   * SocketAddress computes it with filepath.Join */
  assert_int_equal(shim_socket_address("/run/containerd/containerd.sock", "default", "test3",
                                       NULL, out, sizeof(out), &err),
                   0);
  assert_string_equal(out, "unix:///run/containerd/s/"
                           "47aa812be567ebae94fe3462544dd08b360c75dab0fb800ad138fd5c1b11117d");
  /* Join cleans duplicate and trailing slashes */
  char out2[256];
  assert_int_equal(shim_socket_address("/run/containerd//containerd.sock/", "default", "test3",
                                       NULL, out2, sizeof(out2), &err),
                   0);
  assert_string_equal(out, out2);
  assert_string_equal(shim_address_path(out), out + 7);
  /* a socket dir so long the path cannot fit in sun_path */
  char longdir[200];
  memset(longdir, 'd', sizeof(longdir) - 1);
  longdir[0] = '/';
  longdir[sizeof(longdir) - 1] = '\0';
  assert_int_equal(shim_socket_address("/a", "b", "c", longdir, out, sizeof(out), &err), -1);
  assert_int_equal(err->status, ENAMETOOLONG);
}

static size_t pack_options_any(const char *type_url, const char *config_path, uint8_t *buf)
{
  Runtimeoptions__V1__Options o = RUNTIMEOPTIONS__V1__OPTIONS__INIT;
  o.config_path = (char *)config_path;
  uint8_t inner[512];
  size_t n = runtimeoptions__v1__options__pack(&o, inner);
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = (char *)type_url;
  any.value.data = inner;
  any.value.len = n;
  return google__protobuf__any__pack(&any, buf);
}

static void test_options_legacy_any(void **state)
{
  (void)state;
  uint8_t buf[1024];
  size_t n = pack_options_any("runtimeoptions.v1.Options", "/etc/veil/snp.json", buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "id1", "default", &boot, &err), 0);
  assert_false(boot.from_params);
  assert_string_equal(boot.config_path, "/etc/veil/snp.json");
  assert_null(boot.ttrpc_address);
  assert_null(boot.socket_dir);
  shim_bootstrap_clear(&boot);
  /* other option types (e.g. runc's) are ignored, not an error */
  cleanup_free char *path = NULL;
  n = pack_options_any("containerd.runc.v1.Options", "/x", buf);
  assert_int_equal(shim_options_from_any(buf, n, &path, &err), 0);
  assert_null(path);
  /* empty stdin (a runtime without options, containerd < 2.3): nothing */
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, 0, "id1", "default", &boot, &err), 0);
  assert_false(boot.from_params);
  assert_null(boot.config_path);
  /* garbage is neither: an error that says what was expected */
  uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
  assert_int_equal(shim_bootstrap_from_start_stdin(junk, sizeof(junk), "id1", "default", &boot,
                                                   &err),
                   -1);
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "google.protobuf.Any"));
  assert_null(boot.config_path);
}

/* A legacy options Any decodes as a BootstrapParams too (type_url = field 1, value =
 * field 2): only the -id / -namespace check tells them apart. */
static void test_options_legacy_any_is_not_taken_for_params(void **state)
{
  (void)state;
  uint8_t buf[1024];
  size_t n = pack_options_any("runtimeoptions.v1.Options", "/etc/veil/dev.json", buf);
  Containerd__Runtime__Bootstrap__V1__BootstrapParams *bp =
      containerd__runtime__bootstrap__v1__bootstrap_params__unpack(NULL, n, buf);
  assert_non_null(bp);
  assert_string_equal(bp->instance_id, "runtimeoptions.v1.Options");
  containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(bp, NULL);

  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), 0);
  assert_false(boot.from_params);
  assert_string_equal(boot.config_path, "/etc/veil/dev.json");
  shim_bootstrap_clear(&boot);
}

/* BootstrapParams as containerd 2.3's pkg/shim Command() writes it. */
static size_t pack_params(const char *id, const char *ns, const char *ttrpc, const char *sock_dir,
                          const char *config_path, uint8_t *buf)
{
  uint8_t anybuf[1024];
  size_t anylen = pack_options_any("type.googleapis.com/runtimeoptions.v1.Options",
                                   config_path, anybuf);
  Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, anylen, anybuf);
  assert_non_null(any);
  Containerd__Runtime__Bootstrap__V1__Extension ext =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__EXTENSION__INIT;
  ext.value = any;
  Containerd__Runtime__Bootstrap__V1__Extension *exts[1] = {&ext};
  Containerd__Runtime__Bootstrap__V1__BootstrapParams bp =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__BOOTSTRAP_PARAMS__INIT;
  bp.instance_id = (char *)id;
  bp.namespace_ = (char *)ns;
  bp.log_level = CONTAINERD__RUNTIME__BOOTSTRAP__V1__LOG_LEVEL__DEBUG;
  bp.containerd_version = "2.3.7";
  bp.containerd_ttrpc_address = (char *)ttrpc;
  bp.containerd_grpc_address = "/run/containerd/containerd.sock";
  bp.containerd_binary = "/usr/bin/containerd";
  bp.socket_dir = (char *)sock_dir;
  bp.extensions = config_path ? exts : NULL;
  bp.n_extensions = config_path ? 1 : 0;
  size_t n = containerd__runtime__bootstrap__v1__bootstrap_params__pack(&bp, buf);
  google__protobuf__any__free_unpacked(any, NULL);
  return n;
}

static void test_options_bootstrap_params(void **state)
{
  (void)state;
  uint8_t buf[2048];
  size_t n = pack_params("pod1", "k8s.io", "/run/containerd/containerd.sock.ttrpc",
                         "/run/ctd-s", "/etc/veil/tdx.json", buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), 0);
  assert_true(boot.from_params);
  assert_string_equal(boot.config_path, "/etc/veil/tdx.json");
  assert_string_equal(boot.ttrpc_address, "/run/containerd/containerd.sock.ttrpc");
  assert_string_equal(boot.socket_dir, "/run/ctd-s");
  shim_bootstrap_clear(&boot);

  /* no runtime options, no socket dir: those stay unset */
  n = pack_params("pod1", "k8s.io", "/t.ttrpc", NULL, NULL, buf);
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), 0);
  assert_true(boot.from_params);
  assert_null(boot.config_path);
  assert_null(boot.socket_dir);
  assert_string_equal(boot.ttrpc_address, "/t.ttrpc");
  shim_bootstrap_clear(&boot);
}

/* Params for another instance or namespace are not ours: nothing of them is used (they are
 * then read as a legacy Any, which carries no veil options). */
static void test_options_bootstrap_params_identity_checked(void **state)
{
  (void)state;
  uint8_t buf[2048];
  size_t n = pack_params("pod1", "k8s.io", "/t.ttrpc", "/run/ctd-s", "/etc/veil/tdx.json", buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  const char *flags[][2] = {{"other", "k8s.io"}, {"pod1", "default"}, {"pod", "k8s.io"}};
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
    assert_int_equal(
        shim_bootstrap_from_start_stdin(buf, n, flags[i][0], flags[i][1], &boot, &err), 0);
    assert_false(boot.from_params);
    assert_null(boot.config_path);
    assert_null(boot.ttrpc_address);
    assert_null(boot.socket_dir);
    shim_bootstrap_clear(&boot);
  }
}

static void test_options_bootstrap_params_relative_socket_dir(void **state)
{
  (void)state;
  uint8_t buf[2048];
  size_t n = pack_params("pod1", "k8s.io", "/t.ttrpc", "run/s", NULL, buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), -1);
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "`run/s`"));
  assert_null(boot.ttrpc_address);
  assert_null(boot.socket_dir);
}

static const char *oci_config =
    "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
    "\"args\":[\"sh\",\"-c\",\"echo hi\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\","
    "\"capabilities\":{\"bounding\":[\"CAP_KILL\"]},\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\","
    "\"hard\":1024,\"soft\":1024}],\"noNewPrivileges\":true,"
    "\"selinuxLabel\":\"system_u:system_r:container_t:s0:c1,c2\"},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"box\","
    "\"hooks\":{\"prestart\":[{\"path\":\"/host/hook\"}]},"
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/var/lib/x/hosts\","
    "\"options\":[\"rbind\",\"ro\"]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/run/sandbox/shm\","
    "\"options\":[\"rbind\"]}],"
    "\"annotations\":{\"a\":\"b\"},"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/proc/1/ns/"
    "net\"},{\"type\":\"mount\",\"path\":\"/proc/9/ns/mnt\"},{\"type\":\"cgroup\"}],"
    "\"resources\":{\"memory\":{\"limit\":104857600},\"cpu\":{\"shares\":512,"
    "\"cpus\":\"0-3\",\"mems\":\"1\"},\"pids\":{\"limit\":100},"
    "\"devices\":[{\"allow\":false,\"access\":\"rwm\"}],\"blockIO\":{\"weight\":10}},"
    "\"mountLabel\":\"system_u:object_r:container_file_t:s0:c1,c2\","
    "\"cgroupsPath\":\"kubepods-besteffort.slice:cri-containerd:abc\","
    "\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229},"
    "{\"path\":\"/dev/vfio/12\",\"type\":\"c\",\"major\":243,\"minor\":0}],"
    "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\"},\"maskedPaths\":[\"/proc/kcore\"]}}";

static const struct spec_guest dev_guest = {"/run/kata-containers/shared/containers/c1/rootfs",
                                            true, 0};
static const struct spec_guest tee_guest = {"/run/kata-containers/c1/rootfs", false,
                                            SANDBOX_SHM_DEFAULT_SIZE};

static void test_spec_build_trims_as_kata(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  json_t *j = shim_spec_parse(oci_config, strlen(oci_config), &err);
  assert_non_null(j);
  struct spec_result r;
  assert_int_equal(shim_spec_build(j, "c1", &dev_guest, &r, &err),
                   0);
  Grpc__Spec *s = r.spec;
  assert_string_equal(s->version, "1.0.2");
  assert_string_equal(s->hostname, "box");
  assert_null(s->hooks);
  assert_string_equal(s->root->path, "/run/kata-containers/shared/containers/c1/rootfs");
  assert_true(s->root->readonly);
  assert_int_equal(s->process->n_args, 3);
  assert_string_equal(s->process->args[2], "echo hi");
  assert_true(s->process->nonewprivileges);
  assert_int_equal(s->process->n_rlimits, 1);
  assert_int_equal(s->process->rlimits[0]->hard, 1024);
  assert_int_equal(s->n_annotations, 1);
  assert_string_equal(s->annotations[0]->key, "a");
  /* pid (the agent adds its own), network and cgroup namespaces dropped, paths emptied */
  assert_int_equal(s->linux->n_namespaces, 1);
  assert_string_equal(s->linux->namespaces[0]->type, "mount");
  assert_string_equal(s->linux->namespaces[0]->path, "");
  assert_false(r.sandbox_pidns);
  assert_null(s->linux->seccomp);
  /* kata's constrainGRPCSpec: no cgroup devices/pids/blkio, no host CPU/NUMA pinning, no
   * SELinux labels, VFIO devices stripped, other devices kept */
  assert_int_equal(s->linux->n_devices, 1);
  assert_string_equal(s->linux->devices[0]->path, "/dev/fuse");
  assert_int_equal(s->linux->resources->n_devices, 0);
  assert_null(s->linux->resources->pids);
  assert_null(s->linux->resources->blockio);
  assert_string_equal(s->linux->resources->cpu->cpus, "");
  assert_string_equal(s->linux->resources->cpu->mems, "");
  assert_string_equal(s->process->selinuxlabel, "");
  assert_string_equal(s->linux->mountlabel, "");
  assert_string_equal(s->linux->cgroupspath, "/veil/c1");
  assert_int_equal(s->linux->resources->memory->limit, 104857600);
  assert_int_equal(s->linux->resources->cpu->shares, 512);
  /* the host bind goes through the share; /dev/shm becomes a tmpfs in a pod without one */
  assert_int_equal(s->n_mounts, 3);
  /* kata's shareFileName: <cid>-<16 hex>-<basename of the destination> */
  const char *src = s->mounts[1]->source;
  assert_int_equal(strncmp(src, GUEST_SHARED_DIR "/c1-", strlen(GUEST_SHARED_DIR "/c1-")), 0);
  assert_int_equal(strlen(src), strlen(GUEST_SHARED_DIR "/c1-") + 16 + strlen("-hosts"));
  assert_string_equal(src + strlen(src) - 6, "-hosts");
  assert_string_equal(r.shares[0].name, src + strlen(GUEST_SHARED_DIR "/"));
  assert_int_equal(r.n_shares, 1);
  assert_string_equal(r.shares[0].host_source, "/var/lib/x/hosts");
  assert_true(r.shares[0].readonly);
  assert_string_equal(s->mounts[2]->type, "tmpfs");
  shim_spec_result_clear(&r);

  /* without a shared fs (TEE), host binds are dropped */
  assert_int_equal(shim_spec_build(j, "c1", &tee_guest, &r, &err), 0);
  assert_int_equal(r.spec->n_mounts, 2);
  assert_int_equal(r.n_dropped_mounts, 1);
  assert_int_equal(r.n_shares, 0);
  /* a pod with a /dev/shm: every container's is the pod's (kata's handleShm) */
  assert_string_equal(r.spec->mounts[1]->destination, "/dev/shm");
  assert_string_equal(r.spec->mounts[1]->type, "bind");
  assert_string_equal(r.spec->mounts[1]->source, GUEST_SANDBOX_SHM);
  assert_int_equal(r.spec->mounts[1]->n_options, 1);
  assert_string_equal(r.spec->mounts[1]->options[0], "rbind");
  shim_spec_result_clear(&r);
  json_decref(j);

  /* shareProcessNamespace: the pid namespace names the pod's: share it in the guest */
  const char *shared_pid = "{\"ociVersion\":\"1.2.0\",\"process\":{\"args\":[\"sh\"]},"
                           "\"linux\":{\"namespaces\":[{\"type\":\"pid\",\"path\":"
                           "\"/proc/42/ns/pid\"},{\"type\":\"ipc\",\"path\":\"/proc/42/ns/ipc\"}]}}";
  j = shim_spec_parse(shared_pid, strlen(shared_pid), &err);
  assert_non_null(j);
  assert_int_equal(shim_spec_build(j, "c2", &tee_guest, &r, &err), 0);
  assert_true(r.sandbox_pidns);
  assert_int_equal(r.spec->linux->n_namespaces, 1);
  assert_string_equal(r.spec->linux->namespaces[0]->type, "ipc");
  assert_string_equal(r.spec->linux->namespaces[0]->path, "");
  shim_spec_result_clear(&r);
  json_decref(j);
}

static void test_exec_process_as_kata_sends_it(void **state)
{
  (void)state;
  const char *text = "{\"terminal\":false,\"consoleSize\":{\"height\":24,\"width\":80},"
                     "\"user\":{\"uid\":1000,\"gid\":100,\"additionalGids\":[5,6],\"username\":\"u\"},"
                     "\"args\":[\"sh\",\"-c\",\"id\"],\"env\":[\"A=1\",\"BARE\"],\"cwd\":\"/w\","
                     "\"capabilities\":{\"bounding\":[\"CAP_KILL\"]},\"noNewPrivileges\":true,"
                     "\"apparmorProfile\":\"cri-containerd.apparmor.d\",\"oomScoreAdj\":5,"
                     "\"selinuxLabel\":\"l\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1,"
                     "\"soft\":1}]}";
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  assert_non_null(j);
  cleanup_error veil_error_t err = NULL;
  Grpc__Process *p = shim_exec_process_build(j, true, &err);
  assert_non_null(p);
  assert_true(p->terminal); /* the request's, not the spec's */
  assert_null(p->consolesize);
  assert_null(p->capabilities);
  assert_int_equal(p->n_rlimits, 0);
  assert_false(p->nonewprivileges);
  assert_int_equal(p->oomscoreadj, 0);
  assert_string_equal(p->apparmorprofile, "");
  assert_string_equal(p->selinuxlabel, "");
  assert_int_equal(p->user->uid, 1000);
  assert_int_equal(p->user->gid, 100);
  assert_int_equal(p->user->n_additionalgids, 2);
  assert_string_equal(p->user->username, "");
  assert_int_equal(p->n_args, 3);
  assert_int_equal(p->n_env, 2);
  assert_string_equal(p->env[1], "BARE=");
  assert_string_equal(p->cwd, "/w");
  protobuf_c_message_free_unpacked(&p->base, NULL);
  json_decref(j);
  j = json_loads("{\"args\":[]}", 0, &jerr);
  assert_null(shim_exec_process_build(j, false, &err));
  assert_int_equal(err->status, EINVAL);
  json_decref(j);
}

/* A rootfs as nydus-snapshotter's proxy mode returns it (snapshot/mount_option.go
 * mountProxy + mountWithProxyVolume): fuse.nydus-overlayfs over the snapshot dirs, plus the
 * KataVirtualVolume the runtime must act on. */
static void nydus_mount(Containerd__Types__Mount *m, char **opts, const char *volume_json)
{
  containerd__types__mount__init(m);
  m->type = "fuse.nydus-overlayfs";
  m->source = "overlay";
  static char option[4096];
  char *b64 = veil_base64_encode((const uint8_t *)volume_json, strlen(volume_json));
  snprintf(option, sizeof(option), VIRTUAL_VOLUME_PREFIX "%s", b64);
  free(b64);
  opts[0] = "workdir=/var/lib/containerd-nydus/snapshots/7/work";
  opts[1] = "upperdir=/var/lib/containerd-nydus/snapshots/7/fs";
  opts[2] = "lowerdir=/var/lib/containerd-nydus/snapshots";
  opts[3] = option;
  m->options = opts;
  m->n_options = 4;
}

static void test_virtual_volume_from_nydus(void **state)
{
  (void)state;
  Containerd__Types__Mount m, *mounts[] = {&m};
  char *opts[4];
  cleanup_error veil_error_t err = NULL;
  nydus_mount(&m, opts, "{\"volume_type\":\"image_guest_pull\",\"source\":"
                        "\"docker.io/library/busybox:latest\",\"image_pull\":{\"metadata\":"
                        "{\"containerd.io/snapshot/cri.layer-digest\":\"sha256:abc\"}}}");
  assert_true(shim_rootfs_has_virtual_volume(mounts, 1));
  json_t *meta = NULL;
  assert_int_equal(shim_rootfs_guest_pull_metadata(mounts, 1, &meta, &err), 0);
  assert_string_equal(json_string_value(json_object_get(meta, "containerd.io/snapshot/cri.layer-digest")),
                      "sha256:abc");
  json_decref(meta);
  /* a plain overlayfs rootfs is not one */
  char *plain_opts[] = {"lowerdir=/a", "upperdir=/b", "workdir=/c"};
  Containerd__Types__Mount p;
  containerd__types__mount__init(&p);
  p.type = "overlay";
  p.options = plain_opts;
  p.n_options = 3;
  Containerd__Types__Mount *plain[] = {&p};
  assert_false(shim_rootfs_has_virtual_volume(plain, 1));
  /* what veil cannot take, or what is malformed, is a clear InvalidArgument */
  const char *bad[][2] = {
      {"{\"volume_type\":\"image_nydus_fs\"}", "not supported"},
      {"{\"source\":\"x\"}", "volume_type is missing"},
      {"[1,2]", "not a JSON object"},
      {"{\"volume_type\":\"image_guest_pull\",\"image_pull\":{\"metadata\":{\"k\":1}}}",
       "object of strings"},
      {"{\"volume_type\":\"image_guest_pull\",\"dm_verity\":{\"hashtype\":\"md5\"}}",
       "hashtype"},
      {"{\"volume_type\":\"a\",\"volume_type\":\"b\"}", "not a JSON object"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    nydus_mount(&m, opts, bad[i][0]);
    assert_int_equal(shim_rootfs_guest_pull_metadata(mounts, 1, &meta, &err), -1);
    assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_INVALID_ARGUMENT);
    assert_non_null(strstr(err->msg, bad[i][1]));
    veil_error_release(&err);
  }
  opts[3] = VIRTUAL_VOLUME_PREFIX "!!not base64!!";
  assert_int_equal(shim_rootfs_guest_pull_metadata(mounts, 1, &meta, &err), -1);
  veil_error_release(&err);
}

static void test_spec_bad_input(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  assert_null(shim_spec_parse("{not json", 9, &err));
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "not valid JSON"));
  veil_error_release(&err);
  assert_null(shim_spec_parse("[1]", 3, &err));
  veil_error_release(&err);
  const char *no_args = "{\"ociVersion\":\"1\",\"process\":{\"args\":[]}}";
  json_t *j = shim_spec_parse(no_args, strlen(no_args), &err);
  struct spec_result r;
  assert_int_equal(shim_spec_build(j, "c", &dev_guest, &r, &err), -1);
  assert_non_null(strstr(err->msg, "process.args"));
  json_decref(j);
  veil_error_release(&err);
  const char *bad_type = "{\"process\":{\"args\":\"sh\"}}";
  j = shim_spec_parse(bad_type, strlen(bad_type), &err);
  assert_int_equal(shim_spec_build(j, "c", &dev_guest, &r, &err), -1);
  assert_non_null(strstr(err->msg, "$.process.args: expected an array"));
  json_decref(j);
  veil_error_release(&err);
  const char *bad_range = "{\"process\":{\"args\":[\"a\"],\"user\":{\"uid\":-1}}}";
  j = shim_spec_parse(bad_range, strlen(bad_range), &err);
  assert_int_equal(shim_spec_build(j, "c", &dev_guest, &r, &err), -1);
  assert_int_equal(err->status, ERANGE);
  json_decref(j);
}

static void test_mount_options(void **state)
{
  (void)state;
  char *opts[] = {"ro", "nosuid", "lowerdir=/a:/b", "upperdir=/u", "rw", "rbind"};
  unsigned long flags;
  cleanup_free char *data = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_parse_mount_options(opts, 6, &flags, &data, &err), 0);
  assert_string_equal(data, "lowerdir=/a:/b,upperdir=/u");
  assert_int_equal(flags & MS_RDONLY, 0); /* rw after ro wins */
  assert_true(flags & MS_NOSUID);
  assert_true((flags & (MS_BIND | MS_REC)) == (MS_BIND | MS_REC));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_args_go_flag_syntax),
      cmocka_unit_test(test_args_errors),
      cmocka_unit_test(test_socket_address_matches_containerd),
      cmocka_unit_test(test_options_legacy_any),
      cmocka_unit_test(test_options_legacy_any_is_not_taken_for_params),
      cmocka_unit_test(test_options_bootstrap_params),
      cmocka_unit_test(test_options_bootstrap_params_identity_checked),
      cmocka_unit_test(test_options_bootstrap_params_relative_socket_dir),
      cmocka_unit_test(test_spec_build_trims_as_kata),
      cmocka_unit_test(test_exec_process_as_kata_sends_it),
      cmocka_unit_test(test_virtual_volume_from_nydus),
      cmocka_unit_test(test_spec_bad_input),
      cmocka_unit_test(test_mount_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
