/* pacer: an open-loop HTTP/1.1 load generator, for the paced phase of the benchmarks.
 *
 * wrk2 (wrk with a fixed request rate) is not packaged here and the Python generator costs the
 * server ~0.2 ms of a shared core per request, so this is the same loop in C (bench/loadgen.py
 * builds it with the system's cc on first use and falls back to Python without one).
 *
 *   pacer HOST PORT RATE REQUESTS_FILE LATENCIES_FILE
 *
 * REQUESTS_FILE holds complete raw requests, each preceded by its length as a 4-byte
 * little-endian integer. Request i is due at start + i / RATE whatever happened to the earlier
 * ones (open loop); it goes out on an idle keep-alive connection, or a new one when none is idle
 * (at most MAX_CONNS), else it waits for the first connection to come free. Its latency is
 * counted from its due time, so a server that falls behind is charged for the queue (no
 * coordinated omission). For every request, LATENCIES_FILE gets one line "status microseconds";
 * status 0 is a transport error (refused, reset, closed before a whole answer).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define BUF 65536
#define TIMEOUT 30.0   /* seconds an answer may take after the last request was due */

typedef struct {
    int fd;
    long request;      /* index of the request in flight, -1 when idle */
    size_t sent;       /* bytes of it written so far */
    char in[BUF];
    size_t have;       /* bytes of the answer read so far */
    int listed;        /* its slot is on the idle stack (each slot is listed at most once) */
} Conn;

static const char *host;
static int port;
static char *data;             /* the requests file */
static size_t *offset, *length;
static long total;
static double rate, start;
static int *status;
static double *latency;
static long done_count;
static Conn conns[MAX_CONNS];
static int nconns, epfd;
static long *idle_stack; static int nidle;   /* indexes of idle connections */
static long next_due;                         /* first request not yet handed to a connection */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void finish(long request, int code) {
    status[request] = code;
    latency[request] = now() - (start + request / rate);
    done_count++;
}

static int open_conn(void) {
    int slot = 0;
    while (slot < nconns && conns[slot].fd >= 0) slot++;  /* reuse the slot of a dropped one */
    if (slot == MAX_CONNS) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    Conn *c = &conns[slot];
    c->fd = fd; c->request = -1; c->sent = 0; c->have = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = slot};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    if (slot == nconns) nconns++;
    return slot;
}

static void drop(int i) {   /* the connection failed: its request (if any) is a transport error */
    Conn *c = &conns[i];
    if (c->request >= 0) finish(c->request, 0);
    c->request = -1;
    if (c->fd >= 0) { epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); }
    c->fd = -1;
}

static void flush(int i) {  /* write what is left of the request in flight */
    Conn *c = &conns[i];
    const char *req = data + offset[c->request];
    while (c->sent < length[c->request]) {
        ssize_t n = write(c->fd, req + c->sent, length[c->request] - c->sent);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) drop(i);
            return;  /* EPOLLOUT (connect done, buffer free) calls again */
        }
        c->sent += n;
    }
}

static void assign(int i, long request) {
    Conn *c = &conns[i];
    c->request = request; c->sent = 0; c->have = 0;
    flush(i);
}

/* The answer is complete when the head and Content-Length bytes of body are in; *closing says the
 * server ends the connection after it (HTTP/1.0, or "Connection: close"). */
static int complete(Conn *c, int *code, int *closing) {
    char *end = memmem(c->in, c->have, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = end - c->in + 4, body = 0;
    *closing = strncmp(c->in, "HTTP/1.0", 8) == 0;
    for (char *line = c->in; line && line < end; line = memmem(line, end - line, "\r\n", 2)) {
        if (line != c->in) line += 2;
        if (strncasecmp(line, "content-length:", 15) == 0) body = strtoul(line + 15, NULL, 10);
        if (strncasecmp(line, "connection:", 11) == 0) {
            const char *value = line + 11;
            while (*value == ' ') value++;
            *closing = strncasecmp(value, "close", 5) == 0;
        }
    }
    if (c->have < head + body) return 0;
    *code = (c->have >= 12) ? atoi(c->in + 9) : 0;
    return 1;
}

static void release(int i) {
    if (!conns[i].listed) { conns[i].listed = 1; idle_stack[nidle++] = i; }
}

static void readable(int i) {
    Conn *c = &conns[i];
    int ended = 0;  /* the server closed its side (or the connection failed) */
    for (;;) {
        if (c->have == BUF) { drop(i); return; }
        ssize_t n = read(c->fd, c->in + c->have, BUF - c->have);
        if (n == 0) { ended = 1; break; }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) ended = 1;
            break;
        }
        c->have += n;
    }
    int code, closing;
    if (c->request >= 0 && complete(c, &code, &closing)) {  /* a whole answer counts, even just before a close */
        finish(c->request, code);
        c->request = -1; c->have = 0;
        if (!ended && !closing) { release(i); return; }
        ended = 1;
    }
    if (ended) drop(i);  /* an answer still in flight is a transport error */
}

