/* Points at memory accesses, for programs compiled with -fsanitize=thread and
 * linked against this library instead of libtsan: the compiler calls
 * __tsan_readN/__tsan_writeN before every access it could not prove local and
 * __tsan_atomic* in place of atomic operations. Here each is a scheduling
 * point in a clone (nothing at all elsewhere, after one load), so the seed
 * also decides interleavings between plain memory accesses, which no pthread
 * call separates. Atomics are performed sequentially consistent, whatever
 * order was asked for: one thread runs at a time anyway. */
#include <stddef.h>
#include <stdint.h>
#include "explore.h"

#define FA_EXPORT __attribute__((visibility("default")))

/* An access to the calling thread's own stack, within OWN_STACK bytes above
 * its stack pointer (its locals and its callers'), is not a point: other
 * threads rarely touch it, and skipping it keeps schedules short (fewer steps
 * for PCT's change points to land on, fewer switches in a random walk). A
 * bug in a variable on the stack of the thread that accesses it, shared with
 * another thread through a pointer, is seen only at that other thread's accesses. */
#define OWN_STACK (1ul << 20)

/* The last few addresses this thread accessed. PCT's spin rule (sched.c,
 * count_step) drops a thread that runs many points in a row; an access to an
 * address not among these is progress, not spinning (a loop polling a flag
 * reads the same few addresses; ferret's similarity search reads thousands of
 * distinct ones and must not lose its priority for it). */
#define RECENT 4
static __thread uintptr_t recent[RECENT];
static __thread unsigned recent_next;

static inline int recently_seen(const void *a)
{
	uintptr_t x = (uintptr_t)a;
	for (int i = 0; i < RECENT; i++)
		if (recent[i] == x)
			return 1;
	recent[recent_next++ % RECENT] = x;
	return 0;
}

/* The point before an access; write: the access stores. The thread's next
 * point then follows a write (fa_thread.wrote), and its next point that is
 * not an access (an unlock ending the critical section that wrote) follows
 * writes (fa_thread.dirty): there the after-write walk (sched.c) switches
 * more often, as another thread may see what was just written. */
static inline void accessed(struct fa_thread *me, int write)
{
	me->at_access = 1;
	fa_point(me, 0);
	me->at_access = 0;
	me->wrote = write;
	me->dirty |= write;
}

static inline void access_point_at(const void *a, int write)
{
	if (__builtin_expect(fa_shared == 0, 1))
		return;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	if ((uintptr_t)a >= sp && (uintptr_t)a - sp < OWN_STACK)
		return;
	struct fa_thread *me = fa_enter();
	if (!me)
		return;
	if (!recently_seen(a))
		fa_sched_progress(me);
	accessed(me, write);
}

static inline void access_point(int write)
{
	if (__builtin_expect(fa_shared == 0, 1))
		return;
	struct fa_thread *me = fa_enter();
	if (me)
		accessed(me, write);
}

FA_EXPORT void __tsan_init(void) {}
FA_EXPORT void __tsan_func_entry(void *pc) { (void)pc; }
FA_EXPORT void __tsan_func_exit(void) {}
FA_EXPORT void __tsan_vptr_update(void **p, void *v) { (void)p; (void)v; access_point(1); }
FA_EXPORT void __tsan_vptr_read(void **p) { (void)p; access_point(0); }
FA_EXPORT void __tsan_read_range(void *a, size_t n) { (void)a; (void)n; access_point(0); }
FA_EXPORT void __tsan_write_range(void *a, size_t n) { (void)a; (void)n; access_point(1); }

#define ACCESS(n)                                                                   \
	FA_EXPORT void __tsan_read##n(void *a) { access_point_at(a, 0); }               \
	FA_EXPORT void __tsan_write##n(void *a) { access_point_at(a, 1); }              \
	FA_EXPORT void __tsan_unaligned_read##n(void *a) { access_point_at(a, 0); }     \
	FA_EXPORT void __tsan_unaligned_write##n(void *a) { access_point_at(a, 1); }    \
	FA_EXPORT void __tsan_read##n##_pc(void *a, void *pc) { (void)pc; access_point_at(a, 0); } \
	FA_EXPORT void __tsan_write##n##_pc(void *a, void *pc) { (void)pc; access_point_at(a, 1); }
ACCESS(1)
ACCESS(2)
ACCESS(4)
ACCESS(8)
ACCESS(16)

#define SC __ATOMIC_SEQ_CST
#define ATOMICS(n, T)                                                                                        \
	FA_EXPORT T __tsan_atomic##n##_load(const volatile T *a, int mo)                                     \
	{ (void)mo; access_point(0); return __atomic_load_n(a, SC); }                                         \
	FA_EXPORT void __tsan_atomic##n##_store(volatile T *a, T v, int mo)                                  \
	{ (void)mo; access_point(1); __atomic_store_n(a, v, SC); }                                            \
	FA_EXPORT T __tsan_atomic##n##_exchange(volatile T *a, T v, int mo)                                  \
	{ (void)mo; access_point(1); return __atomic_exchange_n(a, v, SC); }                                  \
	FA_EXPORT T __tsan_atomic##n##_fetch_add(volatile T *a, T v, int mo)                                 \
	{ (void)mo; access_point(1); return __atomic_fetch_add(a, v, SC); }                                   \
	FA_EXPORT T __tsan_atomic##n##_fetch_sub(volatile T *a, T v, int mo)                                 \
	{ (void)mo; access_point(1); return __atomic_fetch_sub(a, v, SC); }                                   \
	FA_EXPORT T __tsan_atomic##n##_fetch_and(volatile T *a, T v, int mo)                                 \
	{ (void)mo; access_point(1); return __atomic_fetch_and(a, v, SC); }                                   \
	FA_EXPORT T __tsan_atomic##n##_fetch_or(volatile T *a, T v, int mo)                                  \
	{ (void)mo; access_point(1); return __atomic_fetch_or(a, v, SC); }                                    \
	FA_EXPORT T __tsan_atomic##n##_fetch_xor(volatile T *a, T v, int mo)                                 \
	{ (void)mo; access_point(1); return __atomic_fetch_xor(a, v, SC); }                                   \
	FA_EXPORT T __tsan_atomic##n##_fetch_nand(volatile T *a, T v, int mo)                                \
	{ (void)mo; access_point(1); return __atomic_fetch_nand(a, v, SC); }                                  \
	FA_EXPORT int __tsan_atomic##n##_compare_exchange_strong(volatile T *a, T *c, T v, int mo, int fmo)  \
	{ (void)mo; (void)fmo; access_point(1); return __atomic_compare_exchange_n(a, c, v, 0, SC, SC); }     \
	FA_EXPORT int __tsan_atomic##n##_compare_exchange_weak(volatile T *a, T *c, T v, int mo, int fmo)    \
	{ (void)mo; (void)fmo; access_point(1); return __atomic_compare_exchange_n(a, c, v, 0, SC, SC); }     \
	FA_EXPORT T __tsan_atomic##n##_compare_exchange_val(volatile T *a, T c, T v, int mo, int fmo)        \
	{ (void)mo; (void)fmo; access_point(1); __atomic_compare_exchange_n(a, &c, v, 0, SC, SC); return c; }
ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)

FA_EXPORT void __tsan_atomic_thread_fence(int mo) { (void)mo; __atomic_thread_fence(SC); }
FA_EXPORT void __tsan_atomic_signal_fence(int mo) { (void)mo; }
