/* The rules by which forkall finds its way around a C library it was not built
 * against: where a thread's descriptor keeps its TID, where musl keeps the
 * list of locks a thread owns, what an ld.so lock looks like, and how glibc
 * and musl are told apart. This file is the ONE source of these rules:
 *  - the in-process engine (layout.c, owners.c) includes it;
 *  - the remote engine and `forkall doctor` read this very file at run time
 *    (src/remote/layout-rules.ts), which accepts only lines of the form
 *        #define FA_RULE_<NAME> <integer or "string">
 *    and refuses to start if a rule it needs is missing. Keep to that form.
 * Offsets are bytes; "tp" is the thread pointer (fs_base on x86-64), which
 * both glibc and musl point at the thread's own descriptor. */
#ifndef FORKALL_LAYOUT_RULES_H
#define FORKALL_LAYOUT_RULES_H

/* Descriptor TID: one offset from the thread pointer, found on one thread and
 * then used for every thread whose int at that offset holds its TID. glibc:
 * the kernel's clear_child_tid address is &pd->tid, so if that address lies
 * in [tp, tp + TID_ADDR_MAX) and holds the thread's TID, it is the field.
 * musl only (the scan would take any int equal to the TID elsewhere):
 * clear_child_tid is a global lock; the TID is the first aligned int in
 * [tp + SCAN_START, tp + SCAN_END) that holds it. */
#define FA_RULE_TID_ADDR_MAX 4096
#define FA_RULE_DESC_TID_SCAN_START 8
#define FA_RULE_DESC_TID_SCAN_END 512
#define FA_RULE_DESC_TID_SCAN_STEP 4

/* musl's owner list: a head in the descriptor that points at itself when the
 * thread owns no lock. Candidates are the self-pointing words in
 * [tp + SCAN_START, tp + SCAN_END) (offset 0 is the descriptor's own self
 * pointer); at most MAX_CANDIDATES are tried. A candidate is confirmed when a
 * lock the thread holds is linked on it. */
#define FA_RULE_OWNER_LIST_SCAN_START 8
#define FA_RULE_OWNER_LIST_SCAN_END 512
#define FA_RULE_OWNER_LIST_SCAN_STEP 8
#define FA_RULE_OWNER_LIST_MAX_CANDIDATES 8

/* The lock word of a listed mutex, relative to its list entry, when the list
 * head does not say (musl fills in the head's futex offset only once it
 * registers the list with the kernel): an aligned int within
 * [entry - WINDOW, entry + WINDOW) whose TID bits are the owner's TID. */
#define FA_RULE_OWNER_LOCK_WINDOW 64

/* Lock words: the owner TID's bits, and how many list entries to follow
 * before a list is taken as corrupt. */
#define FA_RULE_FUTEX_TID_MASK 0x3fffffff
#define FA_RULE_OWNER_LIST_LIMIT 2048

/* glibc's struct __pthread_mutex_s: __lock, __count, __owner, __nusers, __kind. */
#define FA_RULE_GLIBC_MUTEX_OWNER 8
/* ld.so's recursive locks (glibc's _rtld_global, or ld.so's writable data when
 * the remote engine looks from outside): every STEP bytes, a candidate of
 * BYTES bytes with __lock != 0, __count (at COUNT) >= 1, __owner (at OWNER)
 * one of the process's TIDs, and __kind (at KIND) & KIND_MASK == RECURSIVE. */
#define FA_RULE_LDSO_LOCK_STEP 8
#define FA_RULE_LDSO_LOCK_BYTES 20
#define FA_RULE_LDSO_LOCK_COUNT 4
#define FA_RULE_LDSO_LOCK_OWNER 8
#define FA_RULE_LDSO_LOCK_KIND 16
#define FA_RULE_LDSO_LOCK_KIND_MASK 0x7f
#define FA_RULE_LDSO_LOCK_KIND_RECURSIVE 1

/* glibc's pthread_rwlock_t records its writer's TID (__cur_writer, at
 * CUR_WRITER) and pthread_rwlock_unlock compares it with the caller's TID to
 * choose a writer's or a reader's unlock: a thread that held a write lock at
 * the snapshot would, with a new TID, unlock it as a reader and leave it held
 * for ever (the next setlocale or first mbstowcs then waits). libc's own
 * rwlocks (the locale lock) are in libc.so.6's writable data: every STEP
 * bytes, a candidate of BYTES bytes whose __readers (at READERS) has the
 * WRLOCKED bit, whose __writers_futex (at WRITERS_FUTEX) has bit 0 set, whose
 * two futex words (__wrphase_futex at WRPHASE_FUTEX, __writers_futex) are at
 * most FUTEX_MAX (bit 0 and FUTEX_USED: never half an address), whose
 * __pad3/__pad4 (8 bytes at PAD, never written) are zero, and whose
 * __cur_writer is one of the process's TIDs. The last three were added after
 * look-alikes (two addresses, then a small number) were taken for held locks:
 * libc's .dynamic (DT_RELA, then DT_RELASZ = 2112) and program_invocation_name
 * followed by a word holding 1 (TID 1: a container's first process). */
#define FA_RULE_RWLOCK_STEP 8
#define FA_RULE_RWLOCK_BYTES 32
#define FA_RULE_RWLOCK_READERS 0
#define FA_RULE_RWLOCK_WRLOCKED 2
#define FA_RULE_RWLOCK_WRPHASE_FUTEX 8
#define FA_RULE_RWLOCK_WRITERS_FUTEX 12
#define FA_RULE_RWLOCK_FUTEX_MAX 3
#define FA_RULE_RWLOCK_PAD 16
#define FA_RULE_RWLOCK_CUR_WRITER 24

/* Telling the C libraries apart, from outside (the in-process engine knows
 * at compile time). A dynamic glibc program maps a file named GLIBC_SONAME
 * and ld.so named GLIBC_LDSO*; a dynamic musl one names MUSL_LDSO* as its
 * interpreter (PT_INTERP, within the executable's first INTERP_BYTES bytes)
 * or maps a file of that name (musl's libc and dynamic linker are one file,
 * often mapped under its real name, e.g. .../x86_64-linux-musl/libc.so). A static
 * program maps neither: its executable is glibc if it holds one of the
 * GLIBC_STATIC_MARK strings (glibc's tunables and ld.so.cache support are
 * linked into every static glibc program), musl if it holds MUSL_MARK (a
 * symbol name, present unless stripped) or none of glibc's marks. Versions:
 * glibc's banner "... release version X.Y." after GLIBC_BANNER; musl's
 * dynamic linker keeps its version as a string after MUSL_VERSION_TAG. */
#define FA_RULE_GLIBC_SONAME "libc.so.6"
#define FA_RULE_GLIBC_LDSO "ld-linux"
#define FA_RULE_MUSL_LDSO "ld-musl-"
#define FA_RULE_INTERP_BYTES 4096
#define FA_RULE_GLIBC_STATIC_MARK_1 "GLIBC_TUNABLES"
#define FA_RULE_GLIBC_STATIC_MARK_2 "glibc-ld.so.cache"
#define FA_RULE_GLIBC_BANNER "GNU C Library"
#define FA_RULE_MUSL_MARK "__init_tp"
#define FA_RULE_MUSL_VERSION_TAG "Version %s"

#endif
