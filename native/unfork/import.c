// Re-creates each mapping of the target at the same address in the helper:
// private anonymous memory registered with userfaultfd (missing mode), filled
// page by page on first touch by fault.c. Executable file mappings are mapped
// from their files instead (same offset, private), PROT_NONE ranges are only
// reserved. The helper's own vdso/vvar are moved (mremap) to the target's
// vdso/vvar addresses: same kernel, same image, so the target's libc finds a
// working vdso where it expects one.
#include "import.h"
#include <linux/fcntl.h>
#include <linux/mman.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>

#define MAX_MAPS 65536
#define PATH_ARENA (4UL << 20)

int target_pid;
int uffd = -1;
int pagemap_fd = -1;
static int allow_user_only;
static struct mapping maps[MAX_MAPS];
static int nmaps;
static char path_arena[PATH_ARENA];
static unsigned long path_used;

struct own_special {
  u64 start, end;
  char name[32];
};
static struct own_special own[8];
static int nown;

static int hexval(char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; }

int add_mapping(const char *s) {
  if (nmaps == MAX_MAPS) return -1;
  struct mapping *m = &maps[nmaps];
  m->start = get_hex(&s);
  m->end = get_hex(&s);
  m->prot = (int)get_hex(&s);
  m->kind = *s ? *s++ : 0;
  if (*s == ' ') s++;
  m->off = get_hex(&s);
  m->path = 0;
  if (*s) {
    unsigned long n = slen(s) / 2;
    if (path_used + n + 1 > PATH_ARENA) return -1;
    char *d = path_arena + path_used;
    for (unsigned long i = 0; i < n; i++) d[i] = (char)(hexval(s[2 * i]) * 16 + hexval(s[2 * i + 1]));
    d[n] = 0;
    m->path = d;
    path_used += n + 1;
  }
  if (m->start >= m->end || (m->start | m->end) & (PAGE - 1)) return -1;
  nmaps++;
  return 0;
}

void set_uffd_mode(int a) { allow_user_only = a; }

