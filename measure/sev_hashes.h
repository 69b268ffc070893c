/* QEMU's padded SEV hashes table (kernel-hashes=on): SHA-256 of the kernel, initrd and
 * command line that OVMF checks before booting, measured with the firmware
 * (QEMU target/i386/sev.c PaddedSevHashTable; sev-snp-measure sev_hashes.py). */
#ifndef VEIL_MEASURE_SEV_HASHES_H
#define VEIL_MEASURE_SEV_HASHES_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define VEIL_SEV_HASHES_TABLE_SIZE 168
#define VEIL_SEV_HASHES_PADDED_SIZE 176

/* Table from the three SHA-256 digests. */
void veil_sev_hashes_table_build(const uint8_t kernel[32], const uint8_t initrd[32],
                                 const uint8_t cmdline[32], uint8_t out[VEIL_SEV_HASHES_PADDED_SIZE]);
/* Table from files: initrd NULL = hashed as empty; cmdline NULL or "" = a single NUL byte,
 * otherwise its bytes plus the terminating NUL (as QEMU passes it). */
int veil_sev_hashes_table(const char *kernel, const char *initrd, const char *cmdline,
                          uint8_t out[VEIL_SEV_HASHES_PADDED_SIZE], veil_error_t *err);

/* Streaming file digest (md = EVP_sha256() etc.); out must hold EVP_MD_size(md) bytes. */
struct evp_md_st;
int veil_digest_file(const char *path, const struct evp_md_st *md, uint8_t *out, veil_error_t *err);

#endif
