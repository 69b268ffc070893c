/* initdata (io.katacontainers.config.hypervisor.cc_init_data) for the sandbox: validated
 * by measure/initdata (size bounds, decompression-bomb guard, version, algorithm), written
 * as a read-only disk image into the state dir; its digest is bound into the TEE (SNP
 * host-data / TDX mrconfigid) by the VM launch. Bad input is InvalidArgument. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "common/cleanup.h"
#include "common/initdata.h"
#include "common/log.h"
#include "measure/initdata.h"
#include "shim/sandbox_extras.h"
#include "shim/shim.h"

int shim_initdata_prepare(struct shim *s, const char *annotation, struct sandbox_extras *out,
                          veil_error_t *err)
{
  struct veil_initdata *d = NULL;
  if (veil_initdata_from_annotation(annotation, &d, err) < 0) /* names the annotation */
    return veil_error_wrap_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "initdata");
  snprintf(out->initdata_path, sizeof(out->initdata_path), "%s/initdata.img",
           s->sandbox.state_dir);
  if (veil_initdata_write_image(d, out->initdata_path, err) < 0) {
    veil_initdata_free(d);
    return veil_error_wrap(err, "initdata disk");
  }
  snprintf(out->initdata_algorithm, sizeof(out->initdata_algorithm), "%s", d->algorithm);
  memcpy(out->initdata_digest, d->digest, d->digest_len);
  out->initdata_digest_len = d->digest_len;
  out->disks[0].path = out->initdata_path;
  out->disks[0].readonly = true;
  out->disks[0].serial = "initdata";
  out->n_disks = 1;
  log_info("sandbox %s: initdata %s digest attached", s->sandbox.id, d->algorithm);
  veil_initdata_free(d);
  return 0;
}

int shim_initdata_verify(struct shim *s, const struct sandbox_extras *x, veil_error_t *err)
{
  if (x->initdata_digest_len == 0)
    return 0;
  cleanup_free char *expected = veil_initdata_digest_feature(x->initdata_algorithm,
                                                             x->initdata_digest,
                                                             x->initdata_digest_len);
  if (!expected)
    return veil_error_make(err, ENOMEM, "out of memory");

  Grpc__GuestDetailsRequest req = GRPC__GUEST_DETAILS_REQUEST__INIT;
  Grpc__GuestDetailsResponse *resp = NULL;
  if (SHIM_AGENT_CALL(s, err, veil_agent_get_guest_details, &req, &resp) < 0)
    return veil_error_wrap(err, "initdata: ask the agent for its digest");
  const char *reported = NULL;
  if (resp->agent_details)
    for (size_t i = 0; i < resp->agent_details->n_extra_features; i++)
      if (strncmp(resp->agent_details->extra_features[i], VEIL_INITDATA_DIGEST_FEATURE,
                  strlen(VEIL_INITDATA_DIGEST_FEATURE)) == 0)
        reported = resp->agent_details->extra_features[i];
  char alg[16];
  uint8_t digest[VEIL_INITDATA_MAX_DIGEST];
  size_t len = 0;
  cleanup_error veil_error_t bad = NULL;
  int r = 0;
  if (reported == NULL)
    log_warn("sandbox %s: the agent does not report an initdata digest: not verified",
             s->sandbox.id);
  else if (veil_initdata_digest_feature_parse(reported, alg, digest, &len, &bad) < 0) {
    cleanup_free char *shown = veil_text_sanitize(reported, strlen(reported), 200); /* guest's */
    r = veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                        "initdata: the guest's report `%s` is malformed (%s)",
                        shown ? shown : "(out of memory)", bad->msg);
  } else if (strcmp(alg, x->initdata_algorithm) != 0 || len != x->initdata_digest_len ||
             memcmp(digest, x->initdata_digest, len) != 0) {
    cleanup_free char *shown = veil_text_sanitize(reported, strlen(reported), 256); /* guest's */
    r = veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                        "initdata: the guest reports %s but the host computed %s",
                        shown ? shown : "(out of memory)", expected);
  }
  else
    log_info("sandbox %s: initdata digest verified by the agent (%s)", s->sandbox.id,
             expected + strlen(VEIL_INITDATA_DIGEST_FEATURE));
  grpc__guest_details_response__free_unpacked(resp, NULL);
  return r;
}
