#ifndef METACLUSTER_CSHIMS_H
#define METACLUSTER_CSHIMS_H
// What Swift cannot import by itself. One "why" per shim.

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
// Glibc's Swift module map leaves these headers out: epoll, eventfd and timerfd are Linux-only.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <ev.h>

// accept4 is declared only under _GNU_SOURCE, which Swift's Glibc module does not define.
int cshims_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

// pthread_setname_np is declared only under _GNU_SOURCE. Names the calling thread (15 bytes at most).
void cshims_set_thread_name(const char *name);

// mallopt and its M_* constants are in <malloc.h>, which Glibc's Swift module leaves out.
void cshims_fix_mmap_threshold(int bytes);

// epoll_pwait2 (microsecond timeouts, Linux 5.11+) is declared only under _GNU_SOURCE. Falls back to
// epoll_wait rounded up to a millisecond where the kernel lacks it.
int cshims_epoll_wait_micros(int epfd, struct epoll_event *events, int max, long micros);

// The EPOLL* constants are enum members with mixed types (EPOLLET is 1u << 31); plain uint32_t is easier from Swift.
extern const uint32_t cshims_EPOLLIN, cshims_EPOLLOUT, cshims_EPOLLERR, cshims_EPOLLHUP,
    cshims_EPOLLRDHUP, cshims_EPOLLET;

// libev's API is mostly macros (ev_io_init, ev_io_set, ev_timer_init, ...), which Swift cannot call.
// The watchers are allocated by the caller; `data` is libev's user pointer.
struct ev_loop *cshims_ev_loop_new_epoll(void);
void cshims_ev_io_init(ev_io *w, void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events);
void cshims_ev_timer_init(ev_timer *w, void (*cb)(struct ev_loop *, ev_timer *, int), double after, double repeat);
void cshims_ev_async_init(ev_async *w, void (*cb)(struct ev_loop *, ev_async *, int));
extern const int cshims_EV_READ, cshims_EV_WRITE, cshims_EV_ERROR, cshims_EVBREAK_ALL, cshims_EVRUN_NOWAIT,
    cshims_EVRUN_ONCE;

#endif
