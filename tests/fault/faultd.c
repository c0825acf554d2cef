/*
 * faultd — a small HTTP/1.1 server that produces, on demand, the faults a
 * real object store will not: truncated bodies, stalls, 500s, huge bodies.
 * Test tool only: single thread, poll(), binds 127.0.0.1, never outlives
 * --max-seconds.
 *
 *   faultd PORT [--max-seconds N] [--delay-ms N] [--ok-bytes N] [--quiet]
 *          [--root DIR [--rates reset=R,stall=R,5xx=R,truncated=R,oversize=R]
 *           [--seed N]]
 *
 * PORT 0 picks a free port. On start it prints one line to stdout:
 *   faultd listening on 127.0.0.1:PORT
 *
 * The behaviour is chosen by a substring of the request path, so any prefix
 * works (e.g. /tiles/tiles/1/ok/0/0.jpg, as {endpoint}/{bucket}/{key}):
 *   /ok/         200, a JPEG-looking body (FF D8 FF ... FF D9) of --ok-bytes
 *                bytes (default 1024) that embeds the path; strong ETag;
 *                If-None-Match with that ETag gives 304
 *   /truncated/  Content-Length 10000, sends 5000 body bytes, then closes
 *   /stall/      headers (Content-Length 10000) and 100 body bytes, then
 *                nothing; the socket stays open until the client closes it
 *   /stallhead/  reads the request and never answers (until the client closes)
 *   /flaky/      500 for the first request of each exact path (query string
 *                excluded), 200 as /ok/ afterwards
 *   /always500/  500 with an S3-style InternalError XML body
 *   /oversize/   Content-Length 64 MiB, the body produced lazily as the
 *                client reads; stops when the client goes away
 *   /notfound/   404 with an S3-style NoSuchKey XML body
 *   /slow/       200 as /ok/, sent --delay-ms ms (default 1000) later
 *   anything else 404 (NoSuchKey), counted as "other"; so is any path
 *                containing /metadata/, whatever the mode, so that a server
 *                reads dataset metadata from its local tree
 *
 * Rate mode (soak tests, issue 18): with --root DIR, any other path is
 * /BUCKET/KEY and is answered from the file DIR/KEY (200, its bytes, a
 * strong ETag of its contents; 404 NoSuchKey if there is none), counted
 * as "file". With --rates, each such request draws a fault first, from a
 * PRNG seeded by --seed (default 1), at the given per-mille rates:
 *   --rates reset=R,stall=R,5xx=R,truncated=R,oversize=R
 *   reset      the connection is closed with a TCP RST, no answer
 *   stall      the headers and 100 body bytes, then nothing (held open)
 *   5xx        500 or 503 (alternately) with an S3-style error body
 *   truncated  the file's Content-Length, half its bytes, then FIN
 *   oversize   Content-Length 64 MiB, produced lazily
 * The faults drawn are counted in __stats as "faults":{"reset":N,...}.
 * HEAD is answered with the headers only. Keep-alive (HTTP/1.1 default,
 * HTTP/1.0 with Connection: keep-alive) and pipelining are supported; a
 * request body (Content-Length) is read and discarded before the answer
 * ("100 Continue" first if the client sent Expect: 100-continue); chunked
 * request bodies are refused with 501. Range is ignored (always 200).
 *
 *   GET /__stats   JSON: {"total":N,"connections":N,"ok":N,"truncated":N,...,
 *                  "other":N,"paths":{"/x/flaky/a.jpg":2,...}} (requests per
 *                  mode and per path; /__ stats requests are not counted)
 *   POST or GET /__reset   zero all counters and the flaky memory
 *
 * Exits 0 on SIGTERM/SIGINT or when --max-seconds (default 300) have passed.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o faultd faultd.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "loopback.h"

#define MAX_CONNS 1024
#define IN_CAP 16384                 /* request head limit */
#define OVERSIZE_LEN (64ull << 20)   /* 64 MiB */
#define TRUNC_DECLARED 10000
#define TRUNC_SENT 5000
#define STALL_SENT 100
#define FILL_CHUNK 65536
#define MAX_PATHS 100000             /* per-path table bound */

