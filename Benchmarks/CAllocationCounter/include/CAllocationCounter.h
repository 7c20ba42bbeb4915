#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H

#include <stdint.h>

/// Number of malloc/calloc/realloc/aligned allocations made by this process so far (all threads).
/// Counted by the malloc replacements in AllocationCounter.c, which forward to glibc's __libc_* functions
/// (glibc manual, "Replacing malloc"). Linux/glibc only; elsewhere always 0.
uint64_t CAllocationCounter_allocations(void);

/// Heap bytes in use: mallinfo2(3) uordblks (arena) + hblkhd (mmapped blocks). glibc only; elsewhere 0.
uint64_t CAllocationCounter_heapBytesInUse(void);

#endif
