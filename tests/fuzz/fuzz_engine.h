/*
 * The operation interpreter shared by the kspan fuzz harnesses
 * (tests/fuzz/fuzz_*.c).  See tests/fuzz/README.md.
 *
 * An input is a program: operations, each an opcode byte followed by its
 * argument bytes (missing bytes read as 0).  fz_run_op() runs one against
 * the public API (include/kspan/kmalloc.h, include/kspan/slab.h) and checks the result against a
 * shadow model of the live objects of one context (struct fz_ctx: a
 * "thread" of the program, with its own slots).  What each harness enables
 * (whole-heap checks, exhausting the arena, debug-heap expectations,
 * several threads) is in struct fz_config.
 *
 * Only the public API and arch/host/platform.h are used: the size classes
 * come from kspan_class_stats(), so the harnesses follow the allocator
 * when its internals change.
 */
#ifndef KSPAN_TESTS_FUZZ_ENGINE_H
#define KSPAN_TESTS_FUZZ_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opcodes (the input format; tests/fuzz/mkcorpus.py has the same list). */
enum fz_op {
	OP_MALLOC, OP_ZALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_PAGES,
	OP_FREE, OP_KSIZE, OP_DRAIN, OP_SCAVENGE, OP_CHECK, OP_ON_CPU,
	OP_OOM, OP_BURST, OP_IMPOSSIBLE, OP_STATS, OP_GUARDED, OP_EXHAUST,
	OP_SAMPLE,   /* debug heap: kspan_guard_sample(n) */
	OP_PASS,     /* several threads: hand an object to another thread */
	OP_CACHE_ALLOC,   /* an object of one of the engine's kmem_caches */
	OP_CACHE_SHRINK,  /* kmem_cache_shrink of one of them */
	OP_CACHE_CYCLE,   /* a cache of its own: create, fill, free, destroy */
	FZ_NOPS
};

#define FZ_MAX_SLOTS   64
#define FZ_MAX_WORKERS 4

struct fz_config {
	const char *name;          /* for messages: "fuzz_heap", ... */
	size_t arena_bytes;
	size_t scavenge_threshold;
	size_t live_budget;        /* usable bytes one context holds at most */
	unsigned nslots;           /* slots per context (<= FZ_MAX_SLOTS) */
	unsigned max_ops;          /* operations per input (per context) */
	unsigned check_every;      /* kspan_check every N operations (0: never) */
	unsigned max_checks;       /* OP_CHECK / OP_SCAVENGE / OP_STATS runs per
	                              input (0: no limit) */
	size_t large_cap;          /* largest request (0: 4 MiB), kpages too */
	size_t copy_cap;           /* largest kzalloc/kcalloc/krealloc request
	                              (0: no limit): what they zero or copy */
	unsigned nworkers;         /* helper threads (CPUs) started at init */
	bool on_cpu;               /* OP_ON_CPU runs the next op on a helper */
	bool exhaust;              /* OP_EXHAUST fills the arena */
	bool cache_cycle;          /* OP_CACHE_CYCLE creates, fills, empties and
	                              destroys a cache (up to 64 objects of up
	                              to 4 KiB for three bytes of input) */
	bool oom;                  /* OP_OOM sets a commit limit */
	bool scavenge;             /* OP_SCAVENGE (and OP_OOM's) decommit */
	bool warm_heap;            /* inputs start with every page committed
	                              (else with none) */
	bool heavy_end;            /* every input ends with kspan_check too */
	bool debug_heap;           /* mm/ built with KSPAN_DEBUG_HEAP=1 */
	bool threaded;             /* contexts run on helper threads at once */
	bool switch_slot;          /* the fuzzing thread runs a helper's
	                              operations itself, on the helper's CPU
	                              slot (ks_host_switch_slot), while the
	                              helper waits */
};

struct fz_reader {
	const uint8_t *p;
	size_t n;
};

enum fz_kind { K_NONE = 0, K_KMALLOC, K_PAGES, K_GUARDED, K_CACHE };

#define FZ_NCACHES 4   /* the engine's object caches (fz_init) */