static long read_file(const char *path, char *buf, unsigned long cap) {
  long fd = sys3(__NR_open, path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  unsigned long n = 0;
  for (;;) {
    long r = sys3(__NR_read, fd, buf + n, cap - 1 - n);
    if (r <= 0) break;
    n += (unsigned long)r;
  }
  sys1(__NR_close, fd);
  buf[n] = 0;
  return (long)n;
}

static char maps_buf[1 << 16];

void note_own_specials(void) {
  if (read_file("/proc/self/maps", maps_buf, sizeof maps_buf) < 0) return;
  for (char *line = maps_buf; *line;) {
    char *nl = line;
    while (*nl && *nl != '\n') nl++;
    if (*nl) *nl++ = 0;
    const char *p = line;
    u64 start = get_hex(&p);
    if (*p == '-') p++; /* get_hex stops at '-' */
    u64 end = get_hex(&p);
    char *name = line + slen(line);
    while (name > line && name[-1] != ' ') name--;
    if (*name == '[' && !streq(name, "[vsyscall]") && nown < 8 && slen(name) < 32) {
      own[nown].start = start;
      own[nown].end = end;
      memcpy(own[nown].name, name, slen(name) + 1);
      nown++;
    }
    line = nl;
  }
}

/** The helper's start-up stack is dead once _start moved to .bss: free it. */
static void drop_own_stack(void) {
  for (int i = 0; i < nown; i++)
    if (streq(own[i].name, "[stack]")) sys2(__NR_munmap, own[i].start, own[i].end - own[i].start);
}

static int open_uffd(void) {
  long fd = sys1(__NR_userfaultfd, O_CLOEXEC);
  if (fd == -1 /* EPERM */) {
    long dev = sys3(__NR_open, "/dev/userfaultfd", O_RDWR | O_CLOEXEC, 0);
    if (dev >= 0) {
      fd = sys3(__NR_ioctl, dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
      sys1(__NR_close, dev);
    }
    if (fd < 0 && allow_user_only) fd = sys1(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
  }
  if (fd < 0) {
    if (allow_user_only || (fd != -1 && fd != -13))
      reply_err("uffd", "userfaultfd could not be opened", (u64)-fd, 0);
    else
      reply_err("uffd-denied",
                "userfaultfd is not permitted: run as root (CAP_SYS_PTRACE), or set 'sysctl vm.unprivileged_userfaultfd=1', "
                "or give this user read-write access to /dev/userfaultfd, or pass --user-mode-only (kernel-mode faults then fail)",
                0, 0);
    return -1;
  }
  struct uffdio_api api = {.api = UFFD_API, .features = 0};
  if (sys3(__NR_ioctl, fd, UFFDIO_API, &api) < 0) {
    reply_err("uffd", "UFFDIO_API failed", 0, 0);
    return -1;
  }
  uffd = (int)fd;
  return 0;
}

static const char *warning;

/** Moves the helper's own vdso/vvar pages onto the target's, keeping their layout. */
static void move_vdso(void) {
  u64 lo = (u64)-1;
  for (int i = 0; i < nown; i++)
    if (!streq(own[i].name, "[stack]") && own[i].start < lo) lo = own[i].start;
  for (int i = 0; i < nown; i++) {
    if (streq(own[i].name, "[stack]")) continue;
    u64 len = own[i].end - own[i].start, to = SCRATCH + (own[i].start - lo);
    if (sys5(__NR_mremap, own[i].start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to) < 0) {
      sys2(__NR_munmap, own[i].start, len);
      own[i].end = own[i].start; /* gone */
      warning = "vdso-dropped";
      continue;
    }
    own[i].end = to + len;
    own[i].start = to;
  }
  for (int i = 0; i < nown; i++) {
    if (streq(own[i].name, "[stack]") || own[i].end == own[i].start) continue;
    u64 len = own[i].end - own[i].start;
    int placed = 0;
    for (int j = 0; j < nmaps; j++) {
      if (maps[j].kind != K_SPECIAL || !streq(maps[j].path, own[i].name)) continue;
      if (maps[j].end - maps[j].start == len &&
          sys5(__NR_mremap, own[i].start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, maps[j].start) >= 0)
        placed = 1;
      break;
    }
    if (!placed) {
      sys2(__NR_munmap, own[i].start, len);
      warning = "vdso-dropped";
    }
  }
}

static int map_one(struct mapping *m) {
  u64 len = m->end - m->start;
  long r;
  if (m->kind == K_SPECIAL) return 0;
  if (m->kind == K_FILE) {
    long fd = sys3(__NR_open, m->path, O_RDONLY | O_CLOEXEC, 0);
    if (fd >= 0) {
      r = sys6(__NR_mmap, (long)m->start, (long)len, m->prot, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd, (long)m->off);
      sys1(__NR_close, fd);
      if (r == (long)m->start) return 0;
    }
    m->kind = K_ANON; /* file gone or unreadable: import its pages instead */
  }
  int prot = m->kind == K_NONE ? 0 : m->prot;
  r = sys6(__NR_mmap, (long)m->start, (long)len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (r != (long)m->start) {
    if (r >= 0) sys2(__NR_munmap, r, len); /* old kernels ignore NOREPLACE */
    reply_err("place", "the helper cannot place the target's mapping (its address is taken in the helper)", m->start, m->end);
    return -1;
  }
  if (m->kind == K_NONE) return 0;
  struct uffdio_register reg = {.range = {.start = m->start, .len = len}, .mode = UFFDIO_REGISTER_MODE_MISSING};
  if (sys3(__NR_ioctl, uffd, UFFDIO_REGISTER, &reg) < 0) {
    reply_err("register", "userfaultfd refused to register the range", m->start, m->end);
    return -1;
  }
  return 0;
}

static int cred_set;
static u64 cred_uid, cred_gid;

void set_target_creds(u64 uid, u64 gid) {
  cred_set = 1;
  cred_uid = uid;
  cred_gid = gid;
}

/**
 * The target's code is about to run in this process: it must not run with
 * more privilege than the target has. Everything that needed privilege
 * (userfaultfd, the files, the placement) is done; the fault thread, made
 * next, inherits these credentials and reads the target as its owner would.
 */
static int drop_to_target_creds(void) {
  if (!cred_set) return 0;
  if (sys2(__NR_setgroups, 0, 0) < 0 || sys3(__NR_setresgid, cred_gid, cred_gid, cred_gid) < 0 ||
      sys3(__NR_setresuid, cred_uid, cred_uid, cred_uid) < 0 || sys5(__NR_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0) < 0) {
    reply_err("cred", "cannot take on the target's user and group", 0, 0);
    return -1;
  }
  // Can the target still be read as its owner? (Not if it is not dumpable.)
  for (int i = 0; i < nmaps; i++) {
    if ((maps[i].kind != K_ANON && maps[i].kind != K_ZERO) || !(maps[i].prot & 1)) continue;
    static char probe[8];
    struct {
      void *base;
      unsigned long len;
    } local = {probe, sizeof probe}, remote = {(void *)maps[i].start, sizeof probe};
    long n = sys6(__NR_process_vm_readv, target_pid, (long)&local, 1, (long)&remote, 1, 0);
    if (n == -1 || n == -13) {
      reply_err("cred-denied",
                "the target cannot be read by its own user (it is not dumpable: setuid, setcap or prctl(PR_SET_DUMPABLE, 0)); "
                "its code would have to run with more privilege than it has, which unfork refuses",
                0, 0);
      return -1;
    }
    break;
  }
  return 0;
}

int anonymous_in_target(u64 addr) {
  int lo = 0, hi = nmaps - 1; /* maps come sorted, as /proc/PID/maps lists them */
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (addr < maps[mid].start) hi = mid - 1;
    else if (addr >= maps[mid].end) lo = mid + 1;
    else return maps[mid].kind == K_ZERO;
  }
  return 0;
}

static void open_pagemap(void) {
  char path[64];
  char *p = put_dec(put_str(path, "/proc/"), target_pid);
  put_str(p, "/pagemap")[0] = 0;
  long fd = sys3(__NR_open, path, O_RDONLY | O_CLOEXEC, 0);
  pagemap_fd = fd < 0 ? -1 : (int)fd; /* without it every page is read */
}

int do_import(void) {
  if (!target_pid) {
    reply_err("usage", "no pid given", 0, 0);
    return -1;
  }
  for (int i = 0; i < nmaps; i++)
    if (maps[i].kind != K_SPECIAL && maps[i].start < HELPER_HI && maps[i].end > HELPER_LO) {
      reply_err("collide",
                "the target has a mapping inside the helper's own range 0x6f0000000000-0x700000000000, so it cannot be imported:",
                maps[i].start, maps[i].end);
      return -1;
    }
  if (open_uffd() < 0) return -1;
  drop_own_stack();
  move_vdso();
  for (int i = 0; i < nmaps; i++)
    if (map_one(&maps[i]) < 0) return -1;
  open_pagemap();
  if (drop_to_target_creds() < 0) return -1;
  if (start_fault_thread() < 0) {
    reply_err("thread", "cannot start the fault thread", 0, 0);
    return -1;
  }
  char line[128];
  char *p = put_str(line, "OK ");
  p = put_str(p, warning ? warning : "-");
  *p = 0;
  reply(line);
  return 0;
}

int do_refresh(void) {
  for (int i = 0; i < nmaps; i++)
    if ((maps[i].kind == K_ANON || maps[i].kind == K_ZERO) && sys3(__NR_madvise, maps[i].start, maps[i].end - maps[i].start, MADV_DONTNEED) < 0) {
      reply_err("refresh", "madvise(MADV_DONTNEED) failed on", maps[i].start, maps[i].end);
      return -1;
    }
  reply("OK");
  return 0;
}
