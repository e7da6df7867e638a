// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * shm.c - create, check and map the DPDK engine's shared-memory file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm.h"

static int shm_check(const struct vif_shm_hdr *h, char *err, size_t errlen)
{
	if (h->magic != VIF_SHM_MAGIC) {
		snprintf(err, errlen, "not a vifplane dataplane file");
		return -EPROTO;
	}
	if (h->shm_version != VIF_SHM_VERSION ||
	    h->abi_version != VIF_ABI_VERSION) {
		snprintf(err, errlen,
			 "layout version %u/abi %u, this build knows %u/%u",
			 h->shm_version, h->abi_version, VIF_SHM_VERSION,
			 VIF_ABI_VERSION);
		return -EPROTO;
	}
	if (h->size != sizeof(struct vif_shm) ||
	    h->max_workers != VIF_SHM_MAX_WORKERS) {
		snprintf(err, errlen, "size %llu with %u workers, expected %zu "
			 "with %u", (unsigned long long)h->size,
			 h->max_workers, sizeof(struct vif_shm),
			 VIF_SHM_MAX_WORKERS);
		return -EPROTO;
	}
	return 0;
}

/* A fresh file is all zeroes (ftruncate): only the header needs writing. */
static void shm_init(struct vif_shm *shm)
{
	shm->config.abi_version = VIF_ABI_VERSION;
	shm->config.quota_slice = VIF_QUOTA_SLICE_DEFAULT;
	shm->hdr.shm_version = VIF_SHM_VERSION;
	shm->hdr.abi_version = VIF_ABI_VERSION;
	shm->hdr.size = sizeof(struct vif_shm);
	shm->hdr.max_workers = VIF_SHM_MAX_WORKERS;
	/* Magic last: a reader that sees it sees a whole header. */
	__atomic_store_n(&shm->hdr.magic, VIF_SHM_MAGIC, __ATOMIC_RELEASE);
}

int vif_shm_map(const char *path, unsigned int flags, struct vif_shm **out,
		char *err, size_t errlen)
{
	bool ro = flags & VIF_SHM_READ_ONLY;
	struct vif_shm *shm = MAP_FAILED;
	char dummy[8];
	struct stat st;
	int fd, ret;

	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	*out = NULL;
	fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC |
			       ((flags & VIF_SHM_CREATE) && !ro ? O_CREAT : 0),
		  0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	/* Creation and the first initialisation happen under one lock. */
	if (flock(fd, ro ? LOCK_SH : LOCK_EX)) {
		ret = -errno;
		snprintf(err, errlen, "flock %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (st.st_size == 0 && !ro && (flags & VIF_SHM_CREATE) &&
	    ftruncate(fd, sizeof(struct vif_shm))) {
		ret = -errno;
		snprintf(err, errlen, "ftruncate %s: %s", path,
			 strerror(errno));
		goto out;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if ((size_t)st.st_size != sizeof(struct vif_shm)) {
		snprintf(err, errlen, "%s: %lld bytes, expected %zu", path,
			 (long long)st.st_size, sizeof(struct vif_shm));
		ret = -EPROTO;
		goto out;
	}
	shm = mmap(NULL, sizeof(*shm), ro ? PROT_READ : PROT_READ | PROT_WRITE,
		   MAP_SHARED, fd, 0);
	if (shm == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "mmap %s: %s", path, strerror(errno));
		goto out;
	}
	if (!ro && shm->hdr.magic == 0)
		shm_init(shm);
	ret = shm_check(&shm->hdr, err, errlen);
	if (ret)
		goto out;
	*out = shm;
	shm = MAP_FAILED;
out:
	if (shm != MAP_FAILED)
		munmap(shm, sizeof(*shm));
	/*
	 * An flock belongs to the open file, which the mapping keeps open:
	 * close() alone would hold it until munmap(), and every other
	 * vif_shm_map() of the file would block that long.
	 */
	flock(fd, LOCK_UN);
	close(fd);
	return ret;
}

void vif_shm_unmap(struct vif_shm *shm)
{
	if (shm)
		munmap(shm, sizeof(*shm));
}

int vif_shm_unlink(const char *path)
{
	return unlink(path) ? -errno : 0;
}
