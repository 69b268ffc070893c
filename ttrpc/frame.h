/* ttrpc frame codec: the 10-byte header, an incremental reader that turns a
 * byte stream into frames (bounding every length by TTRPC_MAX_DATA), and the
 * encoders that put a message's fixed part in front of its payload so the
 * payload itself is never copied (it goes out as its own iovec). */
#ifndef VEIL_TTRPC_FRAME_H
#define VEIL_TTRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttrpc/ttrpc.h"

struct ttrpc_frame_header {
  uint32_t length; /* data bytes after the header */
  uint32_t stream_id;
  uint8_t type;
  uint8_t flags;
};

void ttrpc_header_encode(uint8_t out[TTRPC_HEADER_SIZE], const struct ttrpc_frame_header *h);
void ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_SIZE], struct ttrpc_frame_header *h);

enum ttrpc_reader_event {
  TTRPC_READER_NEED_MORE = 0, /* all input consumed, no complete frame yet */
  TTRPC_READER_FRAME,         /* a whole frame: header + data (owned by the caller) */
  TTRPC_READER_OVERSIZED,     /* header announced > TTRPC_MAX_DATA: its data is being discarded */
  TTRPC_READER_NOMEM,         /* could not allocate the data buffer */
};

/* Incremental decoder. States: collecting a header, collecting data, discarding
 * the data of an oversized frame. Nothing here does I/O. */
struct ttrpc_reader {
  uint8_t hdr[TTRPC_HEADER_SIZE];
  size_t hdr_have;
  struct ttrpc_frame_header h;
  uint8_t *data;      /* malloc'd, h.length bytes, while collecting */
  size_t data_have;
  uint64_t discard_left;
  enum { TTRPC_RD_HEADER, TTRPC_RD_DATA, TTRPC_RD_DISCARD } state;
};

struct ttrpc_frame {
  struct ttrpc_frame_header h;
  uint8_t *data; /* malloc'd (NULL when h.length == 0); caller frees */
};

void ttrpc_reader_init(struct ttrpc_reader *r);
void ttrpc_reader_reset(struct ttrpc_reader *r); /* frees a partial frame */
/* Consume bytes from buf until an event happens or buf is exhausted. *used is
 * set to the number of bytes consumed. On TTRPC_READER_FRAME, *out owns the data.
 * On TTRPC_READER_OVERSIZED, out->h is the announced header (data NULL). */
enum ttrpc_reader_event ttrpc_reader_feed(struct ttrpc_reader *r, const uint8_t *buf, size_t len,
                                          size_t *used, struct ttrpc_frame *out);
/* While collecting a large frame's data, where to read() directly (no copy);
 * returns 0 when not collecting data. Call ttrpc_reader_commit after reading. */
size_t ttrpc_reader_direct(struct ttrpc_reader *r, uint8_t **dst);
enum ttrpc_reader_event ttrpc_reader_commit(struct ttrpc_reader *r, size_t n, struct ttrpc_frame *out);

/* A frame ready for writev: head = header + message prefix, then body (the
 * payload bytes, not owned unless body_owned). */
struct ttrpc_out {
  struct ttrpc_out *next;
  uint8_t *head;
  size_t head_len;
  const uint8_t *body;
  size_t body_len;
  void *body_owned; /* freed with the frame */
  size_t off;       /* bytes of head+body already written */
};

size_t ttrpc_varint_len(uint64_t v);
size_t ttrpc_varint_put(uint8_t *p, uint64_t v);

/* Build a Request frame: service, method, timeout_nano, metadata, then the payload.
 * Fails with ResourceExhausted when the data would exceed TTRPC_MAX_DATA. */
struct ttrpc_out *ttrpc_out_request(uint32_t stream_id, const char *service, const char *method,
                                    int64_t timeout_nano, const struct ttrpc_kv *md, size_t n_md,
                                    const uint8_t *payload, size_t payload_len, veil_error_t *err);
#define TTRPC_MAX_STATUS_MESSAGE (64 * 1024) /* longer error messages are cut */

/* Build a Response frame: status (code, message; none when code is 0) then the payload.
 * Fails with ResourceExhausted when the data would exceed TTRPC_MAX_DATA. */
struct ttrpc_out *ttrpc_out_response(uint32_t stream_id, int code, const char *message,
                                     const uint8_t *payload, size_t payload_len,
                                     veil_error_t *err);
void ttrpc_out_free(struct ttrpc_out *o);



/* Decoded view of a ttrpc.Response: pointers into the frame data. */
struct ttrpc_response_view {
  int32_t code;
  const uint8_t *message;
  size_t message_len;
  const uint8_t *payload;
  size_t payload_len;
};
/* Strict protobuf decoding of Response{status=1 Status{code=1,message=2,details=3}, payload=2};
 * unknown fields are skipped. Returns -1 (InvalidArgument error) on malformed input. */
int ttrpc_response_decode(const uint8_t *data, size_t len, struct ttrpc_response_view *out,
                          veil_error_t *err);
#endif
