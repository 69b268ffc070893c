/* /proc/self/mountinfo, read whole and unescaped (mount points may hold "\040" etc.). */
#ifndef VEIL_COMMON_MOUNTINFO_H
#define VEIL_COMMON_MOUNTINFO_H

#include <stddef.h>

#include "error.h"

/* Mount points at or below `dir`, in mountinfo order (parents before children): a
 * NULL-terminated array of heap strings in *out. */
int veil_mounts_below(const char *dir, char ***out, veil_error_t *err);
/* The same, parsed from mountinfo text (unit tests, fuzzing). */
int veil_mounts_below_in(const char *text, size_t len, const char *dir, char ***out,
                         veil_error_t *err);
/* Unmount (lazily, never following a symlink) everything at or below `dir`, deepest first,
 * until nothing is left or `max_rounds` passes were made. Returns the number of mounts
 * still there (0 = clean) or -1 with *err. */
int veil_unmount_below(const char *dir, int max_rounds, veil_error_t *err);

#endif
