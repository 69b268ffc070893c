/* `veil measure`: expected launch measurements.
 *   veil measure --config FILE [--vcpus N] [--initdata FILE] [--json]
 *       the values for exactly the VM the shim launches with that runtime config
 *   veil measure --mode sev|seves|snp|tdx --ovmf FILE [--kernel FILE] [--initrd FILE]
 *       [--append CMDLINE] [--vcpus N] [--vcpu-type NAME | --vcpu-sig HEX]
 *       [--guest-features HEX] [--two-pass] [--json]
 *       low level, flags as in sev-snp-measure; prints the digest as lowercase hex
 * See docs/measure.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "hypervisor/config.h"
#include "measure/initdata.h"
#include "measure/measure.h"
#include "measure/measure_bytes.h"
#include "measure/measure_launch.h"
#include "measure/vmsa.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)
VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)
VEIL_DEFINE_CLEANUP(struct veil_initdata, veil_initdata_free)

struct opts {
  const char *config, *initdata, *mode, *ovmf, *kernel, *initrd, *append, *vcpu_type, *vcpu_sig,
      *guest_features, *vcpus;
  bool json, two_pass;
};

static void usage(FILE *f)
{
  fprintf(f,
          "usage: veil measure --config FILE [--vcpus N] [--initdata FILE] [--json]\n"
          "       veil measure --mode sev|seves|snp|tdx --ovmf FILE [--kernel FILE] [--initrd FILE]\n"
          "                    [--append CMDLINE] [--vcpus N] [--vcpu-type NAME | --vcpu-sig HEX]\n"
          "                    [--guest-features HEX] [--two-pass] [--json]\n"
          "Prints the expected launch measurement (SEV/SEV-ES: SHA-256 launch digest; SEV-SNP:\n"
          "MEASUREMENT; TDX: MRTD, and RTMR1/RTMR2 with --kernel). --json prints reference values\n"
          "in the shape of Trustee RVPS sample provenance. --initdata takes a TOML document or the\n"
          "annotation value (base64 of gzip). vCPU types: EPYC, EPYC-v4, EPYC-Rome, EPYC-Milan,\n"
          "EPYC-Genoa, EPYC-Turin (and -vN versions). Defaults: --vcpus 1, --vcpu-type EPYC-v4,\n"
          "--guest-features 0x1.\n");
}

static int fail(veil_error_t *err)
{
  fprintf(stderr, "veil measure: %s\n", (*err)->msg);
  return 1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out, const char *what, veil_error_t *err)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || end == s || *end || s[0] == '-' || v > max)
    return veil_error_make(err, EINVAL, "invalid %s `%s`", what, s);
  *out = v;
  return 0;
}

/* --initdata: a TOML file, or a file holding the annotation value. */
static int load_initdata(const char *path, struct veil_initdata **out, veil_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (veil_read_file(path, VEIL_INITDATA_MAX_TOML, &data, &len, err) < 0)
    return veil_error_wrap(err, "read initdata");
  size_t i = 0;
  while (i < len && strchr(" \t\r\n", data[i]))
    i++;
  if (strncmp(data + i, "H4sI", 4) == 0) /* base64 of the gzip magic 1f 8b 08 */
    return veil_initdata_from_annotation(data + i, out, err);
  return veil_initdata_from_toml(data, len, out, err);
}

static void print_json(json_t *j)
{
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (s)
    printf("%s\n", s);
  free(s);
}

static void print_refs_text(json_t *refs)
{
  const char *k;
  json_t *v;
  json_object_foreach(refs, k, v)
    printf("%s: %s\n", k, json_string_value(json_array_get(v, 0)));
}

