// forkall-unfork: imports a live process's address space into this process,
// lazily, and runs the target's own functions on the copy. Driven over a pipe
// by src/unfork/helper.ts; one command per line on stdin, answers on stdout
// (both moved to high fds at start, see sys.h):
//   pid HEX | uffd 0|1 | cred UID GID | map START END PROT KIND OFF [PATHHEX]   (set-up)
//   import                                  -> OK WARNING | ERR CODE MESSAGE
//   call FN FLUSH TP [i:HEX|s:HEX]...       -> OK RET LEN OUTLEN + what fd 1 got + what fd 2 got
//   read ADDR LEN                           -> OK 0 LEN + the bytes
//   refresh                                 -> OK
//   stats                                   -> OK PAGES (pages read from the target so far)
//   quit
// Any time: FAULT ADDR ERRNO (a page the target no longer has) or
// CRASH SIG ADDR RIP (the called code crashed); the helper then exits.
//
// Linked at 0x6f0000000000 (static, no libc, no PIE) so that it does not sit
// where ordinary processes have mappings; it checks that at import.
#include "call.h"
#include "import.h"

static char main_stack[8 << 20] __attribute__((aligned(16), used));
__asm__(".globl _start\n"
        "_start:\n\t"
        "xor %ebp, %ebp\n\t"
        "lea main_stack+8388608(%rip), %rsp\n\t"
        "call helper_main\n\t"
        "hlt\n");

static char line_buf[16 << 20];
static unsigned long line_len;

/** The next command line from stdin, or 0 at end of input. */
static char *next_line(void) {
  static unsigned long consumed;
  if (consumed) {
    memcpy(line_buf, line_buf + consumed, line_len - consumed);
    line_len -= consumed;
    consumed = 0;
  }
  for (;;) {
    for (unsigned long i = 0; i < line_len; i++)
      if (line_buf[i] == '\n') {
        line_buf[i] = 0;
        consumed = i + 1;
        return line_buf;
      }
    if (line_len == sizeof line_buf - 1) die_now(7);
    long n = sys3(__NR_read, CMD_FD, line_buf + line_len, sizeof line_buf - 1 - line_len);
    if (n == -4) continue;
    if (n <= 0) return 0;
    line_len += (unsigned long)n;
  }
}

__attribute__((noreturn, used)) void helper_main(void) {
  note_own_specials();
  // The controller's pipes move to CMD_FD/RESP_FD; fd 0 reads nothing and
  // fds 1 and 2 become memfds that catch what the called functions print.
  sys2(__NR_dup2, 0, CMD_FD);
  sys2(__NR_dup2, 1, RESP_FD);
  long null = sys3(__NR_open, "/dev/null", 2 /* O_RDWR */, 0);
  if (null >= 0 && null != 0) {
    sys2(__NR_dup2, null, 0);
    sys1(__NR_close, null);
  }
  for (int fd = 1; fd <= 2; fd++) {
    long mfd = sys2(__NR_memfd_create, fd == 1 ? "unfork-stdout" : "unfork-stderr", 0);
    if (mfd >= 0) {
      sys2(__NR_dup2, mfd, fd);
      sys1(__NR_close, mfd);
    }
  }
  install_crash_handlers();
  reply("READY");
  int imported = 0;
  for (char *l; (l = next_line());) {
    char *rest = l;
    char *cmd = get_word(&rest);
    const char *q = rest;
    if (streq(cmd, "pid")) target_pid = (int)get_hex(&q);
    else if (streq(cmd, "uffd")) set_uffd_mode((int)get_hex(&q));
    else if (streq(cmd, "cred")) {
      u64 uid = get_hex(&q);
      set_target_creds(uid, get_hex(&q));
    }
    else if (streq(cmd, "map")) {
      if (add_mapping(rest) < 0) reply_err("usage", "bad or too many mappings", 0, 0);
    } else if (streq(cmd, "import")) {
      if (imported) reply_err("usage", "already imported", 0, 0);
      else if (do_import() < 0) die_now(2); /* half-built: the helper cannot be reused */
      else imported = 1;
    } else if (!imported && !streq(cmd, "quit")) reply_err("usage", "import first", 0, 0);
    else if (streq(cmd, "call")) do_call(rest);
    else if (streq(cmd, "read")) do_read(rest);
    else if (streq(cmd, "refresh")) do_refresh();
    else if (streq(cmd, "stats")) {
      char line[64];
      char *p = put_hex(put_str(line, "OK "), pages_served);
      *p = 0;
      reply(line);
    }
    else if (streq(cmd, "quit")) break;
    else reply_err("usage", "unknown command", 0, 0);
  }
  die_now(0);
}
