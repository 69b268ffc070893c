#include "shim/sandbox_extras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "hypervisor/measure.h"
#include "shim/bundle.h"
#include "shim/shim.h"

static bool annotation_enabled(const struct veil_config *c, const char *name)
{
  for (char **a = c->enable_annotations; a && *a; a++)
    if (strcmp(*a, name) == 0)
      return true;
  return false;
}

int shim_sandbox_extras_prepare(struct shim *s, const json_t *spec, struct sandbox_extras *out,
                                veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
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

void shim_sandbox_extras_record_measurement(struct shim *s, const struct sandbox_extras *x)
{
  cleanup_error veil_error_t err = NULL;
  json_t *m = NULL;
  if (veil_measure_for_launch(s->sandbox.config, 0,
                              x->initdata_digest_len ? x->initdata_digest : NULL,
                              x->initdata_digest_len, &m, &err) < 0) {
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