struct fz_obj {
	uint8_t *p;
	size_t req;       /* bytes asked for */
	size_t usable;    /* ksize() at allocation (what is filled) */
	size_t align;     /* alignment promised */
	size_t npages;    /* K_PAGES only */
	uint64_t seed;    /* fill pattern */
	uint8_t kind;
	uint8_t cpu;      /* allocated on (for messages) */
	uint8_t ctx;      /* context that allocated it */
	bool pooled;      /* in the guarded pool (kmalloc_guarded, sampling) */
	size_t raw;       /* kmalloc family: bytes asked of the heap (0: unknown) */
	uint8_t cache;    /* K_CACHE: which of the engine's caches */
	bool via_kfree;   /* K_CACHE: freed with kfree, not kmem_cache_free */
};

/* An object in flight between two contexts (OP_PASS). */
struct fz_mail {
	struct fz_obj obj;
	uint8_t hint;     /* preferred slot at the receiver */
	uint8_t to;       /* receiver */
};

#define FZ_MAILBOX 16                          /* passes per turn */
#define FZ_INBOX   (FZ_MAILBOX * FZ_MAX_WORKERS) /* received per turn */

struct fz_ctx {
	unsigned id;              /* 0.. */
	unsigned cpu;             /* 0: the fuzzing thread, w + 1: helper w */
	unsigned op_index;
	unsigned nthreads;        /* contexts in this input (OP_PASS targets) */
	size_t live_bytes;
	uint64_t next_seed;
	uint64_t digest;          /* hash of everything observable */
	struct fz_obj slots[FZ_MAX_SLOTS];
	/* Objects this context passed (OP_PASS), until fz_deliver moves them
	 * to their receivers' inboxes; the receiver takes them at its next
	 * turn. */
	struct fz_mail outbox[FZ_MAILBOX];
	unsigned noutbox;
	struct fz_mail inbox[FZ_INBOX];
	unsigned ninbox;
};

extern const struct fz_config *fz_cfg;
extern bool fz_trace;

/* Once per process: kspan_init with the fixed seed, the helper threads
 * (each claims its CPU slot, in order), the class table, and a heap
 * brought to the shape every input starts from. */
void fz_init(const struct fz_config *cfg);

/* Start an input: reset the per-input counters. */
void fz_begin_input(void);
void fz_ctx_reset(struct fz_ctx *c, unsigned id, unsigned cpu);

/* Run one operation of the program r on context c (on the calling
 * thread's CPU). */
void fz_run_op(struct fz_ctx *c, struct fz_reader *r);

/* Contexts OP_PASS may hand objects to (NULL: none), and whether the
 * digest includes addresses (not when contexts run at once). */
void fz_set_peers(struct fz_ctx **peers, bool digest_addresses);

/* Move every context's passed objects to their receivers (all idle). */
void fz_deliver(struct fz_ctx *const *ctxs, unsigned n);

/* Take the objects other contexts passed to c (on c's thread). */
void fz_take_inbox(struct fz_ctx *c);

/* Free everything c holds and its inbox (on the calling thread). */
void fz_release_all(struct fz_ctx *c);

/* Checks that need every CPU idle (called on the fuzzing thread): the
 * contexts' objects do not overlap, and (stats) the heap's statistics
 * agree with the model, after draining every CPU used. */
void fz_check_disjoint(struct fz_ctx *const *ctxs, unsigned n);
void fz_check_stats(struct fz_ctx *const *ctxs, unsigned n);

/* End an input, every context released: the heap must be empty, and is
 * brought back to the shape every input starts from. */
void fz_end_input(void);

/* CPU cpu (0: the fuzzing thread, w + 1: helper w) ran an operation: it
 * is drained at the end of the input. */
void fz_note_cpu(unsigned cpu);

/* Helper threads: run fn(arg) on helper w; fz_worker_wait waits for it. */
void fz_worker_start(unsigned w, void (*fn)(void *), void *arg);
void fz_worker_wait(unsigned w);
void fz_worker_run(unsigned w, void (*fn)(void *), void *arg);

/* Print "DIGEST <name> <hex>" to stderr at the end of each input when the
 * environment has FUZZ_DIGEST=1 (tests/fuzz/determinism.sh). */
void fz_print_digest(uint64_t d);
void fz_mix(struct fz_ctx *c, uint64_t v);

/* The one-context harnesses' LLVMFuzzerTestOneInput. */
int fz_run_single(const struct fz_config *cfg, const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 2, 3)))
void fz_fail(const struct fz_ctx *c, const char *fmt, ...);

uint8_t fz_rd8(struct fz_reader *r);

#endif
