/* Text forms of the network RPCs' fields (types.proto), parsed and formatted without
 * netlink so that they can be tested and fuzzed alone. Every parser takes
 * NUL-terminated text from the host and accepts nothing but the exact form. */
#ifndef VEIL_AGENT_NET_PARSE_H
#define VEIL_AGENT_NET_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest address text accepted: an IPv6 address with a /128 prefix. */
#define AGENT_NET_MAX_ADDR_TEXT 64
/* Room for a formatted hardware address of up to 32 bytes ("xx:" each). */
#define AGENT_NET_HW_TEXT 97

struct agent_ip {
  int family;        /* AF_INET or AF_INET6 */
  uint8_t bytes[16]; /* 4 or 16 used */
  int prefix;        /* 0..32 or 0..128; -1 when the text had none */
};

/* "02:42:ac:11:00:02": six groups of one or two hex digits, either case. */
bool agent_parse_mac(const char *s, uint8_t mac[6]);
/* An IPv4 dotted quad or an IPv6 address (no zone, no brackets); prefix = -1. */
bool agent_parse_ip(const char *s, struct agent_ip *out);
/* An address with an optional "/N" (N decimal, at most the family's length). */
bool agent_parse_cidr(const char *s, struct agent_ip *out);
/* A decimal prefix length "0".."128" (as in IPAddress.mask) for `family`. */
bool agent_parse_prefix(const char *s, int family, int *prefix);
/* What the kernel accepts as a link name (dev_valid_name): 1..15 bytes, no '/', ':'
 * or whitespace, not "." or "..". */
bool agent_ifname_valid(const char *s);
/* Lower-case colon hex ("02:42:ac:11:00:02"); "" for n == 0 or n > 32. */
void agent_format_hw(const uint8_t *b, size_t n, char out[AGENT_NET_HW_TEXT]);
/* An address as text (inet_ntop); with_prefix appends "/prefix". out must hold
 * AGENT_NET_MAX_ADDR_TEXT bytes. */
void agent_format_ip(int family, const void *bytes, int prefix, bool with_prefix,
                     char out[AGENT_NET_MAX_ADDR_TEXT]);

#endif
