/* A minimal TOML reader for initdata documents: top-level `key = "string"` pairs and the
 * string values of the [data] table. Other tables and non-string values are skipped; strings
 * may be basic, literal or multi-line. Malformed input is a clear EINVAL error with the line
 * number, never a crash: the document is untrusted. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/initdata.h"

enum table { TOP, DATA, OTHER };

struct parser {
  const char *s;
  size_t len, pos;
  unsigned line;
  veil_error_t *err;
};

/* growable string */
struct buf {
  char *p;
  size_t len, cap;
};

static int buf_put(struct buf *b, const char *data, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

static int fail(struct parser *p, const char *what)
{
  return veil_error_make(p->err, EINVAL, "initdata TOML line %u: %s", p->line, what);
}

static int peek(const struct parser *p)
{
  return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static bool at(const struct parser *p, const char *tok)
{
  size_t n = strlen(tok);
  return p->len - p->pos >= n && memcmp(p->s + p->pos, tok, n) == 0;
}

static void skip_blank(struct parser *p)
{
  while (peek(p) == ' ' || peek(p) == '\t')
    p->pos++;
}

/* After a value or header: only blanks and a comment until the end of the line. */
static int end_of_line(struct parser *p)
{
  skip_blank(p);
  if (peek(p) == '#')
    while (peek(p) != -1 && peek(p) != '\n')
      p->pos++;
  if (peek(p) == '\r')
    p->pos++;
  if (peek(p) == -1)
    return 0;
  if (peek(p) != '\n')
    return fail(p, "unexpected text after the value");
  p->pos++;
  p->line++;
  return 0;
}

static int put_utf8(struct buf *b, unsigned long cp)
{
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp, n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
  } else {
    u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
  }
  return buf_put(b, u, n);
}

static int escape(struct parser *p, struct buf *b)
{
  int c = peek(p);
  p->pos++;
  const char *simple = strchr("btnfr\"\\", c);
  if (c > 0 && simple) {
    static const char out[] = "\b\t\n\f\r\"\\";
    return buf_put(b, &out[simple - "btnfr\"\\"], 1);
  }
  if (c == 'u' || c == 'U') {
    size_t n = c == 'u' ? 4 : 8;
    if (p->len - p->pos < n)
      return fail(p, "truncated \\u escape");
    unsigned long cp = 0;
    for (size_t i = 0; i < n; i++) {
      char h = p->s[p->pos + i];
      int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
            : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (v < 0)
        return fail(p, "bad hex digit in \\u escape");
      cp = cp * 16 + (unsigned long)v;
    }
    p->pos += n;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0)
      return fail(p, "invalid code point in \\u escape");
    return put_utf8(b, cp);
  }
  return fail(p, "invalid escape sequence in a string");
}

/* A string value at p->pos (opening quote(s) included); out is malloc'd. */
static int string(struct parser *p, char **out)
{
  bool basic = peek(p) == '"';
  bool multi = at(p, basic ? "\"\"\"" : "'''");
  const char *close = multi ? (basic ? "\"\"\"" : "'''") : (basic ? "\"" : "'");
  struct buf b = { 0 };
  if (buf_put(&b, "", 0) < 0)
    return veil_error_errno(p->err, "allocate");
  p->pos += multi ? 3 : 1;
  if (multi && at(p, "\r\n"))
    p->pos += 2, p->line++;
  else if (multi && at(p, "\n"))
    p->pos++, p->line++;
  for (;;) {
    int c = peek(p);
    if (c == -1 || (!multi && c == '\n')) {
      free(b.p);
      return fail(p, "unterminated string");
    }
    if (at(p, close)) {
      p->pos += strlen(close);
      /* up to two quotes right before the closing delimiter belong to the string */
      while (multi && peek(p) == close[0] && b.len < SIZE_MAX) {
        buf_put(&b, close, 1);
        p->pos++;
      }
      break;
    }
    int rc = 0;
    if (basic && c == '\\') {
      p->pos++;
      if (multi) { /* line-ending backslash: trim whitespace and newlines */
        size_t q = p->pos;
        while (q < p->len && (p->s[q] == ' ' || p->s[q] == '\t'))
          q++;
        if (q < p->len && (p->s[q] == '\n' || p->s[q] == '\r')) {
          p->pos = q;
          while (peek(p) == ' ' || peek(p) == '\t' || peek(p) == '\n' || peek(p) == '\r') {
            if (peek(p) == '\n')
              p->line++;
            p->pos++;
          }
          continue;
        }
      }
      rc = escape(p, &b);
    } else {
      if (c == '\n')
        p->line++;
      rc = buf_put(&b, p->s + p->pos, 1);
      p->pos++;
    }
    if (rc < 0) {
      free(b.p);
      return *p->err ? -1 : veil_error_errno(p->err, "allocate");
    }
  }
  *out = b.p;
  return 0;
}

