// Runs one of the target's functions inside the helper: with the target's
// main-thread TLS as the thread pointer (its stack protector canary, errno,
// locale and stdio locks are there), string arguments copied into the helper's
// .bss (part of the same address space), its stdout and stderr captured in
// memfds that are fds 1 and 2. A crash inside it is caught on an alternate stack, reported with
// the faulting address and ends the helper; the target never notices.
#include "call.h"
#include <asm/prctl.h>
#include <asm/signal.h>

#define ARENA (1UL << 20)
static char arena[ARENA];
static char altstack[64 << 10] __attribute__((aligned(16)));
static char chunk[64 << 10];

static void restorer(void) { sys0(__NR_rt_sigreturn); }

__attribute__((noreturn)) static void on_crash(int sig, struct siginfo *si, void *uc) {
  // siginfo: si_addr at offset 16; ucontext: gregs at 40, REG_RIP is gregs[16]
  u64 addr = *(u64 *)((char *)si + 16);
  u64 rip = *(u64 *)((char *)uc + 40 + 16 * 8);
  sys2(__NR_arch_prctl, ARCH_SET_FS, 0);
  char line[160];
  char *p = put_str(line, "CRASH ");
  p = put_dec(p, sig);
  p = put_str(p, " 0x");
  p = put_hex(p, addr);
  p = put_str(p, " 0x");
  p = put_hex(p, rip);
  *p++ = '\n';
  write_all(RESP_FD, line, (unsigned long)(p - line));
  die_now(4);
}

struct ksigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  unsigned long mask;
};

void install_crash_handlers(void) {
  struct {
    void *sp;
    int flags;
    unsigned long size;
  } ss = {altstack, 0, sizeof altstack};
  sys2(__NR_sigaltstack, &ss, 0);
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS};
  struct ksigaction sa = {(void *)on_crash, SA_SIGINFO | SA_ONSTACK | SA_RESTORER | SA_NODEFER, (void *)restorer, 0};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sys4(__NR_rt_sigaction, sigs[i], &sa, 0, 8);
  unsigned long none = 0;
  sys4(__NR_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
}

static int hexval(char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; }

typedef u64 (*fn6)(u64, u64, u64, u64, u64, u64);
typedef int (*flushfn)(void *);

static long captured_size(int fd) {
  long size = sys3(__NR_lseek, fd, 0, 2 /* SEEK_END */);
  return size < 0 ? 0 : size;
}

static void send_captured(int fd, long size) {
  for (long off = 0; off < size;) {
    long n = sys4(__NR_pread64, fd, chunk, sizeof chunk, off);
    if (n <= 0) { /* the function closed or replaced the fd: pad what is missing */
      memset(chunk, 0, sizeof chunk);
      n = size - off < (long)sizeof chunk ? size - off : (long)sizeof chunk;
    }
    write_all(RESP_FD, chunk, (unsigned long)n);
    off += n;
  }
}

/** "OK RET OUTLEN ERRLEN" and what fds 1 and 2 (the memfds) received since the reset. */
static void send_output(u64 ret) {
  long out = captured_size(1), err = captured_size(2);
  char line[96];
  char *p = put_str(line, "OK ");
  p = put_hex(p, ret);
  p = put_str(p, " ");
  p = put_hex(p, (u64)(out + err));
  p = put_str(p, " ");
  p = put_hex(p, (u64)out);
  *p++ = '\n';
  write_all(RESP_FD, line, (unsigned long)(p - line));
  send_captured(1, out);
  send_captured(2, err);
}

// "call FN FLUSH TP ARG..." with ARG = i:HEX (a number) or s:HEX (bytes of a string)
void do_call(char *s) {
  const char *q = s;
  u64 fn = get_hex(&q), flush = get_hex(&q), tp = get_hex(&q);
  u64 a[6] = {0};
  unsigned long used = 0;
  int n = 0;
  char *rest = (char *)q;
  for (char *w = get_word(&rest); *w; w = get_word(&rest)) {
    if (n == 6) return reply_err("usage", "at most 6 arguments", 0, 0);
    if (w[0] == 'i' && w[1] == ':') {
      const char *h = w + 2;
      a[n++] = get_hex(&h);
    } else if (w[0] == 's' && w[1] == ':') {
      unsigned long len = slen(w + 2) / 2;
      if (used + len + 1 > ARENA) return reply_err("usage", "string arguments too long", 0, 0);
      char *d = arena + used;
      for (unsigned long i = 0; i < len; i++) d[i] = (char)(hexval(w[2 + 2 * i]) * 16 + hexval(w[3 + 2 * i]));
      d[len] = 0;
      a[n++] = (u64)d;
      used += len + 1;
    } else
      return reply_err("usage", "bad argument", 0, 0);
  }
  install_crash_handlers();
  for (int fd = 1; fd <= 2; fd++) {
    sys2(__NR_ftruncate, fd, 0);
    sys3(__NR_lseek, fd, 0, 0);
  }
  sys2(__NR_arch_prctl, ARCH_SET_FS, tp);
  u64 ret = ((fn6)fn)(a[0], a[1], a[2], a[3], a[4], a[5]);
  if (flush) ((flushfn)flush)(0);
  sys2(__NR_arch_prctl, ARCH_SET_FS, 0);
  send_output(ret);
}

// "read ADDR LEN": copied through a buffer in user mode, so that it works in
// user-mode-only userfaultfd too (a write(2) straight from the page would not).
void do_read(char *s) {
  const char *q = s;
  u64 addr = get_hex(&q), len = get_hex(&q);
  install_crash_handlers();
  // Touch every page first: a page that cannot be served is then reported
  // (FAULT) before the answer's header, never in the middle of its bytes.
  for (u64 a = addr & ~(PAGE - 1); a < addr + len; a += PAGE) (void)*(volatile char *)(a < addr ? addr : a);
  char line[64];
  char *p = put_str(line, "OK 0 ");
  p = put_hex(p, len);
  *p++ = '\n';
  write_all(RESP_FD, line, (unsigned long)(p - line));
  while (len) {
    u64 n = len < sizeof chunk ? len : sizeof chunk;
    memcpy(chunk, (void *)addr, n);
    write_all(RESP_FD, chunk, n);
    addr += n;
    len -= n;
  }
}
