// String and output helpers for the freestanding helper (gcc may also emit
// calls to memcpy/memset on its own, so these must exist).
#include "sys.h"

void *memcpy(void *d, const void *s, unsigned long n) {
  unsigned char *dp = d;
  const unsigned char *sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}
void *memset(void *d, int c, unsigned long n) {
  unsigned char *dp = d;
  while (n--) *dp++ = (unsigned char)c;
  return d;
}
int memcmp(const void *a, const void *b, unsigned long n) {
  const unsigned char *x = a, *y = b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}
unsigned long slen(const char *s) {
  unsigned long n = 0;
  while (s[n]) n++;
  return n;
}
int streq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}
void write_all(int fd, const void *buf, unsigned long n) {
  const char *p = buf;
  while (n) {
    long w = sys3(__NR_write, fd, p, n);
    if (w == -4) continue; /* EINTR */
    if (w <= 0) die_now(9); /* the controller is gone: nothing left to serve */
    p += w;
    n -= (unsigned long)w;
  }
}
char *put_str(char *p, const char *s) {
  while (*s) *p++ = *s++;
  return p;
}
char *put_hex(char *p, u64 v) {
  char tmp[17];
  int i = 16;
  tmp[i] = 0;
  do {
    tmp[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  return put_str(p, tmp + i);
}
char *put_dec(char *p, i64 v) {
  char tmp[24];
  int i = 23;
  u64 u = v < 0 ? (u64)-v : (u64)v;
  tmp[i] = 0;
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) tmp[--i] = '-';
  return put_str(p, tmp + i);
}
u64 get_hex(const char **s) {
  u64 v = 0;
  const char *p = *s;
  for (;; p++) {
    char c = *p;
    if (c >= '0' && c <= '9') v = v * 16 + (u64)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (u64)(c - 'a' + 10);
    else break;
  }
  if (*p == ' ') p++;
  *s = p;
  return v;
}
char *get_word(char **s) {
  char *p = *s, *w;
  while (*p == ' ') p++;
  w = p;
  while (*p && *p != ' ') p++;
  if (*p) *p++ = 0;
  *s = p;
  return w;
}
void reply(const char *line) {
  char buf[512];
  char *p = put_str(buf, line);
  *p++ = '\n';
  write_all(RESP_FD, buf, (unsigned long)(p - buf));
}
void reply_err(const char *code, const char *msg, u64 a, u64 b) {
  char buf[1024];
  char *p = put_str(buf, "ERR ");
  p = put_str(p, code);
  *p++ = ' ';
  p = put_str(p, msg);
  if (b) { /* an address range */
    p = put_str(p, " 0x");
    p = put_hex(p, a);
    p = put_str(p, "-0x");
    p = put_hex(p, b);
  } else if (a) { /* an errno */
    p = put_str(p, " (errno ");
    p = put_dec(p, (i64)a);
    p = put_str(p, ")");
  }
  *p++ = '\n';
  write_all(RESP_FD, buf, (unsigned long)(p - buf));
}
