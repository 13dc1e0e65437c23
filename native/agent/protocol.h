/* The agent's control protocol, version 1 (docs/protocol.md). Every message is
 * a 12-byte header followed by `length` payload bytes, integers little-endian:
 *   u32 magic 'FKAL' | u16 version | u16 type | u32 length */
#ifndef FA_PROTOCOL_H
#define FA_PROTOCOL_H

#include <stdint.h>

#define FA_MAGIC 0x4c414b46u /* "FKAL" */
#define FA_VERSION 1
#define FA_MAX_PAYLOAD 256

enum fa_msg_type {
	/* agent -> controller */
	FA_MSG_HELLO = 1,	/* u32 pid, u32 version */
	FA_MSG_SNAPSHOT = 2,	/* u32 threads, u32 MB compacted (0xffffffff: refused) */
	FA_MSG_CLONED = 3,	/* u32 request, i32 pid, u32 threads */
	FA_MSG_EXITED = 4,	/* i32 pid, i32 wait status */
	FA_MSG_ERROR = 5,	/* u32 request, i32 errno, utf-8 message */
	FA_MSG_NOT_COPIED = 6,	/* i32 clone pid, u32 objects made private, utf-8 lines (sent by the clone) */
	FA_MSG_RAN = 7,		/* u32 request, i32 pid, u32 threads, i32 wait status, u32 1 if killed at its deadline (FA_CLONE_ONE_REPLY) */
	/* controller -> agent */
	FA_MSG_SNAPSHOT_NOW = 16, /* (empty) */
	FA_MSG_CLONE = 17,	/* u32 request [, u32 flags [, u32 ms (FA_CLONE_DEADLINE)]] */
	FA_MSG_KILL = 18,	/* i32 pid, i32 signal */
	FA_MSG_CLONE_STDIO = 19, /* u32 request, u32 mask [, u32 flags [, u32 ms]]; SCM_RIGHTS: one fd per mask bit 0..2 */
};

/* CLONE / CLONE_STDIO flags */
#define FA_CLONE_ONE_REPLY 1u /* no CLONED and EXITED: one RAN once the (whole) clone ended */
/* with ONE_REPLY: a u32 of milliseconds follows the flags; a clone still
 * alive that long after its fork, and whole, is killed (SIGKILL) by the agent
 * and its RAN says so. The controller needs no timer and no PID to end a hung
 * run (forkall explore's --timeout-ms). */
#define FA_CLONE_DEADLINE 2u
#define FA_CLONE_FLAGS (FA_CLONE_ONE_REPLY | FA_CLONE_DEADLINE)

#define FA_MAX_FDS 3 /* descriptors one message may carry */

struct fa_msg_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t length;
};

#endif