enum mode {
    M_OK, M_TRUNCATED, M_STALL, M_STALLHEAD, M_FLAKY, M_ALWAYS500,
    M_OVERSIZE, M_NOTFOUND, M_SLOW, M_FILE, M_OTHER, M_COUNT
};
static const char *const mode_name[M_COUNT] = {
    "ok", "truncated", "stall", "stallhead", "flaky", "always500",
    "oversize", "notfound", "slow", "file", "other"
};

/* READ: waiting for a request head; BODY: skipping its body before
 * answering; WRITE: sending; HOLD: reading and dropping until the client
 * closes; DELAY: response ready, sent at wake_ms. */
enum state { ST_READ, ST_BODY, ST_WRITE, ST_HOLD, ST_DELAY };
enum after { AF_KEEPALIVE, AF_CLOSE, AF_HOLD };

struct conn {
    int fd;
    enum state st;
    char in[IN_CAP];
    size_t in_len;
    uint64_t discard;      /* request body bytes still to skip */
    char *pending;         /* ST_BODY: the request head, answered later */
    size_t pending_len;
    char *out;
    size_t out_len, out_off, out_cap;
    uint64_t lazy_left;    /* filler bytes to generate after out drains */
    enum after after;
    int64_t wake_ms;       /* ST_DELAY: when to start writing */
};

struct pathent {
    char *path;
    unsigned long count;
};

static struct conn *conns[MAX_CONNS];
static unsigned long stats[M_COUNT];
static unsigned long stat_total, stat_conns;
static struct pathent *paths;
static size_t npaths, paths_cap;
static volatile sig_atomic_t stop_flag;

static long opt_delay_ms = 1000;
static long opt_ok_bytes = 1024;
static int opt_quiet;
static const char *opt_root;     /* rate mode: files under this directory */

enum fault { F_NONE, F_RESET, F_STALL, F_5XX, F_TRUNCATED, F_OVERSIZE, F_COUNT };
static const char *const fault_name[F_COUNT] = {
    "none", "reset", "stall", "5xx", "truncated", "oversize"
};
static long fault_rate[F_COUNT];    /* per mille */
static unsigned long fault_stats[F_COUNT];
static uint64_t rng_state = 1;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void logf_(const char *fmt, ...)
{
    va_list ap;
    if (opt_quiet)
        return;
    va_start(ap, fmt);
    fputs("faultd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "faultd: out of memory\n");
        exit(1);
    }
    return q;
}

/* ---- output buffer ---- */

static void out_append(struct conn *c, const void *data, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = xrealloc(c->out, cap);
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
}

static void out_printf(struct conn *c, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof tmp)
        n = sizeof tmp - 1;
    out_append(c, tmp, (size_t)n);
}

