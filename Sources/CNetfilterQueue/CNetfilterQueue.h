#ifndef C_NETFILTER_QUEUE_H
#define C_NETFILTER_QUEUE_H

// recvmmsg(2), struct mmsghdr and MSG_WAITFORONE are GNU extensions: without
// _GNU_SOURCE glibc's <sys/socket.h> hides them from Swift.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdint.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#endif
