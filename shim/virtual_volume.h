/* Kata virtual volumes in rootfs mount options: `io.katacontainers.volume=<base64 JSON>` (the
 * KataVirtualVolume that nydus-snapshotter's proxy mode hands to CoCo runtimes). Such a
 * rootfs is never mounted on the host: the guest pulls the image itself (kata
 * fs_share_linux.go handleVirtualVolume, kata_agent.go handleImageGuestPullBlockVolume). */
#ifndef VEIL_SHIM_VIRTUAL_VOLUME_H
#define VEIL_SHIM_VIRTUAL_VOLUME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "github.com/containerd/containerd/api/types/mount.pb-c.h"

#define VIRTUAL_VOLUME_PREFIX "io.katacontainers.volume="
#define VIRTUAL_VOLUME_MAX (64u * 1024) /* decoded JSON */

/* Does any option of any rootfs mount carry a virtual volume? */
bool shim_rootfs_has_virtual_volume(Containerd__Types__Mount **mounts, size_t n);
/* The image-pull metadata of the rootfs's virtual volumes, merged (a JSON object of
 * strings, new reference in *metadata). Every volume must be valid and of type
 * image_guest_pull; anything else is InvalidArgument naming what was wrong. */
int shim_rootfs_guest_pull_metadata(Containerd__Types__Mount **mounts, size_t n,
                                    json_t **metadata, veil_error_t *err);
/* One option value (after the prefix): decode, bound, validate as kata's
 * ParseKataVirtualVolume does. *volume is a new reference. */
int shim_virtual_volume_parse(const char *b64, json_t **volume, veil_error_t *err);

#endif
