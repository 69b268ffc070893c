/* Generators of the measurement test inputs (measure_inputs.h). Written from the layout in
 * tests/data/measure/README.md; deliberately independent of the parsers under test (own
 * little-endian writers, GUIDs from their text form). */
#include "measure_inputs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sha256.h"

enum {
  ASEV_OFF = 0x600,  /* SEV metadata, from the end of the image */
  TDVF_OFF = 0x900,  /* TDVF descriptor, from the end of the image */
  TRAILER = 32,      /* stream bytes after the footer table */
  GUID_LEN = 16,
};

static void put_le16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* "aabbccdd-eeff-gghh-iijj-kkllmmnnoopp" in EFI layout: the first three fields little-endian,
 * the last eight bytes in text order. */
static void put_guid(uint8_t *p, const char *text)
{
  uint8_t b[16];
  for (size_t i = 0, j = 0; i < 16; j++) {
    if (text[j] == '-')
      continue;
    unsigned v;
    sscanf(text + j, "%2x", &v);
    b[i++] = (uint8_t)v;
    j++;
  }
  static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
  for (size_t i = 0; i < 16; i++)
    p[i] = b[order[i]];
}

void measure_counter_stream(const char *seed, uint8_t *out, size_t n)
{
  size_t seed_len = strlen(seed);
  uint8_t *msg = malloc(seed_len + 8), block[VEIL_SHA256_LEN];
  if (!msg)
    abort();
  memcpy(msg, seed, seed_len);
  for (uint64_t i = 0; n > 0; i++) {
    put_le64(msg + seed_len, i);
    veil_sha256(msg, seed_len + 8, block);
    size_t take = n < sizeof(block) ? n : sizeof(block);
    memcpy(out, block, take);
    out += take, n -= take;
  }
  free(msg);
}

/* One footer table entry, written downwards from *at: data || le16(len + 18) || guid. */
static void put_entry(uint8_t *img, size_t *at, const char *guid, const uint8_t *data, size_t len)
{
  *at -= len + 2 + GUID_LEN;
  memcpy(img + *at, data, len);
  put_le16(img + *at + len, (uint16_t)(len + 2 + GUID_LEN));
  put_guid(img + *at + len + 2, guid);
}

static void put_sev_metadata(uint8_t *asev)
{
  static const uint32_t sections[][3] = {
    { 0x800000, 0x9000, 1 },    /* SNP_SEC_MEM */
    { 0x80d000, 0x1000, 2 },    /* SNP_SECRETS */
    { 0x80e000, 0x1000, 3 },    /* CPUID */
    { 0x80f000, 0x1000, 0x10 }, /* SNP_KERNEL_HASHES */
    { 0x810000, 0x10000, 1 },   /* SNP_SEC_MEM */
  };
  size_t n = sizeof(sections) / sizeof(sections[0]);
  memcpy(asev, "ASEV", 4);
  put_le32(asev + 4, (uint32_t)(16 + 12 * n));
  put_le32(asev + 8, 1);
  put_le32(asev + 12, (uint32_t)n);
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < 3; k++)
      put_le32(asev + 16 + 12 * i + 4 * k, sections[i][k]);
}

static void put_tdvf(uint8_t *img, const struct synth_fw *fw, uint32_t cfv)
{
  uint64_t size = fw->size, base = (1ull << 32) - size;
  struct { uint32_t off, raw; uint64_t gpa, mem; uint32_t type, attr; } s[] = {
    { cfv, (uint32_t)(size - cfv), base + cfv, size - cfv, 0, 1 }, /* BFV, MR.EXTEND */
    { 0, cfv, base, cfv, 1, 0 },                                   /* CFV */
    { 0, 0, 0x810000, 0x10000, 3, 0 },                             /* TEMP_MEM */
    { 0, 0, 0x80b000, 0x2000, 3, 0 },                              /* TEMP_MEM */
    { 0, 0, 0x809000, 0x2000, 2, 0 },                              /* TD_HOB */
    { 0, 0, 0x800000, 0x6000, 3, 0 },                              /* TEMP_MEM */
    { 0, 0, 0x900000, 0x4000, 3, 2 },                              /* TEMP_MEM, PAGE.AUG */
  };
  size_t n = fw->tdx_aug ? 7 : 6;
  uint8_t *d = img + size - TDVF_OFF;
  put_guid(d - GUID_LEN, "e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae");
  memcpy(d, "TDVF", 4);
  put_le32(d + 4, (uint32_t)(16 + 32 * n));
  put_le32(d + 8, 1);
  put_le32(d + 12, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    uint8_t *e = d + 16 + 32 * i;
    put_le32(e, s[i].off);
    put_le32(e + 4, s[i].raw);
    put_le64(e + 8, s[i].gpa);
    put_le64(e + 16, s[i].mem);
    put_le32(e + 24, s[i].type);
    put_le32(e + 28, s[i].attr);
  }
}

