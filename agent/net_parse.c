/* Text forms of network fields (net_parse.h). */
#include "agent/net_parse.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool agent_parse_mac(const char *s, uint8_t mac[6])
{
  for (int i = 0; i < 6; i++) {
    int hi = hexval(s[0]);
    if (hi < 0)
      return false;
    int lo = hexval(s[1]);
    if (lo >= 0) {
      mac[i] = (uint8_t)(hi << 4 | lo);
      s += 2;
    } else {
      mac[i] = (uint8_t)hi;
      s += 1;
    }
    if (i < 5 && *s++ != ':')
      return false;
  }
  return *s == '\0';
}

bool agent_parse_ip(const char *s, struct agent_ip *out)
{
  memset(out, 0, sizeof(*out));
  out->prefix = -1;
  if (strlen(s) >= AGENT_NET_MAX_ADDR_TEXT)
    return false;
  if (inet_pton(AF_INET, s, out->bytes) == 1) {
    out->family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s, out->bytes) == 1) {
    out->family = AF_INET6;
    return true;
  }
  return false;
}

bool agent_parse_prefix(const char *s, int family, int *prefix)
{
  int max = family == AF_INET ? 32 : 128, v = 0;
  size_t n = strlen(s);
  if (n == 0 || n > 3)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  if (v > max)
    return false;
  *prefix = v;
  return true;
}

bool agent_parse_cidr(const char *s, struct agent_ip *out)
{
  char buf[AGENT_NET_MAX_ADDR_TEXT];
  if (strlen(s) >= sizeof(buf))
    return false;
  strcpy(buf, s);
  char *slash = strchr(buf, '/');
  if (slash)
    *slash = '\0';
  if (!agent_parse_ip(buf, out))
    return false;
  if (slash)
    return agent_parse_prefix(slash + 1, out->family, &out->prefix);
  return true;
}

bool agent_ifname_valid(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '/' || c == ':' || isspace(c) || c < 0x20 || c >= 0x7f)
      return false;
  }
  return true;
}

void agent_format_hw(const uint8_t *b, size_t n, char out[AGENT_NET_HW_TEXT])
{
  out[0] = '\0';
  if (n == 0 || n > 32)
    return;
  char *p = out;
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, i ? ":%02x" : "%02x", b[i]);
}

void agent_format_ip(int family, const void *bytes, int prefix, bool with_prefix,
                     char out[AGENT_NET_MAX_ADDR_TEXT])
{
  if (!inet_ntop(family, bytes, out, AGENT_NET_MAX_ADDR_TEXT)) {
    out[0] = '\0';
    return;
  }
  if (with_prefix) {
    size_t n = strlen(out);
    snprintf(out + n, AGENT_NET_MAX_ADDR_TEXT - n, "/%d", prefix);
  }
}
