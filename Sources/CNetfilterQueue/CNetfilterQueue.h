#ifndef C_NETFILTER_QUEUE_H
#define C_NETFILTER_QUEUE_H

#include <stdint.h>
#include <time.h>
#include <sys/socket.h>
// glibc's <netinet/in.h> must come before the kernel's <linux/in.h> (pulled in by the netfilter
// headers): <linux/libc-compat.h> then suppresses the kernel's duplicate sockaddr_in/in6_addr, which
// would otherwise clash with the SwiftGlibc module's definitions.
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

// recvmmsg(2), struct mmsghdr and MSG_WAITFORONE are GNU extensions that glibc's <sys/socket.h> declares
// only under _GNU_SOURCE, and defining _GNU_SOURCE here would change glibc's struct definitions
// (e.g. fd_set) relative to the SwiftGlibc module and break module merging. So this header declares the
// same ABI itself: the struct layout of `struct mmsghdr` and the glibc symbol `recvmmsg`.
struct CNetfilterQueue_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};
int CNetfilterQueue_recvmmsg(int fd, struct CNetfilterQueue_mmsghdr *vector, unsigned int length, int flags,
                             struct timespec *timeout) __asm__("recvmmsg");
static const int CNetfilterQueue_MSG_WAITFORONE = 0x10000;
_Static_assert(sizeof(struct CNetfilterQueue_mmsghdr) == 64, "struct mmsghdr layout (x86_64/aarch64)");

// NFQA_MAX is `(__NFQA_MAX - 1)`, an expression macro Swift does not import: the size of the
// attribute table nfq_nlmsg_parse() fills is NFQA_MAX + 1.
static const int CNetfilterQueue_NFQA_MAX = NFQA_MAX;

// NLA_TYPE_MASK is `~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)`, an expression macro Swift does not import.
static const uint16_t CNetfilterQueue_NLA_TYPE_MASK = NLA_TYPE_MASK;

#endif