static int by_config(const struct opts *o, veil_error_t *err)
{
  cleanup_with(veil_config_free) struct veil_config *cfg = NULL;
  cleanup_with(veil_initdata_free) struct veil_initdata *id = NULL;
  cleanup_with(json_decref) json_t *res = NULL;
  uint64_t vcpus = 0;
  if (o->mode || o->ovmf || o->kernel || o->initrd || o->append || o->vcpu_type || o->vcpu_sig ||
      o->guest_features || o->two_pass)
    return veil_error_make(err, EINVAL, "--config takes its inputs from the config: only --vcpus, "
                           "--initdata and --json can be combined with it");
  if (o->vcpus && (parse_u64(o->vcpus, VEIL_MEASURE_MAX_VCPUS, &vcpus, "--vcpus", err) < 0 ||
                   vcpus == 0))
    return veil_error_make(err, EINVAL, "invalid --vcpus `%s` (1-%u)", o->vcpus,
                           VEIL_MEASURE_MAX_VCPUS);
  if (veil_config_load(o->config, &cfg, err) < 0)
    return -1;
  if (o->initdata && load_initdata(o->initdata, &id, err) < 0)
    return -1;
  if (veil_measure_for_launch(cfg, (unsigned)vcpus, id ? id->digest : NULL, id ? id->digest_len : 0,
                              &res, err) < 0)
    return veil_error_wrap(err, "measure config `%s`", o->config);
  json_t *refs = json_object_get(res, "reference_values");
  if (o->json) {
    print_json(refs);
    return 0;
  }
  printf("config: %s\nprofile: %s\ntee: %s\n", o->config, veil_profile_name(cfg->profile),
         json_string_value(json_object_get(res, "tee")));
  json_t *note = json_object_get(res, "note");
  if (note)
    printf("note: %s\n", json_string_value(note));
  json_t *in = json_object_get(res, "inputs");
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    if (json_is_string(v))
      printf("%s: %s\n", k, json_string_value(v));
    else if (json_is_integer(v))
      printf("%s: %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
  }
  if (json_is_false(json_object_get(res, "kernel_measured")))
    printf("kernel_measured: no (kernel_hashes is off: the kernel, initrd and command line are "
           "not part of the measurement)\n");
  if (id)
    printf("initdata_algorithm: %s\n", id->algorithm);
  print_refs_text(refs);
  return 0;
}

static int low_level(const struct opts *o, veil_error_t *err)
{
  struct veil_measure_input in = { .vcpus = 1, .guest_features = 0x1 };
  uint64_t v;
  if (!o->mode)
    return veil_error_make(err, EINVAL, "give --config FILE, or --mode and --ovmf");
  if (veil_measure_mode_parse(o->mode, &in.mode) < 0)
    return veil_error_make(err, EINVAL, "unknown mode `%s` (use sev, seves, snp or tdx)", o->mode);
  if (!o->ovmf)
    return veil_error_make(err, EINVAL, "--mode needs --ovmf FILE");
  if (o->initdata)
    return veil_error_make(err, EINVAL, "--initdata goes with --config");
  in.firmware = o->ovmf;
  in.kernel = o->kernel;
  in.initrd = o->initrd;
  in.cmdline = o->append;
  in.tdx_two_pass = o->two_pass;
  if (o->two_pass && in.mode != VEIL_MEASURE_TDX)
    return veil_error_make(err, EINVAL, "--two-pass applies to --mode tdx only");
  if (o->vcpus) {
    if (parse_u64(o->vcpus, VEIL_MEASURE_MAX_VCPUS, &v, "--vcpus", err) < 0)
      return -1;
    in.vcpus = (unsigned)v;
  }
  if (o->vcpu_type && o->vcpu_sig)
    return veil_error_make(err, EINVAL, "give --vcpu-type or --vcpu-sig, not both");
  if (o->vcpu_sig) {
    if (parse_u64(o->vcpu_sig, UINT32_MAX, &v, "--vcpu-sig", err) < 0)
      return -1;
    in.vcpu_sig = (uint32_t)v;
  } else if (veil_vcpu_sig_by_name(o->vcpu_type ? o->vcpu_type : "EPYC-v4", &in.vcpu_sig) < 0) {
    return veil_error_make(err, EINVAL, "unknown vCPU type `%s` (known: EPYC, EPYC-v4, EPYC-Rome, "
                           "EPYC-Milan, EPYC-Genoa, EPYC-Turin and their -vN versions)", o->vcpu_type);
  }
  if (o->guest_features &&
      parse_u64(o->guest_features, UINT64_MAX, &in.guest_features, "--guest-features", err) < 0)
    return -1;
  struct veil_measure_result r;
  if (veil_measure(&in, &r, err) < 0)
    return -1;
  if (o->json) {
    cleanup_with(json_decref) json_t *refs = json_object();
    if (!refs)
      return veil_error_make(err, ENOMEM, "out of memory");
    veil_measure_result_refs(&r, refs);
    print_json(refs);
    return 0;
  }
  char hex[97];
  veil_hex(r.digest, r.digest_len, hex);
  printf("%s\n", hex);
  if (r.has_rtmr1 || r.has_rtmr2) {
    if (r.has_rtmr1)
      veil_hex(r.rtmr1, 48, hex);
    fprintf(stdout, "rtmr1: %s\n", r.has_rtmr1 ? hex : "not computed (the kernel is not a PE image)");
    veil_hex(r.rtmr2, 48, hex);
    printf("rtmr2: %s\n", hex);
  }
  return 0;
}

