/*
 * malloc_count.c: an LD_PRELOAD heap-allocation counter for scripts/memory (allocs and soak modes).
 *
 * Build (scripts/memory.py does this on demand, into run/memory/):
 *   cc -O2 -fPIC -shared -o malloc_count.so scripts/lib/malloc_count.c -lpthread
 * Use:
 *   MALLOC_COUNT_OUT=/tmp/counts LD_PRELOAD=/path/malloc_count.so metacluster --config ...
 *
 * It wraps malloc, calloc, realloc, free, posix_memalign, aligned_alloc, memalign, valloc and
 * pvalloc, forwarding to glibc's __libc_* entry points (so no dlsym bootstrap is needed), and
 * counts each call with a relaxed atomic add: cheap enough to leave the proxy's throughput
 * roughly where it was, and exact across threads.
 *
 * Reading the counters installs no signal handler (the proxy traps SIGTERM, SIGINT and SIGHUP
 * itself): a thread started from the library's constructor rewrites the file named by
 * MALLOC_COUNT_OUT every MALLOC_COUNT_INTERVAL_MS milliseconds (default 50), and once more at
 * exit. The record is one fixed-width line of "name=value" pairs written with pwrite at offset
 * 0, formatted by hand into a stack buffer: the writer thread allocates nothing, so it never
 * shows in the counts. A reader may see a torn line while a write is in progress; it should
 * re-read when the trailing "end=1" is missing. Fields:
 *
 *   pid      the process that wrote the record (a wrapper that execs the real binary passes
 *            LD_PRELOAD on, and the exec'd image truncates the file and writes its own)
 *   seq      number of times the file was written (grows every interval)
 *   malloc calloc realloc free posix_memalign aligned_alloc memalign valloc
 *            calls of each function (realloc(NULL, n) counts as realloc; pvalloc counts as valloc)
 *   allocs   malloc + calloc + realloc + posix_memalign + aligned_alloc + memalign + valloc
 *   bytes    bytes requested by all of them
 *   live     blocks allocated and not freed yet (realloc(NULL, n) adds one, realloc(p, 0) removes one)
 *   heap_used, heap_free, heap_mmap, heap_arena
 *            glibc's mallinfo2(), refreshed every MALLOC_COUNT_MALLINFO_MS (default 1000; 0 = never):
 *            bytes in use (uordblks + hblkhd), free in the arenas (fordblks), in mmap'd chunks
 *            (hblkhd) and the arenas' size (arena). Used vs RSS tells a leak from fragmentation.
 *            mallinfo2 takes each arena's lock for a moment: once a second is no measurable cost.
 *   end=1
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

enum { C_MALLOC, C_CALLOC, C_REALLOC, C_FREE, C_POSIX_MEMALIGN, C_ALIGNED_ALLOC, C_MEMALIGN, C_VALLOC,
       C_BYTES, C_LIVE, C_COUNT };
static const char *const names[C_COUNT] = {
    "malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc", "memalign", "valloc", "bytes", "live",
};

/* One cache line per counter: the proxy's worker threads allocate concurrently. */
static struct { uint64_t v; char pad[56]; } counters[C_COUNT] __attribute__((aligned(64)));

static int out_fd = -1;
static unsigned interval_ms = 50;
static unsigned mallinfo_ms = 1000;
static uint64_t seq;
static uint64_t heap[4]; /* used, free, mmap, arena: written by the writer thread only */

#define BUMP(i, n) __atomic_fetch_add(&counters[(i)].v, (uint64_t)(n), __ATOMIC_RELAXED)
/* live is a signed count kept in a uint64_t: adding (uint64_t)-1 wraps to a decrement */
#define LIVE(p, d) do { if (p) BUMP(C_LIVE, (uint64_t)(int64_t)(d)); } while (0)

void *malloc(size_t n) {
    BUMP(C_MALLOC, 1);
    BUMP(C_BYTES, n);
    void *p = __libc_malloc(n);
    LIVE(p, 1);
    return p;
}

void *calloc(size_t n, size_t size) {
    BUMP(C_CALLOC, 1);
    BUMP(C_BYTES, n * size);
    void *p = __libc_calloc(n, size);
    LIVE(p, 1);
    return p;
}

void *realloc(void *old, size_t n) {
    BUMP(C_REALLOC, 1);
    BUMP(C_BYTES, n);
    void *p = __libc_realloc(old, n);
    if (!old) LIVE(p, 1);                 /* realloc(NULL, n) is malloc(n) */
    else if (n == 0) LIVE(old, -1);       /* realloc(p, 0) frees p (glibc) */
    return p;
}

void free(void *p) {
    if (p) BUMP(C_FREE, 1);
    LIVE(p, -1);
    __libc_free(p);
}