/* ---- bodies ---- */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static uint32_t fnv1a_bytes(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* Deterministic filler byte at absolute body offset i (never 0xFF, so no
 * accidental JPEG markers). */
static unsigned char fill_byte(uint64_t i)
{
    return (unsigned char)('a' + (i * 7 + (i >> 8)) % 26);
}

/* A JPEG-looking body of exactly n bytes: SOI, APP0 "JFIF", a COM segment
 * holding the path, filler, EOI. Bodies shorter than the header are just
 * the first n bytes of it. */
static unsigned char *make_jpeg(const char *path, size_t n)
{
    unsigned char *b = xrealloc(NULL, n ? n : 1);
    unsigned char head[600];
    size_t h = 0;
    static const unsigned char app0[] = {
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00,
        0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00
    };
    memcpy(head, app0, sizeof app0);
    h = sizeof app0;
    size_t plen = strlen(path);
    if (plen > 500)
        plen = 500;
    head[h++] = 0xFF;
    head[h++] = 0xFE;                         /* COM */
    head[h++] = (unsigned char)((plen + 2) >> 8);
    head[h++] = (unsigned char)((plen + 2) & 0xFF);
    memcpy(head + h, path, plen);
    h += plen;
    for (size_t i = 0; i < n; i++)
        b[i] = i < h ? head[i] : fill_byte(i);
    if (n >= h + 2) {
        b[n - 2] = 0xFF;
        b[n - 1] = 0xD9;                      /* EOI */
    }
    return b;
}

static const char xml_nosuchkey[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
    "</Message></Error>\n";
static const char xml_internal[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error><Code>InternalError</Code><Message>We encountered an internal "
    "error. Please try again.</Message></Error>\n";

/* ---- per-path table ---- */

static struct pathent *path_get(const char *p)
{
    for (size_t i = 0; i < npaths; i++)
        if (strcmp(paths[i].path, p) == 0)
            return &paths[i];
    if (npaths >= MAX_PATHS)
        return NULL;
    if (npaths == paths_cap) {
        paths_cap = paths_cap ? paths_cap * 2 : 64;
        paths = xrealloc(paths, paths_cap * sizeof *paths);
    }
    paths[npaths].path = strdup(p);
    if (!paths[npaths].path) {
        fprintf(stderr, "faultd: out of memory\n");
        exit(1);
    }
    paths[npaths].count = 0;
    return &paths[npaths++];
}

static void reset_stats(void)
{
    memset(stats, 0, sizeof stats);
    memset(fault_stats, 0, sizeof fault_stats);
    stat_total = 0;
    stat_conns = 0;
    for (size_t i = 0; i < npaths; i++)
        free(paths[i].path);
    npaths = 0;
}

static void json_string(struct conn *c, const char *s)
{
    out_append(c, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = { '\\', (char)ch };
            out_append(c, e, 2);
        } else if (ch < 0x20 || ch >= 0x7F) {
            out_printf(c, "\\u%04x", ch);
        } else {
            out_append(c, s, 1);
        }
    }
    out_append(c, "\"", 1);
}

/* ---- responses ---- */

static void head_common(struct conn *c, int status, const char *reason,
                        const char *ctype, uint64_t clen, int keepalive)
{
    out_printf(c, "HTTP/1.1 %d %s\r\nServer: faultd\r\n", status, reason);
    if (ctype)
        out_printf(c, "Content-Type: %s\r\n", ctype);
    out_printf(c, "Content-Length: %" PRIu64 "\r\n", clen);
    out_printf(c, "Connection: %s\r\n", keepalive ? "keep-alive" : "close");
}

static void respond_simple(struct conn *c, int status, const char *reason,
                           const char *ctype, const char *body, size_t blen,
                           int head_only, int keepalive)
{
    head_common(c, status, reason, ctype, blen, keepalive);
    out_append(c, "\r\n", 2);
    if (!head_only && blen)
        out_append(c, body, blen);
    c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
}

static void respond_ok(struct conn *c, const char *path, int head_only,
                       int keepalive, const char *inm)
{
    char etag[32];
    snprintf(etag, sizeof etag, "\"%08" PRIx32 "%08lx\"", fnv1a(path),
             (unsigned long)opt_ok_bytes);
    if (inm && strstr(inm, etag)) {
        out_printf(c, "HTTP/1.1 304 Not Modified\r\nServer: faultd\r\n"
                   "ETag: %s\r\nConnection: %s\r\n\r\n", etag,
                   keepalive ? "keep-alive" : "close");
        c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
        return;
    }
    size_t n = (size_t)opt_ok_bytes;
    head_common(c, 200, "OK", "image/jpeg", n, keepalive);
    out_printf(c, "ETag: %s\r\n\r\n", etag);
    if (!head_only) {
        unsigned char *b = make_jpeg(path, n);
        out_append(c, b, n);
        free(b);
    }
    c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
}

static void respond_stats(struct conn *c, int keepalive)
{
    struct conn tmp = { .fd = -1 };
    out_printf(&tmp, "{\"total\":%lu,\"connections\":%lu", stat_total,
               stat_conns);
    for (int m = 0; m < M_COUNT; m++)
        out_printf(&tmp, ",\"%s\":%lu", mode_name[m], stats[m]);
    out_printf(&tmp, ",\"faults\":{");
    for (int f = 1; f < F_COUNT; f++)
        out_printf(&tmp, "%s\"%s\":%lu", f > 1 ? "," : "", fault_name[f],
                   fault_stats[f]);
    out_printf(&tmp, "}");
    out_printf(&tmp, ",\"paths\":{");
    for (size_t i = 0; i < npaths; i++) {
        if (i)
            out_append(&tmp, ",", 1);
        json_string(&tmp, paths[i].path);
        out_printf(&tmp, ":%lu", paths[i].count);
    }
    out_printf(&tmp, "}}\n");
    respond_simple(c, 200, "OK", "application/json", tmp.out, tmp.out_len, 0,
                   keepalive);
    free(tmp.out);
}

static enum mode classify(const char *path)
{
    /* dataset metadata is never faulty: a 404 sends the server to its local
     * tree, so a fault bucket exercises the tile path only */
    if (strstr(path, "/metadata/"))  return M_OTHER;
    /* order matters only for readability: every pattern ends in '/' */
    if (strstr(path, "/stallhead/")) return M_STALLHEAD;
    if (strstr(path, "/stall/"))     return M_STALL;
    if (strstr(path, "/truncated/")) return M_TRUNCATED;
    if (strstr(path, "/flaky/"))     return M_FLAKY;
    if (strstr(path, "/always500/")) return M_ALWAYS500;
    if (strstr(path, "/oversize/"))  return M_OVERSIZE;
    if (strstr(path, "/notfound/"))  return M_NOTFOUND;
    if (strstr(path, "/slow/"))      return M_SLOW;
    if (strstr(path, "/ok/"))        return M_OK;
    return opt_root ? M_FILE : M_OTHER;
}

/* Case-insensitive header lookup in the request head [hdrs, end). Copies the
 * trimmed value into val. Returns 1 if found. */
static int header_get(const char *hdrs, const char *end, const char *name,
                      char *val, size_t vcap)
{
    size_t nlen = strlen(name);
    const char *p = hdrs;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
            strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t n = (size_t)(ve - v);
            if (n >= vcap)
                n = vcap - 1;
            memcpy(val, v, n);
            val[n] = 0;
            return 1;
        }
        p = eol + 2;
    }
    return 0;
}

