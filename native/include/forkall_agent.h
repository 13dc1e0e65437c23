/* forkall_agent.h - for programs that run under the forkall agent
 * (libforkall-agent.so, preloaded by `forkall run` / spawnTemplate).
 *
 * forkall_snapshot(): the opt-in snapshot point, the analogue of AFL++'s
 * __AFL_INIT(). Under a controller, the calling thread asks the agent to
 * freeze the program now and waits: the frozen template never returns from
 * it; in every clone it returns 1, with every thread of the program resumed.
 * Without a controller (no FORKALL_CONTROL_FD) it returns 0 at once.
 * Declare it weak to run with or without the agent:
 *   extern int forkall_snapshot(void) __attribute__((weak));
 *   if (forkall_snapshot) forkall_snapshot(); */
#ifndef FORKALL_AGENT_H
#define FORKALL_AGENT_H

#ifdef __cplusplus
extern "C" {
#endif

int forkall_snapshot(void);

#ifdef __cplusplus
}
#endif

#endif
