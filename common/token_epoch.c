/* token_epoch.c: the token epoch's memfd. Created with every seal that keeps a listener
 * from writing or resizing it: after F_SEAL_FUTURE_WRITE no new writable mapping and no
 * write(2) is possible, while the supervisor's mapping made before the seal stays
 * writable. Reads and bumps are C11 atomics, lock-free on 64 bits so they work across
 * processes sharing the page; the listener's load through its read-only mapping needs a
 * plain 64-bit load, not the compare-and-swap some 32-bit targets use, which would fault
 * on a read-only page. Elsewhere than x86-64 and AArch64 there is no epoch (and so no
 * token cache: every request asks the store). */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "token_epoch.h"

#define EPOCH_SIZE sizeof(uint64_t)

#if defined(__x86_64__) || defined(__aarch64__)
#define EPOCH_SUPPORTED 1
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
               "a counter shared between processes must be lock-free");
#else
#define EPOCH_SUPPORTED 0
#endif

int
token_epoch_create(struct token_epoch *e, char **cause)
{
	void *p;
	int fd;

	e->fd = -1;
	e->word = NULL;
	if (!EPOCH_SUPPORTED) {
		*cause = xasprintf("token epoch: not built for this processor");
		return (-1);
	}
	if ((fd = memfd_create("jobsd-token-epoch", MFD_CLOEXEC | MFD_ALLOW_SEALING)) == -1) {
		*cause = xasprintf("memfd_create: %s", strerror(errno));
		return (-1);
	}
	if (ftruncate(fd, EPOCH_SIZE) == -1) {
		*cause = xasprintf("token epoch: ftruncate: %s", strerror(errno));
		goto fail;
	}
	p = mmap(NULL, EPOCH_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*cause = xasprintf("token epoch: mmap: %s", strerror(errno));
		goto fail;
	}
	if (fcntl(fd, F_ADD_SEALS,
	          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == -1) {
		*cause = xasprintf("token epoch: seal: %s", strerror(errno));
		munmap(p, EPOCH_SIZE);
		goto fail;
	}
	e->fd = fd;
	e->word = p;
	atomic_store_explicit(e->word, 1, memory_order_release);
	return (0);
fail:
	close(fd);
	return (-1);
}

int
token_epoch_attach(struct token_epoch *e, int fd, char **cause)
{
	struct stat sb;
	void *p;
	int seals;

	e->fd = -1;
	e->word = NULL;
	if (!EPOCH_SUPPORTED) {
		*cause = xasprintf("token epoch: not built for this processor");
		goto fail;
	}
	if (fstat(fd, &sb) == -1) {
		*cause = xasprintf("token epoch fd %d: %s", fd, strerror(errno));
		goto fail;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (!S_ISREG(sb.st_mode) || sb.st_size != (off_t)EPOCH_SIZE || seals == -1 ||
	    (seals & (F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE)) !=
	        (F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE)) {
		*cause =
		    xasprintf("token epoch fd %d: not a sealed %zu-byte memfd", fd, EPOCH_SIZE);
		goto fail;
	}
	p = mmap(NULL, EPOCH_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*cause = xasprintf("token epoch fd %d: mmap: %s", fd, strerror(errno));
		goto fail;
	}
	close(fd);
	e->word = p;
	return (0);
fail:
	close(fd);
	return (-1);
}

void
token_epoch_bump(struct token_epoch *e)
{
	if (e->word != NULL)
		atomic_fetch_add_explicit(e->word, 1, memory_order_acq_rel);
}

uint64_t
token_epoch_read(const struct token_epoch *e)
{
	return (e->word != NULL ? atomic_load_explicit(e->word, memory_order_acquire) : 0);
}

bool
token_epoch_ok(const struct token_epoch *e)
{
	return (e->word != NULL);
}

void
token_epoch_close(struct token_epoch *e)
{
	if (e->word != NULL)
		munmap((void *)(uintptr_t)e->word, EPOCH_SIZE);
	if (e->fd != -1)
		close(e->fd);
	e->word = NULL;
	e->fd = -1;
}
