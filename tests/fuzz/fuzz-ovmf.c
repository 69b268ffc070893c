/* Fuzz the firmware metadata parsers and every measurement mode that reads them: firmware
 * images are user input (`veil measure --ovmf`, runtime configs). Must never crash, leak or
 * hang; errors are fine. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "measure/measure.h"
#include "measure/ovmf.h"
#include "measure/sev_hashes.h"
#include "measure/tdvf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* the seeds are the last pages of real/synthetic images: pad to whole pages at the front so
   * that SNP (which needs 4 KiB pages) also runs on them */
  size_t padded = (size + 4095) / 4096 * 4096;
  uint8_t *img = calloc(1, padded ? padded : 1);
  if (!img)
    return 0;
  memcpy(img + padded - size, data, size);
  uint8_t out[48], table[VEIL_SEV_HASHES_PADDED_SIZE] = { 1, 2, 3 };
  veil_error_t err = NULL;
  struct veil_ovmf o;
  if (veil_ovmf_parse(img, padded, &o, &err) == 0) {
    uint32_t v;
    veil_ovmf_sev_es_reset_eip(&o, &v, &err);
    veil_error_release(&err);
    veil_ovmf_sev_hashes_table_gpa(&o, &v);
    veil_ovmf_release(&o);
  }
  veil_error_release(&err);
  veil_measure_sev_buf(img, padded, table, true, 3, 0x800f12, out, &err);
  veil_error_release(&err);
  veil_measure_snp_buf(img, padded, NULL, 2, 0x800f12, 0x21, out, &err);
  veil_error_release(&err);
  veil_measure_snp_buf(img, padded, table, 1, 0xa00f11, 0x1, out, &err);
  veil_error_release(&err);
  veil_measure_mrtd_buf(img, padded, false, out, &err);
  veil_error_release(&err);
  veil_measure_mrtd_buf(img, padded, true, out, &err);
  veil_error_release(&err);
  free(img);
  return 0;
}
