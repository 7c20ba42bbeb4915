#ifndef C_EGRESS25_CORE_H
#define C_EGRESS25_CORE_H

// The one compiler builtin Egress25Core needs and Swift cannot spell: a software prefetch, used by
// PolicySnapshot.decide(_:now:into:) to overlap the cache misses of a batch of lookups.

/// Hints that `address` will be read soon (GCC/Clang __builtin_prefetch, read, high temporal locality).
/// Never faults, whatever the address.
static inline void CEgress25Core_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
