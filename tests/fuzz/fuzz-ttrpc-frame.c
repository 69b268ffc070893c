/* libFuzzer: the frame reader state machine (header, data, oversized discard)
 * fed in chunks chosen by the input, and the client's Response decoder on
 * every complete frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ttrpc/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  /* first byte: chunk size for feeding (1..256), so frames straddle reads */
  size_t chunk = (size_t)data[0] + 1;
  data++;
  size--;
  struct ttrpc_reader r;
  ttrpc_reader_init(&r);
  size_t pos = 0;
  while (pos < size) {
    size_t n = size - pos < chunk ? size - pos : chunk;
    size_t used = 0;
    struct ttrpc_frame f;
    enum ttrpc_reader_event ev = ttrpc_reader_feed(&r, data + pos, n, &used, &f);
    if (used == 0 && ev == TTRPC_READER_NEED_MORE)
      abort(); /* the reader must make progress */
    pos += used;
    if (ev == TTRPC_READER_FRAME) {
      if (f.h.length > TTRPC_MAX_DATA)
        abort();
      struct ttrpc_response_view v;
      veil_error_t err = NULL;
      if (ttrpc_response_decode(f.data, f.h.length, &v, &err) == 0) {
        if (v.payload && (v.payload < f.data || v.payload + v.payload_len > f.data + f.h.length))
          abort();
        if (v.message && (v.message < f.data || v.message + v.message_len > f.data + f.h.length))
          abort();
      }
      veil_error_release(&err);
      free(f.data);
    } else if (ev == TTRPC_READER_OVERSIZED) {
      if (f.h.length <= TTRPC_MAX_DATA || f.data != NULL)
        abort();
    } else if (ev == TTRPC_READER_NOMEM) {
      break;
    }
  }
  ttrpc_reader_reset(&r);
  return 0;
}
