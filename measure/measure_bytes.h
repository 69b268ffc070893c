/* Little-endian field access and hex output shared by the measurement code. */
#ifndef VEIL_MEASURE_MEASURE_BYTES_H
#define VEIL_MEASURE_MEASURE_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t veil_le16(const uint8_t *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t veil_le32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t veil_le64(const uint8_t *p)
{
  return (uint64_t)veil_le32(p) | ((uint64_t)veil_le32(p + 4) << 32);
}
static inline void veil_put_le16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void veil_put_le32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static inline void veil_put_le64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
static inline void veil_hex(const uint8_t *data, size_t len, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xf];
  }
  out[2 * len] = '\0';
}

#endif