/* Skip a non-string value (number, bool, date, array, inline table), strings inside included. */
static int skip_value(struct parser *p)
{
  int depth = 0;
  for (;;) {
    int c = peek(p);
    if (c == -1)
      return depth ? fail(p, "unterminated array or inline table") : 0;
    if (c == '"' || c == '\'') {
      cleanup_free char *ignored = NULL;
      if (string(p, &ignored) < 0)
        return -1;
      continue;
    }
    if (depth == 0 && (c == '\n' || c == '#' || c == '\r'))
      return 0;
    if (c == '[' || c == '{')
      depth++;
    else if (c == ']' || c == '}')
      depth--;
    else if (c == '\n')
      p->line++;
    else if (c == '#') /* comment inside a multi-line array */
      while (peek(p) != -1 && peek(p) != '\n')
        p->pos++, c = 0;
    if (depth < 0)
      return fail(p, "unbalanced `]` or `}`");
    if (c != 0)
      p->pos++;
  }
}

static int key(struct parser *p, char **out)
{
  if (peek(p) == '"' || peek(p) == '\'') {
    if (at(p, "\"\"\"") || at(p, "'''"))
      return fail(p, "a key cannot be a multi-line string");
    return string(p, out);
  }
  size_t start = p->pos;
  int c;
  while ((c = peek(p)) != -1 && (c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') ||
                                 (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
    p->pos++;
  if (p->pos == start)
    return fail(p, "expected `key = value`");
  *out = strndup(p->s + start, p->pos - start);
  return *out ? 0 : veil_error_errno(p->err, "allocate");
}

static int header(struct parser *p, enum table *t)
{
  bool array = at(p, "[[");
  p->pos += array ? 2 : 1;
  skip_blank(p);
  cleanup_free char *name = NULL;
  if (key(p, &name) < 0)
    return -1;
  skip_blank(p);
  if (!at(p, array ? "]]" : "]"))
    return fail(p, "malformed table header");
  p->pos += array ? 2 : 1;
  *t = !array && strcmp(name, "data") == 0 ? DATA : OTHER;
  return end_of_line(p);
}

static int set_top(struct parser *p, struct veil_initdata *d, const char *k, char **v)
{
  char **slot = strcmp(k, "version") == 0 ? &d->version
              : strcmp(k, "algorithm") == 0 ? &d->algorithm : NULL;
  if (!slot)
    return 0;
  if (*slot)
    return fail(p, k[0] == 'v' ? "duplicate key `version`" : "duplicate key `algorithm`");
  *slot = steal_pointer(v);
  return 0;
}

static int add_data(struct veil_initdata *d, char **k, char **v, veil_error_t *err)
{
  struct veil_initdata_entry *e = realloc(d->data, (d->n_data + 1) * sizeof(*e));
  if (!e)
    return veil_error_errno(err, "allocate");
  d->data = e;
  e[d->n_data++] = (struct veil_initdata_entry){ steal_pointer(k), steal_pointer(v) };
  return 0;
}

static int pair(struct parser *p, struct veil_initdata *d, enum table t)
{
  cleanup_free char *k = NULL, *v = NULL;
  if (key(p, &k) < 0)
    return -1;
  skip_blank(p);
  if (peek(p) != '=')
    return fail(p, "expected `=` after the key");
  p->pos++;
  skip_blank(p);
  if (peek(p) == '"' || peek(p) == '\'') {
    if (string(p, &v) < 0)
      return -1;
    if (t == TOP && set_top(p, d, k, &v) < 0)
      return -1;
    if (t == DATA && add_data(d, &k, &v, p->err) < 0)
      return -1;
  } else {
    if (peek(p) == -1 || peek(p) == '\n' || peek(p) == '#')
      return fail(p, "missing value after `=`");
    if (t == TOP && (strcmp(k, "version") == 0 || strcmp(k, "algorithm") == 0))
      return fail(p, strcmp(k, "version") == 0 ? "`version` must be a string"
                                               : "`algorithm` must be a string");
    if (skip_value(p) < 0)
      return -1;
  }
  return end_of_line(p);
}

int veil_initdata_parse_toml(struct veil_initdata *d, veil_error_t *err)
{
  struct parser p = { .s = d->toml, .len = d->toml_len, .line = 1, .err = err };
  if (memchr(d->toml, '\0', d->toml_len))
    return veil_error_make(err, EINVAL, "initdata TOML contains a NUL byte");
  enum table t = TOP;
  for (;;) {
    int c;
    while ((c = peek(&p)) == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (c == '\n')
        p.line++;
      p.pos++;
    }
    if (c == -1)
      break;
    int rc = c == '#' ? end_of_line(&p) : c == '[' ? header(&p, &t) : pair(&p, d, t);
    if (rc < 0)
      return -1;
  }
  if (!d->version)
    return veil_error_make(err, EINVAL, "initdata has no `version` (expected e.g. version = \"0.1.0\")");
  if (!d->algorithm)
    return veil_error_make(err, EINVAL, "initdata has no `algorithm` (sha256, sha384 or sha512)");
  return 0;
}
