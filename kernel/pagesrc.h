/*
 * The kernel's page source: ks_plat_reserve / commit / decommit
 * (include/kspan/platform.h) over the frame map and 4 KiB paging.
 * See pagesrc.c.
 */
#ifndef KSPAN_KERNEL_PAGESRC_H
#define KSPAN_KERNEL_PAGESRC_H

#include <stdint.h>

#define KS_PAGESRC_MIN_BASE   (16ull << 40)  /* 16 TiB */
#define KS_PAGESRC_WINDOW     (16ull << 40)  /* 16 TiB of address space */

/* Place the window above the identity map [0, identity_top).  Call once,
 * after the frame map is built and paging takes tables from it. */
void ks_pagesrc_init(uint64_t identity_top);

struct ks_pagesrc_stats {
	uint64_t window_base, window_end;  /* [base, end) */
	uint64_t reserved_bytes;           /* handed out by reserve */
	uint64_t committed_frames;         /* mapped now */
	uint64_t commit_calls, decommit_calls, commit_failures;
};
void ks_pagesrc_stats(struct ks_pagesrc_stats *out);

#endif
