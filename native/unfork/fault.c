// The fault-serving thread: a raw clone (CLONE_VM|CLONE_THREAD) on its own
// .bss stack. For each missing-page fault in an imported range it reads that
// page from the target with process_vm_readv and installs it with
// UFFDIO_COPY, which also wakes the faulting thread. The target is only read:
// no ptrace, no signal, it never notices.
//
// A page the target has unmapped since the import (or cannot be read, like
// device memory) cannot be served. The helper then reports it and exits: the
// faulting code cannot be resumed with made-up contents, and the target is
// unaffected.
#include "import.h"
#include <linux/sched.h>
#include <linux/uio.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>

static char fault_stack[256 << 10] __attribute__((aligned(16)));
static char bounce[PAGE] __attribute__((aligned(PAGE)));
volatile u64 pages_served; /* read by the 'stats' command */

__attribute__((noreturn)) static void unservable(u64 addr, long err) {
  char line[160];
  char *p = put_str(line, "FAULT 0x");
  p = put_hex(p, addr);
  p = put_str(p, " ");
  p = put_dec(p, -err);
  *p++ = '\n';
  write_all(RESP_FD, line, (unsigned long)(p - line));
  die_now(3);
}

// PAGEMAP_SCAN (Linux 6.7) on the target's /proc/PID/pagemap: read-only, it
// reports the pages of the VMAs in a range with their categories, and
// nothing for a hole, so it also tells a page the target unmapped from one
// it never touched (plain pagemap entries are zero for both).
struct page_region {
  u64 start, end, categories;
};
struct pm_scan_arg {
  u64 size, flags, start, end, walk_end, vec, vec_len, max_pages;
  u64 category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN 0xc0606610UL /* _IOWR('f', 16, struct pm_scan_arg) */
#define PAGE_IS_PRESENT (1UL << 3)
#define PAGE_IS_SWAPPED (1UL << 4)
#define PAGE_IS_PFNZERO (1UL << 5)
static int scan_unsupported;

/** A page of anonymous memory the target never wrote (absent, or the shared zero page): zeros. */
static int never_written(u64 addr) {
  if (pagemap_fd < 0 || scan_unsupported || !anonymous_in_target(addr)) return 0;
  struct page_region r = {0, 0, 0};
  struct pm_scan_arg a = {.size = sizeof a, .start = addr, .end = addr + PAGE, .vec = (u64)&r, .vec_len = 1,
                          .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO};
  long n = sys3(__NR_ioctl, pagemap_fd, PAGEMAP_SCAN, &a);
  if (n < 0) {
    scan_unsupported = 1; /* an older kernel: read every page */
    return 0;
  }
  if (n == 0) return 0; /* a hole: let the read fail and report it */
  return (r.categories & PAGE_IS_PFNZERO) || !(r.categories & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED));
}

static void serve(u64 addr) {
  if (never_written(addr)) {
    struct uffdio_zeropage z = {.range = {.start = addr, .len = PAGE}, .mode = 0};
    long r = sys3(__NR_ioctl, uffd, UFFDIO_ZEROPAGE, &z);
    if (r == 0 || r == -17) return;
    /* otherwise fall back to reading it */
  }
  struct iovec local = {bounce, PAGE}, remote = {(void *)addr, PAGE};
  long n = sys6(__NR_process_vm_readv, target_pid, (long)&local, 1, (long)&remote, 1, 0);
  if (n != (long)PAGE) unservable(addr, n < 0 ? n : -14 /* EFAULT: partly unmapped */);
  struct uffdio_copy c = {.dst = addr, .src = (u64)bounce, .len = PAGE, .mode = 0};
  for (;;) {
    long r = sys3(__NR_ioctl, uffd, UFFDIO_COPY, &c);
    if (r == 0) {
      pages_served++;
      return;
    }
    if (r == -17 /* EEXIST: already filled */) return;
    if (r == -11 /* EAGAIN: the layout changed under us */) continue;
    unservable(addr, r);
  }
}

__attribute__((noreturn)) static void fault_loop(void) {
  struct uffd_msg msg;
  for (;;) {
    long n = sys3(__NR_read, uffd, &msg, sizeof msg);
    if (n == -4 || n == -11) continue;
    if (n != (long)sizeof msg) die_now(8);
    if (msg.event == UFFD_EVENT_PAGEFAULT) serve(msg.arg.pagefault.address & ~(PAGE - 1));
  }
}

int start_fault_thread(void) {
  long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
  long ret;
  register long r10 __asm__("r10") = 0;
  register long r8 __asm__("r8") = 0;
  // The child starts on the new stack with every register as the parent had
  // it: rbx (callee-saved, untouched by syscall) carries the function.
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"
      "call *%%rbx\n\t"
      "hlt\n"
      "1:"
      : "=a"(ret)
      : "a"(__NR_clone), "D"(flags), "S"(fault_stack + sizeof fault_stack), "d"(0), "r"(r10), "r"(r8), "b"(fault_loop)
      : "rcx", "r11", "memory");
  return ret < 0 ? -1 : 0;
}
