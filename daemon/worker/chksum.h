/* chksum.h: Berkeley DB's page and log record checksum (libdb's __ham_func4), computed bit
 * for bit the same, 64 bytes at a time with AVX2 (see chksum.c). */
#ifndef JOBSD_CHKSUM_H
#define JOBSD_CHKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Once per process, before the store is opened: use the fast routine for libdb's own
 * checksums when the CPU has AVX2 and it agrees with libdb's on test data; else libdb's
 * (with a warning if they disagreed). */
void chksum_init(void);
/* Whether chksum_init chose the fast routine. */
bool chksum_fast_in_use(void);

/* The hash: h = 33 * h + byte over [p, p + len), from h = 0, modulo 2^32. chksum_fast
 * uses AVX2 when the CPU has it (chksum_init first); chksum_bytes one byte at a time. */
uint32_t chksum_fast(const void *p, size_t len);
uint32_t chksum_bytes(const void *p, size_t len);

#endif