/* ---- rate mode ---- */

static uint64_t rng_next(void)	/* xorshift64*: deterministic for a --seed */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static enum fault draw_fault(void)
{
    long r = (long)(rng_next() % 1000), acc = 0;
    for (int f = 1; f < F_COUNT; f++) {
        acc += fault_rate[f];
        if (r < acc)
            return (enum fault)f;
    }
    return F_NONE;
}

/* DIR/KEY for /BUCKET/KEY, whole; NULL if no such regular file (or a key
 * with a ".." segment). */
static unsigned char *read_key(const char *path, size_t *len)
{
    const char *key = strchr(path + 1, '/');
    char fn[8192];
    FILE *f;
    long n;
    unsigned char *b;

    if (!key || strstr(key, "/../") || strstr(key, "/.."))
        return NULL;
    snprintf(fn, sizeof fn, "%s%s", opt_root, key);
    f = fopen(fn, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return NULL;
    }
    b = xrealloc(NULL, n ? (size_t)n : 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Returns -1 when the fault is a reset (close now, with a RST). */
static int respond_file(struct conn *c, const char *path, int head_only,
                        int keepalive, const char *inm)
{
    size_t n = 0;
    unsigned char *b = read_key(path, &n);
    enum fault f;
    char etag[40];
    static unsigned long alt;

    if (!b) {
        respond_simple(c, 404, "Not Found", "application/xml", xml_nosuchkey,
                       sizeof xml_nosuchkey - 1, head_only, keepalive);
        return 0;
    }
    f = draw_fault();
    fault_stats[f]++;
    switch (f) {
    case F_RESET: {
        struct linger lg = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        free(b);
        return -1;
    }
    case F_5XX:
        if (alt++ % 2)
            respond_simple(c, 503, "Service Unavailable", "application/xml",
                           xml_internal, sizeof xml_internal - 1, head_only,
                           keepalive);
        else
            respond_simple(c, 500, "Internal Server Error", "application/xml",
                           xml_internal, sizeof xml_internal - 1, head_only,
                           keepalive);
        free(b);
        return 0;
    case F_OVERSIZE:
        head_common(c, 200, "OK", "image/jpeg", OVERSIZE_LEN, keepalive);
        out_append(c, "\r\n", 2);
        if (!head_only) {
            out_append(c, b, n < 4 ? n : 4);
            c->lazy_left = OVERSIZE_LEN - (n < 4 ? n : 4);
        }
        c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
        free(b);
        return 0;
    default:
        break;
    }
    snprintf(etag, sizeof etag, "\"%08" PRIx32 "%08zx\"",
             fnv1a_bytes(b, n), n);
    if (f == F_NONE && inm && strstr(inm, etag)) {
        out_printf(c, "HTTP/1.1 304 Not Modified\r\nServer: faultd\r\n"
                   "ETag: %s\r\nConnection: %s\r\n\r\n", etag,
                   keepalive ? "keep-alive" : "close");
        c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
        free(b);
        return 0;
    }
    head_common(c, 200, "OK", "application/octet-stream", n,
                f == F_NONE ? keepalive : f == F_STALL);
    out_printf(c, "ETag: %s\r\n\r\n", etag);
    if (head_only) {
        c->after = keepalive && f == F_NONE ? AF_KEEPALIVE : AF_CLOSE;
    } else if (f == F_TRUNCATED) {
        out_append(c, b, n / 2);
        c->after = AF_CLOSE;
    } else if (f == F_STALL) {
        out_append(c, b, n < STALL_SENT ? n / 2 : STALL_SENT);
        c->after = AF_HOLD;
    } else {
        out_append(c, b, n);
        c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
    }
    free(b);
    return 0;
}

/* --rates reset=R,stall=R,...: per-mille rates, 1000 in all at most */
static int parse_rates(const char *s)
{
    char buf[256], *tok, *save = NULL;
    long sum = 0;

    snprintf(buf, sizeof buf, "%s", s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *e;
        int f;
        if (!eq)
            return -1;
        *eq = 0;
        for (f = 1; f < F_COUNT && strcmp(tok, fault_name[f]); f++)
            ;
        errno = 0;
        long v = strtol(eq + 1, &e, 10);
        if (f == F_COUNT || errno || *e || v < 0 || v > 1000)
            return -1;
        fault_rate[f] = v;
        sum += v;
    }
    return sum <= 1000 ? 0 : -1;
}

static void conn_close(int i)
{
    struct conn *c = conns[i];
    close(c->fd);
    free(c->out);
    free(c->pending);
    free(c);
    conns[i] = NULL;
}

/* Parses and answers one request whose head (NUL-terminated copy) is
 * h[0 .. head_len). Returns 0, or -1 if the connection must be closed. */
static int handle_request(struct conn *c, char *h, size_t head_len)
{
    c->st = ST_WRITE; /* every path below queues a response, except the
                         stallhead (HOLD) and slow (DELAY) modes */
    char *line_end = memmem(h, head_len, "\r\n", 2);
    char method[16], target[4096], version[16];
    if (!line_end)
        return -1;
    *line_end = 0;
    if (sscanf(h, "%15s %4095s %15s", method, target, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
        respond_simple(c, 400, "Bad Request", "text/plain", "bad request\n",
                       12, 0, 0);
        return 0;
    }
    const char *hdrs = line_end + 2;
    const char *hend = h + head_len - 2; /* up to the final CRLF */
    char val[512];
    int keepalive = strcmp(version, "HTTP/1.0") != 0;
    if (header_get(hdrs, hend, "Connection", val, sizeof val)) {
        if (strcasestr(val, "close"))
            keepalive = 0;
        else if (strcasestr(val, "keep-alive"))
            keepalive = 1;
    }
    char inm[512];
    int has_inm = header_get(hdrs, hend, "If-None-Match", inm, sizeof inm);
    int head_only = strcmp(method, "HEAD") == 0;

    char path[4096];
    snprintf(path, sizeof path, "%s", target);
    char *q = strchr(path, '?');
    if (q)
        *q = 0;

    if (strcmp(path, "/__stats") == 0) {
        respond_stats(c, keepalive);
        return 0;
    }
    if (strcmp(path, "/__reset") == 0) {
        reset_stats();
        respond_simple(c, 200, "OK", "application/json", "{\"reset\":true}\n",
                       15, head_only, keepalive);
        return 0;
    }

    enum mode m = classify(path);
    struct pathent *pe = path_get(path);
    stats[m]++;
    stat_total++;
    if (pe)
        pe->count++;
    logf_("%s %s -> %s", method, target, mode_name[m]);

    switch (m) {
    case M_OK:
        respond_ok(c, path, head_only, keepalive, has_inm ? inm : NULL);
        break;
    case M_FLAKY:
        if (pe && pe->count == 1)
            respond_simple(c, 500, "Internal Server Error", "application/xml",
                           xml_internal, sizeof xml_internal - 1, head_only,
                           keepalive);
        else
            respond_ok(c, path, head_only, keepalive, has_inm ? inm : NULL);
        break;
    case M_ALWAYS500:
        respond_simple(c, 500, "Internal Server Error", "application/xml",
                       xml_internal, sizeof xml_internal - 1, head_only,
                       keepalive);
        break;
    case M_NOTFOUND:
    case M_OTHER:
        respond_simple(c, 404, "Not Found", "application/xml", xml_nosuchkey,
                       sizeof xml_nosuchkey - 1, head_only, keepalive);
        break;
    case M_SLOW:
        respond_ok(c, path, head_only, keepalive, has_inm ? inm : NULL);
        c->st = ST_DELAY;
        c->wake_ms = now_ms() + opt_delay_ms;
        return 0;
    case M_TRUNCATED: {
        head_common(c, 200, "OK", "image/jpeg", TRUNC_DECLARED, 0);
        out_append(c, "\r\n", 2);
        if (!head_only) {
            unsigned char *b = make_jpeg(path, TRUNC_DECLARED);
            out_append(c, b, TRUNC_SENT);
            free(b);
        }
        c->after = AF_CLOSE;
        break;
    }
    case M_STALL: {
        head_common(c, 200, "OK", "image/jpeg", TRUNC_DECLARED, 1);
        out_append(c, "\r\n", 2);
        if (!head_only) {
            unsigned char *b = make_jpeg(path, TRUNC_DECLARED);
            out_append(c, b, STALL_SENT);
            free(b);
            c->after = AF_HOLD;
        } else {
            c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
        }
        break;
    }
    case M_STALLHEAD:
        c->st = ST_HOLD;
        return 0;
    case M_OVERSIZE:
        head_common(c, 200, "OK", "image/jpeg", OVERSIZE_LEN, keepalive);
        out_append(c, "\r\n", 2);
        if (!head_only) {
            unsigned char b[4] = { 0xFF, 0xD8, 0xFF, 0xE0 };
            out_append(c, b, 4);
            c->lazy_left = OVERSIZE_LEN - 4;
        }
        c->after = keepalive ? AF_KEEPALIVE : AF_CLOSE;
        break;
    case M_FILE:
        if (respond_file(c, path, head_only, keepalive, has_inm ? inm : NULL))
            return -1;
        break;
    case M_COUNT:
        break;
    }
    c->st = ST_WRITE;
    return 0;
}

static void consume_body(struct conn *c)
{
    size_t n = c->in_len < c->discard ? c->in_len : (size_t)c->discard;
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    c->discard -= n;
}

/* Consumes buffered input: takes a complete request head, skips its body
 * (answering "100 Continue" if asked), then answers it. Returns -1 to close. */
static int process_input(struct conn *c)
{
    if (c->st == ST_BODY) {
        consume_body(c);
        if (c->discard)
            return 0;
        int r = handle_request(c, c->pending, c->pending_len);
        free(c->pending);
        c->pending = NULL;
        return r;
    }
    if (c->st != ST_READ)
        return 0;
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->in_len == IN_CAP) {
            respond_simple(c, 431, "Request Header Fields Too Large",
                           "text/plain", "request head too large\n", 23, 0, 0);
            c->in_len = 0;
            c->st = ST_WRITE;
        }
        return 0;
    }
    size_t head_len = (size_t)(end - c->in) + 4;
    /* Take the head out; what follows stays buffered (body, pipelining). */
    char *head = xrealloc(NULL, head_len + 1);
    memcpy(head, c->in, head_len);
    head[head_len] = 0;
    memmove(c->in, c->in + head_len, c->in_len - head_len);
    c->in_len -= head_len;

    const char *hend = head + head_len - 2;
    char val[512];
    if (header_get(head, hend, "Transfer-Encoding", val, sizeof val)) {
        free(head);
        respond_simple(c, 501, "Not Implemented", "text/plain",
                       "chunked request bodies not supported\n", 37, 0, 0);
        c->st = ST_WRITE;
        return 0;
    }
    c->discard = 0;
    if (header_get(head, hend, "Content-Length", val, sizeof val)) {
        char *e;
        errno = 0;
        unsigned long long n = strtoull(val, &e, 10);
        if (errno || *e || e == val) {
            free(head);
            respond_simple(c, 400, "Bad Request", "text/plain",
                           "bad content-length\n", 19, 0, 0);
            c->st = ST_WRITE;
            return 0;
        }
        c->discard = n;
    }
    if (c->discard > c->in_len &&
        header_get(head, hend, "Expect", val, sizeof val) &&
        strcasecmp(val, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        /* 25 bytes on a fresh socket buffer: a short write is not expected;
         * if it happens the client just sends the body after its timeout */
        (void)!send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL);
    }
    c->pending = head;
    c->pending_len = head_len;
    c->st = ST_BODY;
    return process_input(c);
}

/* Returns -1 if the connection is finished. */
static int do_write(struct conn *c)
{
    for (;;) {
        if (c->out_off == c->out_len && c->lazy_left) {
            size_t n = c->lazy_left < FILL_CHUNK ? (size_t)c->lazy_left
                                                 : FILL_CHUNK;
            uint64_t base = OVERSIZE_LEN - c->lazy_left;
            c->out_len = c->out_off = 0;
            if (c->out_cap < n) {
                c->out = xrealloc(c->out, n);
                c->out_cap = n;
            }
            for (size_t i = 0; i < n; i++)
                c->out[i] = (char)fill_byte(base + i);
            c->out_len = n;
            c->lazy_left -= n;
        }
        if (c->out_off == c->out_len)
            break;
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1; /* EPIPE, ECONNRESET: the client went away */
        }
        c->out_off += (size_t)w;
    }
    c->out_len = c->out_off = 0;
    switch (c->after) {
    case AF_CLOSE:
        /* FIN now, then wait for the client to close: close() with unread
         * input would send a RST that can destroy the data in flight. */
        shutdown(c->fd, SHUT_WR);
        c->st = ST_HOLD;
        return 0;
    case AF_HOLD:
        c->st = ST_HOLD;
        return 0;
    case AF_KEEPALIVE:
        c->st = ST_READ;
        return process_input(c);
    }
    return 0;
}

