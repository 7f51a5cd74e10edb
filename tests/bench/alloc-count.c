/*
 * LD_PRELOAD allocation counter for make bench-native: counts malloc,
 * calloc, realloc and the aligned allocators in xpv_alloc_count, which
 * xen-pvscsi-bench reads (dlsym) around its measured requests.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

uint64_t xpv_alloc_count;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static inline void count(void)
{
    __atomic_fetch_add(&xpv_alloc_count, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    count();
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}

void *memalign(size_t a, size_t n)
{
    count();
    return __libc_memalign(a, n);
}

void *aligned_alloc(size_t a, size_t n)
{
    count();
    return __libc_memalign(a, n);
}

int posix_memalign(void **p, size_t a, size_t n)
{
    void *r;

    count();
    r = __libc_memalign(a, n);
    if (!r) {
        return ENOMEM;
    }
    *p = r;
    return 0;
}
