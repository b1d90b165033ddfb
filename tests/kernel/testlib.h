/*
 * Helpers shared by the kernel self-tests (tests/kernel/test_*.c): memory-map
 * lookups and "take frames out of the frame map" for exhaustion tests.
 */
#ifndef KSPAN_KERNEL_TESTLIB_H
#define KSPAN_KERNEL_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <kspan/memmap.h>

/* The boot memory map. */
const struct ks_memrange *kt_map(size_t *n);

/* The range containing phys, or NULL. */
const struct ks_memrange *kt_map_find(uint64_t phys);

/* Does [base, base + len) lie inside one range of the given type? */
int kt_map_inside(uint64_t base, uint64_t len, uint32_t type);

/*
 * Frames taken from the frame map, for exhaustion tests.  The runs are
 * listed in index frames (taken from the grab itself), so the grabbed
 * memory is never written: on a big guest, touching one word per 2 MiB
 * already makes the host back all of it (transparent huge pages), which
 * is slow and wasteful.
 */
struct kt_grab {
	uint64_t index;     /* first index frame, 0 if none */
	uint64_t last;      /* index frame being filled */
	uint64_t runs;      /* runs listed (index frames not counted) */
	uint64_t frames;    /* frames grabbed, index frames included */
};

/* Allocate frames until only `leave` free frames remain (or allocation
 * fails): aligned blocks of 1 GiB down to 2 MiB first, then single frames
 * merged into runs of up to 512, so that taking everything is cheap on a
 * big guest too. */
void kt_grab_frames(struct kt_grab *g, uint64_t leave);

/* Visit every grabbed run (index frames too, as runs of one):
 * fn(base, frames, arg); stops early and returns fn's value if that is
 * non-zero. */
int kt_grab_each_run(const struct kt_grab *g,
                     int (*fn)(uint64_t base, uint64_t frames, void *arg),
                     void *arg);

/* A grabbed run of at least n frames (untouched memory a test may use as
 * scratch while it holds g), or 0 if there is none. */
uint64_t kt_grab_scratch(const struct kt_grab *g, uint64_t n);

/* Free every frame and empty g. */
void kt_release_frames(struct kt_grab *g);

/* Memory the exhaustion self-tests fill at most: on a bigger guest they
 * first take all but this much out of the frame map (kt_grab_frames,
 * without touching it), so a 256 GiB guest fills 1 GiB, not 256. */
#define KT_FILL_CAP (1ull << 30)

/* Frames the kernel holds outside the tests right now: page tables taken
 * from the frame map and pages the page source has committed. */
uint64_t kt_frames_in_kernel_use(void);

#endif
