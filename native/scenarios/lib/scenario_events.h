/* Helpers for the scenarios about event objects (epoll, eventfd, timerfd,
 * signalfd, inotify, self-pipes): which semantics the engine gives a clone,
 * and a meeting point shared by the processes that run after the snapshot.
 *
 * Semantics per engine (docs/semantics.md, "What is shared and what is
 * private"): the remote engine (external) and the agent's clones get private
 * copies; the in-process forkall() call keeps fork's sharing. A scenario
 * checks, per engine, only outcomes that are deterministic under that
 * semantics, and logs the same lines in parent and clone. */
#ifndef SCENARIO_EVENTS_H
#define SCENARIO_EVENTS_H

/* 1 when this engine gives the clone private copies of event objects. */
int sc_private_event_objects(void);
/* Maps the meeting point; call before sc_snapshot(). */
void sc_meet_init(void);
/* The k-th meeting (k = 1, 2, ...): waits, up to 20 s, until every process
 * that runs after the snapshot (parent and clone; under the agent, each
 * clone alone) has arrived at its k-th meeting. */
void sc_meet(int k);
/* 1 when this process is the only one running after the snapshot (the
 * agent: the template stays frozen), so it plays both parts of a scenario. */
int sc_alone(void);
/* A field of /proc/self/fdinfo/<fd>, parsed in `base` (16 or 10); -1 when absent. */
long long sc_fdinfo_field(int fd, const char *name, int base);

#endif
