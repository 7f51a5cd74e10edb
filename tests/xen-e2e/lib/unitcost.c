/*
 * Unit costs of the operations a backend does per I/O, measured where the
 * backends run (dom0, by scenarios/bench.sh after its guest has stopped):
 * a system call, a clock read, a thread wake-up, a page-cache read and
 * write, a memory copy. With the per-I/O counts of the same run (strace:
 * syscalls; /proc/stat: context switches) they turn the cost per I/O into
 * ops x unit cost.
 *
 *   unitcost DIR      (a scratch file in DIR; prints CSV on stdout:
 *                      op,unit,ns_per_op,cpu_ns_per_op,n)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t ns(clockid_t c)
{
    struct timespec t;

    clock_gettime(c, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

/* Wall and process CPU time of @n runs of @fn(@arg), per run */
static void run(const char *op, const char *unit, long n,
                void (*fn)(void *arg, long n), void *arg)
{
    uint64_t w0 = ns(CLOCK_MONOTONIC), c0 = ns(CLOCK_PROCESS_CPUTIME_ID);

    fn(arg, n);
    printf("%s,%s,%.1f,%.1f,%ld\n", op, unit,
           (double)(ns(CLOCK_MONOTONIC) - w0) / n,
           (double)(ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / n, n);
    fflush(stdout);
}

static void do_getppid(void *arg, long n)
{
    for (long i = 0; i < n; i++) {
        syscall(SYS_getppid);
    }
}

static void do_clock(void *arg, long n)
{
    struct timespec t;

    for (long i = 0; i < n; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t);
    }
}

static void do_eventfd(void *arg, long n)
{
    int fd = eventfd(0, EFD_NONBLOCK);
    uint64_t v = 1;

    for (long i = 0; i < n; i++) {
        if (write(fd, &v, 8) != 8 || read(fd, &v, 8) != 8) {
            abort();
        }
    }
    close(fd);
}

/*
 * Thread wake-up: two threads hand a token back and forth, each blocked
 * in ppoll() on its eventfd (as QEMU's event loops wait). One op = one
 * hand-off: an eventfd write, a wake-up, a ppoll return and a read.
 */
static int pp_fd[2];

static void pp_wait(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    uint64_t v;

    while (ppoll(&p, 1, NULL, NULL) != 1) {
        if (errno != EINTR) {
            abort();
        }
    }
    if (read(fd, &v, 8) != 8) {
        abort();
    }
}

static void pp_kick(int fd)
{
    uint64_t v = 1;

    if (write(fd, &v, 8) != 8) {
        abort();
    }
}

static void *pp_peer(void *arg)
{
    long n = (long)arg;

    for (long i = 0; i < n; i++) {
        pp_wait(pp_fd[1]);
        pp_kick(pp_fd[0]);
    }
    return NULL;
}

static void do_handoff(void *arg, long n)
{
    pthread_t t;

    /* n hand-offs: n / 2 round trips */
    pthread_create(&t, NULL, pp_peer, (void *)(n / 2));
    for (long i = 0; i < n / 2; i++) {
        pp_kick(pp_fd[1]);
        pp_wait(pp_fd[0]);
    }
    pthread_join(t, NULL);
}

struct io {
    int fd;
    size_t len;
    void *buf, *buf2;
    long blocks;
};

static void do_pread(void *arg, long n)
{
    struct io *io = arg;

    for (long i = 0; i < n; i++) {
        off_t off = (off_t)(i % io->blocks) * io->len;

        if (pread(io->fd, io->buf, io->len, off) != (ssize_t)io->len) {
            abort();
        }
    }
}

static void do_pwrite(void *arg, long n)
{
    struct io *io = arg;

    for (long i = 0; i < n; i++) {
        off_t off = (off_t)(i % io->blocks) * io->len;

        if (pwrite(io->fd, io->buf, io->len, off) != (ssize_t)io->len) {
            abort();
        }
    }
}

static void do_memcpy(void *arg, long n)
{
    struct io *io = arg;

    for (long i = 0; i < n; i++) {
        memcpy(io->buf2, io->buf, io->len);
        __asm__ volatile("" : : "r"(io->buf2) : "memory");
    }
}

int main(int argc, char **argv)
{
    const size_t file = 16 << 20;
    char path[4096];
    struct io io;
    size_t sizes[] = { 4096, 1 << 20 };

    if (argc != 2) {
        fprintf(stderr, "usage: unitcost DIR\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/unitcost.tmp", argv[1]);
    io.fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (io.fd < 0 || posix_memalign(&io.buf, 4096, 1 << 20) ||
        posix_memalign(&io.buf2, 4096, 1 << 20)) {
        perror(path);
        return 1;
    }
    unlink(path);
    memset(io.buf, 0x5a, 1 << 20);
    memset(io.buf2, 0xa5, 1 << 20);
    for (size_t off = 0; off < file; off += 1 << 20) {
        if (pwrite(io.fd, io.buf, 1 << 20, off) != 1 << 20) {
            perror("pwrite");
            return 1;
        }
    }
    pp_fd[0] = eventfd(0, 0);
    pp_fd[1] = eventfd(0, 0);

    printf("op,unit,ns_per_op,cpu_ns_per_op,n\n");
    run("syscall", "getppid()", 20000, do_getppid, NULL);
    run("clock_gettime", "CLOCK_MONOTONIC", 20000, do_clock, NULL);
    run("eventfd", "write() and read() with no waiter", 10000, do_eventfd,
        NULL);
    run("wakeup", "thread hand-off: eventfd write; ppoll wake; read", 4000,
        do_handoff, NULL);
    for (int k = 0; k < 2; k++) {
        io.len = sizes[k];
        io.blocks = file / io.len;
        run(k ? "pread-1M" : "pread-4k", "page-cache hit", k ? 200 : 10000,
            do_pread, &io);
        run(k ? "pwrite-1M" : "pwrite-4k", "buffered (page cache)",
            k ? 200 : 10000, do_pwrite, &io);
        run(k ? "memcpy-1M" : "memcpy-4k", "user space", k ? 400 : 40000,
            do_memcpy, &io);
    }
    close(io.fd);
    return 0;
}