/* Hand every due request to a connection; returns 0 when one is due but none can take it. */
static int dispatch_due(void) {
    double t = now();
    while (next_due < total && start + next_due / rate <= t) {
        int i = -1;
        while (nidle > 0) {
            int candidate = idle_stack[--nidle];
            conns[candidate].listed = 0;
            if (conns[candidate].fd >= 0 && conns[candidate].request < 0) { i = candidate; break; }
        }
        if (i < 0) i = open_conn();
        if (i < 0) return 0;  /* every connection busy: wait for one to come free */
        assign(i, next_due++);
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: pacer HOST PORT RATE REQUESTS_FILE LATENCIES_FILE\n");
        return 2;
    }
    host = argv[1]; port = atoi(argv[2]); rate = atof(argv[3]);
    FILE *f = fopen(argv[4], "rb");
    if (!f || rate <= 0) { perror("pacer"); return 2; }
    fseek(f, 0, SEEK_END); long size = ftell(f); fseek(f, 0, SEEK_SET);
    data = malloc(size);
    if (fread(data, 1, size, f) != (size_t)size) { perror("pacer"); return 2; }
    fclose(f);
    for (long at = 0; at + 4 <= size; total++) at += 4 + *(uint32_t *)(data + at);
    offset = malloc(total * sizeof *offset); length = malloc(total * sizeof *length);
    for (long k = 0, at = 0; k < total; k++) {
        length[k] = *(uint32_t *)(data + at); offset[k] = at + 4; at += 4 + length[k];
    }
    status = calloc(total, sizeof *status); latency = calloc(total, sizeof *latency);
    idle_stack = malloc(MAX_CONNS * sizeof *idle_stack);
    epfd = epoll_create1(0);
    for (int k = 0; k < 32; k++) {  /* a warm set of connections, as a pool of clients would hold */
        int i = open_conn();
        if (i >= 0) release(i);
    }
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tick = {.events = EPOLLIN, .data.u32 = MAX_CONNS};
    epoll_ctl(epfd, EPOLL_CTL_ADD, timer, &tick);
    struct epoll_event events[256];
    start = now() + 0.05;  /* let the warm connections finish connecting */
    while (done_count < total) {
        if (next_due == total && now() > start + total / rate + TIMEOUT) {
            for (int i = 0; i < nconns; i++) drop(i);  /* unanswered: counted as transport errors */
            break;
        }
        if (dispatch_due() && next_due < total) {  /* sleep until the next request is due */
            double due = start + next_due / rate;
            struct itimerspec at = {.it_value = {.tv_sec = (time_t)due,
                                                 .tv_nsec = (long)((due - (time_t)due) * 1e9)}};
            timerfd_settime(timer, TFD_TIMER_ABSTIME, &at, NULL);
        }
        int n = epoll_wait(epfd, events, 256, 1000);
        for (int k = 0; k < n; k++) {
            int i = events[k].data.u32;
            if (i == MAX_CONNS) { uint64_t expirations; (void)!read(timer, &expirations, sizeof expirations); continue; }
            if (conns[i].fd < 0) continue;
            if (events[k].events & (EPOLLERR | EPOLLHUP)) { drop(i); continue; }
            if (events[k].events & EPOLLOUT && conns[i].request >= 0) flush(i);
            if (conns[i].fd >= 0 && events[k].events & EPOLLIN) readable(i);
        }
    }
    double elapsed = now() - start;
    FILE *out = fopen(argv[5], "w");
    if (!out) { perror("pacer"); return 2; }
    for (long k = 0; k < total; k++) fprintf(out, "%d %.0f\n", status[k], latency[k] * 1e6);
    fprintf(out, "elapsed %.6f\n", elapsed);
    fclose(out);
    return 0;
}
