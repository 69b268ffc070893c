/* libFuzzer: the address codec (ttrpc/address.h). The first byte picks the use (dial or
 * listen), the rest is the address text. Whatever parses must format, and the formatted text
 * must parse back to the same struct; parsing never opens anything. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ttrpc/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > 4096)
    return 0;
  enum ttrpc_address_use use = data[0] & 1 ? TTRPC_ADDRESS_LISTEN : TTRPC_ADDRESS_DIAL;
  char *text = malloc(size);
  if (text == NULL)
    return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';  /* an embedded NUL just ends the text early */
  veil_error_t err = NULL;
  struct ttrpc_address a, b;
  if (ttrpc_address_parse(text, use, &a, &err) == 0) {
    char out[TTRPC_ADDRESS_TEXT_MAX];
    if (ttrpc_address_format(&a, out, sizeof(out), &err) < 0)
      abort();  /* everything parsed must format */
    if (ttrpc_address_parse(out, use, &b, &err) < 0 || memcmp(&a, &b, sizeof(a)) != 0)
      abort();  /* and round-trip */
  } else if (err == NULL || err->msg == NULL) {
    abort();  /* a refusal always says why */
  }
  veil_error_release(&err);
  free(text);
  return 0;
}
