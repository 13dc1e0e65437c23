// The unfork helper is freestanding: no libc (a libc would mmap, keep TLS and
// own a vdso pointer, all of which would collide with the image it imports).
// These are the raw system calls and the few string helpers it needs.
#ifndef UNFORK_SYS_H
#define UNFORK_SYS_H

#include <asm/unistd.h>
#include <linux/types.h>

typedef unsigned long u64;
typedef long i64;

#define PAGE 4096UL

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
#define sys0(n) sys6(n, 0, 0, 0, 0, 0, 0)
#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(n, a, b, c, d, e) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

__attribute__((noreturn)) static inline void die_now(int code) {
  for (;;) sys1(__NR_exit_group, code);
}

// util.c
void *memcpy(void *d, const void *s, unsigned long n);
void *memset(void *d, int c, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);
unsigned long slen(const char *s);
int streq(const char *a, const char *b);
/** writes all of buf to fd (retries short writes) */
void write_all(int fd, const void *buf, unsigned long n);
/** appends s / a hex number to a line being built */
char *put_str(char *p, const char *s);
char *put_hex(char *p, u64 v);
char *put_dec(char *p, i64 v);
/** parses a hex number at *s, advances past it and one following space */
u64 get_hex(const char **s);
/** the next space-separated word at *s (NUL-terminated in place) */
char *get_word(char **s);

// The helper's command and answer channels, moved to high numbers so that
// the called code's own fds 0-2 (and the small numbers it may use for its
// files) do not reach the protocol: fd 0 becomes /dev/null, fds 1 and 2
// memfds catching its stdout and stderr.
#define CMD_FD 986
#define RESP_FD 987
void reply(const char *line);       /* writes line + '\n' */
void reply_err(const char *code, const char *msg, u64 a, u64 b);

#endif
