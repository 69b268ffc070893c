/* Launch measurement of a VM spec (what the shim records as measurement.json). */
#ifndef VEIL_MEASURE_MEASURE_LAUNCH_H
#define VEIL_MEASURE_MEASURE_LAUNCH_H

#include <jansson.h>

#include "common/error.h"
#include "hypervisor/vm.h"
#include "measure/measure.h"

/* Like veil_measure_for_launch, for a full VM spec: vcpus, extra kernel parameters (they are
 * part of the measured command line) and the initdata digest are taken from the spec.
 * Object: {"profile", "tee", "inputs": {...}, "kernel_measured", "reference_values":
 * {RVPS sample-provenance shape: "<name>": ["<hex>"]}} or, without a TEE, {"profile", "tee":
 * "none"|"se", "note", "reference_values": {}}. */
int veil_measure_for_spec(const struct veil_vm_spec *spec, json_t **out, veil_error_t *err);
/* Compute veil_measure_for_spec and write it to <dir>/measurement.json (atomically, 0644). */
#define VEIL_MEASUREMENT_FILE "measurement.json"
int veil_measure_record(const struct veil_vm_spec *spec, const char *dir, veil_error_t *err);
/* Add a result's reference values (snp_launch_measurement | mr_td, rtmr_1, rtmr_2 |
 * sev_launch_digest) to an RVPS-shaped object. */
void veil_measure_result_refs(const struct veil_measure_result *r, json_t *refs);

#endif
