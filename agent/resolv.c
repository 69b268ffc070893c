/* CreateSandbox's `dns` and `hostname` (ops.h, docs/agent.md).
 *
 * kata's runtime sends the lines of the pod's resolv.conf as they are (comments and
 * blank lines included, kata_agent.go getDNS) and kata-agent writes them unchecked
 * (src/agent/src/network.rs). veil-agent accepts the same input but refuses lines that
 * are not resolv.conf(5) syntax: a guest file built from host input must not carry
 * other directives, control characters or embedded newlines. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/net_parse.h"
#include "agent/ops.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

#define MAX_DNS_BYTES (64 * 1024)

/* Token checks per keyword. */
static bool is_host_char(int c)
{
  return isalnum(c) || c == '.' || c == '-' || c == '_';
}
static bool is_option_char(int c)
{
  return isalnum(c) || c == ':' || c == '.' || c == '-' || c == '_';
}
static bool is_sortlist_char(int c)
{
  return isxdigit(c) || c == '.' || c == ':' || c == '/';
}

static bool token_ok(const char *t, size_t n, bool (*ok)(int))
{
  for (size_t i = 0; i < n; i++)
    if (!ok((unsigned char)t[i]))
      return false;
  return true;
}

/* A nameserver address, with an IPv6 zone ("fe80::1%eth0") as glibc allows. */
static bool nameserver_ok(const char *t, size_t n)
{
  char buf[AGENT_NET_MAX_ADDR_TEXT + 16];
  if (n >= sizeof(buf))
    return false;
  memcpy(buf, t, n);
  buf[n] = '\0';
  char *zone = strchr(buf, '%');
  if (zone) {
    *zone++ = '\0';
    if (!agent_ifname_valid(zone))
      return false;
  }
  struct agent_ip ip;
  return agent_parse_ip(buf, &ip) && (!zone || ip.family == AF_INET6);
}

/* The line without surrounding blanks: [*start, *start + *len). */
static void trim(const char *s, const char **start, size_t *len)
{
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  while (n && (*s == ' ' || *s == '\t'))
    s++, n--;
  *start = s;
  *len = n;
}

static int check_line(size_t i, const char *line, veil_error_t *err)
{
  size_t raw = strlen(line);
  if (raw > AGENT_DNS_MAX_LINE)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: dns[%zu] is %zu "
                           "bytes, at most %d", i, raw, AGENT_DNS_MAX_LINE);
  for (size_t k = 0; k < raw; k++) {
    unsigned char c = (unsigned char)line[k];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: dns[%zu] contains "
                             "control character 0x%02x (one resolv.conf line per entry)", i, c);
  }
  const char *s;
  size_t n;
  trim(line, &s, &n);
  if (n == 0 || *s == '#' || *s == ';')
    return 0;
  static const struct {
    const char *key;
    bool (*tok)(int);
  } keys[] = {
    { "nameserver", NULL }, { "search", is_host_char }, { "domain", is_host_char },
    { "options", is_option_char }, { "sortlist", is_sortlist_char },
  };
  size_t kl = strcspn(s, " \t");
  for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
    if (kl != strlen(keys[k].key) || strncmp(s, keys[k].key, kl) != 0)
      continue;
    const char *p = s + kl, *end = s + n;
    size_t tokens = 0;
    while (p < end) {
      while (p < end && (*p == ' ' || *p == '\t'))
        p++;
      size_t tl = 0;
      while (p + tl < end && p[tl] != ' ' && p[tl] != '\t')
        tl++;
      if (!tl)
        break;
      bool ok = keys[k].tok ? token_ok(p, tl, keys[k].tok) : tokens == 0 && nameserver_ok(p, tl);
      if (!ok)
        return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: dns[%zu] `%.*s`: "
                               "`%.*s` is not a valid %s value", i, (int)(n > 128 ? 128 : n), s,
                               (int)(tl > 64 ? 64 : tl), p, keys[k].key);
      tokens++;
      p += tl;
    }
    if (!tokens)
      return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: dns[%zu] `%s` has "
                             "no value", i, keys[k].key);
    return 0;
  }
  return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: dns[%zu] `%.*s` is not "
                         "a resolv.conf line (nameserver, search, domain, options, sortlist or "
                         "a # comment)", i, (int)(n > 128 ? 128 : n), s);
}

int agent_check_dns(char *const *lines, size_t n, veil_error_t *err)
{
  if (n > AGENT_DNS_MAX_LINES)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: %zu dns lines, at "
                           "most %d", n, AGENT_DNS_MAX_LINES);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    if (check_line(i, lines[i] ? lines[i] : "", err) < 0)
      return -1;
    total += strlen(lines[i] ? lines[i] : "") + 1;
  }
  if (total > MAX_DNS_BYTES)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: dns lines total %zu "
                           "bytes, at most %d", total, MAX_DNS_BYTES);
  return 0;
}

int agent_check_hostname(const char *h, veil_error_t *err)
{
  size_t n = h ? strlen(h) : 0;
  if (n == 0)
    return 0;
  bool ok = n <= AGENT_MAX_HOSTNAME && isalnum((unsigned char)h[0]);
  for (size_t i = 0; ok && i < n; i++)
    ok = is_host_char((unsigned char)h[i]);
  if (!ok)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateSandbox: hostname `%.80s` is "
                           "not a host name (at most %d of [A-Za-z0-9._-], starting with a letter "
                           "or digit)", h, AGENT_MAX_HOSTNAME);
  return 0;
}

int agent_apply_dns(struct agent *a, char *const *lines, size_t n, veil_error_t *err)
{
  if (n == 0 || !a->cfg.resolv_conf)
    return 0;
  size_t cap = 1;
  for (size_t i = 0; i < n; i++)
    cap += strlen(lines[i] ? lines[i] : "") + 1;
  cleanup_free char *buf = malloc(cap);
  if (!buf)
    return veil_error_make(err, ENOMEM, "out of memory");
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    const char *s;
    size_t l;
    trim(lines[i] ? lines[i] : "", &s, &l);
    if (!l)
      continue;
    memcpy(buf + len, s, l);
    len += l;
    buf[len++] = '\n';
  }
  if (veil_write_file_atomic(a->cfg.resolv_conf, buf, len, 0644, err) < 0)
    return veil_error_wrap(err, "CreateSandbox: dns");
  log_info("resolv.conf written: %s (%zu lines)", a->cfg.resolv_conf, n);
  return 0;
}

int agent_apply_hostname(struct agent *a, const char *h, veil_error_t *err)
{
  if (!h || !*h)
    return 0;
  if (a->cfg.set_hostname && sethostname(h, strlen(h)) < 0)
    return veil_error_errno(err, "CreateSandbox: sethostname %s", h);
  if (a->cfg.hostname_file) {
    cleanup_free char *line = NULL;
    if (asprintf(&line, "%s\n", h) < 0)
      return veil_error_make(err, ENOMEM, "out of memory");
    if (veil_write_file_atomic(a->cfg.hostname_file, line, strlen(line), 0644, err) < 0)
      return veil_error_wrap(err, "CreateSandbox: hostname");
  }
  return 0;
}
