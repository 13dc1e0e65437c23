/* The table the remote engine (src/remote/parasite.ts) writes next to the
 * parasite in a clone being built, and the parasite reads and answers in.
 * Every field is at a fixed offset: TypeScript writes it byte by byte, so a
 * change here is a change there (PARASITE_* offsets, checked by the test of
 * the layout). Little-endian x86-64. */
#ifndef FA_PARASITE_H
#define FA_PARASITE_H

#include <stdint.h>

/* Header, at the start of the table (64 bytes). */
struct fa_par_header {
	uint32_t nthreads;  /* slots that follow */
	uint32_t made;      /* threads created so far (main writes) */
	uint32_t restored;  /* threads that finished restoring (each adds 1) */
	uint32_t finished;  /* 1 once main has seen every thread restored, or failed */
	uint32_t park;      /* futex word every parked thread waits on; never woken */
	int32_t clone_err;  /* -errno of the first clone that failed (0: none) */
	uint32_t clone_failed_at; /* its slot index */
	int32_t main_err;   /* -errno of main's own set_robust_list (0: none failed) */
	uint64_t main_robust_head; /* 32: main's robust list, registered by main itself first (0: none) */
	uint64_t main_robust_len;  /* 40 */
	uint64_t reserved[2];
};

/* One slot per thread to create (128 bytes). */
struct fa_par_slot {
	uint64_t flags;       /*  0: clone flags */
	uint64_t stack_top;   /*  8: the thread's stack in the parasite's memory */
	uint64_t ptid;        /* 16: CLONE_PARENT_SETTID address (0: none) */
	uint64_t ctid;        /* 24: CLONE_CHILD_CLEARTID address (0: none) */
	uint64_t tls;         /* 32: fs_base */
	uint64_t robust_head; /* 40: 0: none */
	uint64_t robust_len;  /* 48 */
	uint64_t rseq_area;   /* 56: 0: none */
	uint32_t rseq_size;   /* 64 */
	uint32_t rseq_sig;    /* 68 */
	uint64_t ss_sp;       /* 72: its sigaltstack (stack_t) */
	int32_t ss_flags;     /* 80 */
	uint32_t has_altstack;/* 84 */
	uint64_t ss_size;     /* 88 */
	char name[16];        /* 96: set when name[0] (NUL-terminated) */
	int32_t tid;          /* 112: the new thread's TID (main writes; <0: -errno of its clone) */
	int32_t err;          /* 116: -errno of the first restoring call that failed (0: none) */
	uint32_t err_call;    /* 120: which: FA_PAR_CALL_* */
	uint32_t pad;         /* 124 */
};

#define FA_PAR_CALL_ROBUST 1
#define FA_PAR_CALL_RSEQ 2
#define FA_PAR_CALL_ALTSTACK 3
#define FA_PAR_CALL_NAME 4

#endif
