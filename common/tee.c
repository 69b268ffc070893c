#include "common/tee.h"

static const char *const tee_names[VEIL_TEE_COUNT] = { "sev", "sev-es", "snp", "tdx", "se" };

const char *veil_tee_name(enum veil_tee t)
{
  return (unsigned)t < VEIL_TEE_COUNT ? tee_names[t] : "unknown";
}
