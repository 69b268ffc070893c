/* The guest's /run/kata-containers layout, a contract between the shim (which names these
 * paths in CreateContainer, storages and shares) and the agent (which creates and checks
 * them). Kata's own layout, which policies and guest tools expect. */
#ifndef VEIL_COMMON_GUEST_PATHS_H
#define VEIL_COMMON_GUEST_PATHS_H

/* Kata's CONTAINER_BASE: the agent's state dir, one <base>/<container id>/ per container
 * (its bundle; <base>/<id>/rootfs is the rootfs when there is no host share, e.g. a TEE
 * pulling the image in the guest). */
#define VEIL_GUEST_CONTAINER_BASE "/run/kata-containers"
/* Where the host share (dev profile, 9p) is mounted: <dir>/<id>/rootfs and the containers'
 * host bind mounts. */
#define VEIL_GUEST_SHARED_DIR VEIL_GUEST_CONTAINER_BASE "/shared/containers"
/* The pod's own directory: one /dev/shm for all its containers (kata's ephemeral storage
 * for the sandbox shm, rbind-mounted into each container). */
#define VEIL_GUEST_SANDBOX_DIR VEIL_GUEST_CONTAINER_BASE "/sandbox"
#define VEIL_GUEST_SANDBOX_SHM VEIL_GUEST_SANDBOX_DIR "/shm"
/* CopyFile writes only below this directory. */
#define VEIL_GUEST_COPY_FILE_ROOT VEIL_GUEST_CONTAINER_BASE

#endif
