/* token_epoch.h: the token epoch, a 64-bit counter in a sealed memfd. The supervisor
 * bumps it after every token change (create, revoke) has committed; a listener reads it
 * before trusting its cache of checked tokens (http/token_cache.h), so a revoked token is
 * refused by every listener from the moment `jobctl token revoke` returns, without a
 * round trip to each listener. The listener can only map it read-only. */
#ifndef JOBSD_TOKEN_EPOCH_H
#define JOBSD_TOKEN_EPOCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* jobsd-http: the descriptor number of the epoch memfd (absent: no token cache). */
#define TOKEN_EPOCH_FD_ENV "JOBSD_HTTP_EPOCH_FD"

struct token_epoch {
	int fd;                 /* -1 once attached or closed */
	_Atomic uint64_t *word; /* NULL: none */
};

/* Supervisor: a new epoch (value 1), writable through *e only; fd stays open to be passed
 * to listeners. 0, or -1 with *cause. */
int token_epoch_create(struct token_epoch *e, char **cause);
/* Listener: map fd (which this closes) read-only. 0, or -1 with *cause. */
int token_epoch_attach(struct token_epoch *e, int fd, char **cause);
/* Supervisor, after a token change committed: every later read sees a new value. */
void token_epoch_bump(struct token_epoch *e);
/* The current value; 0 when e has no epoch. */
uint64_t token_epoch_read(const struct token_epoch *e);
bool token_epoch_ok(const struct token_epoch *e);
void token_epoch_close(struct token_epoch *e);

#endif
