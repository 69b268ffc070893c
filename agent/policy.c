/* SetPolicy: parse the supported Rego subset and check requests (policy.h). */
#include "agent/policy.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

void agent_policy_clear(struct agent_policy *p)
{
  for (size_t i = 0; i < p->n_rules; i++)
    free(p->rules[i].request);
  free(p->rules);
  p->rules = NULL;
  p->n_rules = 0;
  p->set = false;
}

static char *trim(char *s)
{
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

static bool is_ident(const char *s)
{
  if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
    return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_'))
      return false;
  return true;
}

/* One `default Name := value` line. */
static int parse_default(char *rest, unsigned lineno, struct agent_policy *p, veil_error_t *err)
{
  char *op = strstr(rest, ":=");
  size_t oplen = 2;
  if (!op) {
    op = strchr(rest, '=');
    oplen = 1;
  }
  if (!op)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "policy line %u: expected `default <Request> := true|false`", lineno);
  *op = '\0';
  char *name = trim(rest), *value = trim(op + oplen);
  if (!is_ident(name))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "policy line %u: bad rule name `%s`",
                           lineno, name);
  bool allow;
  if (strcmp(value, "true") == 0)
    allow = true;
  else if (strcmp(value, "false") == 0)
    allow = false;
  else
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "policy line %u: `%s` must be true or false (veil-agent supports only "
                           "constant defaults)", lineno, name);
  for (size_t i = 0; i < p->n_rules; i++)
    if (strcmp(p->rules[i].request, name) == 0) {
      p->rules[i].allow = allow;
      return 0;
    }
  if (p->n_rules >= AGENT_POLICY_MAX_RULES)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "policy: more than %d rules",
                           AGENT_POLICY_MAX_RULES);
  struct agent_policy_rule *r = realloc(p->rules, (p->n_rules + 1) * sizeof(*r));
  if (!r)
    return veil_error_make(err, ENOMEM, "policy: out of memory");
  p->rules = r;
  if (!(r[p->n_rules].request = strdup(name)))
    return veil_error_make(err, ENOMEM, "policy: out of memory");
  r[p->n_rules++].allow = allow;
  return 0;
}

int agent_policy_parse(const char *text, size_t len, struct agent_policy *out, veil_error_t *err)
{
  if (len > AGENT_POLICY_MAX_SIZE)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "policy larger than %d bytes",
                           AGENT_POLICY_MAX_SIZE);
  if (memchr(text, '\0', len))
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "policy contains a NUL byte");
  cleanup_free char *copy = strndup(text, len);
  if (!copy)
    return veil_error_make(err, ENOMEM, "policy: out of memory");
  struct agent_policy p = { .set = true };
  unsigned lineno = 0;
  char *save = NULL;
  for (char *line = copy; line; line = save) {
    save = strchr(line, '\n');
    if (save)
      *save++ = '\0';
    lineno++;
    char *hash = strchr(line, '#');
    if (hash)
      *hash = '\0';
    char *l = trim(line);
    if (!*l)
      continue;
    if (strncmp(l, "package ", 8) == 0 || strncmp(l, "import ", 7) == 0)
      continue;
    if (strncmp(l, "default ", 8) == 0) {
      if (parse_default(l + 8, lineno, &p, err) < 0) {
        agent_policy_clear(&p);
        return -1;
      }
      continue;
    }
    agent_policy_clear(&p);
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "policy line %u: unsupported construct (veil-agent accepts only "
                           "`default <Request> := true|false` rules, see docs/agent.md)", lineno);
  }
  agent_policy_clear(out);
  *out = p;
  return 0;
}

int agent_policy_check(const struct agent_policy *p, const char *request, veil_error_t *err)
{
  if (!p->set)
    return 0;
  for (size_t i = 0; i < p->n_rules; i++)
    if (strcmp(p->rules[i].request, request) == 0) {
      if (p->rules[i].allow)
        return 0;
      break;
    }
  return veil_error_grpc(err, VEIL_GRPC_PERMISSION_DENIED, "%s is blocked by policy", request);
}
