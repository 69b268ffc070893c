#include "shim/args.h"

#include <errno.h>
#include <string.h>

/* Go's flag package: "-name value", "-name=value", "--name"; bools take no value
 * (or "=true/false"); parsing stops at the first non-flag argument. */
static int parse_bool(const char *v, bool *out)
{
  if (v == NULL || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "t") == 0) {
    *out = true;
    return 0;
  }
  if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "f") == 0) {
    *out = false;
    return 0;
  }
  return -1;
}

int shim_args_parse(int argc, char **argv, struct shim_args *out, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  out->namespace_ = "";
  out->address = "";
  out->publish_binary = "";
  out->id = "";

  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0)
      break;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    const char *name = a + 1;
    if (*name == '-')
      name++;
    char namebuf[64];
    const char *eq = strchr(name, '=');
    const char *value = NULL;
    if (eq) {
      size_t n = (size_t)(eq - name);
      if (n >= sizeof(namebuf))
        return veil_error_make(err, EINVAL, "flag `%s` is not known", a);
      memcpy(namebuf, name, n);
      namebuf[n] = '\0';
      name = namebuf;
      value = eq + 1;
    }

    bool *bool_target = NULL;
    const char **str_target = NULL;
    if (strcmp(name, "debug") == 0)
      bool_target = &out->debug;
    else if (strcmp(name, "v") == 0 || strcmp(name, "version") == 0)
      bool_target = &out->version;
    else if (strcmp(name, "info") == 0)
      bool_target = &out->info;
    else if (strcmp(name, "namespace") == 0)
      str_target = &out->namespace_;
    else if (strcmp(name, "address") == 0)
      str_target = &out->address;
    else if (strcmp(name, "publish-binary") == 0)
      str_target = &out->publish_binary;
    else if (strcmp(name, "id") == 0)
      str_target = &out->id;
    else if (strcmp(name, "bundle") == 0)
      str_target = &out->bundle;
    else if (strcmp(name, "socket") == 0 || strcmp(name, "debug-socket") == 0)
      str_target = strcmp(name, "socket") == 0 ? &out->socket : NULL;
    else
      return veil_error_make(err, EINVAL, "flag provided but not defined: -%s", name);

    if (bool_target) {
      if (parse_bool(value, bool_target) < 0)
        return veil_error_make(err, EINVAL, "invalid boolean value `%s` for -%s", value, name);
      continue;
    }
    if (value == NULL) {
      if (i + 1 >= argc)
        return veil_error_make(err, EINVAL, "flag needs an argument: -%s", name);
      value = argv[++i];
    }
    if (str_target)
      *str_target = value;
  }
  if (i < argc)
    out->action = argv[i];
  if (out->action && strcmp(out->action, "start") != 0 && strcmp(out->action, "delete") != 0)
    return veil_error_make(err, EINVAL, "unknown action `%s`: expected start or delete",
                           out->action);
  return 0;
}