/* Returns -1 on EOF/error. */
static int do_read(struct conn *c)
{
    for (;;) {
        char sink[4096];
        char *dst;
        size_t room;
        if (c->st == ST_HOLD) {
            dst = sink;
            room = sizeof sink;
        } else {
            dst = c->in + c->in_len;
            room = IN_CAP - c->in_len;
            if (room == 0)
                return 0;
        }
        ssize_t r = recv(c->fd, dst, room, 0);
        if (r == 0)
            return -1;
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (c->st != ST_HOLD) {
            c->in_len += (size_t)r;
            return 0; /* process, then come back via poll */
        }
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: faultd PORT [--max-seconds N] [--delay-ms N] "
                    "[--ok-bytes N] [--quiet]\n"
                    "       [--root DIR [--rates reset=R,stall=R,5xx=R,"
                    "truncated=R,oversize=R] [--seed N]]\n");
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

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    long port = parse_long(argv[1], 0, 65535);
    long max_seconds = 300;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc)
            max_seconds = parse_long(argv[++i], 1, 86400);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            opt_delay_ms = parse_long(argv[++i], 0, 3600000);
        else if (strcmp(argv[i], "--ok-bytes") == 0 && i + 1 < argc)
            opt_ok_bytes = parse_long(argv[++i], 4, 16 << 20);
        else if (strcmp(argv[i], "--quiet") == 0)
            opt_quiet = 1;
        else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
            opt_root = argv[++i];
        else if (strcmp(argv[i], "--rates") == 0 && i + 1 < argc) {
            if (parse_rates(argv[++i]))
                usage();
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng_state = (uint64_t)parse_long(argv[++i], 1, LONG_MAX);
        else
            usage();
    }

    sigset_t orig;
    unsigned bound;
    int one = 1;           /* TCP_NODELAY on accepted sockets */
    loopback_signals(on_signal, &orig);
    int lfd = loopback_listen("faultd", port, 512, &bound);
    if (lfd < 0)
        return 1;
    printf("faultd listening on 127.0.0.1:%u\n", bound);
    fflush(stdout);

    int64_t deadline = now_ms() + max_seconds * 1000;
    static struct pollfd pfd[MAX_CONNS + 1];
    static int pidx[MAX_CONNS + 1];

    while (!stop_flag) {
        int64_t now = now_ms();
        if (now >= deadline) {
            logf_("max lifetime %ld s reached, exiting", max_seconds);
            break;
        }
        int64_t timeout = deadline - now;
        int n = 0, nconns = 0;
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = conns[i];
            if (!c)
                continue;
            nconns++;
            if (c->st == ST_DELAY && c->wake_ms <= now) {
                c->st = ST_WRITE;
            }
            short ev = 0;
            switch (c->st) {
            case ST_READ:
            case ST_BODY:
                ev = c->in_len < IN_CAP ? POLLIN : 0;
                break;
            case ST_WRITE:
                ev = POLLOUT;
                break;
            case ST_HOLD:
                ev = POLLIN;
                break;
            case ST_DELAY:
                ev = POLLRDHUP;
                if (c->wake_ms - now < timeout)
                    timeout = c->wake_ms - now;
                break;
            }
            pfd[n].fd = c->fd;
            pfd[n].events = ev;
            pfd[n].revents = 0;
            pidx[n] = i;
            n++;
        }
        pfd[n].fd = lfd;
        pfd[n].events = nconns < MAX_CONNS ? POLLIN : 0;
        pfd[n].revents = 0;
        pidx[n] = -1;
        n++;

        if (timeout > 1000)
            timeout = 1000;
        struct timespec ts = { .tv_sec = timeout / 1000,
                               .tv_nsec = (long)(timeout % 1000) * 1000000 };
        int pr = ppoll(pfd, (nfds_t)n, &ts, &orig);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            perror("faultd: ppoll");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            short re = pfd[k].revents;
            if (!re)
                continue;
            int i = pidx[k];
            if (i < 0) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int slot = -1;
                    for (int s = 0; s < MAX_CONNS; s++)
                        if (!conns[s]) {
                            slot = s;
                            break;
                        }
                    if (slot < 0) {
                        close(fd);
                        break;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = calloc(1, sizeof *c);
                    if (!c) {
                        close(fd);
                        break;
                    }
                    c->fd = fd;
                    c->st = ST_READ;
                    conns[slot] = c;
                    stat_conns++;
                }
                continue;
            }
            struct conn *c = conns[i];
            if (!c)
                continue;
            int rc = 0;
            if (c->st == ST_DELAY) {
                if (re & (POLLRDHUP | POLLHUP | POLLERR))
                    rc = -1;
            } else if (c->st == ST_WRITE) {
                if (re & (POLLOUT | POLLERR | POLLHUP))
                    rc = do_write(c);
            } else {
                if (re & (POLLIN | POLLHUP | POLLERR)) {
                    rc = do_read(c);
                    if (rc == 0 && (c->st == ST_READ || c->st == ST_BODY))
                        rc = process_input(c);
                    if (rc == 0 && c->st == ST_WRITE)
                        rc = do_write(c);
                }
            }
            if (rc < 0)
                conn_close(i);
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i])
            conn_close(i);
    close(lfd);
    reset_stats();
    free(paths);
    return 0;
}
