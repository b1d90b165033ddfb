/*
 * Commits of mm/: the one door to ks_plat_commit.  See mm/commit.c.
 */
#ifndef KSPAN_MM_COMMIT_H
#define KSPAN_MM_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

/* ks_plat_commit(addr, len); a failure is noted for the calling slot. */
int ks_commit(void *addr, size_t len);

/* Did a commit fail on this slot since it last asked?  Clears the note. */
bool ks_commit_failed_take(void);

#endif
