#include "shim/json_pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 16

static const struct {
  const char *json;
  const char *field;
} key_aliases[] = {
    {"ociVersion", "Version"},
};

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key)
{
  for (size_t i = 0; i < sizeof(key_aliases) / sizeof(key_aliases[0]); i++)
    if (strcmp(key, key_aliases[i].json) == 0)
      key = key_aliases[i].field;
  for (unsigned i = 0; i < d->n_fields; i++)
    if (strcasecmp(d->fields[i].name, key) == 0)
      return &d->fields[i];
  return NULL;
}

static size_t scalar_size(ProtobufCType t)
{
  switch (t) {
  case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_ENUM:
    return 4;
  case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  }
  return 0;
}

static ProtobufCMessage *convert(const json_t *json, const ProtobufCMessageDescriptor *desc,
                                 const char *path, int depth, veil_error_t *err);

/* Store one JSON value into the slot at dst (element of a repeated field or the field). */
static int store_value(const ProtobufCFieldDescriptor *f, const json_t *v, void *dst,
                       const char *path, int depth, veil_error_t *err)
{
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING: {
    if (!json_is_string(v))
      return veil_error_make(err, EINVAL, "%s: expected a string", path);
    char *s = strdup(json_string_value(v));
    if (s == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    *(char **)dst = s;
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    if (!json_is_string(v))
      return veil_error_make(err, EINVAL, "%s: expected a string", path);
    ProtobufCBinaryData *b = dst;
    b->len = json_string_length(v);
    b->data = malloc(b->len ? b->len : 1);
    if (b->data == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    memcpy(b->data, json_string_value(v), b->len);
    return 0;
  }
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v))
      return veil_error_make(err, EINVAL, "%s: expected a boolean", path);
    *(protobuf_c_boolean *)dst = json_is_true(v);
    return 0;
  case PROTOBUF_C_TYPE_FLOAT: case PROTOBUF_C_TYPE_DOUBLE: {
    if (!json_is_number(v))
      return veil_error_make(err, EINVAL, "%s: expected a number", path);
    double d = json_number_value(v);
    if (f->type == PROTOBUF_C_TYPE_FLOAT)
      *(float *)dst = (float)d;
    else
      *(double *)dst = d;
    return 0;
  }
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (json_is_integer(v)) {
      *(int *)dst = (int)json_integer_value(v);
      return 0;
    }
    if (json_is_string(v)) {
      const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed,
                                                                          json_string_value(v));
      if (ev == NULL)
        return veil_error_make(err, EINVAL, "%s: unknown value `%s`", path, json_string_value(v));
      *(int *)dst = ev->value;
      return 0;
    }
    return veil_error_make(err, EINVAL, "%s: expected an enum name or number", path);
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    ProtobufCMessage *m = convert(v, f->descriptor, path, depth + 1, err);
    if (m == NULL)
      return -1;
    *(ProtobufCMessage **)dst = m;
    return 0;
  }
  default: {
    if (!json_is_integer(v))
      return veil_error_make(err, EINVAL, "%s: expected an integer", path);
    json_int_t i = json_integer_value(v);
    if (scalar_size(f->type) == 4) {
      if (f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_FIXED32) {
        if (i < 0 || i > 0xffffffffLL)
          return veil_error_make(err, ERANGE, "%s: %lld out of range", path, (long long)i);
        *(uint32_t *)dst = (uint32_t)i;
      } else {
        if (i < INT32_MIN || i > INT32_MAX)
          return veil_error_make(err, ERANGE, "%s: %lld out of range", path, (long long)i);
        *(int32_t *)dst = (int32_t)i;
      }
    } else {
      *(int64_t *)dst = (int64_t)i; /* uint64 fields keep the two's complement bits of -1 */
    }
    return 0;
  }
  }
}

static int is_map_entry(const ProtobufCFieldDescriptor *f)
{
  if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
    return 0;
  const ProtobufCMessageDescriptor *d = f->descriptor;
  return d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 &&
         strcmp(d->fields[1].name, "value") == 0;
}

