/*
 * delayproxy — a userspace TCP proxy that adds a fixed one-way delay to
 * each direction (this kernel has no netem). Test tool only.
 *
 *   delayproxy LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS
 *              [--max-seconds N] [--max-conns N] [--queue-limit BYTES]
 *              [--rate-down BYTES_PER_S]
 *
 * Listens on 127.0.0.1:LISTEN_PORT (0 picks a free port) and prints one line
 * to stdout:  delayproxy listening on 127.0.0.1:PORT -> HOST:PORT delay N ms
 * Each accepted connection gets its own connection to the target, opened at
 * accept time. Every chunk read from either side is queued with a time stamp
 * and written to the other side DELAY_MS later, in order, so a request and
 * its response cost 2 x DELAY_MS more than direct; byte-transparent (TLS,
 * HTTP/2 work). Not delayed: the TCP handshake with the client (the kernel
 * completes it before accept) and the connect to the target, so a fresh
 * connection is one round trip cheaper than on a real network.
 *
 * End of stream is delayed like data: after the queued bytes drain, the other
 * side gets shutdown(SHUT_WR) (half-close); the pair is closed when both
 * directions have ended. A reset (read error) is forwarded, also delayed, as
 * a reset (SO_LINGER 0); a write error or a failed connect to the target
 * resets both sides at once.
 *
 * Backpressure: a side is not read while its direction's queue holds more
 * than --queue-limit bytes (default DP_QUEUE_LIMIT_DEFAULT, 1 MiB); the
 * throughput of one connection is therefore at most limit / delay.
 * At most --max-conns connection pairs (default 1024); more wait in the
 * listen backlog. Single thread, ppoll(). Exits 0 on SIGTERM/SIGINT or after
 * --max-seconds (default 300), printing a summary to stderr.
 *
 * --rate-down limits what all connections together receive from the target
 * (target -> client) to BYTES_PER_S, a token bucket with a burst of
 * DP_RATE_BURST_US at that rate: one shared link, like a phone's, so the
 * bytes of a page set how long it takes. The other direction is not limited.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o delayproxy delayproxy.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "loopback.h"

#define DP_QUEUE_LIMIT_DEFAULT (1u << 20) /* bytes queued per direction */
#define DP_MAX_CONNS_DEFAULT 1024
#define DP_READ_CHUNK 65536
#define DP_RATE_BURST_US 50000          /* --rate-down: burst of 50 ms (a busy CPU must not lose the link's time) */
#define DP_RATE_MIN_SEND 1500           /* wait for at least a packet's worth */

enum ckind { CK_DATA, CK_EOF, CK_RST };

struct chunk {
    struct chunk *next;
    int64_t due_us;
    enum ckind kind;
    size_t len, off;
    char data[];
};

/* One direction: bytes read from src, written to dst after the delay. */
struct dir {
    struct chunk *head, *tail;
    size_t queued;      /* bytes not yet written */
    int src_done;       /* EOF or error read: stop reading src */
    int done;           /* EOF delivered (dst shut down for writing) */
    uint64_t bytes;     /* total forwarded */
};

struct pair {
    int cfd, tfd;
    int connecting;     /* target connect in progress */
    struct dir c2t, t2c;
};

static struct pair **pairs;
static int max_pairs = DP_MAX_CONNS_DEFAULT;
static size_t queue_limit = DP_QUEUE_LIMIT_DEFAULT;
static int64_t delay_us;
static struct sockaddr_storage target_addr;
static socklen_t target_len;
static volatile sig_atomic_t stop_flag;
static uint64_t stat_accepted, stat_connect_fail, stat_resets;
static uint64_t stat_c2t, stat_t2c;
static int64_t rate_down;   /* bytes/s target->client, 0: unlimited */
static int64_t tokens;      /* bytes that may be sent to clients now */
static int64_t tokens_at;   /* when tokens were last added */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Adds what the rate allows since the last call, up to the burst. */
static void refill(int64_t now)
{
    if (!rate_down)
        return;
    int64_t burst = rate_down * DP_RATE_BURST_US / 1000000;
    if (burst < DP_RATE_MIN_SEND)
        burst = DP_RATE_MIN_SEND;
    int64_t added = (now - tokens_at) * rate_down / 1000000;
    if (added > 0) {
        tokens = tokens + added > burst ? burst : tokens + added;
        tokens_at = now;
    }
}

