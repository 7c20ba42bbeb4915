#ifndef C_NETFILTER_QUEUE_H
#define C_NETFILTER_QUEUE_H

// recvmmsg(2), struct mmsghdr and MSG_WAITFORONE are GNU extensions: without
// _GNU_SOURCE glibc's <sys/socket.h> hides them from Swift.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdint.h>
#include <sys/socket.h>
// glibc's <netinet/in.h> must come before the kernel's <linux/in.h> (pulled in by the netfilter
// headers): <linux/libc-compat.h> then suppresses the kernel's duplicate sockaddr_in/in6_addr, which
// would otherwise clash with the SwiftGlibc module's definitions.
#include <netinet/in.h>
#include <linux/capability.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

// NFQA_MAX is `(__NFQA_MAX - 1)`, an expression macro Swift does not import: the size of the
// attribute table nfq_nlmsg_parse() fills is NFQA_MAX + 1.
static const int CNetfilterQueue_NFQA_MAX = NFQA_MAX;

// NLA_TYPE_MASK is `~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)`, an expression macro Swift does not import.
static const uint16_t CNetfilterQueue_NLA_TYPE_MASK = NLA_TYPE_MASK;

#endif
