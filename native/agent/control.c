/* Protocol messages over the inherited control socket, with raw system calls
 * (the agent thread keeps using them while every other thread is parked). */
#include <errno.h>
#include <sys/socket.h>
#include "agent.h"

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		long w = fa_sys3(SYS_write, fd, c, n);
		if (w == -EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		long r = fa_sys3(SYS_read, fd, c, n);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int fa_send(int fd, uint16_t type, const void *payload, uint32_t len)
{
	unsigned char buf[sizeof(struct fa_msg_header) + FA_MAX_PAYLOAD];
	struct fa_msg_header h = { FA_MAGIC, FA_VERSION, type, len };
	if (len > FA_MAX_PAYLOAD)
		return -1;
	__builtin_memcpy(buf, &h, sizeof h);
	if (len)
		__builtin_memcpy(buf + sizeof h, payload, len);
	return write_all(fd, buf, sizeof h + len); /* one write: messages never interleave */
}

int fa_send_error(int fd, uint32_t request, int err, const char *msg)
{
	unsigned char p[FA_MAX_PAYLOAD];
	uint32_t n = 8;
	__builtin_memcpy(p, &request, 4);
	__builtin_memcpy(p + 4, &err, 4);
	while (*msg && n < sizeof p)
		p[n++] = (unsigned char)*msg++;
	return fa_send(fd, FA_MSG_ERROR, p, n);
}

/* Reads the first bytes of a message with recvmsg: descriptors sent with
 * SCM_RIGHTS ride on the first byte of the message they were sent with. */
static long recv_first(int fd, void *p, size_t n, int *fds, int *nfds)
{
	union {
		char buf[CMSG_SPACE(FA_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { p, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
	long r;
	do
		r = fa_sys3(SYS_recvmsg, fd, &m, MSG_CMSG_CLOEXEC);
	while (r == -EINTR);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); r > 0 && c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k; i++) {
			int got;
			__builtin_memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
			if (*nfds < FA_MAX_FDS)
				fds[(*nfds)++] = got;
			else
				fa_sys1(SYS_close, got);
		}
	}
	if (m.msg_flags & MSG_CTRUNC)
		*nfds = -1 - *nfds; /* more descriptors than a message may carry */
	return r;
}

void fa_close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		fa_sys1(SYS_close, fds[i]);
}

int fa_recv(int fd, struct fa_msg_header *h, unsigned char *payload, int *fds, int *nfds)
{
	*nfds = 0;
	long r = recv_first(fd, h, sizeof *h, fds, nfds);
	if (*nfds < 0) {
		*nfds = -1 - *nfds;
		fa_send_error(fd, 0, EMSGSIZE, "too many descriptors in one message: closing the channel");
		return -1;
	}
	if (r <= 0 || read_all(fd, (char *)h + r, sizeof *h - (size_t)r) < 0)
		return -1;
	if (h->magic != FA_MAGIC || h->version != FA_VERSION) {
		fa_send_error(fd, 0, EPROTO, "bad magic or protocol version: closing the channel");
		return -1;
	}
	if (h->length > FA_MAX_PAYLOAD) {
		fa_send_error(fd, 0, EMSGSIZE, "payload too long: closing the channel");
		return -1;
	}
	if (h->length && read_all(fd, payload, h->length) < 0)
		return -1;
	return 0;
}