uint8_t *synth_fw_build(const struct synth_fw *fw)
{
  uint32_t eip = fw->reset_eip ? fw->reset_eip : SYNTH_FW_RESET_EIP;
  uint32_t cfv = fw->cfv_size ? fw->cfv_size : SYNTH_FW_CFV_SIZE;
  if (fw->size < TDVF_OFF + GUID_LEN || (fw->tdx && cfv >= fw->size))
    return NULL;
  uint8_t *img = malloc(fw->size);
  if (!img)
    return NULL;
  measure_counter_stream(fw->seed, img, fw->size);

  /* footer table, parsed backwards from the end: entries from high to low address here */
  size_t end = fw->size - TRAILER, at = end - 2 - GUID_LEN;
  uint8_t data[8];
  put_le32(data, eip);
  put_entry(img, &at, "00f771de-1a7e-4fcb-890e-68c77e2fb44e", data, 4); /* SEV-ES reset block */
  put_le32(data, 0x80d000), put_le32(data + 4, 0x1000);
  put_entry(img, &at, "4c2eb361-7d9b-4cc3-8081-127c90d3d294", data, 8); /* SEV secret */
  put_le32(data, 0x80fc00), put_le32(data + 4, 0x400);
  put_entry(img, &at, "7255371f-3a3b-4b04-927b-1da6efa8d454", data, 8); /* SEV hash table */
  put_le32(data, ASEV_OFF);
  put_entry(img, &at, "dc886566-984a-4798-a75e-5585a7bf67cc", data, 4); /* SEV metadata */
  if (fw->tdx) {
    put_le32(data, TDVF_OFF);
    put_entry(img, &at, "e47a6535-984a-4798-865e-4685a7bf8ec2", data, 4); /* TDX metadata */
  }
  put_le16(img + end - 2 - GUID_LEN, (uint16_t)(end - at));
  put_guid(img + end - GUID_LEN, "96b582de-1fb2-45f7-baea-a366c55a082d");

  put_sev_metadata(img + fw->size - ASEV_OFF);
  if (fw->tdx)
    put_tdvf(img, fw, cfv);
  return img;
}

static int write_all(const char *path, const uint8_t *data, size_t len)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  for (size_t done = 0; done < len;) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    done += (size_t)n;
  }
  return close(fd);
}

int measure_write_blob(const char *path, const char *seed, size_t size)
{
  uint8_t *blob = malloc(size ? size : 1);
  if (!blob)
    return -1;
  measure_counter_stream(seed, blob, size);
  int r = write_all(path, blob, size);
  free(blob);
  return r;
}

int synth_fw_write(const char *path, const struct synth_fw *fw)
{
  uint8_t *img = synth_fw_build(fw);
  if (!img) {
    errno = EINVAL;
    return -1;
  }
  int r = write_all(path, img, fw->size);
  free(img);
  return r;
}

int synth_fw_parse(const char *spec, char *buf, size_t buf_size, struct synth_fw *fw)
{
  if (snprintf(buf, buf_size, "%s", spec) >= (int)buf_size)
    return -1;
  memset(fw, 0, sizeof(*fw));
  char *save = NULL, *kind = strtok_r(buf, ":", &save), *seed = strtok_r(NULL, ":", &save),
       *size = strtok_r(NULL, ":", &save), *end = NULL;
  if (!kind || strcmp(kind, "synth") != 0 || !seed || !size)
    return -1;
  fw->seed = seed;
  fw->size = strtoul(size, &end, 0);
  if (*end)
    return -1;
  for (char *opt; (opt = strtok_r(NULL, ":", &save));) {
    if (strncmp(opt, "eip=", 4) == 0)
      fw->reset_eip = (uint32_t)strtoul(opt + 4, &end, 16);
    else if (strncmp(opt, "cfv=", 4) == 0)
      fw->cfv_size = (uint32_t)strtoul(opt + 4, &end, 16);
    else if (strcmp(opt, "tdx") == 0)
      fw->tdx = true, end = opt + 3;
    else if (strcmp(opt, "aug") == 0)
      fw->tdx_aug = true, end = opt + 3;
    else
      return -1;
    if (*end)
      return -1;
  }
  return 0;
}
