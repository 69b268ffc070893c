/* The expected measurement of the VM the shim launches for a config (see measure.h). The
 * inputs are taken from exactly what the QEMU backend uses: the same firmware selection,
 * kernel/initrd, command line (veil_vm_cmdline), vCPU count and model, guest features. */
#include "measure/measure.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "hypervisor/firmware.h"
#include "hypervisor/qemu_argv.h"
#include "measure/measure_bytes.h"
#include "measure/measure_launch.h"
#include "measure/vmsa.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)

static json_t *hex_json(const uint8_t *data, size_t len)
{
  char hex[2 * 64 + 1];
  veil_hex(data, len < 64 ? len : 64, hex);
  return json_string(hex);
}

/* One RVPS reference value: the sample extractor's { "<name>": ["<value>", ...] } shape. */
static int add_ref(json_t *refs, const char *name, const uint8_t *data, size_t len)
{
  return json_object_set_new(refs, name, json_pack("[o]", hex_json(data, len)));
}

/* The CPUID signature QEMU puts in RDX of the initial VMSA for a -cpu value. */
static int vcpu_signature(const char *cpu, uint32_t *sig, veil_error_t *err)
{
  cleanup_free char *model = strndup(cpu, strcspn(cpu, ","));
  if (!model)
    return veil_error_errno(err, "allocate");
  if (strcmp(model, "host") == 0) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
      *sig = a;
      return 0;
    }
#endif
    return veil_error_make(err, ENOTSUP, "cannot read this host's CPUID signature for `-cpu host`:"
                           " set vcpu_type to an EPYC model in the config");
  }
  if (veil_vcpu_sig_by_name(model, sig) < 0)
    return veil_error_make(err, EINVAL, "unknown vCPU type `%s` (known: EPYC, EPYC-v4, EPYC-Rome, "
                           "EPYC-Milan, EPYC-Genoa, EPYC-Turin and their -vN versions, host)", model);
  return 0;
}

static const char *default_cpu(enum veil_profile p)
{
  return p == VEIL_PROFILE_SNP ? "EPYC-v4" : "host";
}

static json_t *inputs_json(const struct veil_measure_input *in, const char *cpu)
{
  json_t *o = json_pack("{s:s, s:s?, s:s?, s:s, s:I}", "firmware", in->firmware, "kernel",
                        in->kernel, "initrd", in->initrd, "cmdline", in->cmdline ? in->cmdline : "",
                        "vcpus", (json_int_t)in->vcpus);
  if (!o)
    return NULL;
  if (in->mode == VEIL_MEASURE_SEV_ES || in->mode == VEIL_MEASURE_SNP) {
    char sig[16];
    snprintf(sig, sizeof(sig), "0x%x", in->vcpu_sig);
    json_object_set_new(o, "vcpu_type", json_string(cpu));
    json_object_set_new(o, "vcpu_signature", json_string(sig));
  }
  if (in->mode == VEIL_MEASURE_SNP) {
    char gf[24];
    snprintf(gf, sizeof(gf), "0x%llx", (unsigned long long)in->guest_features);
    json_object_set_new(o, "guest_features", json_string(gf));
  }
  return o;
}

/* No TEE measurement: still say what would be launched. */
static json_t *no_measurement(const struct veil_vm_spec *spec, const char *tee, const char *note)
{
  const struct veil_config *cfg = spec->config;
  cleanup_free char *cmdline = veil_vm_cmdline(spec);
  return json_pack("{s:s, s:s, s:s, s:{s:s?, s:s?, s:s?, s:I}, s:{}}", "profile",
                   veil_profile_name(cfg->profile), "tee", tee, "note", note, "inputs", "kernel",
                   cfg->kernel, "initrd", cfg->initrd && cfg->initrd[0] ? cfg->initrd : NULL,
                   "cmdline", cmdline, "vcpus", (json_int_t)(spec->vcpus ? spec->vcpus : cfg->vcpus),
                   "reference_values");
}