int veil_cmd_measure(int argc, char **argv)
{
  enum { O_CONFIG = 1, O_INITDATA, O_MODE, O_OVMF, O_KERNEL, O_INITRD, O_APPEND, O_VCPUS,
         O_VCPU_TYPE, O_VCPU_SIG, O_GUEST_FEATURES, O_TWO_PASS, O_JSON, O_HELP };
  static const struct option longopts[] = {
    { "config", required_argument, NULL, O_CONFIG },
    { "initdata", required_argument, NULL, O_INITDATA },
    { "mode", required_argument, NULL, O_MODE },
    { "ovmf", required_argument, NULL, O_OVMF },
    { "kernel", required_argument, NULL, O_KERNEL },
    { "initrd", required_argument, NULL, O_INITRD },
    { "append", required_argument, NULL, O_APPEND },
    { "vcpus", required_argument, NULL, O_VCPUS },
    { "vcpu-type", required_argument, NULL, O_VCPU_TYPE },
    { "vcpu-sig", required_argument, NULL, O_VCPU_SIG },
    { "guest-features", required_argument, NULL, O_GUEST_FEATURES },
    { "two-pass", no_argument, NULL, O_TWO_PASS },
    { "json", no_argument, NULL, O_JSON },
    { "help", no_argument, NULL, O_HELP },
    { NULL, 0, NULL, 0 },
  };
  struct opts o = { 0 };
  const char **slot[] = {
    [O_CONFIG] = &o.config, [O_INITDATA] = &o.initdata, [O_MODE] = &o.mode, [O_OVMF] = &o.ovmf,
    [O_KERNEL] = &o.kernel, [O_INITRD] = &o.initrd, [O_APPEND] = &o.append, [O_VCPUS] = &o.vcpus,
    [O_VCPU_TYPE] = &o.vcpu_type, [O_VCPU_SIG] = &o.vcpu_sig,
    [O_GUEST_FEATURES] = &o.guest_features,
  };
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    if (c == O_HELP) {
      usage(stdout);
      return 0;
    } else if (c == O_TWO_PASS) {
      o.two_pass = true;
    } else if (c == O_JSON) {
      o.json = true;
    } else if (c > 0 && c < O_TWO_PASS) {
      *slot[c] = optarg;
    } else {
      fprintf(stderr, "veil measure: unknown or incomplete option `%s`\n", argv[optind - 1]);
      usage(stderr);
      return 1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "veil measure: unexpected argument `%s`\n", argv[optind]);
    usage(stderr);
    return 1;
  }
  cleanup_error veil_error_t err = NULL;
  int rc = o.config ? by_config(&o, &err) : low_level(&o, &err);
  return rc < 0 ? fail(&err) : 0;
}