int posix_memalign(void **out, size_t alignment, size_t n) {
    BUMP(C_POSIX_MEMALIGN, 1);
    BUMP(C_BYTES, n);
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, n);
    if (!p) return ENOMEM;
    LIVE(p, 1);
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t n) {
    BUMP(C_ALIGNED_ALLOC, 1);
    BUMP(C_BYTES, n);
    void *p = __libc_memalign(alignment, n);
    LIVE(p, 1);
    return p;
}

void *memalign(size_t alignment, size_t n) {
    BUMP(C_MEMALIGN, 1);
    BUMP(C_BYTES, n);
    void *p = __libc_memalign(alignment, n);
    LIVE(p, 1);
    return p;
}

void *valloc(size_t n) {
    BUMP(C_VALLOC, 1);
    BUMP(C_BYTES, n);
    void *p = __libc_valloc(n);
    LIVE(p, 1);
    return p;
}

void *pvalloc(size_t n) {
    BUMP(C_VALLOC, 1);
    BUMP(C_BYTES, n);
    void *p = __libc_pvalloc(n);
    LIVE(p, 1);
    return p;
}

/* Appends s to the buffer; returns the new end. */
static char *put_str(char *at, const char *s) {
    while (*s) *at++ = *s++;
    return at;
}

/* Appends v in decimal, right-aligned in 20 columns (fixed width: the line never gets shorter). */
static char *put_u64(char *at, uint64_t v) {
    char digits[20];
    int i = 20;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    while (i > 0) digits[--i] = '0';
    memcpy(at, digits, 20);
    return at + 20;
}

static void write_counts(void) {
    if (out_fd < 0) return;
    char line[64 * (C_COUNT + 8)];
    char *at = line;
    uint64_t snap[C_COUNT];
    for (int i = 0; i < C_COUNT; i++) snap[i] = __atomic_load_n(&counters[i].v, __ATOMIC_RELAXED);
    uint64_t allocs = snap[C_MALLOC] + snap[C_CALLOC] + snap[C_REALLOC] + snap[C_POSIX_MEMALIGN]
                    + snap[C_ALIGNED_ALLOC] + snap[C_MEMALIGN] + snap[C_VALLOC];
    at = put_str(at, "pid=");
    at = put_u64(at, (uint64_t)getpid());
    at = put_str(at, " seq=");
    at = put_u64(at, __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    for (int i = 0; i < C_COUNT; i++) {
        *at++ = ' ';
        at = put_str(at, names[i]);
        *at++ = '=';
        at = put_u64(at, snap[i]);
    }
    at = put_str(at, " allocs=");
    at = put_u64(at, allocs);
    static const char *const heap_names[4] = {" heap_used=", " heap_free=", " heap_mmap=", " heap_arena="};
    for (int i = 0; i < 4; i++) {
        at = put_str(at, heap_names[i]);
        at = put_u64(at, heap[i]);
    }
    at = put_str(at, " end=1\n");
    (void)!pwrite(out_fd, line, (size_t)(at - line), 0);
}

/* mallinfo2 walks every arena under its lock and allocates nothing. */
static void read_mallinfo(void) {
    struct mallinfo2 mi = mallinfo2();
    heap[0] = mi.uordblks + mi.hblkhd;
    heap[1] = mi.fordblks;
    heap[2] = mi.hblkhd;
    heap[3] = mi.arena;
}

static void *writer(void *arg) {
    (void)arg;
    struct timespec ts = {.tv_sec = interval_ms / 1000, .tv_nsec = (long)(interval_ms % 1000) * 1000000L};
    unsigned since = mallinfo_ms;
    for (;;) {
        if (mallinfo_ms && since >= mallinfo_ms) {
            read_mallinfo();
            since = 0;
        }
        write_counts();
        nanosleep(&ts, NULL);
        since += interval_ms;
    }
    return NULL;
}

__attribute__((constructor)) static void malloc_count_init(void) {
    const char *path = getenv("MALLOC_COUNT_OUT");
    if (!path || !*path) return;
    const char *interval = getenv("MALLOC_COUNT_INTERVAL_MS");
    if (interval && *interval) {
        unsigned v = 0;
        for (const char *c = interval; *c >= '0' && *c <= '9'; c++) v = v * 10 + (unsigned)(*c - '0');
        if (v > 0) interval_ms = v;
    }
    const char *mi = getenv("MALLOC_COUNT_MALLINFO_MS");
    if (mi && *mi) {
        unsigned v = 0;
        for (const char *c = mi; *c >= '0' && *c <= '9'; c++) v = v * 10 + (unsigned)(*c - '0');
        mallinfo_ms = v;
    }
    out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) return;
    write_counts();
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    if (pthread_create(&t, &attr, writer, NULL) != 0) {
        /* Counting still works; the file is only written at exit. */
    }
    pthread_attr_destroy(&attr);
}

__attribute__((destructor)) static void malloc_count_fini(void) {
    write_counts();
}
