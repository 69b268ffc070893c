#include "agent_client/request_log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/base64.h"

static json_t *scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    return json_integer(*(const int32_t *)p);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return json_integer(*(const uint32_t *)p);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    return json_integer((json_int_t)*(const int64_t *)p);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return json_integer((json_int_t)*(const uint64_t *)p);
  case PROTOBUF_C_TYPE_FLOAT:
    return json_real(*(const float *)p);
  case PROTOBUF_C_TYPE_DOUBLE:
    return json_real(*(const double *)p);
  case PROTOBUF_C_TYPE_BOOL:
    return json_boolean(*(const protobuf_c_boolean *)p);
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
    return v ? json_string(v->name) : json_integer(*(const int *)p);
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return json_string(s ? s : "");
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *b = p;
    char *text = veil_base64_encode(b->data, b->len);
    json_t *j = json_string(text ? text : "");
    free(text);
    return j;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
    return sub ? veil_pb_to_json(sub) : json_null();
  }
  }
  return json_null();
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  default:
    return 4;
  }
}

/* proto3: a scalar at its default is "not set" */
static int is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return s == NULL || s[0] == '\0';
  }
  case PROTOBUF_C_TYPE_BYTES:
    return ((const ProtobufCBinaryData *)p)->len == 0;
  case PROTOBUF_C_TYPE_MESSAGE:
    return *(void *const *)p == NULL;
  default: {
    static const uint8_t zero[8];
    return memcmp(p, zero, elem_size(f)) == 0;
  }
  }
}

json_t *veil_pb_to_json(const ProtobufCMessage *m)
{
  json_t *o = json_object();
  if (o == NULL)
    return NULL;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)m + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
      if (n == 0)
        continue;
      const char *arr = *(char *const *)base;
      json_t *a = json_array();
      for (size_t k = 0; k < n; k++)
        json_array_append_new(a, scalar(f, arr + k * elem_size(f)));
      json_object_set_new(o, f->name, a);
      continue;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (*(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
        continue;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
               f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
      if (!*(const protobuf_c_boolean *)((const char *)m + f->quantifier_offset))
        continue;
    } else if (is_default(f, base)) {
      continue;
    }
    json_object_set_new(o, f->name, scalar(f, base));
  }
  return o;
}

void veil_request_log_write(int fd, const char *method, const ProtobufCMessage *req)
{
  if (fd < 0)
    return;
  json_t *line = json_pack("{s:s,s:o?}", "method", method, "request", veil_pb_to_json(req));
  char *text = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(line);
  if (text == NULL)
    return;
  size_t n = strlen(text);
  text[n] = '\n'; /* replaces the NUL: one write() per line */
  ssize_t w = write(fd, text, n + 1);
  (void)w;
  free(text);
}