static int store_map(const ProtobufCFieldDescriptor *f, const json_t *obj, void *msg,
                     const char *path, int depth, veil_error_t *err)
{
  if (!json_is_object(obj))
    return veil_error_make(err, EINVAL, "%s: expected an object", path);
  if (*(void **)((char *)msg + f->offset) != NULL)
    return veil_error_make(err, EINVAL, "%s: given twice", path);
  const ProtobufCMessageDescriptor *ed = f->descriptor;
  size_t n = json_object_size(obj);
  ProtobufCMessage **arr = calloc(n ? n : 1, sizeof(*arr));
  if (arr == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  *(ProtobufCMessage ***)((char *)msg + f->offset) = arr;
  size_t *count = (size_t *)((char *)msg + f->quantifier_offset);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v)
  {
    ProtobufCMessage *entry = calloc(1, ed->sizeof_message);
    if (entry == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    protobuf_c_message_init(ed, entry);
    arr[(*count)++] = entry;
    json_t *key = json_string(k);
    char sub[512];
    if (snprintf(sub, sizeof(sub), "%s.%s", path, k) < 0)
      sub[0] = '\0';
    int r = store_value(&ed->fields[0], key, (char *)entry + ed->fields[0].offset, sub, depth, err);
    json_decref(key);
    if (r < 0)
      return -1;
    if (store_value(&ed->fields[1], v, (char *)entry + ed->fields[1].offset, sub, depth, err) < 0)
      return -1;
  }
  return 0;
}

static int store_field(const ProtobufCFieldDescriptor *f, const json_t *v, ProtobufCMessage *msg,
                       const char *path, int depth, veil_error_t *err)
{
  char *base = (char *)msg;
  if (json_is_null(v))
    return 0;
  if (is_map_entry(f))
    return store_map(f, v, msg, path, depth, err);
  if (f->label == PROTOBUF_C_LABEL_REPEATED) {
    if (!json_is_array(v))
      return veil_error_make(err, EINVAL, "%s: expected an array", path);
    if (*(void **)(base + f->offset) != NULL)
      return veil_error_make(err, EINVAL, "%s: given twice", path);
    size_t n = json_array_size(v), esz = scalar_size(f->type);
    void *arr = calloc(n ? n : 1, esz);
    if (arr == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    *(void **)(base + f->offset) = arr;
    size_t *count = (size_t *)(base + f->quantifier_offset);
    for (size_t i = 0; i < n; i++) {
      char sub[512];
      if (snprintf(sub, sizeof(sub), "%s[%zu]", path, i) < 0)
        sub[0] = '\0';
      if (store_value(f, json_array_get(v, i), (char *)arr + i * esz, sub, depth, err) < 0)
        return -1;
      (*count)++;
    }
    return 0;
  }
  /* JSON keys match case-insensitively (and via aliases), so a field can be named twice */
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t cur = *(uint32_t *)(base + f->quantifier_offset);
    if (cur != 0)
      return veil_error_make(err, EINVAL, "%s: conflicts with another field", path);
  }
  if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(void **)(base + f->offset) != NULL)
    return veil_error_make(err, EINVAL, "%s: given twice", path);
  if (f->type == PROTOBUF_C_TYPE_STRING) {
    char *old = *(char **)(base + f->offset);
    if (old && old != protobuf_c_empty_string && old != f->default_value)
      return veil_error_make(err, EINVAL, "%s: given twice", path);
  }
  if (f->type == PROTOBUF_C_TYPE_BYTES && ((ProtobufCBinaryData *)(base + f->offset))->data)
    return veil_error_make(err, EINVAL, "%s: given twice", path);
  if (store_value(f, v, base + f->offset, path, depth, err) < 0)
    return -1;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    *(uint32_t *)(base + f->quantifier_offset) = f->id;
  else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
           f->type != PROTOBUF_C_TYPE_STRING)
    *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
  return 0;
}

static ProtobufCMessage *convert(const json_t *json, const ProtobufCMessageDescriptor *desc,
                                 const char *path, int depth, veil_error_t *err)
{
  if (depth > MAX_DEPTH) {
    veil_error_make(err, EINVAL, "%s: nested too deeply", path);
    return NULL;
  }
  if (!json_is_object(json)) {
    veil_error_make(err, EINVAL, "%s: expected an object", path);
    return NULL;
  }
  ProtobufCMessage *msg = calloc(1, desc->sizeof_message);
  if (msg == NULL) {
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  protobuf_c_message_init(desc, msg);
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)json, key, v)
  {
    const ProtobufCFieldDescriptor *f = find_field(desc, key);
    if (f == NULL)
      continue;
    char sub[512];
    if (snprintf(sub, sizeof(sub), "%s.%s", path, key) < 0)
      sub[0] = '\0';
    if (store_field(f, v, msg, sub, depth, err) < 0) {
      protobuf_c_message_free_unpacked(msg, NULL);
      return NULL;
    }
  }
  return msg;
}

ProtobufCMessage *json_to_pb(const json_t *json, const ProtobufCMessageDescriptor *desc,
                             veil_error_t *err)
{
  return convert(json, desc, "$", 0, err);
}