/* Microseconds until a limited direction may send again (0: now). */
static int64_t rate_wait_us(void)
{
    if (!rate_down || tokens > 0)
        return 0;
    int64_t us = (DP_RATE_MIN_SEND - tokens) * 1000000 / rate_down;
    return us < 100 ? 100 : us;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: delayproxy LISTEN_PORT TARGET_HOST TARGET_PORT "
                    "DELAY_MS [--max-seconds N] [--max-conns N] "
                    "[--queue-limit BYTES] [--rate-down BYTES_PER_S]\n");
    exit(2);
}

static long parse_long(const char *s, long lo, long hi)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || *e || e == s || v < lo || v > hi)
        usage();
    return v;
}

static void enqueue(struct dir *d, enum ckind kind, const char *data,
                    size_t len, int64_t now)
{
    struct chunk *c = malloc(sizeof *c + len);
    if (!c) {
        fprintf(stderr, "delayproxy: out of memory\n");
        exit(1);
    }
    c->next = NULL;
    c->due_us = now + delay_us;
    c->kind = kind;
    c->len = len;
    c->off = 0;
    if (len)
        memcpy(c->data, data, len);
    if (d->tail)
        d->tail->next = c;
    else
        d->head = c;
    d->tail = c;
    d->queued += len;
}

static void dir_free(struct dir *d)
{
    struct chunk *c = d->head;
    while (c) {
        struct chunk *n = c->next;
        free(c);
        c = n;
    }
    d->head = d->tail = NULL;
    d->queued = 0;
}

