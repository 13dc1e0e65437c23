/* Which unix sockets are the two ends of one socketpair held by this process
 * (asyncio's and many event loops' self-pipe): the kernel tells a socket's
 * peer only through sock_diag (NETLINK_SOCK_DIAG, UNIX_DIAG with
 * UDIAG_SHOW_PEER), one exact query per socket inode. Raw system calls only. */
#include "private_fds.h"

#define FA_AF_NETLINK 16
#define FA_NETLINK_SOCK_DIAG 4
#define FA_SOCK_DIAG_BY_FAMILY 20
#define FA_NLM_F_REQUEST 1
#define FA_NLMSG_ERROR 2
#define FA_UDIAG_SHOW_PEER 4
#define FA_UNIX_DIAG_PEER 2

struct fa_nlmsghdr {
	uint32_t len;
	uint16_t type, flags;
	uint32_t seq, pid;
};
struct fa_unix_diag_req {
	uint8_t family, protocol;
	uint16_t pad;
	uint32_t states, ino, show, cookie[2];
};
struct fa_unix_diag_msg {
	uint8_t family, type, state, pad;
	uint32_t ino, cookie[2];
};
struct fa_rtattr {
	uint16_t len, type;
};

static unsigned long peer_of(int nl, unsigned long ino, unsigned seq)
{
	struct {
		struct fa_nlmsghdr h;
		struct fa_unix_diag_req r;
	} q = { { sizeof q, FA_SOCK_DIAG_BY_FAMILY, FA_NLM_F_REQUEST, seq, 0 },
		{ 1 /* AF_UNIX */, 0, 0, ~0u, (uint32_t)ino, FA_UDIAG_SHOW_PEER, { ~0u, ~0u } } };
	if (fa_sys6(SYS_sendto, nl, (long)&q, sizeof q, 0, 0, 0) < 0)
		return 0;
	union {
		char b[1024];
		struct fa_nlmsghdr align;
	} a;
	long n = fa_sys6(SYS_recvfrom, nl, (long)a.b, sizeof a.b, 0, 0, 0);
	if (n < (long)(sizeof(struct fa_nlmsghdr) + sizeof(struct fa_unix_diag_msg)))
		return 0;
	struct fa_nlmsghdr *h = (struct fa_nlmsghdr *)a.b;
	if (h->type == FA_NLMSG_ERROR || h->len > (uint32_t)n)
		return 0;
	long off = (long)(sizeof *h + sizeof(struct fa_unix_diag_msg));
	while (off + (long)sizeof(struct fa_rtattr) <= (long)h->len) {
		struct fa_rtattr *at = (struct fa_rtattr *)(a.b + off);
		if (at->len < sizeof *at)
			break;
		if (at->type == FA_UNIX_DIAG_PEER && at->len >= sizeof *at + 4) {
			uint32_t peer;
			__builtin_memcpy(&peer, at + 1, 4);
			return peer;
		}
		off += (at->len + 3) & ~3;
	}
	return 0;
}

int fa_pfd_unix_peers(struct fa_pfd_table *t)
{
	long nl = -1;
	unsigned seq = 1;
	for (unsigned i = 0; i < t->n; i++) {
		struct fa_pfd *e = &t->e[i];
		if (e->kind != FA_PFD_UNIX || e->group != (int)i)
			continue;
		if (nl < 0) {
			nl = fa_sys3(SYS_socket, FA_AF_NETLINK, 3 /* SOCK_RAW */ | 02000000 /* CLOEXEC */, FA_NETLINK_SOCK_DIAG);
			if (nl < 0)
				return (int)nl;
		}
		e->u.un.peer_ino = peer_of((int)nl, e->ino, seq++);
	}
	if (nl >= 0)
		fa_sys1(SYS_close, nl);
	return 0;
}
