// Calling the target's functions and reading its memory (call.c).
#ifndef UNFORK_CALL_H
#define UNFORK_CALL_H
#include "sys.h"
void install_crash_handlers(void);
void do_call(char *args);
void do_read(char *args);
#endif
