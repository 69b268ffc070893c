#include "common/id.h"

#include <stdbool.h>
#include <string.h>

/* ASCII only: isalnum() would follow the locale. */
static bool is_alnum(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int veil_id_check(const char *what, const char *id, veil_error_t *err)
{
  size_t n = id ? strnlen(id, VEIL_ID_MAX + 1) : 0;
  if (n == 0)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "%s is empty", what);
  if (n > VEIL_ID_MAX)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "%s is longer than %d bytes", what,
                           VEIL_ID_MAX);
  if (!is_alnum(id[0]))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "%s `%s` must start with a letter or digit", what, id);
  for (size_t i = 1; i < n; i++)
    if (!is_alnum(id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-')
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                             "%s `%s` may only contain letters, digits, `_`, `.` and `-`", what, id);
  return 0;
}
