#include "shim/bundle.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "shim/spec.h"

json_t *shim_bundle_load_spec(const char *bundle, veil_error_t *err)
{
  char path[4096];
  cleanup_free char *text = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/config.json", bundle);
  if (veil_read_file(path, OCI_SPEC_MAX_SIZE, &text, &len, err) < 0)
    return NULL;
  json_t *j = shim_spec_parse(text, len, err);
  if (j == NULL)
    veil_error_wrap(err, "bundle `%s`", bundle);
  return j;
}

const char *shim_spec_annotation(const json_t *spec, const char *key)
{
  json_t *a = json_object_get(json_object_get(spec, "annotations"), key);
  return json_is_string(a) ? json_string_value(a) : NULL;
}
