/* A small SHA-256 (FIPS 180-4) for hashing names (shim socket addresses, state dirs).
 * The shim uses it instead of OpenSSL on its hot path: calling into libcrypto faults in
 * ~3 MiB of it per shim process. Launch measurements keep using OpenSSL. */
#ifndef VEIL_COMMON_SHA256_H
#define VEIL_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define VEIL_SHA256_LEN 32

void veil_sha256(const void *data, size_t len, uint8_t out[VEIL_SHA256_LEN]);
/* Lowercase hex of the digest into out (65 bytes with the NUL). */
void veil_sha256_hex(const void *data, size_t len, char out[2 * VEIL_SHA256_LEN + 1]);

#endif
