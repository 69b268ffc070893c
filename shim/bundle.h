/* Reading what containerd puts in a bundle: config.json and its annotations. */
#ifndef VEIL_SHIM_BUNDLE_H
#define VEIL_SHIM_BUNDLE_H

#include <jansson.h>
#include "common/error.h"
#include "common/initdata.h"

#define ANNOT_CONTAINER_TYPE "io.kubernetes.cri.container-type"
#define ANNOT_SANDBOX_ID "io.kubernetes.cri.sandbox-id"
#define ANNOT_IMAGE_NAME "io.kubernetes.cri.image-name"
#define ANNOT_INITDATA VEIL_INITDATA_ANNOTATION

/* Load <bundle>/config.json (bounded, validated). */
json_t *shim_bundle_load_spec(const char *bundle, veil_error_t *err);
/* An annotation's value or NULL (borrowed from spec). */
const char *shim_spec_annotation(const json_t *spec, const char *key);

#endif
