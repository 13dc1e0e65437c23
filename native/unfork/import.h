// Re-creating the target's mappings in the helper (import.c) and serving their
// page faults from the target (fault.c).
#ifndef UNFORK_IMPORT_H
#define UNFORK_IMPORT_H
#include "sys.h"

// The helper's own range: its image, .bss (stacks, buffers) and brk all live
// here; a target with anything mapped in it cannot be imported.
#define HELPER_LO 0x6f0000000000UL
#define HELPER_HI 0x700000000000UL
// Where the helper parks its own vdso while moving it to the target's address.
#define SCRATCH 0x6ff000000000UL

// K_ANON: imported through userfaultfd; K_ZERO: the same, and anonymous in the
// target too, so a page it has never written is served as zeros without
// reading it (a read would map the zero page into the target's page tables).
enum kind { K_ANON = 'a', K_ZERO = 'z', K_FILE = 'f', K_NONE = 'n', K_SPECIAL = 's' };

struct mapping {
  u64 start, end, off;
  int prot;
  char kind;
  const char *path; /* K_FILE: file to map; K_SPECIAL: "[vdso]", "[vvar]", ... */
};

extern int target_pid;
extern int uffd;
extern volatile u64 pages_served;
extern int pagemap_fd; /* the target's /proc/PID/pagemap, or -1 */

/** true when addr is in a K_ZERO mapping */
int anonymous_in_target(u64 addr);

/** "map START END PROT KIND OFF [PATHHEX]": one target mapping to import */
int add_mapping(const char *args);
/** "uffd ALLOW_USER_MODE_ONLY": how userfaultfd may be opened */
void set_uffd_mode(int allow_user_only);
/** remembers the helper's own [stack]/[vdso]/[vvar]* ranges (before anything moves) */
void note_own_specials(void);
/** "cred UID GID": the helper takes on the target's credentials before running its code */
void set_target_creds(u64 uid, u64 gid);
/** does the import; replies OK (with warnings) or ERR and returns nonzero */
int do_import(void);
/** drops every imported page so that the next touch reads the target again */
int do_refresh(void);
/** starts the thread that serves page faults (fault.c) */
int start_fault_thread(void);

#endif
