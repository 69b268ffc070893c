/* Standard base64 (RFC 4648), the one codec for annotations (initdata, agent policy) and the
 * base64 fields of QEMU/libvirt arguments (host-data, mrconfigid, id-block). */
#ifndef VEIL_COMMON_BASE64_H
#define VEIL_COMMON_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Padded encoding, malloc'd and NUL-terminated; NULL only when out of memory. */
char *veil_base64_encode(const void *data, size_t len);
/* Decode, with or without padding, ignoring whitespace. Inputs decoding to more than
 * max_len bytes are refused (E2BIG) before anything is allocated. *out is malloc'd with a
 * NUL after the data (so text can be used as a string). Errors name the offset. */
int veil_base64_decode(const char *in, size_t max_len, uint8_t **out, size_t *len,
                       veil_error_t *err);

#endif