static void close_rst(int fd)
{
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static void pair_free(int i, int reset)
{
    struct pair *p = pairs[i];
    if (reset) {
        close_rst(p->cfd);
        close_rst(p->tfd);
        stat_resets++;
    } else {
        close(p->cfd);
        close(p->tfd);
    }
    stat_c2t += p->c2t.bytes;
    stat_t2c += p->t2c.bytes;
    dir_free(&p->c2t);
    dir_free(&p->t2c);
    free(p);
    pairs[i] = NULL;
}

/* Reads once from src into d. force: read even over the queue limit (the
 * peer hung up; what is left is bounded by the socket buffer). */
static void do_read(int src, struct dir *d, int64_t now)
{
    static char buf[DP_READ_CHUNK];
    if (d->src_done)
        return;
    ssize_t r = recv(src, buf, sizeof buf, 0);
    if (r > 0) {
        enqueue(d, CK_DATA, buf, (size_t)r, now);
    } else if (r == 0) {
        enqueue(d, CK_EOF, NULL, 0, now);
        d->src_done = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        enqueue(d, CK_RST, NULL, 0, now);
        d->src_done = 1;
    }
}

/* Writes what is due from d to dst (limited: within the tokens of
 * --rate-down). Returns -1 to reset the pair. */
static int do_write(int dst, struct dir *d, int64_t now, int limited)
{
    while (d->head && d->head->due_us <= now) {
        struct chunk *c = d->head;
        if (c->kind == CK_RST)
            return -1;
        if (c->kind == CK_EOF) {
            shutdown(dst, SHUT_WR);
            d->done = 1;
        } else {
            while (c->off < c->len) {
                size_t want = c->len - c->off;
                if (limited && rate_down) {
                    if (tokens <= 0)
                        return 0;
                    if ((int64_t)want > tokens)
                        want = (size_t)tokens;
                }
                ssize_t w = send(dst, c->data + c->off, want, MSG_NOSIGNAL);
                if (w < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return 0;
                    if (errno == EINTR)
                        continue;
                    return -1;
                }
                c->off += (size_t)w;
                if (limited && rate_down)
                    tokens -= w;
                d->queued -= (size_t)w;
                d->bytes += (uint64_t)w;
            }
        }
        d->head = c->next;
        if (!d->head)
            d->tail = NULL;
        free(c);
    }
    return 0;
}

static int head_due(const struct dir *d, int64_t now)
{
    return d->head && d->head->due_us <= now;
}

static void accept_all(int lfd)
{
    for (;;) {
        int slot = -1;
        for (int s = 0; s < max_pairs; s++)
            if (!pairs[s]) {
                slot = s;
                break;
            }
        if (slot < 0)
            return;
        int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        stat_accepted++;
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int tfd = socket(target_addr.ss_family,
                         SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (tfd < 0) {
            close_rst(cfd);
            stat_connect_fail++;
            continue;
        }
        setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int connecting = 0;
        if (connect(tfd, (struct sockaddr *)&target_addr, target_len) < 0) {
            if (errno == EINPROGRESS) {
                connecting = 1;
            } else {
                close(tfd);
                close_rst(cfd);
                stat_connect_fail++;
                continue;
            }
        }
        struct pair *p = calloc(1, sizeof *p);
        if (!p) {
            close(tfd);
            close_rst(cfd);
            continue;
        }
        p->cfd = cfd;
        p->tfd = tfd;
        p->connecting = connecting;
        pairs[slot] = p;
    }
}

int main(int argc, char **argv)
{
    if (argc < 5)
        usage();
    long lport = parse_long(argv[1], 0, 65535);
    const char *thost = argv[2];
    const char *tport = argv[3];
    parse_long(tport, 1, 65535);
    long delay_ms = parse_long(argv[4], 0, 600000);
    long max_seconds = 300;
    for (int i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc)
            max_seconds = parse_long(argv[++i], 1, 86400);
        else if (strcmp(argv[i], "--max-conns") == 0 && i + 1 < argc)
            max_pairs = (int)parse_long(argv[++i], 1, 65536);
        else if (strcmp(argv[i], "--queue-limit") == 0 && i + 1 < argc)
            queue_limit = (size_t)parse_long(argv[++i], 1024, 1L << 30);
        else if (strcmp(argv[i], "--rate-down") == 0 && i + 1 < argc)
            rate_down = parse_long(argv[++i], 1024, 1L << 34);
        else
            usage();
    }
    delay_us = (int64_t)delay_ms * 1000;

    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM }, *ai;
    int gai = getaddrinfo(thost, tport, &hints, &ai);
    if (gai) {
        fprintf(stderr, "delayproxy: cannot resolve %s:%s: %s\n", thost, tport,
                gai_strerror(gai));
        return 1;
    }
    memcpy(&target_addr, ai->ai_addr, ai->ai_addrlen);
    target_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    /* two descriptors per pair, plus the listener and stdio */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)max_pairs * 2 + 16;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            if (rl.rlim_cur < want) {
                max_pairs = (int)((rl.rlim_cur - 16) / 2);
                fprintf(stderr, "delayproxy: fd limit allows only %d "
                                "connections\n", max_pairs);
            }
        }
    }
    pairs = calloc((size_t)max_pairs, sizeof *pairs);
    struct pollfd *pfd = calloc((size_t)max_pairs * 2 + 1, sizeof *pfd);
    if (!pairs || !pfd) {
        fprintf(stderr, "delayproxy: out of memory\n");
        return 1;
    }

    sigset_t orig;
    unsigned bound;
    loopback_signals(on_signal, &orig);
    int lfd = loopback_listen("delayproxy", lport, 1024, &bound);
    if (lfd < 0)
        return 1;
    printf("delayproxy listening on 127.0.0.1:%u -> %s:%s delay %ld ms\n",
           bound, thost, tport, delay_ms);
    fflush(stdout);

    tokens_at = now_us();
    int64_t deadline = now_us() + (int64_t)max_seconds * 1000000;
    while (!stop_flag) {
        int64_t now = now_us();
        if (now >= deadline) {
            fprintf(stderr, "delayproxy: max lifetime %ld s reached\n",
                    max_seconds);
            break;
        }
        int64_t timeout = deadline - now;
        int n = 0, npairs = 0;
        refill(now);
        int64_t rate_wait = rate_wait_us();
        for (int i = 0; i < max_pairs; i++) {
            struct pair *p = pairs[i];
            if (!p)
                continue;
            npairs++;
            short ce = 0, te = 0;
            if (!p->c2t.src_done && p->c2t.queued < queue_limit)
                ce |= POLLIN;
            if (p->connecting) {
                te |= POLLOUT;
            } else {
                if (!p->t2c.src_done && p->t2c.queued < queue_limit)
                    te |= POLLIN;
                if (head_due(&p->c2t, now))
                    te |= POLLOUT;
            }
            if (head_due(&p->t2c, now)) {
                if (!rate_wait)
                    ce |= POLLOUT;
                else if (rate_wait < timeout)
                    timeout = rate_wait;    /* the link is busy: wait for it */
            }
            /* wake for the next chunk that falls due */
            const struct dir *ds[2] = { &p->c2t, &p->t2c };
            for (int k = 0; k < 2; k++)
                if (ds[k]->head && ds[k]->head->due_us > now &&
                    ds[k]->head->due_us - now < timeout)
                    timeout = ds[k]->head->due_us - now;
            /* A side with nothing to wait for is left out entirely (fd -1):
             * POLLHUP cannot be masked and would spin until the queued end
             * of stream falls due. */
            pfd[n].fd = ce ? p->cfd : -1;
            pfd[n].events = ce;
            pfd[n].revents = 0;
            pfd[n + 1].fd = te ? p->tfd : -1;
            pfd[n + 1].events = te;
            pfd[n + 1].revents = 0;
            n += 2;
        }
        pfd[n].fd = lfd;
        pfd[n].events = npairs < max_pairs ? POLLIN : 0;
        pfd[n].revents = 0;

        if (timeout > 1000000)
            timeout = 1000000;
        struct timespec ts = { .tv_sec = timeout / 1000000,
                               .tv_nsec = (long)(timeout % 1000000) * 1000 };
        int pr = ppoll(pfd, (nfds_t)n + 1, &ts, &orig);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            perror("delayproxy: ppoll");
            return 1;
        }
        now = now_us();
        refill(now);
        int k = 0;
        for (int i = 0; i < max_pairs; i++) {
            struct pair *p = pairs[i];
            if (!p)
                continue;
            short cr = pfd[k].revents, tr = pfd[k + 1].revents;
            k += 2;
            int reset = 0;
            if (p->connecting) {
                if (tr & (POLLOUT | POLLERR | POLLHUP)) {
                    int err = 0;
                    socklen_t el = sizeof err;
                    getsockopt(p->tfd, SOL_SOCKET, SO_ERROR, &err, &el);
                    if (err) {
                        stat_connect_fail++;
                        pair_free(i, 1);
                        continue;
                    }
                    p->connecting = 0;
                }
                tr = 0;
            }
            /* reads: POLLHUP/POLLERR also mean "read to find out" */
            if (cr & (POLLIN | POLLHUP | POLLERR))
                do_read(p->cfd, &p->c2t, now);
            if (tr & (POLLIN | POLLHUP | POLLERR))
                do_read(p->tfd, &p->t2c, now);
            /* writes of everything due (also right after a read with delay 0) */
            if (!p->connecting && do_write(p->tfd, &p->c2t, now, 0) < 0)
                reset = 1;
            if (!reset && do_write(p->cfd, &p->t2c, now, 1) < 0)
                reset = 1;
            if (reset)
                pair_free(i, 1);
            else if (p->c2t.done && p->t2c.done)
                pair_free(i, 0);
        }
        if (pfd[n].revents & POLLIN)
            accept_all(lfd);
    }
    int left = 0;
    for (int i = 0; i < max_pairs; i++)
        if (pairs[i]) {
            pair_free(i, 0);
            left++;
        }
    close(lfd);
    fprintf(stderr, "delayproxy: %" PRIu64 " connections, %" PRIu64
            " bytes client->target, %" PRIu64 " bytes target->client, %"
            PRIu64 " connect failures, %" PRIu64 " resets, %d open at exit\n",
            stat_accepted, stat_c2t, stat_t2c, stat_connect_fail, stat_resets,
            left);
    free(pairs);
    free(pfd);
    return 0;
}
