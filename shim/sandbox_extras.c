#include "shim/sandbox_extras.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "measure/measure_launch.h"
#include "shim/bundle.h"
#include "shim/shim.h"

static bool annotation_enabled(const struct veil_config *c, const char *name)
{
  for (char **a = c->enable_annotations; a && *a; a++)
    if (strcmp(*a, name) == 0)
      return true;
  return false;
}

#define ANNOT_VCPUS "io.katacontainers.config.hypervisor.default_vcpus"
#define ANNOT_MEMORY "io.katacontainers.config.hypervisor.default_memory"
#define ANNOT_KERNEL_PARAMS "io.katacontainers.config.hypervisor.kernel_params"
#define ANNOT_POLICY "io.katacontainers.config.agent.policy"
#define POLICY_MAX (1u << 20)

/* An annotation the operator allowed, else NULL (with a warning when it was set). */
static const char *allowed_annotation(struct shim *s, const json_t *spec, const char *name)
{
  const char *v = shim_spec_annotation(spec, name);
  if (v && !annotation_enabled(s->sandbox.config, name)) {
    log_warn("sandbox %s: ignoring annotation %s: not in the runtime config's "
             "enable_annotations", s->sandbox.id, name);
    return NULL;
  }
  return v;
}

static int parse_count(const char *name, const char *v, unsigned max, unsigned *out,
                       veil_error_t *err)
{
  char *end = NULL;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (errno || end == v || *end != '\0' || n == 0 || n > max)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "annotation %s: `%s` is not a number between 1 and %u", name, v, max);
  *out = (unsigned)n;
  return 0;
}

/* Kernel parameters end up on the measured command line: printable, no quotes. */
static int check_kernel_params(const char *v, veil_error_t *err)
{
  if (strlen(v) >= 1024)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "annotation %s: longer than 1023 bytes", ANNOT_KERNEL_PARAMS);
  for (const char *p = v; *p; p++)
    if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                             "annotation %s: only printable ASCII without quotes or "
                             "backslashes is allowed", ANNOT_KERNEL_PARAMS);
  return 0;
}

static int decode_policy(const char *b64, char **out, veil_error_t *err)
{
  uint8_t *text = NULL;
  size_t len = 0;
  if (veil_base64_decode(b64, POLICY_MAX, &text, &len, err) < 0)
    return veil_error_wrap_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "annotation %s", ANNOT_POLICY);
  *out = (char *)text; /* NUL-terminated by the decoder */
  return 0;
}

int shim_sandbox_extras_prepare(struct shim *s, const json_t *spec, struct sandbox_extras *out,
                                veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  const char *v;
  if ((v = allowed_annotation(s, spec, ANNOT_VCPUS)) &&
      parse_count(ANNOT_VCPUS, v, 256, &out->vcpus, err) < 0)
    return -1;
  if ((v = allowed_annotation(s, spec, ANNOT_MEMORY)) &&
      parse_count(ANNOT_MEMORY, v, 1024 * 1024, &out->memory_mb, err) < 0)
    return -1;
  if ((v = allowed_annotation(s, spec, ANNOT_KERNEL_PARAMS))) {
    if (check_kernel_params(v, err) < 0)
      return -1;
    snprintf(out->kernel_params, sizeof(out->kernel_params), "%s", v);
  }
  if ((v = allowed_annotation(s, spec, ANNOT_POLICY)) && decode_policy(v, &out->policy, err) < 0)
    return -1;
  const char *initdata = shim_spec_annotation(spec, ANNOT_INITDATA);
  if (initdata == NULL)
    return 0;
  if (!annotation_enabled(s->sandbox.config, ANNOT_INITDATA)) {
    log_warn("sandbox %s: ignoring annotation %s: not in the runtime config's "
             "enable_annotations", s->sandbox.id, ANNOT_INITDATA);
    return 0;
  }
  return shim_initdata_prepare(s, initdata, out, err);
}

int shim_sandbox_extras_apply_policy(struct shim *s, struct sandbox_extras *x, veil_error_t *err)
{
  if (x->policy == NULL)
    return 0;
  Grpc__SetPolicyRequest req = GRPC__SET_POLICY_REQUEST__INIT;
  req.policy = x->policy;
  if (SHIM_AGENT_CALL(s, err, veil_agent_set_policy, &req) < 0)
    return veil_error_wrap(err, "set the agent policy from %s", ANNOT_POLICY);
  log_info("sandbox %s: agent policy set (%zu bytes)", s->sandbox.id, strlen(x->policy));
  return 0;
}

void shim_sandbox_extras_clear(struct sandbox_extras *x)
{
  free(x->policy);
  x->policy = NULL;
}

void shim_sandbox_extras_record_measurement(struct shim *s, const struct veil_vm_spec *spec)
{
  cleanup_error veil_error_t err = NULL;
  json_t *m = NULL;
  /* the spec, not just the config: annotation vCPUs and kernel params change the value */
  if (veil_measure_for_spec(spec, &m, &err) < 0) {
    log_warn("sandbox %s: expected measurement not computed: %s", s->sandbox.id, err->msg);
    return;
  }
  cleanup_free char *text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(m);
  if (text == NULL)
    return;
  log_debug("sandbox %s: expected launch measurement %s", s->sandbox.id, text);
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/measurement.json", s->sandbox.state_dir);
  if (veil_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
    log_warn("sandbox %s: %s", s->sandbox.id, err->msg);
}