int veil_measure_for_spec(const struct veil_vm_spec *spec, json_t **out, veil_error_t *err)
{
  const struct veil_config *cfg = spec->config;
  cleanup_with(json_decref) json_t *o = NULL;
  enum veil_measure_mode mode = VEIL_MEASURE_SEV;
  switch (cfg->profile) {
  case VEIL_PROFILE_DEV:
    o = no_measurement(spec, "none", "dev profile: no TEE, so the VM has no launch measurement "
                       "and nothing can be attested (for the values a TEE would measure, use "
                       "veil measure --mode snp|tdx --ovmf FILE --kernel ... )");
    break;
  case VEIL_PROFILE_SE:
    o = no_measurement(spec, "se", "IBM SE: the reference values come from the genprotimg image "
                       "header (pvextract-hdr), not from hashing the kernel; not computed");
    break;
  case VEIL_PROFILE_SEV: mode = VEIL_MEASURE_SEV; break;
  case VEIL_PROFILE_SEV_ES: mode = VEIL_MEASURE_SEV_ES; break;
  case VEIL_PROFILE_SNP: mode = VEIL_MEASURE_SNP; break;
  case VEIL_PROFILE_TDX: mode = VEIL_MEASURE_TDX; break;
  default:
    return veil_error_make(err, EINVAL, "unknown profile %d", (int)cfg->profile);
  }
  if (o == NULL) {
    enum veil_tee tee;
    cleanup_free char *fw = NULL;
    if (cfg->firmware && cfg->firmware[0]) {
      fw = strdup(cfg->firmware);
    } else if (veil_profile_tee(cfg->profile, &tee)) {
      enum veil_fw_mapping mapping;
      if (veil_firmware_select(NULL, NULL, tee, &fw, &mapping, err) < 0)
        return veil_error_wrap(err, "select firmware to measure");
    }
    cleanup_free char *cmdline = veil_vm_cmdline(spec);
    if (!fw || !cmdline)
      return veil_error_errno(err, "allocate");
    /* SEV*: without kernel-hashes the kernel is loaded unmeasured; TDVF always measures it */
    bool kernel = mode == VEIL_MEASURE_TDX || cfg->kernel_hashes;
    const char *cpu = cfg->vcpu_type && cfg->vcpu_type[0] ? cfg->vcpu_type : default_cpu(cfg->profile);
    struct veil_measure_input in = {
      .mode = mode,
      .firmware = fw,
      .kernel = kernel ? cfg->kernel : NULL,
      .initrd = kernel && cfg->initrd && cfg->initrd[0] ? cfg->initrd : NULL,
      .cmdline = kernel ? cmdline : NULL,
      .vcpus = spec->vcpus ? spec->vcpus : cfg->vcpus,
      .guest_features = cfg->guest_features,
    };
    if ((mode == VEIL_MEASURE_SEV_ES || mode == VEIL_MEASURE_SNP) &&
        vcpu_signature(cpu, &in.vcpu_sig, err) < 0)
      return -1;
    struct veil_measure_result r;
    if (veil_measure(&in, &r, err) < 0)
      return -1;
    json_t *refs = json_object();
    o = json_pack("{s:s, s:s, s:o, s:b, s:o}", "profile", veil_profile_name(cfg->profile), "tee",
                  veil_measure_mode_name(mode), "inputs", inputs_json(&in, cpu), "kernel_measured",
                  kernel, "reference_values", refs);
    if (!o)
      return veil_error_make(err, ENOMEM, "out of memory");
    veil_measure_result_refs(&r, refs);
  }
  if (!o)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (spec->initdata_digest && spec->initdata_digest_len)
    add_ref(json_object_get(o, "reference_values"), "init_data", spec->initdata_digest,
            spec->initdata_digest_len);
  *out = steal_pointer(&o);
  return 0;
}

void veil_measure_result_refs(const struct veil_measure_result *r, json_t *refs)
{
  switch (r->mode) {
  case VEIL_MEASURE_SNP:
    add_ref(refs, "snp_launch_measurement", r->digest, r->digest_len);
    break;
  case VEIL_MEASURE_TDX:
    add_ref(refs, "mr_td", r->digest, r->digest_len);
    if (r->has_rtmr1)
      add_ref(refs, "rtmr_1", r->rtmr1, 48);
    if (r->has_rtmr2)
      add_ref(refs, "rtmr_2", r->rtmr2, 48);
    break;
  default: /* SEV/SEV-ES: checked by the guest owner's pre-attestation, not by RVPS */
    add_ref(refs, "sev_launch_digest", r->digest, r->digest_len);
    break;
  }
}

int veil_measure_for_launch(const struct veil_config *cfg, unsigned vcpus,
                            const uint8_t *initdata_digest, size_t initdata_digest_len,
                            json_t **out, veil_error_t *err)
{
  struct veil_vm_spec spec = {
    .config = cfg,
    .vcpus = vcpus,
    .initdata_digest = initdata_digest,
    .initdata_digest_len = initdata_digest_len,
  };
  return veil_measure_for_spec(&spec, out, err);
}

int veil_measure_record(const struct veil_vm_spec *spec, const char *dir, veil_error_t *err)
{
  cleanup_with(json_decref) json_t *o = NULL;
  if (veil_measure_for_spec(spec, &o, err) < 0)
    return -1;
  cleanup_free char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
  cleanup_free char *path = NULL;
  if (!text || asprintf(&path, "%s/%s", dir, VEIL_MEASUREMENT_FILE) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  size_t len = strlen(text);
  cleanup_free char *withnl = NULL;
  if (asprintf(&withnl, "%s\n", text) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (veil_write_file_atomic(path, withnl, len + 1, 0644, err) < 0)
    return veil_error_wrap(err, "record measurement");
  return 0;
}
