#define _GNU_SOURCE
#include "CShims.h"

int cshims_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

#include <errno.h>
#include <malloc.h>
#include <pthread.h>

void cshims_fix_mmap_threshold(int bytes) {
    mallopt(M_MMAP_THRESHOLD, bytes);
}

void cshims_set_thread_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}

#include <time.h>

int cshims_epoll_wait_micros(int epfd, struct epoll_event *events, int max, long micros) {
    struct timespec ts = { .tv_sec = micros / 1000000, .tv_nsec = (micros % 1000000) * 1000 };
    int n = epoll_pwait2(epfd, events, max, &ts, NULL);
    if (n < 0 && errno == ENOSYS) {
        n = epoll_wait(epfd, events, max, (int)((micros + 999) / 1000));
    }
    return n;
}

const uint32_t cshims_EPOLLIN = EPOLLIN, cshims_EPOLLOUT = EPOLLOUT, cshims_EPOLLERR = EPOLLERR,
    cshims_EPOLLHUP = EPOLLHUP, cshims_EPOLLRDHUP = EPOLLRDHUP, cshims_EPOLLET = EPOLLET;

struct ev_loop *cshims_ev_loop_new_epoll(void) { return ev_loop_new(EVBACKEND_EPOLL); }

void cshims_ev_io_init(ev_io *w, void (*cb)(struct ev_loop *, ev_io *, int), int fd, int events) {
    ev_io_init(w, cb, fd, events);
}

void cshims_ev_timer_init(ev_timer *w, void (*cb)(struct ev_loop *, ev_timer *, int), double after, double repeat) {
    ev_timer_init(w, cb, after, repeat);
}

void cshims_ev_async_init(ev_async *w, void (*cb)(struct ev_loop *, ev_async *, int)) {
    ev_async_init(w, cb);
}

const int cshims_EV_READ = EV_READ, cshims_EV_WRITE = EV_WRITE, cshims_EV_ERROR = EV_ERROR, cshims_EVBREAK_ALL = EVBREAK_ALL,
    cshims_EVRUN_NOWAIT = EVRUN_NOWAIT, cshims_EVRUN_ONCE = EVRUN_ONCE;
