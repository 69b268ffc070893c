/* Inputs of the measurement tests, generated here byte for byte as tests/data/measure/README.md
 * describes them (the layout the vectors were computed on): the counter-stream pseudo
 * kernel/initrd and the synthetic OVMF-like firmware. That the vectors match proves the bytes. */
#ifndef VEIL_TESTS_MEASURE_INPUTS_H
#define VEIL_TESTS_MEASURE_INPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYNTH_FW_RESET_EIP 0xfffc20a4u /* default SEV-ES reset block EIP */
#define SYNTH_FW_CFV_SIZE 0x10000u     /* default CFV size of the TDVF descriptor */

/* stream(seed, n) = SHA256(seed || le64(0)) || SHA256(seed || le64(1)) || ..., first n bytes. */
void measure_counter_stream(const char *seed, uint8_t *out, size_t n);

struct synth_fw {
  const char *seed;
  size_t size;            /* image size; the image ends at 4 GiB */
  uint32_t reset_eip;     /* 0 = SYNTH_FW_RESET_EIP */
  bool tdx;               /* add the TDVF descriptor */
  bool tdx_aug;           /* ... with a PAGE.AUG TEMP_MEM section */
  uint32_t cfv_size;      /* 0 = SYNTH_FW_CFV_SIZE */
};

/* The firmware image (malloc'd, fw->size bytes), or NULL if out of memory or too small. */
uint8_t *synth_fw_build(const struct synth_fw *fw);

/* Write stream(seed, size) / the firmware to path: 0, or -1 with errno set. */
int measure_write_blob(const char *path, const char *seed, size_t size);
int synth_fw_write(const char *path, const struct synth_fw *fw);

/* "synth:<seed>:<size>[:eip=<hex>][:tdx][:aug][:cfv=<hex>]" (the vectors' firmware column) into
 * *fw; seed points into spec's copy in buf. 0, or -1 for a malformed spec. */
int synth_fw_parse(const char *spec, char *buf, size_t buf_size, struct synth_fw *fw);

#endif
