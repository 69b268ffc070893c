/* Text from an untrusted peer (the guest) made safe to log and to hand to containerd: valid,
 * printable UTF-8 of bounded length. */
#ifndef VEIL_COMMON_TEXT_H
#define VEIL_COMMON_TEXT_H

#include <stddef.h>

/* A heap copy of in[0..len) where every byte that is not part of a printable UTF-8 character
 * (control characters, DEL, invalid or overlong sequences, surrogates) becomes "\xNN", cut
 * to at most max_bytes of input and marked "...(N bytes cut)". NULL only when out of memory. */
char *veil_text_sanitize(const char *in, size_t len, size_t max_bytes);
/* The same, keeping newlines (a console tail). */
char *veil_text_sanitize_lines(const char *in, size_t len, size_t max_bytes);

#endif
