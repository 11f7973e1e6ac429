/*
 * C ABI test for libwsrt: drives a real server over loopback sockets.
 *
 * The main thread owns the wsrt_server and runs its poll loop; client
 * threads written here speak raw HTTP/1.1, RFC 6455 frames and SSE over
 * loopback only (127.0.0.1; ::1 for the IPv6 listen checks). Every socket
 * has SO_RCVTIMEO/SO_SNDTIMEO and alarm() guards the whole run, so nothing
 * can hang.
 *
 * Output: one "ok - ..." / "not ok - ..." line per check, then a final
 * "N passed, M failed" line. Exit status 0 only if nothing failed.
 *
 * Built by `make test-c` with: cc -std=c11 -Wall -Wextra -Werror -pedantic
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "wsrt.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

#define WATCHDOG_SECONDS 60
#define SOCKET_TIMEOUT_MS 10000
#define PHASE_TIMEOUT_MS 15000

/* ------------------------------------------------------------------ */
/* Reporting                                                           */
/* ------------------------------------------------------------------ */

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static int passed = 0;
static int failed = 0;

static bool check(bool ok, const char *fmt, ...) PRINTF_LIKE(2, 3);

static bool check(bool ok, const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&report_lock);
    fputs(ok ? "ok - " : "not ok - ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (ok)
        passed++;
    else
        failed++;
    pthread_mutex_unlock(&report_lock);
    return ok;
}

static void note(const char *fmt, ...) PRINTF_LIKE(1, 2);

static void note(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&report_lock);
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&report_lock);
}

/* Checks a wsrt_result against the expected one, naming both on failure. */
static bool check_rc(wsrt_result got, wsrt_result want, const char *what) {
    if (got != want && got != WSRT_OK)
        return check(false, "%s -> %s (got %s: %s)", what, wsrt_result_str(want), wsrt_result_str(got),
                     wsrt_last_error());
    return check(got == want, "%s -> %s (got %s)", what, wsrt_result_str(want), wsrt_result_str(got));
}

static void on_alarm(int sig) {
    static const char msg[] = "not ok - watchdog: the test did not finish in time\n";
    (void)sig;
    ssize_t w = write(STDOUT_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ */
/* wsrt_str helpers                                                    */
/* ------------------------------------------------------------------ */

static bool str_eq(wsrt_str s, const char *lit) {
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static bool bytes_eq(const uint8_t *p, size_t len, const char *lit) {
    size_t n = strlen(lit);
    return p != NULL && len == n && memcmp(p, lit, n) == 0;
}

/* Copies a wsrt_str into a printable, NUL-terminated buffer. */
static const char *show(wsrt_str s, char *buf, size_t cap) {
    if (s.ptr == NULL) {
        snprintf(buf, cap, "(NULL)");
    } else {
        size_t n = s.len < cap - 1 ? s.len : cap - 1;
        memcpy(buf, s.ptr, n);
        buf[n] = '\0';
    }
    return buf;
}

/* ------------------------------------------------------------------ */
/* Client sockets                                                      */
/* ------------------------------------------------------------------ */

static void set_timeouts(int fd, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Connects to 127.0.0.1:port; -1 on failure. `local_port` gets our port. */
static int tcp_connect(uint16_t port, int *local_port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    set_timeouts(fd, SOCKET_TIMEOUT_MS);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    if (local_port != NULL) {
        struct sockaddr_in me;
        socklen_t len = sizeof me;
        *local_port = getsockname(fd, (struct sockaddr *)&me, &len) == 0 ? ntohs(me.sin_port) : -1;
    }
    return fd;
}

static bool send_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool send_str(int fd, const char *s) {
    return send_all(fd, s, strlen(s));
}

static bool recv_exact(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads an HTTP response head byte by byte (so no frame bytes are eaten)
 * up to and including the blank line. Returns its length, -1 on error. */
static long read_head(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, 1, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n++;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0) {
            buf[n] = '\0';
            return (long)n;
        }
    }
    buf[n] = '\0';
    return -1;
}

/* Reads until EOF. Returns bytes read; *eof tells whether EOF was seen
 * (rather than a timeout or error). */
static size_t read_to_eof(int fd, char *buf, size_t cap, bool *eof) {
    size_t n = 0;
    *eof = false;
    for (;;) {
        char scratch[512];
        char *dst = n + 1 < cap ? buf + n : scratch;
        size_t room = n + 1 < cap ? cap - 1 - n : sizeof scratch;
        ssize_t r = recv(fd, dst, room, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            *eof = true;
            break;
        }
        if (r < 0) break;
        if (dst != scratch) n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* Waits for EOF, discarding data; true if the peer closed in time. */
static bool wait_eof(int fd) {
    char scratch[1024];
    for (;;) {
        ssize_t r = recv(fd, scratch, sizeof scratch, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return true;
        if (r < 0) return false;
    }
}

/* ------------------------------------------------------------------ */
/* WebSocket frames (client side: we mask, the server must not)        */
/* ------------------------------------------------------------------ */

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

static atomic_uint mask_seed = 0x9e3779b9u;

static bool ws_send_frame(int fd, bool fin, int opcode, const void *payload, size_t len) {
    uint8_t *buf = malloc(len + 14);
    if (buf == NULL) return false;
    size_t h = 0;
    buf[h++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        buf[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        buf[h++] = 0x80 | 126;
        buf[h++] = (uint8_t)(len >> 8);
        buf[h++] = (uint8_t)len;
    } else {
        buf[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) buf[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    unsigned seed = atomic_fetch_add(&mask_seed, 0x6d2b79f5u);
    uint8_t key[4] = {(uint8_t)seed, (uint8_t)(seed >> 8), (uint8_t)(seed >> 16), (uint8_t)(seed >> 24) | 1};
    memcpy(buf + h, key, 4);
    h += 4;
    const uint8_t *src = payload;
    for (size_t i = 0; i < len; i++) buf[h + i] = src[i] ^ key[i & 3];
    bool ok = send_all(fd, buf, h + len);
    free(buf);
    return ok;
}

static bool ws_send_close(int fd, uint16_t code, const char *reason) {
    uint8_t p[125];
    size_t rlen = strlen(reason);
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    memcpy(p + 2, reason, rlen);
    return ws_send_frame(fd, true, OP_CLOSE, p, 2 + rlen);
}

typedef struct {
    bool fin;
    int rsv;
    int opcode;
    bool masked;
    uint8_t *data; /* malloc'd, NUL-terminated for convenience */
    size_t len;
} frame;

static bool ws_read_frame(int fd, frame *f) {
    uint8_t h[2];
    memset(f, 0, sizeof *f);
    if (!recv_exact(fd, h, 2)) return false;
    f->fin = (h[0] & 0x80) != 0;
    f->rsv = (h[0] >> 4) & 7;
    f->opcode = h[0] & 0x0f;
    f->masked = (h[1] & 0x80) != 0;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        uint8_t e[2];
        if (!recv_exact(fd, e, 2)) return false;
        len = ((uint64_t)e[0] << 8) | e[1];
    } else if (len == 127) {
        uint8_t e[8];
        if (!recv_exact(fd, e, 8)) return false;
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | e[i];
    }
    if (len > (64u << 20)) return false;
    uint8_t key[4] = {0, 0, 0, 0};
    if (f->masked && !recv_exact(fd, key, 4)) return false;
    f->data = malloc((size_t)len + 1);
    if (f->data == NULL) return false;
    if (len > 0 && !recv_exact(fd, f->data, (size_t)len)) {
        free(f->data);
        f->data = NULL;
        return false;
    }
    if (f->masked)
        for (uint64_t i = 0; i < len; i++) f->data[i] ^= key[i & 3];
    f->data[len] = 0;
    f->len = (size_t)len;
    return true;
}

/* Reads one frame and checks it is an unmasked, final, RSV-free frame of
 * `opcode` carrying exactly `want` (`want_len` bytes). */
static bool expect_frame(int fd, int opcode, const void *want, size_t want_len, const char *what) {
    frame f;
    if (!ws_read_frame(fd, &f)) return check(false, "%s: frame received (read failed: %s)", what, strerror(errno));
    bool ok = f.opcode == opcode && f.fin && f.rsv == 0 && !f.masked && f.len == want_len &&
              (want_len == 0 || memcmp(f.data, want, want_len) == 0);
    check(ok, "%s (opcode %d fin %d rsv %d masked %d len %zu; want opcode %d len %zu)", what, f.opcode, f.fin,
          f.rsv, f.masked, f.len, opcode, want_len);
    free(f.data);
    return ok;
}

static bool expect_text(int fd, const char *text, const char *what) {
    return expect_frame(fd, OP_TEXT, text, strlen(text), what);
}

/* Reads one frame and checks it is a close frame with `code`. */
static bool expect_close(int fd, uint16_t code, const char *what) {
    frame f;
    if (!ws_read_frame(fd, &f)) return check(false, "%s: close frame received (read failed)", what);
    unsigned got = f.len >= 2 ? ((unsigned)f.data[0] << 8) | f.data[1] : 0;
    bool ok = f.opcode == OP_CLOSE && f.fin && !f.masked && f.len >= 2 && got == code;
    check(ok, "%s (opcode %d, len %zu, code %u; want close %u)", what, f.opcode, f.len, got, (unsigned)code);
    free(f.data);
    return ok;
}

static const char *const SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
static const char *const SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/* Sends a WebSocket opening handshake and reads the response head. */
static bool ws_handshake(int fd, uint16_t port, const char *target, const char *extra, char *head, size_t cap) {
    char req[1024];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\n"
             "Host: 127.0.0.1:%u\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "%s"
             "\r\n",
             target, (unsigned)port, SAMPLE_KEY, extra);
    if (!send_str(fd, req)) return false;
    return read_head(fd, head, cap) > 0;
}

static bool head_has(const char *head, const char *line) {
    char needle[256];
    snprintf(needle, sizeof needle, "\r\n%s\r\n", line);
    return strstr(head, needle) != NULL;
}

/* ------------------------------------------------------------------ */
/* Shared state between the loop thread and the clients                */
/* ------------------------------------------------------------------ */

static const char *const STATIC_BODY = "<!doctype html><h1>wsrt api test</h1>\n";
static const char *const SSE_EXPECTED =
    "event: update\nid: 7\nretry: 2500\ndata: line one\ndata: line two\n\n"
    "data: plain\n\n"
    ": hello\n\n";

typedef struct {
    pthread_t thread;
    bool started;
    atomic_bool done;
    atomic_bool ready; /* handshake answered, waiting for the server */
    atomic_int local_port;
} client;

static uint16_t server_port;

static client c_static, c_echo, c_auth_ok, c_auth_no, c_sse, c_term, c_resume, c_down_ws, c_down_sse;

/* Per-connection bookkeeping, to check "exactly one CLOSE per OPEN". */
typedef struct {
    wsrt_conn conn;
    int requests, opens, closes, sse_opens, sse_closes;
} conn_rec;

static conn_rec recs[64];
static size_t nrecs;

static conn_rec *rec(wsrt_conn c) {
    for (size_t i = 0; i < nrecs; i++)
        if (recs[i].conn == c) return &recs[i];
    if (nrecs == sizeof recs / sizeof recs[0]) return &recs[0];
    recs[nrecs].conn = c;
    return &recs[nrecs++];
}

static struct {
    wsrt_server *srv;
    wsrt_handle *handle;

    /* Event sanity, checked once at the end. */
    int events_seen;
    int null_data;
    int bad_request_ptr;
    int zero_conn;
    int bad_timeout;
    int timeout_nonneg;

    /* /echo */
    wsrt_conn echo_conn;
    bool echo_open;
    bool echo_closed;
    uint16_t echo_close_code;
    char echo_close_reason[64];
    bool first_echo_done;
    bool pong_seen;
    int wakes;
    pthread_t handle_thread;
    bool handle_thread_started;

    /* /auth */
    wsrt_conn auth_ok_conn, auth_no_conn;
    bool auth_ok_open, auth_ok_closed, auth_no_requested;

    /* /sse */
    wsrt_conn sse_conn;
    bool sse_open, sse_closed;

    /* shutdown */
    wsrt_conn down_ws_conn, down_sse_conn;
    bool down_ws_open, down_sse_open, down_ws_closed, down_sse_closed;
    uint16_t down_ws_code;
    bool shutting_down;

    /* user data: stored on the echo connection's OPEN */
    int ud_token;
    int ud_events, ud_bad;
    bool handle_pong_seen;
    int close_state_bad;

    /* /echo?closing=1 and /echo?term=1 */
    wsrt_conn closing_conn, term_conn;
    bool closing_closed, term_closed;
    uint16_t closing_code, term_code;

    /* /sse?resume=1 */
    uint64_t feed_ids[3];
    wsrt_conn resume_conn;
    bool resume_closed;
    wsrt_replay replay;
    pthread_t resume_thread;
    bool resume_thread_started;
} g;

/* ------------------------------------------------------------------ */
/* Client threads                                                      */
/* ------------------------------------------------------------------ */

static void *client_static(void *arg) {
    client *c = arg;
    char buf[4096];
    bool eof;
    int lp;
    int fd = tcp_connect(server_port, &lp);
    if (check(fd >= 0, "static: connect to 127.0.0.1:%u", (unsigned)server_port)) {
        send_str(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        read_to_eof(fd, buf, sizeof buf, &eof);
        close(fd);
        char want[256];
        check(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "static: GET / answered 200");
        check(strstr(buf, "\r\nContent-Type: text/html; charset=utf-8\r\n") != NULL, "static: content type as configured");
        check(strstr(buf, "\r\nCache-Control: no-store\r\n") != NULL,
              "static: wsrt_config_add_header's Cache-Control: no-store on the page");
        snprintf(want, sizeof want, "\r\nContent-Length: %zu\r\n", strlen(STATIC_BODY));
        check(strstr(buf, want) != NULL, "static: Content-Length matches the body");
        const char *body = strstr(buf, "\r\n\r\n");
        check(body != NULL && strcmp(body + 4, STATIC_BODY) == 0, "static: body is the configured page");
        check(eof, "static: server closes after the response");
    }
    fd = tcp_connect(server_port, NULL);
    if (check(fd >= 0, "static: second connection")) {
        send_str(fd, "GET /no-such-path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        read_to_eof(fd, buf, sizeof buf, &eof);
        close(fd);
        check(strncmp(buf, "HTTP/1.1 404", 12) == 0, "static: unknown path answered 404");
    }
    atomic_store(&c->done, true);
    return NULL;
}

static void *client_echo(void *arg) {
    client *c = arg;
    char head[2048];
    int lp = -1;
    int fd = tcp_connect(server_port, &lp);
    atomic_store(&c->local_port, lp);
    if (!check(fd >= 0, "echo: connect")) goto out;
    if (!check(ws_handshake(fd, server_port, "/echo?a=1", "X-Test-Header: hello-wsrt\r\n", head, sizeof head),
               "echo: handshake response head received"))
        goto out;
    check(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "echo: status 101");
    {
        char line[128];
        snprintf(line, sizeof line, "Sec-WebSocket-Accept: %s", SAMPLE_ACCEPT);
        check(head_has(head, line), "echo: %s", line);
    }
    check(head_has(head, "Upgrade: websocket") && head_has(head, "Connection: Upgrade"),
          "echo: Upgrade/Connection headers in the 101");
    check(strstr(head, "Sec-WebSocket-Protocol") == NULL, "echo: no subprotocol when none offered");
    check(head_has(head, "X-Route: echo"), "echo: wsrt_config_add_header's X-Route: echo in the 101");

    /* Text, small binary, 16-bit and 64-bit lengths, fragments. */
    const char *hello = "Hello, wsrt \xc3\xa9\xe2\x82\xac";
    ws_send_frame(fd, true, OP_TEXT, hello, strlen(hello));
    expect_text(fd, hello, "echo: text message echoed as text");

    uint8_t small[5] = {0x00, 0xff, 0x10, 0x80, 0x7f};
    ws_send_frame(fd, true, OP_BINARY, small, sizeof small);
    expect_frame(fd, OP_BINARY, small, sizeof small, "echo: binary message echoed as binary");

    size_t mid_len = 300, big_len = 70000;
    uint8_t *big = malloc(big_len);
    if (big != NULL) {
        for (size_t i = 0; i < big_len; i++) big[i] = (uint8_t)(i * 31 + 7);
        ws_send_frame(fd, true, OP_BINARY, big, mid_len);
        expect_frame(fd, OP_BINARY, big, mid_len, "echo: 300-byte binary (16-bit length) echoed");
        ws_send_frame(fd, true, OP_BINARY, big, big_len);
        expect_frame(fd, OP_BINARY, big, big_len, "echo: 70000-byte binary (64-bit length) echoed");
        free(big);
    }
    ws_send_frame(fd, true, OP_TEXT, "", 0);
    expect_frame(fd, OP_TEXT, "", 0, "echo: empty text message echoed");

    ws_send_frame(fd, false, OP_TEXT, "frag", 4);
    ws_send_frame(fd, true, OP_PING, "mid", 3);
    ws_send_frame(fd, true, OP_CONT, "mented", 6);
    expect_frame(fd, OP_PONG, "mid", 3, "echo: server answers a client ping with a pong");
    expect_text(fd, "fragmented", "echo: fragmented message reassembled and echoed");

    /* wsrt_ping: the server pings, we answer, it reports WSRT_EVENT_PONG. */
    ws_send_frame(fd, true, OP_TEXT, "cmd:ping", 8);
    {
        frame f;
        if (ws_read_frame(fd, &f)) {
            check(f.opcode == OP_PING && !f.masked && bytes_eq(f.data, f.len, "are you there"),
                  "echo: wsrt_ping put a ping with its payload on the wire");
            ws_send_frame(fd, true, OP_PONG, f.data, f.len);
            free(f.data);
        } else {
            check(false, "echo: ping frame received");
        }
    }
    expect_text(fd, "pong-ok", "echo: server saw WSRT_EVENT_PONG (told us so)");

    /* wsrt_handle_ping, _subscribe and _send from another thread. */
    ws_send_frame(fd, true, OP_TEXT, "cmd:handle", 10);
    {
        frame f;
        if (ws_read_frame(fd, &f)) {
            check(f.opcode == OP_PING && bytes_eq(f.data, f.len, "hp"),
                  "echo: wsrt_handle_ping from another thread put a ping \"hp\" on the wire");
            ws_send_frame(fd, true, OP_PONG, f.data, f.len);
            free(f.data);
        } else {
            check(false, "echo: ping frame from the handle received");
        }
    }
    expect_text(fd, "from-handle", "echo: message sent with wsrt_handle_send from another thread arrived");
    ws_send_frame(fd, true, OP_TEXT, "cmd:subscribed?", 15);
    expect_text(fd, "subscribed", "echo: wsrt_handle_subscribe from another thread subscribed the connection");

    /* Error-path checks on the loop side; it answers when done. */
    ws_send_frame(fd, true, OP_TEXT, "cmd:checks", 10);
    expect_text(fd, "checks-done", "echo: server finished its error-path checks");

    /* Close 4001 "bye": the server echoes the code, then closes TCP. */
    ws_send_close(fd, 4001, "bye");
    expect_close(fd, 4001, "echo: close echoed with code 4001");
    check(wait_eof(fd), "echo: server closes the TCP connection after the close handshake");
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

static void *client_auth_ok(void *arg) {
    client *c = arg;
    char head[2048];
    int fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "auth accept: connect")) goto out;
    if (!check(ws_handshake(fd, server_port, "/auth", "Sec-WebSocket-Protocol: chat, superchat\r\nX-Case: accept\r\n",
                            head, sizeof head),
               "auth accept: response head received"))
        goto out;
    check(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "auth accept: status 101 after wsrt_accept");
    check(head_has(head, "Sec-WebSocket-Protocol: superchat"), "auth accept: Sec-WebSocket-Protocol: superchat");
    check(head_has(head, "Set-Cookie: session=1"), "auth accept: wsrt_accept's header Set-Cookie: session=1 in the 101");
    {
        char line[128];
        snprintf(line, sizeof line, "Sec-WebSocket-Accept: %s", SAMPLE_ACCEPT);
        check(head_has(head, line), "auth accept: Sec-WebSocket-Accept correct");
    }
    ws_send_frame(fd, true, OP_TEXT, "hi-auth", 7);
    expect_text(fd, "hi-auth", "auth accept: approved connection echoes");
    ws_send_close(fd, 1000, "");
    expect_close(fd, 1000, "auth accept: close 1000 echoed");
    check(wait_eof(fd), "auth accept: TCP closed after close handshake");
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

static void *client_auth_no(void *arg) {
    client *c = arg;
    char buf[2048];
    bool eof;
    int fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "auth reject: connect")) goto out;
    char req[512];
    snprintf(req, sizeof req,
             "GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n"
             "X-Case: reject\r\n\r\n",
             SAMPLE_KEY);
    send_str(fd, req);
    read_to_eof(fd, buf, sizeof buf, &eof);
    check(strncmp(buf, "HTTP/1.1 401", 12) == 0, "auth reject: client reads HTTP/1.1 401");
    const char *body = strstr(buf, "\r\n\r\n");
    check(body != NULL && strcmp(body + 4, "no") == 0, "auth reject: body is \"no\"");
    check(strstr(buf, "\r\nContent-Length: 2\r\n") != NULL, "auth reject: Content-Length: 2");
    check(strstr(buf, "\r\nWWW-Authenticate: Basic realm=\"wsrt\"\r\n") != NULL,
          "auth reject: wsrt_reject's header WWW-Authenticate in the 401");
    check(eof, "auth reject: connection closed after the answer");
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

static void *client_sse(void *arg) {
    client *c = arg;
    char head[2048];
    int fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "sse: connect")) goto out;
    send_str(fd,
             "GET /sse?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
             "Last-Event-ID: 42\r\n\r\n");
    if (!check(read_head(fd, head, sizeof head) > 0, "sse: response head received")) goto out;
    check(strncmp(head, "HTTP/1.1 200 ", 13) == 0, "sse: status 200");
    check(head_has(head, "Content-Type: text/event-stream"), "sse: Content-Type: text/event-stream");
    check(head_has(head, "X-Route: sse"), "sse: wsrt_config_add_header's X-Route: sse on the stream's head");
    {
        size_t n = strlen(SSE_EXPECTED);
        char *got = calloc(1, n + 1);
        bool ok = got != NULL && recv_exact(fd, got, n);
        check(ok && memcmp(got, SSE_EXPECTED, n) == 0, "sse: exact event bytes on the wire after the head");
        if (ok && memcmp(got, SSE_EXPECTED, n) != 0) note("sse: got [%s]", got);
        free(got);
    }
    atomic_store(&c->ready, true);
out:
    if (fd >= 0) close(fd); /* the disconnect the server must notice */
    atomic_store(&c->done, true);
    return NULL;
}

/* Reads until EOF or reset; true if the peer ended the connection with no
 * bytes at all (no close frame). *n gets what was read. */
static bool dropped_silently(int fd, size_t *n) {
    char buf[256];
    *n = 0;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r > 0) {
            *n += (size_t)r;
            continue;
        }
        return *n == 0 && (r == 0 || errno == ECONNRESET);
    }
}

static void *client_term(void *arg) {
    client *c = arg;
    char head[2048];
    /* The server closes (CLOSING), we answer, it reports the close. */
    int fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "closing: connect")) goto term;
    if (!check(ws_handshake(fd, server_port, "/echo?closing=1", "", head, sizeof head) &&
                   strncmp(head, "HTTP/1.1 101 ", 13) == 0,
               "closing: handshake accepted"))
        goto term;
    ws_send_frame(fd, true, OP_TEXT, "cmd:close", 9);
    if (expect_close(fd, 4000, "closing: wsrt_close put a close frame with 4000 on the wire"))
        ws_send_close(fd, 4000, "");
    check(wait_eof(fd), "closing: server closes TCP after the close handshake");
term:
    if (fd >= 0) close(fd);
    /* The server drops the connection without a close handshake. */
    fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "terminate: connect")) goto out;
    if (!check(ws_handshake(fd, server_port, "/echo?term=1", "", head, sizeof head) &&
                   strncmp(head, "HTTP/1.1 101 ", 13) == 0,
               "terminate: handshake accepted"))
        goto out;
    ws_send_frame(fd, true, OP_TEXT, "cmd:terminate", 13);
    {
        size_t n = 0;
        check(dropped_silently(fd, &n), "terminate: connection dropped with no close frame (%zu bytes before EOF)", n);
    }
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

static void *client_resume(void *arg) {
    client *c = arg;
    char head[2048], req[256], want[512];
    int fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "resume: connect")) goto out;
    snprintf(req, sizeof req,
             "GET /sse?resume=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: %" PRIu64 "\r\n\r\n", g.feed_ids[0]);
    send_str(fd, req);
    if (!check(read_head(fd, head, sizeof head) > 0 && strncmp(head, "HTTP/1.1 200 ", 13) == 0,
               "resume: stream opened"))
        goto out;
    {
        int n = snprintf(want, sizeof want,
                         "id: %" PRIu64 "\ndata: f2\n\nid: %" PRIu64 "\ndata: f3\n\n"
                         "event: h\ndata: from-handle\n\n: hc\n\n",
                         g.feed_ids[1], g.feed_ids[2]);
        char *got = calloc(1, (size_t)n + 1);
        bool ok = got != NULL && recv_exact(fd, got, (size_t)n);
        check(ok && memcmp(got, want, (size_t)n) == 0,
              "resume: the two missed events replayed in order, then wsrt_handle_sse_send's event and "
              "wsrt_handle_sse_comment's comment");
        if (got != NULL && memcmp(got, want, (size_t)n) != 0) note("resume: got [%s]", got);
        free(got);
    }
    check(wait_eof(fd), "resume: wsrt_close ended the stream after what was queued");
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

static void *client_down_ws(void *arg) {
    client *c = arg;
    char head[2048];
    int fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "shutdown ws: connect")) goto out;
    if (!check(ws_handshake(fd, server_port, "/echo", "", head, sizeof head) &&
                   strncmp(head, "HTTP/1.1 101 ", 13) == 0,
               "shutdown ws: handshake accepted"))
        goto out;
    atomic_store(&c->ready, true);
    if (expect_close(fd, 1001, "shutdown ws: client receives close frame with code 1001")) {
        ws_send_close(fd, 1001, "");
    }
    check(wait_eof(fd), "shutdown ws: server closes TCP after the close handshake");
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

static void *client_down_sse(void *arg) {
    client *c = arg;
    char head[2048];
    int fd = tcp_connect(server_port, NULL);
    if (!check(fd >= 0, "shutdown sse: connect")) goto out;
    send_str(fd, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    if (!check(read_head(fd, head, sizeof head) > 0 && strncmp(head, "HTTP/1.1 200 ", 13) == 0,
               "shutdown sse: stream opened"))
        goto out;
    atomic_store(&c->ready, true);
    check(wait_eof(fd), "shutdown sse: stream ended (EOF) by the shutdown");
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

static void start_client(client *c, void *(*fn)(void *)) {
    atomic_store(&c->done, false);
    atomic_store(&c->ready, false);
    atomic_store(&c->local_port, -1);
    c->started = pthread_create(&c->thread, NULL, fn, c) == 0;
    if (!c->started) {
        check(false, "pthread_create");
        atomic_store(&c->done, true);
    }
}

static void join_client(client *c) {
    if (c->started) {
        pthread_join(c->thread, NULL);
        c->started = false;
    }
}

/* ------------------------------------------------------------------ */
/* Threads that use a wsrt_handle                                      */
/* ------------------------------------------------------------------ */

static void *handle_sender(void *arg) {
    wsrt_conn conn = *(wsrt_conn *)arg;
    free(arg);
    check(wsrt_last_error() != NULL && wsrt_last_error()[0] == '\0',
          "wsrt_last_error() is \"\" on a thread that has not failed yet");
    check_rc(wsrt_handle_send(g.handle, conn, (const uint8_t *)"\xc3\x28", 2, true), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_send text with invalid UTF-8 (other thread)");
    check(wsrt_last_error()[0] != '\0', "wsrt_last_error() set on the other thread after its failure");
    check_rc(wsrt_handle_send(NULL, conn, (const uint8_t *)"x", 1, true), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_send(NULL handle)");
    check_rc(wsrt_handle_close(g.handle, conn, 1005, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_close with code 1005");
    check_rc(wsrt_handle_wake(NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_wake(NULL)");
    check_rc(wsrt_handle_shutdown(NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_shutdown(NULL)");
    check_rc(wsrt_handle_terminate(NULL, conn), WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_terminate(NULL)");
    {
        uint8_t big[126];
        memset(big, 'p', sizeof big);
        check_rc(wsrt_handle_ping(g.handle, conn, big, sizeof big), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_handle_ping with 126 bytes (other thread)");
    }
    check_rc(wsrt_handle_subscribe(g.handle, conn, ""), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_subscribe to \"\" (other thread)");
    check_rc(wsrt_handle_unsubscribe(g.handle, conn, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_unsubscribe(NULL topic)");
    {
        wsrt_publish_opts bad = {0, 7, NULL};
        check_rc(wsrt_handle_publish(g.handle, "t", (const uint8_t *)"x", 1, true, &bad), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_handle_publish with an unknown on_slow policy");
    }
    check_rc(wsrt_handle_ping(g.handle, conn, (const uint8_t *)"hp", 2), WSRT_OK, "wsrt_handle_ping from another thread");
    check_rc(wsrt_handle_subscribe(g.handle, conn, "handle-topic"), WSRT_OK,
             "wsrt_handle_subscribe from another thread");
    check_rc(wsrt_handle_unsubscribe(g.handle, conn, "never-joined"), WSRT_OK,
             "wsrt_handle_unsubscribe from another thread");
    {
        wsrt_publish_opts ex = {conn, WSRT_SLOW_DROP, NULL};
        check_rc(wsrt_handle_publish(g.handle, "handle-topic", (const uint8_t *)"not-for-you", 11, true, &ex), WSRT_OK,
                 "wsrt_handle_publish with opts (excluding its only subscriber)");
    }
    check_rc(wsrt_handle_send(g.handle, conn, (const uint8_t *)"from-handle", 11, true), WSRT_OK,
             "wsrt_handle_send from another thread");
    check_rc(wsrt_handle_wake(g.handle), WSRT_OK, "wsrt_handle_wake from another thread");
    return NULL;
}

static void *resume_handle(void *arg) {
    wsrt_conn conn = *(wsrt_conn *)arg;
    free(arg);
    const uint8_t *x = (const uint8_t *)"x";
    check_rc(wsrt_handle_sse_send(g.handle, conn, "h", "a\nb", -1, x, 1), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_sse_send with an id holding \\n (other thread)");
    check_rc(wsrt_handle_sse_send(g.handle, conn, NULL, NULL, -1, (const uint8_t *)"\xff", 1),
             WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_sse_send with non-UTF-8 data");
    check_rc(wsrt_handle_sse_send(NULL, conn, NULL, NULL, -1, x, 1), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_sse_send(NULL handle)");
    check_rc(wsrt_handle_sse_send(g.handle, conn, "h", NULL, -1, (const uint8_t *)"from-handle", 11), WSRT_OK,
             "wsrt_handle_sse_send from another thread");
    check_rc(wsrt_handle_sse_comment(g.handle, conn, "hc"), WSRT_OK, "wsrt_handle_sse_comment from another thread");
    check_rc(wsrt_handle_sse_comment(g.handle, conn, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_sse_comment(NULL text)");
    return NULL;
}

static void *delayed_waker(void *arg) {
    (void)arg;
    sleep_ms(200);
    check_rc(wsrt_handle_wake(g.handle), WSRT_OK, "wsrt_handle_wake while the loop blocks in poll");
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The event loop                                                      */
/* ------------------------------------------------------------------ */

static void check_echo_open_request(const wsrt_event *ev) {
    const wsrt_request *req = ev->request;
    char b1[256], b2[256];
    wsrt_str v;

    check(str_eq(wsrt_request_method(req), "GET"), "OPEN: wsrt_request_method is GET");
    check(str_eq(wsrt_request_path(req), "/echo"), "OPEN: wsrt_request_path is /echo (got %s)",
          show(wsrt_request_path(req), b1, sizeof b1));
    check(str_eq(wsrt_request_query(req), "a=1"), "OPEN: wsrt_request_query is a=1 (got %s)",
          show(wsrt_request_query(req), b1, sizeof b1));
    check(ev->len == 0 && ev->data != NULL, "OPEN: no subprotocol negotiated -> data \"\" (len %zu)", ev->len);

    bool found = wsrt_request_header(req, "x-test-header", &v);
    check(found && str_eq(v, "hello-wsrt"), "OPEN: wsrt_request_header (case-insensitive) finds X-Test-Header");
    found = wsrt_request_header(req, "Sec-WebSocket-Key", &v);
    check(found && str_eq(v, SAMPLE_KEY), "OPEN: wsrt_request_header Sec-WebSocket-Key");
    wsrt_str untouched = {"sentinel", 8};
    found = wsrt_request_header(req, "X-Absent", &untouched);
    check(!found && untouched.len == 8 && memcmp(untouched.ptr, "sentinel", 8) == 0,
          "OPEN: absent header -> false, value left alone");

    size_t count = wsrt_request_header_count(req);
    check(count == 6, "OPEN: wsrt_request_header_count == 6 (got %zu)", count);
    wsrt_str n0, v0, n5, v5;
    bool at0 = wsrt_request_header_at(req, 0, &n0, &v0);
    check(at0 && str_eq(n0, "Host"), "OPEN: wsrt_request_header_at(0) is Host (got %s: %s)", show(n0, b1, sizeof b1),
          show(v0, b2, sizeof b2));
    bool at5 = wsrt_request_header_at(req, 5, &n5, &v5);
    check(at5 && str_eq(n5, "X-Test-Header") && str_eq(v5, "hello-wsrt"),
          "OPEN: wsrt_request_header_at(5) is X-Test-Header: hello-wsrt in order received");
    check(!wsrt_request_header_at(req, count, &n5, &v5), "OPEN: wsrt_request_header_at(count) -> false");
    check(wsrt_request_protocol_count(req) == 0, "OPEN: no subprotocols offered -> count 0");

    char peer[64], want[64];
    int lp = atomic_load(&c_echo.local_port);
    snprintf(want, sizeof want, "127.0.0.1:%d", lp);
    size_t need = wsrt_request_peer(req, peer, sizeof peer);
    check(need == strlen(want) && strcmp(peer, want) == 0, "OPEN: wsrt_request_peer is \"%s\" (got \"%s\")", want,
          peer);
    char tiny[5];
    memset(tiny, 'Z', sizeof tiny);
    size_t need2 = wsrt_request_peer(req, tiny, sizeof tiny);
    check(need2 == strlen(want) && strcmp(tiny, "127.") == 0, "OPEN: wsrt_request_peer truncates and NUL-terminates");
    check(wsrt_request_peer(req, NULL, 0) == strlen(want), "OPEN: wsrt_request_peer(NULL, 0) returns the length");
}

/* The echo connection's request as it keeps it after OPEN: the handshake's
 * own headers (Upgrade, Connection, Sec-WebSocket-Key, -Version) are gone. */
static void check_kept_echo_request(const wsrt_request *req, const char *what) {
    char b1[256];
    wsrt_str v;
    check(req != NULL, "%s: set", what);
    check(str_eq(wsrt_request_path(req), "/echo") && str_eq(wsrt_request_query(req), "a=1"),
          "%s: path /echo, query a=1 (got %s)", what, show(wsrt_request_path(req), b1, sizeof b1));
    check(wsrt_request_header(req, "X-Test-Header", &v) && str_eq(v, "hello-wsrt"), "%s: X-Test-Header kept", what);
    check(!wsrt_request_header(req, "Sec-WebSocket-Key", &v), "%s: Sec-WebSocket-Key not kept", what);
    check(wsrt_request_header_count(req) == 2, "%s: Host and X-Test-Header only (got %zu)", what,
          wsrt_request_header_count(req));
    char peer[64], want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", atomic_load(&c_echo.local_port));
    wsrt_request_peer(req, peer, sizeof peer);
    check(strcmp(peer, want) == 0, "%s: peer %s (got %s)", what, want, peer);
}

/* The error-path checks, run while the echo connection is open. */
static void run_conn_checks(wsrt_conn conn) {
    wsrt_server *srv = g.srv;
    {
        const wsrt_request *kept = NULL;
        check_rc(wsrt_connection_request(srv, conn, &kept), WSRT_OK, "wsrt_connection_request on the open echo");
        check_kept_echo_request(kept, "wsrt_connection_request");
        check_rc(wsrt_connection_request(srv, conn + 1000, &kept), WSRT_ERR_UNKNOWN_CONNECTION,
                 "wsrt_connection_request on an unknown conn");
        check_rc(wsrt_connection_request(srv, conn, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_connection_request(out NULL)");
        check_rc(wsrt_connection_request(NULL, conn, &kept), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_connection_request(server NULL)");
    }
    size_t n = 12345;
    const uint8_t *x = (const uint8_t *)"x";

    check_rc(wsrt_send(srv, conn + ((uint64_t)1 << 32), x, 1, true), WSRT_ERR_UNKNOWN_CONNECTION,
             "wsrt_send on an unknown conn (same slot, other generation)");
    check(wsrt_last_error()[0] != '\0', "wsrt_last_error non-empty after UNKNOWN_CONNECTION");
    check_rc(wsrt_send(srv, 0, x, 1, true), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_send on conn 0");
    check_rc(wsrt_send(srv, conn + 1000, x, 1, false), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_send on a never-used slot");
    check_rc(wsrt_ping(srv, conn + 1000, x, 1), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_ping on an unknown conn");
    check_rc(wsrt_buffered_amount(srv, conn + 1000, &n), WSRT_ERR_UNKNOWN_CONNECTION,
             "wsrt_buffered_amount on an unknown conn");
    check_rc(wsrt_close(srv, conn + 1000, 1000, NULL), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_close on an unknown conn");

    check_rc(wsrt_close(srv, conn, 1005, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_close with code 1005");
    check_rc(wsrt_close(srv, conn, 1006, "x"), WSRT_ERR_INVALID_ARGUMENT, "wsrt_close with code 1006");
    check_rc(wsrt_close(srv, conn, 999, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_close with code 999");
    check_rc(wsrt_close(srv, conn, 5000, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_close with code 5000");
    {
        char reason[125];
        memset(reason, 'r', 124);
        reason[124] = '\0';
        check_rc(wsrt_close(srv, conn, 1000, reason), WSRT_ERR_INVALID_ARGUMENT, "wsrt_close with a 124-byte reason");
        check_rc(wsrt_close(srv, conn, 1000, "\xff"), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_close with a non-UTF-8 reason");
    }
    check_rc(wsrt_send(srv, conn, (const uint8_t *)"ab\xff", 3, true), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_send text with invalid UTF-8");
    check_rc(wsrt_send(srv, conn, (const uint8_t *)"\xed\xa0\x80", 3, true), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_send text with a UTF-16 surrogate");
    check_rc(wsrt_send(srv, conn, NULL, 4, false), WSRT_ERR_INVALID_ARGUMENT, "wsrt_send NULL data with len 4");
    {
        uint8_t big[126];
        memset(big, 'p', sizeof big);
        check_rc(wsrt_ping(srv, conn, big, sizeof big), WSRT_ERR_INVALID_ARGUMENT, "wsrt_ping with 126 bytes");
    }
    check_rc(wsrt_sse_send(srv, conn, NULL, NULL, -1, x, 1), WSRT_ERR_WRONG_STATE, "wsrt_sse_send on a WebSocket");
    check_rc(wsrt_sse_comment(srv, conn, "c"), WSRT_ERR_WRONG_STATE, "wsrt_sse_comment on a WebSocket");
    check_rc(wsrt_accept(srv, conn, NULL, NULL, 0), WSRT_ERR_WRONG_STATE, "wsrt_accept on an open WebSocket");
    check_rc(wsrt_reject(srv, conn, 403, NULL, NULL, 0), WSRT_ERR_WRONG_STATE, "wsrt_reject on an open WebSocket");
    check_rc(wsrt_terminate(srv, conn + 1000), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_terminate on an unknown conn");
    check_rc(wsrt_terminate(NULL, conn), WSRT_ERR_INVALID_ARGUMENT, "wsrt_terminate(NULL server)");

    /* State. */
    check(wsrt_state(srv, conn) == WSRT_STATE_OPEN, "wsrt_state of an open WebSocket is WSRT_STATE_OPEN");
    check(wsrt_state(srv, conn + 1000) == WSRT_STATE_CLOSED, "wsrt_state of an unknown id is WSRT_STATE_CLOSED");
    check(wsrt_state(srv, 0) == WSRT_STATE_CLOSED, "wsrt_state of id 0 is WSRT_STATE_CLOSED");
    check(wsrt_state(NULL, conn) == WSRT_STATE_CLOSED, "wsrt_state(NULL server) is WSRT_STATE_CLOSED");

    /* User data. */
    {
        void *ud = NULL;
        check_rc(wsrt_user_data(srv, conn, &ud), WSRT_OK, "wsrt_user_data");
        check(ud == &g.ud_token, "wsrt_user_data gives back what wsrt_set_user_data stored");
        check_rc(wsrt_user_data(srv, conn, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_user_data(out NULL)");
        check_rc(wsrt_user_data(NULL, conn, &ud), WSRT_ERR_INVALID_ARGUMENT, "wsrt_user_data(NULL server)");
        check_rc(wsrt_user_data(srv, conn + 1000, &ud), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_user_data(unknown conn)");
        check_rc(wsrt_set_user_data(srv, conn + 1000, &ud), WSRT_ERR_UNKNOWN_CONNECTION,
                 "wsrt_set_user_data(unknown conn)");
        check_rc(wsrt_set_user_data(NULL, conn, &ud), WSRT_ERR_INVALID_ARGUMENT, "wsrt_set_user_data(NULL server)");
    }
    check_rc(wsrt_buffered_amount(srv, conn, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_buffered_amount(out NULL)");
    check(wsrt_server_connection_count(srv) >= 1, "wsrt_server_connection_count >= 1 with a client connected");

    /* NULL server everywhere: an error, not a crash. */
    const wsrt_event *evs = NULL;
    size_t cnt = 0;
    check_rc(wsrt_server_poll(NULL, 0, &evs, &cnt), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_poll(NULL server)");
    check_rc(wsrt_server_poll(srv, 0, NULL, &cnt), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_poll(events NULL)");
    check_rc(wsrt_server_poll(srv, 0, &evs, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_poll(count NULL)");
    check_rc(wsrt_server_flush(NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_flush(NULL)");
    check_rc(wsrt_send(NULL, conn, x, 1, true), WSRT_ERR_INVALID_ARGUMENT, "wsrt_send(NULL server)");
    check_rc(wsrt_ping(NULL, conn, x, 1), WSRT_ERR_INVALID_ARGUMENT, "wsrt_ping(NULL server)");
    check_rc(wsrt_close(NULL, conn, 1000, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_close(NULL server)");
    check_rc(wsrt_accept(NULL, conn, NULL, NULL, 0), WSRT_ERR_INVALID_ARGUMENT, "wsrt_accept(NULL server)");
    check_rc(wsrt_reject(NULL, conn, 400, NULL, NULL, 0), WSRT_ERR_INVALID_ARGUMENT, "wsrt_reject(NULL server)");
    check_rc(wsrt_sse_send(NULL, conn, NULL, NULL, -1, x, 1), WSRT_ERR_INVALID_ARGUMENT, "wsrt_sse_send(NULL server)");
    check_rc(wsrt_sse_comment(NULL, conn, "c"), WSRT_ERR_INVALID_ARGUMENT, "wsrt_sse_comment(NULL server)");
    check_rc(wsrt_buffered_amount(NULL, conn, &n), WSRT_ERR_INVALID_ARGUMENT, "wsrt_buffered_amount(NULL server)");
    check_rc(wsrt_server_begin_shutdown(NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_begin_shutdown(NULL)");
    check_rc(wsrt_server_shutdown(NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_shutdown(NULL)");
    check(wsrt_server_port(NULL) == 0, "wsrt_server_port(NULL) == 0");
    check(wsrt_server_fd(NULL) == -1, "wsrt_server_fd(NULL) == -1");
    check(wsrt_server_next_timeout_ms(NULL) == -1, "wsrt_server_next_timeout_ms(NULL) == -1");
    check(wsrt_server_connection_count(NULL) == 0, "wsrt_server_connection_count(NULL) == 0");
    check(!wsrt_server_is_finished(NULL), "wsrt_server_is_finished(NULL) == false");
    check(wsrt_server_handle(NULL) == NULL, "wsrt_server_handle(NULL) == NULL");
    wsrt_server_free(NULL);
    wsrt_handle_free(NULL);
    wsrt_config_free(NULL);
    check(true, "wsrt_server_free/wsrt_handle_free/wsrt_config_free(NULL) are no-ops");

    /* Request accessors with NULL. */
    wsrt_str s = wsrt_request_path(NULL);
    check(s.ptr != NULL && s.len == 0, "wsrt_request_path(NULL) -> empty string, ptr not NULL");
    wsrt_str v = {"keep", 4};
    check(!wsrt_request_header(NULL, "Host", &v) && v.len == 4, "wsrt_request_header(NULL) -> false");
    check(wsrt_request_header_count(NULL) == 0, "wsrt_request_header_count(NULL) == 0");
    check(wsrt_request_peer(NULL, NULL, 0) == 0, "wsrt_request_peer(NULL) == 0");
    check(wsrt_request_protocol_count(NULL) == 0, "wsrt_request_protocol_count(NULL) == 0");

    /* wsrt_buffered_amount: a queued send counts until it is flushed. */
    size_t before = 99, queued = 0, after = 99;
    check_rc(wsrt_buffered_amount(srv, conn, &before), WSRT_OK, "wsrt_buffered_amount");
    check_rc(wsrt_send(srv, conn, (const uint8_t *)"checks-done", 11, true), WSRT_OK, "wsrt_send text");
    check_rc(wsrt_buffered_amount(srv, conn, &queued), WSRT_OK, "wsrt_buffered_amount after a send");
    check(queued >= before + 13, "wsrt_buffered_amount grew by the queued frame (%zu -> %zu)", before, queued);
    check_rc(wsrt_server_flush(srv), WSRT_OK, "wsrt_server_flush");
    check_rc(wsrt_buffered_amount(srv, conn, &after), WSRT_OK, "wsrt_buffered_amount after flush");
    check(after == 0, "wsrt_buffered_amount is 0 once flushed (got %zu)", after);
}

static void on_message(const wsrt_event *ev) {
    wsrt_server *srv = g.srv;
    if (ev->conn == g.echo_conn && ev->is_text && bytes_eq(ev->data, ev->len, "cmd:ping")) {
        check_rc(wsrt_ping(srv, ev->conn, (const uint8_t *)"are you there", 13), WSRT_OK, "wsrt_ping");
        return;
    }
    if (ev->conn == g.echo_conn && ev->is_text && bytes_eq(ev->data, ev->len, "cmd:handle")) {
        wsrt_conn *arg = malloc(sizeof *arg);
        if (arg == NULL) return;
        *arg = ev->conn;
        g.handle_thread_started = pthread_create(&g.handle_thread, NULL, handle_sender, arg) == 0;
        if (!g.handle_thread_started) {
            free(arg);
            check(false, "pthread_create (handle sender)");
        }
        return;
    }
    if (ev->conn == g.echo_conn && ev->is_text && bytes_eq(ev->data, ev->len, "cmd:checks")) {
        run_conn_checks(ev->conn);
        return;
    }
    if (ev->conn == g.echo_conn && ev->is_text && bytes_eq(ev->data, ev->len, "cmd:subscribed?")) {
        const char *a = wsrt_is_subscribed(srv, ev->conn, "handle-topic") ? "subscribed" : "not subscribed";
        check_rc(wsrt_send(srv, ev->conn, (const uint8_t *)a, strlen(a), true), WSRT_OK, "wsrt_send (subscribed?)");
        return;
    }
    if (ev->conn == g.closing_conn && bytes_eq(ev->data, ev->len, "cmd:close")) {
        check_rc(wsrt_close(srv, ev->conn, 4000, "server"), WSRT_OK, "wsrt_close(conn, 4000, \"server\")");
        check(wsrt_state(srv, ev->conn) == WSRT_STATE_CLOSING, "wsrt_state after wsrt_close is WSRT_STATE_CLOSING");
        check_rc(wsrt_send(srv, ev->conn, (const uint8_t *)"x", 1, true), WSRT_ERR_CLOSED,
                 "wsrt_send on a closing connection");
        check_rc(wsrt_close(srv, ev->conn, 1000, NULL), WSRT_ERR_CLOSED, "wsrt_close twice");
        return;
    }
    if (ev->conn == g.term_conn && bytes_eq(ev->data, ev->len, "cmd:terminate")) {
        check_rc(wsrt_terminate(srv, ev->conn), WSRT_OK, "wsrt_terminate");
        return;
    }
    /* Everything else is echoed with the same type. */
    wsrt_result r = wsrt_send(srv, ev->conn, ev->data, ev->len, ev->is_text);
    if (r != WSRT_OK) check_rc(r, WSRT_OK, "wsrt_send echo");
    if (ev->conn == g.echo_conn && !g.first_echo_done) {
        g.first_echo_done = true;
        check(ev->is_text, "MESSAGE: first message is_text");
        size_t amount = 0;
        wsrt_result br = wsrt_buffered_amount(srv, ev->conn, &amount);
        check(br == WSRT_OK && amount >= ev->len + 2, "wsrt_buffered_amount counts the queued echo (%zu bytes)",
              amount);
    }
}

static void handle_event(const wsrt_event *ev) {
    wsrt_server *srv = g.srv;
    g.events_seen++;
    if (ev->data == NULL) g.null_data++;
    bool wants_request =
        ev->type == WSRT_EVENT_REQUEST || ev->type == WSRT_EVENT_OPEN || ev->type == WSRT_EVENT_SSE_OPEN;
    /* A close event carries the request of a connection that was open. */
    bool may_carry = ev->type == WSRT_EVENT_CLOSE || ev->type == WSRT_EVENT_SSE_CLOSE;
    if (!may_carry && wants_request != (ev->request != NULL)) g.bad_request_ptr++;
    if (ev->type != WSRT_EVENT_WAKE && ev->conn == 0) g.zero_conn++;
    if (g.echo_conn != 0 && ev->conn == g.echo_conn) {
        g.ud_events++;
        if (ev->user_data != &g.ud_token) g.ud_bad++;
    } else if (ev->user_data != NULL) {
        g.ud_bad++;
    }
    if ((ev->type == WSRT_EVENT_CLOSE || ev->type == WSRT_EVENT_SSE_CLOSE) &&
        wsrt_state(srv, ev->conn) != WSRT_STATE_CLOSED)
        g.close_state_bad++;

    switch (ev->type) {
    case WSRT_EVENT_WAKE:
        g.wakes++;
        break;

    case WSRT_EVENT_REQUEST: {
        rec(ev->conn)->requests++;
        const wsrt_request *req = ev->request;
        if (req == NULL) break;
        wsrt_str v;
        char b[128];
        bool is_accept = wsrt_request_header(req, "X-Case", &v) && str_eq(v, "accept");
        check(str_eq(wsrt_request_path(req), "/auth"), "REQUEST: path is /auth (got %s)",
              show(wsrt_request_path(req), b, sizeof b));
        check(!ev->is_sse, "REQUEST: is_sse false for a WebSocket route");
        if (is_accept) {
            g.auth_ok_conn = ev->conn;
            size_t pc = wsrt_request_protocol_count(req);
            check(pc == 2, "REQUEST: wsrt_request_protocol_count == 2 (got %zu)", pc);
            check(str_eq(wsrt_request_protocol_at(req, 0), "chat") && str_eq(wsrt_request_protocol_at(req, 1), "superchat"),
                  "REQUEST: offered protocols are chat, superchat in client order");
            wsrt_str none = wsrt_request_protocol_at(req, 2);
            check(none.ptr != NULL && none.len == 0, "REQUEST: wsrt_request_protocol_at out of range -> \"\"");
            check_rc(wsrt_send(srv, ev->conn, (const uint8_t *)"x", 1, true), WSRT_ERR_WRONG_STATE,
                     "wsrt_send on a connection awaiting approval");
            check_rc(wsrt_close(srv, ev->conn, 1000, NULL), WSRT_ERR_WRONG_STATE,
                     "wsrt_close on a connection awaiting approval");
            check(wsrt_state(srv, ev->conn) == WSRT_STATE_CONNECTING,
                  "wsrt_state of a request awaiting approval is WSRT_STATE_CONNECTING");
            check_rc(wsrt_accept(srv, ev->conn, "megachat", NULL, 0), WSRT_ERR_INVALID_ARGUMENT,
                     "wsrt_accept with a subprotocol the client did not offer");
            wsrt_header bad[] = {{"Content-Length", "5"}};
            check_rc(wsrt_accept(srv, ev->conn, "superchat", bad, 1), WSRT_ERR_INVALID_ARGUMENT,
                     "wsrt_accept with a header wsrt writes itself (Content-Length)");
            wsrt_header bad_value[] = {{"X-Evil", "a\r\nb: c"}};
            check_rc(wsrt_accept(srv, ev->conn, "superchat", bad_value, 1), WSRT_ERR_INVALID_ARGUMENT,
                     "wsrt_accept with a header value holding CR LF");
            wsrt_header null_name[] = {{NULL, "x"}};
            check_rc(wsrt_accept(srv, ev->conn, "superchat", null_name, 1), WSRT_ERR_INVALID_ARGUMENT,
                     "wsrt_accept with a NULL header name");
            check_rc(wsrt_accept(srv, ev->conn, "superchat", NULL, 1), WSRT_ERR_INVALID_ARGUMENT,
                     "wsrt_accept(headers NULL, n 1)");
            wsrt_header cookie[] = {{"Set-Cookie", "session=1"}};
            check_rc(wsrt_accept(srv, ev->conn, "superchat", cookie, 1), WSRT_OK,
                     "wsrt_accept(conn, \"superchat\", Set-Cookie)");
        } else {
            g.auth_no_conn = ev->conn;
            g.auth_no_requested = true;
            check_rc(wsrt_reject(srv, ev->conn, 200, "x", NULL, 0), WSRT_ERR_INVALID_ARGUMENT,
                     "wsrt_reject with status 200 (outside 400-599)");
            wsrt_header bad[] = {{"Bad Name", "x"}};
            check_rc(wsrt_reject(srv, ev->conn, 401, "no", bad, 1), WSRT_ERR_INVALID_ARGUMENT,
                     "wsrt_reject with a header name that is not a token");
            wsrt_header auth[] = {{"WWW-Authenticate", "Basic realm=\"wsrt\""}};
            check_rc(wsrt_reject(srv, ev->conn, 401, "no", auth, 1), WSRT_OK,
                     "wsrt_reject(conn, 401, \"no\", WWW-Authenticate)");
        }
        break;
    }

    case WSRT_EVENT_OPEN: {
        rec(ev->conn)->opens++;
        const wsrt_request *req = ev->request;
        if (req == NULL) break;
        wsrt_str path = wsrt_request_path(req);
        wsrt_str query = wsrt_request_query(req);
        if (ev->conn == g.auth_ok_conn && g.auth_ok_conn != 0) {
            g.auth_ok_open = true;
            check(bytes_eq(ev->data, ev->len, "superchat"), "OPEN after wsrt_accept: data/len is \"superchat\"");
        } else if (str_eq(query, "closing=1")) {
            g.closing_conn = ev->conn;
        } else if (str_eq(query, "term=1")) {
            g.term_conn = ev->conn;
        } else if (g.shutting_down || (g.echo_conn != 0 && str_eq(path, "/echo"))) {
            g.down_ws_conn = ev->conn;
            g.down_ws_open = true;
        } else if (str_eq(path, "/echo")) {
            check(g.echo_conn == 0, "OPEN: only one echo connection");
            g.echo_conn = ev->conn;
            g.echo_open = true;
            check_echo_open_request(ev);
            check(ev->user_data == NULL, "OPEN: user_data is NULL before wsrt_set_user_data");
            check_rc(wsrt_set_user_data(srv, ev->conn, &g.ud_token), WSRT_OK, "wsrt_set_user_data on OPEN");
        } else {
            char b[128];
            check(false, "OPEN: unexpected path %s", show(path, b, sizeof b));
        }
        break;
    }

    case WSRT_EVENT_MESSAGE:
        on_message(ev);
        break;

    case WSRT_EVENT_PONG:
        if (ev->conn == g.echo_conn && bytes_eq(ev->data, ev->len, "hp")) {
            g.handle_pong_seen = true;
        } else if (ev->conn == g.echo_conn) {
            g.pong_seen = true;
            check(bytes_eq(ev->data, ev->len, "are you there"), "WSRT_EVENT_PONG carries the ping payload");
            check_rc(wsrt_send(srv, ev->conn, (const uint8_t *)"pong-ok", 7, true), WSRT_OK, "wsrt_send after PONG");
        }
        break;

    case WSRT_EVENT_CLOSE:
        rec(ev->conn)->closes++;
        if (ev->conn == g.echo_conn) {
            g.echo_closed = true;
            g.echo_close_code = ev->code;
            check_kept_echo_request(ev->request, "CLOSE: the request it carries");
            size_t n = ev->len < sizeof g.echo_close_reason - 1 ? ev->len : sizeof g.echo_close_reason - 1;
            memcpy(g.echo_close_reason, ev->data, n);
            g.echo_close_reason[n] = '\0';
        } else if (ev->conn == g.auth_ok_conn) {
            g.auth_ok_closed = true;
            check(ev->code == 1000, "CLOSE for the approved connection has code 1000 (got %u)", (unsigned)ev->code);
        } else if (ev->conn == g.down_ws_conn) {
            g.down_ws_closed = true;
            g.down_ws_code = ev->code;
        } else if (ev->conn == g.closing_conn) {
            g.closing_closed = true;
            g.closing_code = ev->code;
        } else if (ev->conn == g.term_conn) {
            g.term_closed = true;
            g.term_code = ev->code;
        } else if (ev->conn == g.auth_no_conn) {
            note("a CLOSE event (code %u) followed the rejected request", (unsigned)ev->code);
        }
        break;

    case WSRT_EVENT_SSE_OPEN: {
        rec(ev->conn)->sse_opens++;
        const wsrt_request *req = ev->request;
        if (req == NULL) break;
        if (str_eq(wsrt_request_query(req), "resume=1")) {
            g.resume_conn = ev->conn;
            check_rc(wsrt_resume(srv, ev->conn, "", NULL, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_resume to \"\"");
            check_rc(wsrt_resume(srv, ev->conn, "feed", NULL, &g.replay), WSRT_OK,
                     "wsrt_resume(conn, \"feed\", NULL: the client's Last-Event-ID)");
            check(!g.replay.missed && g.replay.replayed == 2, "wsrt_resume replayed the 2 missed events (missed %d, %zu)",
                  (int)g.replay.missed, g.replay.replayed);
            check(wsrt_is_subscribed(srv, ev->conn, "feed"), "wsrt_resume subscribed the stream");
            wsrt_conn *arg = malloc(sizeof *arg);
            if (arg != NULL) {
                *arg = ev->conn;
                g.resume_thread_started = pthread_create(&g.resume_thread, NULL, resume_handle, arg) == 0;
                if (!g.resume_thread_started) free(arg);
            }
            break;
        }
        if (g.shutting_down || g.sse_conn != 0) {
            g.down_sse_conn = ev->conn;
            g.down_sse_open = true;
            break;
        }
        g.sse_conn = ev->conn;
        g.sse_open = true;
        wsrt_str v;
        char b[128];
        check(str_eq(wsrt_request_path(req), "/sse") && str_eq(wsrt_request_query(req), "x=1"),
              "SSE_OPEN: path /sse, query x=1");
        bool has = wsrt_request_header(req, "Last-Event-ID", &v);
        check(has && str_eq(v, "42"), "SSE_OPEN: Last-Event-ID header visible (got %s)",
              has ? show(v, b, sizeof b) : "(absent)");
        const uint8_t *d = (const uint8_t *)"line one\nline two";
        size_t dl = strlen((const char *)d);
        check_rc(wsrt_sse_send(srv, ev->conn, "update", "a\nb", -1, d, dl), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_sse_send with an id containing \\n");
        check_rc(wsrt_sse_send(srv, ev->conn, "up\rdate", "7", -1, d, dl), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_sse_send with an event name containing \\r");
        check_rc(wsrt_sse_send(srv, ev->conn, NULL, NULL, -1, (const uint8_t *)"\xff", 1), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_sse_send with non-UTF-8 data");
        check_rc(wsrt_sse_send(srv, ev->conn, NULL, NULL, -1, NULL, 3), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_sse_send NULL data with len 3");
        check_rc(wsrt_send(srv, ev->conn, (const uint8_t *)"x", 1, true), WSRT_ERR_WRONG_STATE,
                 "wsrt_send (WebSocket) on an SSE stream");
        check_rc(wsrt_ping(srv, ev->conn, NULL, 0), WSRT_ERR_WRONG_STATE, "wsrt_ping on an SSE stream");
        check_rc(wsrt_close(srv, ev->conn, 1005, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_close on an SSE stream still checks the code (1005)");
        check(wsrt_state(srv, ev->conn) == WSRT_STATE_OPEN, "wsrt_state of an open SSE stream is WSRT_STATE_OPEN");
        check_rc(wsrt_sse_send(srv, ev->conn, "update", "7", 2500, d, dl), WSRT_OK,
                 "wsrt_sse_send with event, id, retry and two data lines");
        check_rc(wsrt_sse_send(srv, ev->conn, NULL, NULL, -1, (const uint8_t *)"plain", 5), WSRT_OK,
                 "wsrt_sse_send with data only");
        check_rc(wsrt_sse_comment(srv, ev->conn, "hello"), WSRT_OK, "wsrt_sse_comment");
        break;
    }

    case WSRT_EVENT_SSE_CLOSE:
        rec(ev->conn)->sse_closes++;
        if (ev->conn == g.sse_conn) g.sse_closed = true;
        if (ev->conn == g.resume_conn) g.resume_closed = true;
        if (ev->conn == g.down_sse_conn) g.down_sse_closed = true;
        break;

    case WSRT_EVENT_DRAIN:
        break;

    default:
        check(false, "unknown event type %d", (int)ev->type);
        break;
    }
}

static void pump_once(int timeout_ms) {
    const wsrt_event *evs = NULL;
    size_t n = 0;
    wsrt_result r = wsrt_server_poll(g.srv, timeout_ms, &evs, &n);
    if (r != WSRT_OK) {
        check_rc(r, WSRT_OK, "wsrt_server_poll");
        sleep_ms(timeout_ms);
        return;
    }
    if (n > 0 && evs == NULL) {
        check(false, "wsrt_server_poll returned %zu events at NULL", n);
        return;
    }
    for (size_t i = 0; i < n; i++) handle_event(&evs[i]);
    int64_t t = wsrt_server_next_timeout_ms(g.srv);
    if (t < -1) g.bad_timeout++;
    if (t >= 0) g.timeout_nonneg++;
}

typedef bool (*cond_fn)(void);

static bool run_until(cond_fn cond, int timeout_ms, const char *what) {
    int64_t deadline = now_ms() + timeout_ms;
    while (!cond()) {
        if (now_ms() > deadline) return check(false, "timed out waiting for: %s", what);
        pump_once(20);
    }
    return true;
}

static bool static_done(void) { return atomic_load(&c_static.done); }
static bool echo_done(void) { return atomic_load(&c_echo.done) && g.echo_closed && g.wakes > 0; }
static bool auth_done(void) {
    return atomic_load(&c_auth_ok.done) && atomic_load(&c_auth_no.done) && g.auth_ok_closed;
}
static bool sse_done(void) { return atomic_load(&c_sse.done) && g.sse_closed; }
static bool down_ready(void) {
    return g.down_ws_open && g.down_sse_open && atomic_load(&c_down_ws.ready) && atomic_load(&c_down_sse.ready);
}
static bool term_done(void) { return atomic_load(&c_term.done) && g.closing_closed && g.term_closed; }
static bool resume_started(void) { return g.resume_thread_started || atomic_load(&c_resume.done); }
static bool resume_done(void) { return atomic_load(&c_resume.done) && g.resume_closed; }
static bool no_connections(void) { return wsrt_server_connection_count(g.srv) == 0; }
static bool down_clients_done(void) { return atomic_load(&c_down_ws.done) && atomic_load(&c_down_sse.done); }

/* ------------------------------------------------------------------ */
/* Socket.IO and Engine.IO: a raw long-polling client                  */
/* ------------------------------------------------------------------ */

/* A second server, its own: Socket.IO on /socket.io/ (namespaces "/" and
 * "/admin", approved by the test) and plain Engine.IO on /engine.io/. Its
 * client thread speaks Engine.IO v4 long-polling over raw HTTP requests,
 * one TCP connection per request, and the main thread answers from the
 * events. */

#define SIO_PACKETS 8

static struct {
    wsrt_server *srv;
    uint16_t port;
    client c_sio;

    /* Filled by the client thread, read by the main thread after join. */
    char sid[64];            /* the socket's id from the CONNECT answer */
    char handshake[256];     /* the Engine.IO handshake */
    char connect_answer[128];
    char hello_answer[128];
    char bin_answer[256];
    char question[128];
    char reject_answer[256];
    char nsp_answer[256];
    char eio_answer[64];
    atomic_bool ignored_q; /* the client saw "q" and will not answer it */

    /* Main thread. */
    wsrt_conn sock, reject_conn, eio_conn;
    bool request_ok, open_ok, open_recovered;
    char auth[64];
    bool hello_ok, bin_ok, bin_att_ok;
    char hello_args[64];
    uint64_t hello_ack, bin_ack;
    uint64_t q_id, q2_id;
    bool q_sent, q_timed_out, q2_sent, q2_answered;
    uint16_t q_code, q2_code;
    char q2_args[64];
    bool eio_open, eio_msg, sock_closed;
    char close_reason[64];
    bool socket_id_ok;
    bool bad_args_done;
    int events, bad_records;
    wsrt_handle *handle;
    wsrt_conn hello_conn;
} sio;

/* Copies `len` bytes into a NUL-terminated buffer, truncating. */
static void copy_text(char *dst, size_t cap, const void *src, size_t len) {
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* One HTTP request on a connection of its own. Returns the response body
 * length (NUL-terminated in `out`), -1 on failure; `*status` the code. */
static long http_request(uint16_t port, const char *method, const char *target, const char *body, size_t body_len,
                         int *status, char *out, size_t cap) {
    int fd = tcp_connect(port, NULL);
    if (fd < 0) return -1;
    char head[512];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, target, body_len);
    char resp[1024];
    long body_got = -1;
    if (n > 0 && (size_t)n < sizeof head && send_all(fd, head, (size_t)n) && send_all(fd, body, body_len) &&
        read_head(fd, resp, sizeof resp) > 0) {
        *status = atoi(resp + 9);
        const char *cl = strstr(resp, "Content-Length: ");
        if (cl == NULL) cl = strstr(resp, "content-length: ");
        size_t want = cl != NULL ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
        if (want < cap && recv_exact(fd, out, want)) {
            out[want] = '\0';
            body_got = (long)want;
        }
    }
    close(fd);
    return body_got;
}

/* GET or POST on the session `sid` of `path` ("/socket.io/"). */
static long sio_poll(const char *path, const char *sid, const char *post, size_t post_len, char *out, size_t cap) {
    char target[160];
    snprintf(target, sizeof target, "%s?EIO=4&transport=polling&sid=%s", path, sid);
    int status = 0;
    long n = http_request(sio.port, post ? "POST" : "GET", target, post ? post : "", post ? post_len : 0, &status,
                          out, cap);
    return status == 200 ? n : -1;
}

/* The Engine.IO handshake on `path`: the session id into `sid`. */
static bool sio_open(const char *path, char *sid, size_t cap, char *answer, size_t answer_cap) {
    char target[160];
    snprintf(target, sizeof target, "%s?EIO=4&transport=polling", path);
    int status = 0;
    char body[512];
    if (http_request(sio.port, "GET", target, "", 0, &status, body, sizeof body) < 0 || status != 200) return false;
    if (answer != NULL) copy_text(answer, answer_cap, body, strlen(body));
    const char *p = strstr(body, "\"sid\":\"");
    if (body[0] != '0' || p == NULL) return false;
    p += 7;
    size_t n = strcspn(p, "\"");
    if (n >= cap) return false;
    memcpy(sid, p, n);
    sid[n] = '\0';
    return true;
}

static void *client_sio(void *arg) {
    client *c = arg;
    char eio_sid[64], buf[1024];
    long n;
    if (!sio_open("/socket.io/", eio_sid, sizeof eio_sid, sio.handshake, sizeof sio.handshake)) goto out;
    /* CONNECT to "/" with an auth payload; the answer comes on a GET. */
    if (sio_poll("/socket.io/", eio_sid, "40{\"token\":\"ok\"}", 16, buf, sizeof buf) < 0) goto out;
    if ((n = sio_poll("/socket.io/", eio_sid, NULL, 0, buf, sizeof buf)) < 0) goto out;
    copy_text(sio.connect_answer, sizeof sio.connect_answer, buf, strlen(buf));
    const char *p = strstr(buf, "\"sid\":\"");
    if (p != NULL) {
        p += 7;
        size_t len = strcspn(p, "\"");
        if (len < sizeof sio.sid) {
            memcpy(sio.sid, p, len);
            sio.sid[len] = '\0';
        }
    }
    /* An event with ack id 1; the test acknowledges it. */
    static const char hello[] = "421[\"hello\",{\"a\":1},\"x\"]";
    if (sio_poll("/socket.io/", eio_sid, hello, sizeof hello - 1, buf, sizeof buf) < 0) goto out;
    if (sio_poll("/socket.io/", eio_sid, NULL, 0, buf, sizeof buf) < 0) goto out;
    copy_text(sio.hello_answer, sizeof sio.hello_answer, buf, strlen(buf));
    /* A binary event: the packet, then its attachment (bytes 01 02 03 as
     * "b" + base64), in one payload. */
    static const char bin[] = "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID";
    if (sio_poll("/socket.io/", eio_sid, bin, sizeof bin - 1, buf, sizeof buf) < 0) goto out;
    if (sio_poll("/socket.io/", eio_sid, NULL, 0, buf, sizeof buf) < 0) goto out;
    copy_text(sio.bin_answer, sizeof sio.bin_answer, buf, strlen(buf));
    if (sio_poll("/socket.io/", eio_sid, "42[\"ready\"]", 11, buf, sizeof buf) < 0) goto out;
    /* The server's "q" (an emit with a short timeout) is left unanswered. */
    if (sio_poll("/socket.io/", eio_sid, NULL, 0, buf, sizeof buf) < 0) goto out;
    copy_text(sio.question, sizeof sio.question, buf, strlen(buf));
    atomic_store(&sio.ignored_q, true);
    /* "q2" (an emit with an ack, no timeout) is answered ["yes"]. */
    if (sio_poll("/socket.io/", eio_sid, NULL, 0, buf, sizeof buf) < 0) goto out;
    unsigned long id = 0;
    if (sscanf(buf, "42%lu[\"q2\"]", &id) == 1) {
        char answer[64];
        int len = snprintf(answer, sizeof answer, "43%lu[\"yes\"]", id);
        if (sio_poll("/socket.io/", eio_sid, answer, (size_t)len, buf, sizeof buf) < 0) goto out;
    }
    /* Leaves the namespace. */
    if (sio_poll("/socket.io/", eio_sid, "41", 2, buf, sizeof buf) < 0) goto out;

    /* A second session: refused by the app, then an unknown namespace. */
    if (!sio_open("/socket.io/", eio_sid, sizeof eio_sid, NULL, 0)) goto out;
    if (sio_poll("/socket.io/", eio_sid, "40{\"token\":\"bad\"}", 17, buf, sizeof buf) < 0) goto out;
    if (sio_poll("/socket.io/", eio_sid, NULL, 0, buf, sizeof buf) < 0) goto out;
    copy_text(sio.reject_answer, sizeof sio.reject_answer, buf, strlen(buf));
    if (sio_poll("/socket.io/", eio_sid, "40/nowhere,", 11, buf, sizeof buf) < 0) goto out;
    if (sio_poll("/socket.io/", eio_sid, NULL, 0, buf, sizeof buf) < 0) goto out;
    copy_text(sio.nsp_answer, sizeof sio.nsp_answer, buf, strlen(buf));

    /* Plain Engine.IO: a message comes back. */
    if (!sio_open("/engine.io/", eio_sid, sizeof eio_sid, NULL, 0)) goto out;
    if (sio_poll("/engine.io/", eio_sid, "4hello", 6, buf, sizeof buf) < 0) goto out;
    if (sio_poll("/engine.io/", eio_sid, NULL, 0, buf, sizeof buf) < 0) goto out;
    copy_text(sio.eio_answer, sizeof sio.eio_answer, buf, strlen(buf));
out:
    atomic_store(&c->done, true);
    return NULL;
}

/* Calls with bad arguments, on a live socket; each must fail cleanly. */
static void sio_bad_arguments(wsrt_conn conn) {
    wsrt_server *srv = sio.srv;
    const char *args = "[1]";
    uint8_t blob[3] = {1, 2, 3};
    wsrt_bytes att = {blob, sizeof blob};
    uint64_t id = 77;
    check_rc(wsrt_emit(NULL, conn, "x", args, 3, NULL, 0, 0, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_emit(NULL server)");
    check_rc(wsrt_emit(srv, conn, NULL, args, 3, NULL, 0, 0, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_emit(NULL event)");
    check_rc(wsrt_emit(srv, conn, "x", "{\"no\":", 6, NULL, 0, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_emit with arguments that are not JSON");
    check_rc(wsrt_emit(srv, conn, "x", "{}", 2, NULL, 0, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_emit with arguments that are not an array");
    check_rc(wsrt_emit(srv, conn, "x", "[\"\xff\"]", 5, NULL, 0, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_emit with arguments that are not UTF-8");
    check_rc(wsrt_emit(srv, conn, "x", NULL, 3, NULL, 0, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_emit(NULL args, length 3)");
    check_rc(wsrt_emit(srv, conn, "x", args, 3, NULL, 2, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_emit(NULL attachments, count 2)");
    check_rc(wsrt_emit(srv, conn, "x", args, 3, &att, 1, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_emit with an attachment and no placeholder for it");
    check_rc(wsrt_emit(srv, 12345, "x", args, 3, NULL, 0, 0, &id), WSRT_ERR_UNKNOWN_CONNECTION,
             "wsrt_emit(unknown conn)");
    check(id == 77, "a failed wsrt_emit leaves *ack_id alone");
    check_rc(wsrt_ack(srv, 12345, 1, args, 3, NULL, 0), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_ack(unknown conn)");
    check_rc(wsrt_ack(srv, conn, 1, "nope", 4, NULL, 0), WSRT_ERR_INVALID_ARGUMENT, "wsrt_ack with arguments that are not JSON");
    check_rc(wsrt_ack(NULL, conn, 1, args, 3, NULL, 0), WSRT_ERR_INVALID_ARGUMENT, "wsrt_ack(NULL server)");
    check_rc(wsrt_reject_socket(srv, conn, NULL, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_reject_socket(NULL message)");
    check_rc(wsrt_reject_socket(srv, 12345, "m", NULL), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_reject_socket(unknown conn)");
    wsrt_result rejected = wsrt_reject_socket(srv, conn, "m", NULL);
    check(rejected != WSRT_OK, "wsrt_reject_socket on a connected socket fails (%s: %s)", wsrt_result_str(rejected),
          wsrt_last_error());

    wsrt_broadcast_opts opts;
    memset(&opts, 0, sizeof opts);
    size_t delivered = 99;
    check_rc(wsrt_broadcast(srv, NULL, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_broadcast(NULL opts)");
    check_rc(wsrt_broadcast(srv, &opts, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_broadcast with no event");
    opts.event = "news";
    opts.n_rooms = 1;
    check_rc(wsrt_broadcast(srv, &opts, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_broadcast(NULL rooms, count 1)");
    const char *empty_room[1] = {""};
    opts.rooms = empty_room;
    check_rc(wsrt_broadcast(srv, &opts, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_broadcast to room \"\"");
    const char *nobody[1] = {"nobody-here"};
    opts.rooms = nobody;
    check_rc(wsrt_broadcast(srv, &opts, &delivered), WSRT_OK, "wsrt_broadcast to an empty room (no args: NULL)");
    check(delivered == 0, "it reaches nobody (%zu)", delivered);
    opts.event = "connect";
    opts.n_rooms = 0;
    check_rc(wsrt_broadcast(srv, &opts, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_broadcast of the reserved event \"connect\"");

    char buf[64];
    size_t len = wsrt_socket_id(srv, 12345, buf, sizeof buf);
    check(len == 0 && wsrt_last_error()[0] != '\0', "wsrt_socket_id(unknown conn) is 0 and says why (\"%s\")",
          wsrt_last_error());
    check(wsrt_socket_id(NULL, conn, buf, sizeof buf) == 0, "wsrt_socket_id(NULL server) is 0");
    size_t full = wsrt_socket_id(srv, conn, NULL, 0);
    char small[4] = "zzz";
    check(full > 3 && wsrt_socket_id(srv, conn, small, sizeof small) == full && strlen(small) == 3,
          "wsrt_socket_id truncates to the buffer and returns the length it needs (%zu)", full);
    check(wsrt_socket_by_id(srv, "nope") == 0 && wsrt_socket_by_id(srv, NULL) == 0 && wsrt_socket_by_id(NULL, "x") == 0,
          "wsrt_socket_by_id is 0 for an unknown id and for NULL");

    const wsrt_str *topics = NULL;
    size_t count = 0;
    check_rc(wsrt_subscribe(srv, conn, "room-a", NULL), WSRT_OK, "wsrt_subscribe on a socket (join a room)");
    check_rc(wsrt_topics(srv, conn, &topics, &count), WSRT_OK, "wsrt_topics of a socket");
    bool has_room = false;
    for (size_t i = 0; i < count; i++) has_room = has_room || str_eq(topics[i], "room-a");
    check(has_room, "wsrt_topics lists the room it joined (%zu topics)", count);
    check_rc(wsrt_topics(srv, 12345, &topics, &count), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_topics(unknown conn)");
    check_rc(wsrt_topics(srv, conn, NULL, &count), WSRT_ERR_INVALID_ARGUMENT, "wsrt_topics(NULL topics)");
    const char *room_a[1] = {"room-a"};
    memset(&opts, 0, sizeof opts);
    opts.rooms = room_a;
    opts.n_rooms = 1;
    opts.event = "news";
    opts.args = "[\"n\"]";
    opts.args_len = 5;
    opts.except = conn;
    check_rc(wsrt_broadcast(srv, &opts, &delivered), WSRT_OK, "wsrt_broadcast to the room, except the socket");
    check(delivered == 0, "the excepted socket does not get it (%zu)", delivered);
    check_rc(wsrt_unsubscribe(srv, conn, "room-a", NULL), WSRT_OK, "wsrt_unsubscribe on a socket (leave the room)");

    /* The handle checks on the calling thread. */
    wsrt_handle *h = sio.handle;
    check_rc(wsrt_handle_emit(NULL, conn, "x", args, 3, NULL, 0), WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_emit(NULL handle)");
    check_rc(wsrt_handle_emit(h, conn, NULL, args, 3, NULL, 0), WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_emit(NULL event)");
    check_rc(wsrt_handle_emit(h, conn, "x", "{\"no\":", 6, NULL, 0), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_emit with arguments that are not JSON");
    check_rc(wsrt_handle_emit(h, conn, "x", args, 3, &att, 1), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_emit with an attachment and no placeholder for it");
    check_rc(wsrt_handle_ack(h, conn, 1, "nope", 4, NULL, 0), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_ack with arguments that are not JSON");
    check_rc(wsrt_handle_broadcast(h, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_broadcast(NULL opts)");
    memset(&opts, 0, sizeof opts);
    opts.event = "news";
    opts.rooms = empty_room;
    opts.n_rooms = 1;
    check_rc(wsrt_handle_broadcast(h, &opts), WSRT_ERR_INVALID_ARGUMENT, "wsrt_handle_broadcast to room \"\"");
    opts.n_rooms = 0;
    opts.event = "connect";
    check_rc(wsrt_handle_broadcast(h, &opts), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_handle_broadcast of the reserved event \"connect\"");
    opts.event = "news";
    opts.rooms = nobody;
    opts.n_rooms = 1;
    check_rc(wsrt_handle_broadcast(h, &opts), WSRT_OK, "wsrt_handle_broadcast to an empty room");
}

/* Acknowledges "hello" from a thread other than the loop's. */
static void *sio_ack_thread(void *arg) {
    (void)arg;
    check_rc(wsrt_handle_ack(sio.handle, sio.hello_conn, sio.hello_ack, "[\"fine\"]", 8, NULL, 0), WSRT_OK,
             "wsrt_handle_ack from another thread");
    return NULL;
}

static void sio_handle(const wsrt_event *ev) {
    wsrt_server *srv = sio.srv;
    char name[64];
    copy_text(name, sizeof name, ev->name, ev->name_len);
    switch (ev->type) {
    case WSRT_EVENT_REQUEST:
        if (ev->endpoint != WSRT_ENDPOINT_SOCKETIO) break;
        if (bytes_eq(ev->data, ev->len, "{\"token\":\"bad\"}")) {
            sio.reject_conn = ev->conn;
            check_rc(wsrt_reject_socket(srv, ev->conn, "nope", "{\"why\":\"bad\"}"), WSRT_OK, "wsrt_reject_socket");
        } else {
            sio.request_ok = strcmp(name, "/") == 0 && !ev->is_sse && ev->request != NULL;
            copy_text(sio.auth, sizeof sio.auth, ev->data, ev->len);
            check_rc(wsrt_accept(srv, ev->conn, NULL, NULL, 0), WSRT_OK, "wsrt_accept of a Socket.IO connection");
        }
        break;
    case WSRT_EVENT_OPEN:
        if (ev->endpoint == WSRT_ENDPOINT_ENGINEIO) {
            sio.eio_open = true;
            sio.eio_conn = ev->conn;
        } else if (ev->endpoint == WSRT_ENDPOINT_SOCKETIO) {
            sio.sock = ev->conn;
            sio.open_ok = strcmp(name, "/") == 0 && bytes_eq(ev->data, ev->len, "{\"token\":\"ok\"}");
            sio.open_recovered = ev->recovered;
            char sid[64];
            size_t n = wsrt_socket_id(srv, ev->conn, sid, sizeof sid);
            sio.socket_id_ok = n > 0 && n < sizeof sid && wsrt_socket_by_id(srv, sid) == ev->conn;
        }
        break;
    case WSRT_EVENT_MESSAGE:
        if (ev->endpoint == WSRT_ENDPOINT_ENGINEIO) {
            sio.eio_msg = ev->is_text && bytes_eq(ev->data, ev->len, "hello");
            wsrt_send(srv, ev->conn, ev->data, ev->len, ev->is_text);
        }
        break;
    case WSRT_EVENT_SIO_EVENT:
        if (strcmp(name, "hello") == 0) {
            sio.hello_ok = ev->conn == sio.sock && ev->attachment_count == 0;
            sio.hello_ack = ev->ack;
            copy_text(sio.hello_args, sizeof sio.hello_args, ev->data, ev->len);
            if (!sio.bad_args_done) {
                sio.bad_args_done = true;
                sio_bad_arguments(ev->conn);
            }
            /* Answered from another thread, through the handle. */
            sio.hello_conn = ev->conn;
            pthread_t t;
            if (pthread_create(&t, NULL, sio_ack_thread, NULL) == 0) pthread_join(t, NULL);
        } else if (strcmp(name, "bin") == 0) {
            const uint8_t *data = NULL;
            size_t len = 0;
            sio.bin_ack = ev->ack;
            sio.bin_ok = ev->attachment_count == 1 &&
                         bytes_eq(ev->data, ev->len, "[{\"_placeholder\":true,\"num\":0}]");
            sio.bin_att_ok = wsrt_event_attachment(ev, 0, &data, &len) && len == 3 && data[0] == 1 && data[1] == 2 &&
                             data[2] == 3 && ev->attachments != NULL && ev->attachments[0].len == 3 &&
                             !wsrt_event_attachment(ev, 1, &data, &len) && !wsrt_event_attachment(NULL, 0, &data, &len);
            /* The same arguments and attachments, passed on as they are. */
            check_rc(wsrt_emit(srv, ev->conn, "bin-back", (const char *)ev->data, ev->len, ev->attachments,
                               ev->attachment_count, 0, NULL),
                     WSRT_OK, "wsrt_emit with a binary attachment");
        } else if (strcmp(name, "ready") == 0) {
            /* An emit the client will not answer, timed out soon. */
            sio.q_id = UINT64_MAX;
            check_rc(wsrt_emit(srv, ev->conn, "q", NULL, 0, NULL, 0, 300, &sio.q_id), WSRT_OK,
                     "wsrt_emit with an ack and a 300 ms timeout");
            sio.q_sent = sio.q_id != UINT64_MAX;
        }
        break;
    case WSRT_EVENT_SIO_ACK:
        if (sio.q_sent && !sio.q_timed_out && ev->ack == sio.q_id) {
            sio.q_timed_out = true;
            sio.q_code = ev->code;
            check_rc(wsrt_emit(srv, ev->conn, "q2", "[]", 2, NULL, 0, 0, &sio.q2_id), WSRT_OK,
                     "wsrt_emit with an ack and no timeout");
            sio.q2_sent = true;
        } else if (sio.q2_sent && ev->ack == sio.q2_id) {
            sio.q2_answered = true;
            sio.q2_code = ev->code;
            copy_text(sio.q2_args, sizeof sio.q2_args, ev->data, ev->len);
        }
        break;
    case WSRT_EVENT_CLOSE:
        if (ev->endpoint == WSRT_ENDPOINT_SOCKETIO && ev->conn == sio.sock) {
            sio.sock_closed = true;
            copy_text(sio.close_reason, sizeof sio.close_reason, ev->data, ev->len);
        }
        break;
    default:
        break;
    }
}

static void sio_pump(int timeout_ms) {
    const wsrt_event *evs = NULL;
    size_t n = 0;
    if (wsrt_server_poll(sio.srv, timeout_ms, &evs, &n) != WSRT_OK) return;
    for (size_t i = 0; i < n; i++) {
        if (evs[i].name == NULL || evs[i].data == NULL || (evs[i].attachment_count > 0) != (evs[i].attachments != NULL))
            sio.bad_records++;
        sio.events++;
        sio_handle(&evs[i]);
    }
}

static void test_socketio_config(void) {
    wsrt_config *cfg = NULL;
    wsrt_server *srv = NULL;
    if (wsrt_config_new("127.0.0.1:0", &cfg) != WSRT_OK) return;
    check_rc(wsrt_config_add_namespace(cfg, "/socket.io/", "/"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_namespace before its route");
    check_rc(wsrt_config_add_route(cfg, "/ws", WSRT_ROUTE_WEBSOCKET, 0, NULL), WSRT_OK, "add a WebSocket route");
    check_rc(wsrt_config_add_namespace(cfg, "/ws", "/"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_namespace on a WebSocket route");
    check_rc(wsrt_config_add_route(cfg, "/socket.io/", WSRT_ROUTE_SOCKETIO, 0, NULL), WSRT_OK,
             "wsrt_config_add_route(WSRT_ROUTE_SOCKETIO)");
    check_rc(wsrt_config_add_namespace(cfg, "/socket.io/", NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_namespace(NULL nsp)");
    check_rc(wsrt_config_add_namespace(NULL, "/socket.io/", "/"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_namespace(NULL config)");
    check_rc(wsrt_config_add_namespace(cfg, "/socket.io/", "admin"), WSRT_OK,
             "wsrt_config_add_namespace takes a name it does not check");
    check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new refuses namespace \"admin\"");
    check(strstr(wsrt_last_error(), "admin") != NULL, "naming it (\"%s\")", wsrt_last_error());
    wsrt_config_free(cfg);

    cfg = NULL;
    if (wsrt_config_new("127.0.0.1:0", &cfg) != WSRT_OK) return;
    check_rc(wsrt_config_add_route(cfg, "/engine.io/", WSRT_ROUTE_ENGINEIO, WSRT_ROUTE_APPROVE, NULL), WSRT_OK,
             "wsrt_config_add_route(WSRT_ROUTE_ENGINEIO, APPROVE)");
    check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_server_new refuses approval on a plain Engine.IO route");
    wsrt_config_free(cfg);

    cfg = NULL;
    if (wsrt_config_new("127.0.0.1:0", &cfg) != WSRT_OK) return;
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_CORS_ORIGINS, "*"), WSRT_OK, "wsrt_config_add_item(CORS_ORIGINS, \"*\")");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_ALLOWED_ORIGINS, "https://app.example"), WSRT_OK,
             "wsrt_config_add_item(ALLOWED_ORIGINS)");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, "5"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_item on an option that is not a list");
    check(strstr(wsrt_last_error(), "WSRT_OPT_IDLE_TIMEOUT_MS") != NULL, "naming it (\"%s\")", wsrt_last_error());
    check_rc(wsrt_config_add_item(cfg, 0, "x"), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_add_item(option 0)");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_CORS_ORIGINS, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_item(NULL value)");
    check_rc(wsrt_config_add_item(NULL, WSRT_OPT_CORS_ORIGINS, "*"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_item(NULL config)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_CORS_ORIGINS, 1), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set on a list option");
    check_rc(wsrt_config_set_by_name(cfg, "cors_origins", "https://a.example, https://b.example"), WSRT_OK,
             "wsrt_config_set_by_name(\"cors_origins\", a comma-separated list)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_CORS_CREDENTIALS, 1), WSRT_OK, "wsrt_config_set(CORS_CREDENTIALS, 1)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_CORS_CREDENTIALS, 2), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set(CORS_CREDENTIALS, 2)");
    check_rc(wsrt_config_set_by_name(cfg, "cors_credentials", "0"), WSRT_OK,
             "wsrt_config_set_by_name(\"cors_credentials\", \"0\")");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_CORS_ORIGINS, "bad\r\norigin"), WSRT_OK,
             "wsrt_config_add_item takes an origin it does not check");
    check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new refuses an origin with CR LF");
    wsrt_config_free(cfg);
}

static wsrt_broadcast_opts sio_opts_after;

static bool sio_client_done(void) { return atomic_load(&sio.c_sio.done) && sio.sock_closed; }

static void test_socketio(void) {
    test_socketio_config();

    wsrt_config *cfg = NULL;
    if (!check_rc(wsrt_config_new("127.0.0.1:0", &cfg), WSRT_OK, "wsrt_config_new for the Socket.IO server")) return;
    check_rc(wsrt_config_add_route(cfg, "/socket.io/", WSRT_ROUTE_SOCKETIO, WSRT_ROUTE_APPROVE, NULL), WSRT_OK,
             "add route /socket.io/ (WSRT_ROUTE_SOCKETIO, APPROVE)");
    check_rc(wsrt_config_add_namespace(cfg, "/socket.io/", "/"), WSRT_OK, "wsrt_config_add_namespace(\"/\")");
    check_rc(wsrt_config_add_namespace(cfg, "/socket.io/", "/admin"), WSRT_OK, "wsrt_config_add_namespace(\"/admin\")");
    check_rc(wsrt_config_add_route(cfg, "/engine.io/", WSRT_ROUTE_ENGINEIO, 0, NULL), WSRT_OK,
             "add route /engine.io/ (WSRT_ROUTE_ENGINEIO)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_SIO_PING_INTERVAL_MS, 20000), WSRT_OK, "wsrt_config_set(SIO_PING_INTERVAL_MS)");
    wsrt_result r = wsrt_server_new(cfg, &sio.srv);
    wsrt_config_free(cfg);
    if (!check_rc(r, WSRT_OK, "wsrt_server_new for the Socket.IO server")) return;
    sio.port = wsrt_server_port(sio.srv);
    sio.handle = wsrt_server_handle(sio.srv);

    start_client(&sio.c_sio, client_sio);
    int64_t deadline = now_ms() + PHASE_TIMEOUT_MS;
    while (!sio_client_done() && now_ms() < deadline) sio_pump(20);
    check(sio_client_done(), "the Socket.IO client finished and its socket closed");
    join_client(&sio.c_sio);

    check(strncmp(sio.handshake, "0{\"sid\":\"", 9) == 0 && strstr(sio.handshake, "\"pingInterval\":20000") != NULL,
          "Engine.IO handshake 0{\"sid\":...,\"pingInterval\":20000} (%s)", sio.handshake);
    check(sio.request_ok, "WSRT_EVENT_REQUEST for namespace \"/\" with endpoint SOCKETIO and its request");
    check(strcmp(sio.auth, "{\"token\":\"ok\"}") == 0, "the REQUEST carries the auth payload (%s)", sio.auth);
    check(sio.open_ok && !sio.open_recovered, "WSRT_EVENT_OPEN: namespace \"/\", the auth payload, not recovered");
    check(sio.socket_id_ok, "wsrt_socket_id and wsrt_socket_by_id agree");
    check(strncmp(sio.connect_answer, "40{\"sid\":\"", 9) == 0, "the client gets CONNECT 40{\"sid\":...} (%s)",
          sio.connect_answer);
    {
        /* The id the client got is the one wsrt_socket_id gave. */
        char want[80];
        snprintf(want, sizeof want, "\"sid\":\"%s\"", sio.sid);
        check(sio.sid[0] != '\0' && strstr(sio.connect_answer, want) != NULL, "the CONNECT answer names the socket's id");
    }
    check(sio.hello_ok && sio.hello_ack == 1, "WSRT_EVENT_SIO_EVENT \"hello\" with ack id 1 (got %" PRIu64 ")",
          sio.hello_ack);
    check(strcmp(sio.hello_args, "[{\"a\":1},\"x\"]") == 0, "its arguments as a JSON array (%s)", sio.hello_args);
    check(strcmp(sio.hello_answer, "431[\"fine\"]") == 0, "wsrt_handle_ack reaches the client as 431[\"fine\"] (%s)",
          sio.hello_answer);
    check(sio.bin_ok && sio.bin_ack == WSRT_NO_ACK, "a binary event: one attachment, a placeholder, WSRT_NO_ACK");
    check(sio.bin_att_ok, "wsrt_event_attachment reads it (bytes 01 02 03) and refuses index 1 and NULL");
    check(strcmp(sio.bin_answer, "451-[\"bin-back\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID") == 0,
          "wsrt_emit with the attachment sends 451-[\"bin-back\",...] and bAQID (%s)", sio.bin_answer);
    check(sio.q_sent && strncmp(sio.question, "42", 2) == 0 && strstr(sio.question, "[\"q\"]") != NULL,
          "the emit with an ack carries an ack id (%s)", sio.question);
    check(sio.q_timed_out && sio.q_code == 1, "WSRT_EVENT_SIO_ACK with code 1 once the 300 ms pass unanswered (code %u)",
          (unsigned)sio.q_code);
    check(sio.q2_answered && sio.q2_code == 0 && strcmp(sio.q2_args, "[\"yes\"]") == 0,
          "WSRT_EVENT_SIO_ACK with code 0 and the client's [\"yes\"] (code %u, %s)", (unsigned)sio.q2_code, sio.q2_args);
    check(sio.sock_closed && strcmp(sio.close_reason, "client namespace disconnect") == 0,
          "WSRT_EVENT_CLOSE with reason \"client namespace disconnect\" (%s)", sio.close_reason);
    check(sio.reject_conn != 0, "WSRT_EVENT_REQUEST for the refused client");
    check(strcmp(sio.reject_answer, "44{\"message\":\"nope\",\"data\":{\"why\":\"bad\"}}") == 0,
          "wsrt_reject_socket answers 44{\"message\":\"nope\",\"data\":{\"why\":\"bad\"}} (%s)", sio.reject_answer);
    check(strcmp(sio.nsp_answer, "44/nowhere,{\"message\":\"Invalid namespace\"}") == 0,
          "an unknown namespace is refused by the library (%s)", sio.nsp_answer);
    check(sio.eio_open && sio.eio_msg, "plain Engine.IO: OPEN and a text MESSAGE with endpoint ENGINEIO");
    check(strcmp(sio.eio_answer, "4hello") == 0, "wsrt_send answers on the Engine.IO session (%s)", sio.eio_answer);
    check(sio.events > 0 && sio.bad_records == 0,
          "every record has a name and data, and attachments exactly when it counts some (%d events)", sio.events);
    check_rc(wsrt_emit(sio.srv, sio.sock, "x", "[]", 2, NULL, 0, 0, NULL), WSRT_ERR_UNKNOWN_CONNECTION,
             "wsrt_emit on the socket after the batch that reported its CLOSE");
    wsrt_server_free(sio.srv);
    sio.srv = NULL;
    check_rc(wsrt_handle_emit(sio.handle, 1, "x", "[]", 2, NULL, 0), WSRT_ERR_STOPPED,
             "wsrt_handle_emit after wsrt_server_free");
    check_rc(wsrt_handle_ack(sio.handle, 1, 1, "[]", 2, NULL, 0), WSRT_ERR_STOPPED, "wsrt_handle_ack after wsrt_server_free");
    memset(&sio_opts_after, 0, sizeof sio_opts_after);
    sio_opts_after.event = "news";
    check_rc(wsrt_handle_broadcast(sio.handle, &sio_opts_after), WSRT_ERR_STOPPED,
             "wsrt_handle_broadcast after wsrt_server_free");
    wsrt_handle_free(sio.handle);
    sio.handle = NULL;
}

/* ------------------------------------------------------------------ */
/* Phases                                                              */
/* ------------------------------------------------------------------ */

static void test_version(void) {
    const char *v = wsrt_version();
    bool ok = v != NULL;
    int dots = 0;
    if (ok) {
        /* MAJOR.MINOR.PATCH, optionally followed by -pre or +build */
        const char *p = v;
        for (;;) {
            if (*p < '0' || *p > '9') {
                ok = false;
                break;
            }
            while (*p >= '0' && *p <= '9') p++;
            if (dots == 2) break;
            if (*p != '.') {
                ok = false;
                break;
            }
            dots++;
            p++;
        }
        if (ok && *p != '\0' && *p != '-' && *p != '+') ok = false;
    }
    check(ok, "wsrt_version() is a semantic version (got \"%s\")", v ? v : "(NULL)");

    /* If run from the source tree, compare with the workspace version. */
    FILE *f = fopen("Cargo.toml", "r");
    if (f != NULL) {
        char line[256], want[64] = "";
        while (fgets(line, sizeof line, f) != NULL) {
            if (sscanf(line, "version = \"%63[^\"]\"", want) == 1) break;
            want[0] = '\0';
        }
        fclose(f);
        if (want[0] != '\0') check(v != NULL && strcmp(v, want) == 0, "wsrt_version() == Cargo.toml version \"%s\"", want);
    }
    check(wsrt_abi_version() == WSRT_ABI_VERSION, "wsrt_abi_version() == WSRT_ABI_VERSION (%u)",
          (unsigned)WSRT_ABI_VERSION);
    check(wsrt_last_error() != NULL && wsrt_last_error()[0] == '\0', "wsrt_last_error() is \"\" before any failure");

    for (wsrt_result r = WSRT_OK; r <= WSRT_ERR_INTERNAL; r++) {
        const char *s = wsrt_result_str(r);
        bool ok1 = s != NULL && s[0] != '\0' && strcmp(s, "unknown result code") != 0;
        check(ok1, "wsrt_result_str(%u) is a description (\"%s\")", (unsigned)r, s ? s : "(NULL)");
    }
    check(strcmp(wsrt_result_str(WSRT_OK), "ok") == 0, "wsrt_result_str(WSRT_OK) is \"ok\"");
    check(strcmp(wsrt_result_str(WSRT_ERR_STOPPED), "server stopped") == 0,
          "wsrt_result_str(WSRT_ERR_STOPPED) is \"server stopped\" (got \"%s\")", wsrt_result_str(WSRT_ERR_STOPPED));
    check(strcmp(wsrt_result_str(999), "unknown result code") == 0, "wsrt_result_str(999) is \"unknown result code\"");
    check(strcmp(wsrt_result_str(9), "unknown result code") == 0,
          "wsrt_result_str(9) is \"unknown result code\" (type errors are WSRT_ERR_INVALID_ARGUMENT in C)");
    check(strcmp(wsrt_result_str(UINT32_MAX), "unknown result code") == 0, "wsrt_result_str(UINT32_MAX) is unknown");
    check(WSRT_ERR_INVALID_ARGUMENT == 1 && WSRT_ERR_UNKNOWN_CONNECTION == 2 && WSRT_ERR_WRONG_STATE == 3 &&
              WSRT_ERR_CLOSED == 4 && WSRT_ERR_BACKPRESSURE == 5 && WSRT_ERR_STOPPED == 6 && WSRT_ERR_IO == 7 &&
              WSRT_ERR_INTERNAL == 8,
          "WSRT_ERR_* are the documented numbers 1-8");
}

/* Tries wsrt_server_new on a fresh config; returns the result. */
static wsrt_result try_server(const char *listen, const char *route_path) {
    wsrt_config *cfg = NULL;
    wsrt_server *srv = NULL;
    wsrt_result r = wsrt_config_new(listen, &cfg);
    if (r != WSRT_OK) return r;
    if (route_path != NULL) {
        r = wsrt_config_add_route(cfg, route_path, WSRT_ROUTE_WEBSOCKET, 0, NULL);
        if (r != WSRT_OK) {
            wsrt_config_free(cfg);
            return r;
        }
    }
    r = wsrt_server_new(cfg, &srv);
    if (r == WSRT_OK) wsrt_server_free(srv);
    wsrt_config_free(cfg);
    return r;
}

static void test_config_errors(void) {
    wsrt_config *cfg = NULL;
    check_rc(wsrt_config_new(NULL, &cfg), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_new(NULL listen)");
    const char *msg = wsrt_last_error();
    check(msg != NULL && msg[0] != '\0', "wsrt_last_error() non-empty after a failure (\"%s\")", msg ? msg : "");
    check_rc(wsrt_config_new("127.0.0.1:0", NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_new(out NULL)");
    check_rc(wsrt_config_new("\xff\xfe", &cfg), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_new(non-UTF-8 listen)");

    if (!check_rc(wsrt_config_new("127.0.0.1:0", &cfg), WSRT_OK, "wsrt_config_new(\"127.0.0.1:0\")")) return;
    check(cfg != NULL, "wsrt_config_new writes the config");
    check_rc(wsrt_config_set(cfg, 9999, 1), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_set(unknown option 9999)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_SLOW_CONSUMER_POLICY, 0), WSRT_ERR_INVALID_ARGUMENT,
             "WSRT_OPT_SLOW_CONSUMER_POLICY must be DROP or CLOSE");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_SLOW_CONSUMER_POLICY, WSRT_SLOW_DROP), WSRT_OK,
             "WSRT_OPT_SLOW_CONSUMER_POLICY = WSRT_SLOW_DROP");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_SLOW_CONSUMER_LIMIT, 65536), WSRT_OK, "WSRT_OPT_SLOW_CONSUMER_LIMIT");
    check(wsrt_last_error()[0] != '\0', "wsrt_last_error() non-empty after unknown option");
    check_rc(wsrt_config_set(cfg, 0, 1), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_set(option 0)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_OVERFLOW_POLICY, 7), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set(OVERFLOW_POLICY, 7)");
    check_rc(wsrt_config_set(NULL, WSRT_OPT_MAX_HEADERS, 10), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_set(NULL config)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_OVERFLOW_POLICY, WSRT_OVERFLOW_CLOSE), WSRT_OK,
             "wsrt_config_set(OVERFLOW_POLICY, WSRT_OVERFLOW_CLOSE)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_DEFLATE, 3), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_set(DEFLATE, 3)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_DEFLATE_LEVEL, 10), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set(DEFLATE_LEVEL, 10)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_DEFLATE_WINDOW_BITS, 8), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set(DEFLATE_WINDOW_BITS, 8): zlib has no raw 8-bit window");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_DEFLATE, WSRT_DEFLATE_SHARED), WSRT_OK,
             "wsrt_config_set(DEFLATE, WSRT_DEFLATE_SHARED)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_DEFLATE_WINDOW_BITS, 12), WSRT_OK, "wsrt_config_set(DEFLATE_WINDOW_BITS, 12)");
    check_rc(wsrt_config_add_route(cfg, "/x", 99, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_route(bad kind 99)");
    check_rc(wsrt_config_add_route(cfg, "/x", 0, 0, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_add_route(kind 0)");
    check_rc(wsrt_config_add_route(cfg, "/x", WSRT_ROUTE_WEBSOCKET, 0x80, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_route(unknown flag)");
    check_rc(wsrt_config_add_route(cfg, NULL, WSRT_ROUTE_SSE, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_route(NULL path)");
    check_rc(wsrt_config_add_route(cfg, "/\xc3", WSRT_ROUTE_SSE, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_route(non-UTF-8 path)");
    check_rc(wsrt_config_add_route(NULL, "/x", WSRT_ROUTE_SSE, 0, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_route(NULL config)");
    check_rc(wsrt_config_add_static(cfg, "/s", NULL, (const uint8_t *)"x", 1), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_static(NULL content type)");
    check_rc(wsrt_config_add_static(cfg, "/s", "text/plain", NULL, 5), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_static(NULL body, len 5)");
    check_rc(wsrt_config_allow_origin(cfg, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_allow_origin(NULL)");
    wsrt_server *srv = NULL;
    check_rc(wsrt_server_new(NULL, &srv), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new(NULL config)");
    check_rc(wsrt_server_new(cfg, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new(out NULL)");
    wsrt_config_free(cfg);

    check_rc(try_server("127.0.0.1:0", "noslash"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_server_new with route path \"noslash\"");
    check(wsrt_last_error()[0] != '\0', "wsrt_last_error() explains the config error (\"%s\")", wsrt_last_error());
    check_rc(try_server("nonsense", "/ok"), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new with listen \"nonsense\"");
    check_rc(try_server("127.0.0.1:99999", "/ok"), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new with listen port 99999");
    {
        wsrt_config *dup = NULL;
        wsrt_server *s = NULL;
        if (wsrt_config_new("127.0.0.1:0", &dup) == WSRT_OK) {
            wsrt_config_add_route(dup, "/same", WSRT_ROUTE_WEBSOCKET, 0, NULL);
            wsrt_config_add_route(dup, "/same", WSRT_ROUTE_SSE, 0, NULL);
            check_rc(wsrt_server_new(dup, &s), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new with two routes at one path");
            if (s != NULL) wsrt_server_free(s);
            wsrt_config_free(dup);
        }
    }
    /* A working server on a config that stays usable after wsrt_server_new. */
    {
        wsrt_config *c2 = NULL;
        wsrt_server *s1 = NULL, *s2 = NULL;
        wsrt_config_new("127.0.0.1:0", &c2);
        check_rc(wsrt_server_new(c2, &s1), WSRT_OK, "wsrt_server_new on 127.0.0.1:0 with no routes");
        check_rc(wsrt_server_new(c2, &s2), WSRT_OK, "the same config builds a second server (config only read)");
        check(s1 != NULL && s2 != NULL && wsrt_server_port(s1) != 0 && wsrt_server_port(s1) != wsrt_server_port(s2),
              "port 0 picks distinct free ports");
        wsrt_server_free(s1);
        wsrt_server_free(s2);
        wsrt_config_free(c2);
    }
}

/* One option value through wsrt_config_set: the expected result, and on
 * failure a message naming the option. */
static void set_case(wsrt_config *cfg, uint32_t opt, const char *opt_name, uint64_t value, wsrt_result want) {
    char what[160];
    snprintf(what, sizeof what, "wsrt_config_set(%s, %" PRIu64 ")", opt_name, value);
    wsrt_result r = wsrt_config_set(cfg, opt, value);
    check_rc(r, want, what);
    if (want != WSRT_OK && r == want)
        check(strstr(wsrt_last_error(), opt_name) != NULL, "%s: the message names the option (\"%s\")", what,
              wsrt_last_error());
}

#define SET_OK(cfg, opt, v) set_case(cfg, opt, #opt, v, WSRT_OK)
#define SET_BAD(cfg, opt, v) set_case(cfg, opt, #opt, v, WSRT_ERR_INVALID_ARGUMENT)

/* Option edge values: the rule for zero, the range, the messages. The
 * ranges are the core's schema (docs/API.md); the C layer only passes the
 * values on. */
static void test_options(void) {
    wsrt_config *cfg = NULL;
    if (!check_rc(wsrt_config_new("127.0.0.1:0", &cfg), WSRT_OK, "wsrt_config_new for the option checks")) return;
    const uint64_t max_ms = 2147483647u, max_bytes = ((uint64_t)1 << 53) - 1;

    /* Timers: 0 is off, 2^31-1 ms the most. */
    SET_OK(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, 0);
    SET_OK(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, 1);
    SET_OK(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, max_ms);
    SET_BAD(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, max_ms + 1);
    SET_BAD(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, UINT64_MAX);
    SET_OK(cfg, WSRT_OPT_HANDSHAKE_TIMEOUT_MS, 0);
    SET_BAD(cfg, WSRT_OPT_HANDSHAKE_TIMEOUT_MS, max_ms + 1);
    SET_OK(cfg, WSRT_OPT_CLOSE_TIMEOUT_MS, 0);
    SET_OK(cfg, WSRT_OPT_CLOSE_TIMEOUT_MS, max_ms);
    SET_BAD(cfg, WSRT_OPT_CLOSE_TIMEOUT_MS, max_ms + 1);
    SET_OK(cfg, WSRT_OPT_SSE_KEEPALIVE_MS, 0);
    SET_BAD(cfg, WSRT_OPT_SSE_KEEPALIVE_MS, max_ms + 1);
    /* Sizes and counts: 0 is no limit; below the minimum is refused. */
    SET_OK(cfg, WSRT_OPT_MAX_MESSAGE_SIZE, 0);
    SET_OK(cfg, WSRT_OPT_MAX_MESSAGE_SIZE, max_bytes);
    SET_BAD(cfg, WSRT_OPT_MAX_MESSAGE_SIZE, max_bytes + 1);
    SET_OK(cfg, WSRT_OPT_MAX_HEAD_BYTES, 0);
    SET_BAD(cfg, WSRT_OPT_MAX_HEAD_BYTES, 63);
    SET_OK(cfg, WSRT_OPT_MAX_HEAD_BYTES, 64);
    SET_OK(cfg, WSRT_OPT_MAX_HEADERS, 0);
    SET_OK(cfg, WSRT_OPT_MAX_HEADERS, 65535);
    SET_BAD(cfg, WSRT_OPT_MAX_HEADERS, 65536);
    SET_OK(cfg, WSRT_OPT_MAX_BUFFERED, 0);
    SET_BAD(cfg, WSRT_OPT_MAX_BUFFERED, 1023);
    SET_OK(cfg, WSRT_OPT_MAX_BUFFERED, 1024);
    SET_OK(cfg, WSRT_OPT_READ_PAUSE_BUFFERED, 0);
    SET_OK(cfg, WSRT_OPT_READ_PAUSE_BUFFERED, max_bytes);
    SET_BAD(cfg, WSRT_OPT_READ_PAUSE_BUFFERED, max_bytes + 1);
    SET_OK(cfg, WSRT_OPT_MAX_CONNECTIONS, 0);
    SET_OK(cfg, WSRT_OPT_MAX_CONNECTIONS, 16777215);
    SET_BAD(cfg, WSRT_OPT_MAX_CONNECTIONS, 16777216);
    SET_OK(cfg, WSRT_OPT_DEFLATE_THRESHOLD, 0);
    SET_BAD(cfg, WSRT_OPT_DEFLATE_THRESHOLD, max_bytes + 1);
    SET_OK(cfg, WSRT_OPT_SLOW_CONSUMER_LIMIT, 0);
    SET_BAD(cfg, WSRT_OPT_SLOW_CONSUMER_LIMIT, 1023);
    SET_OK(cfg, WSRT_OPT_SLOW_CONSUMER_LIMIT, 65536);
    /* Levels: 0 is a value where the range holds it, refused where not. */
    SET_OK(cfg, WSRT_OPT_DEFLATE_LEVEL, 0);
    SET_OK(cfg, WSRT_OPT_DEFLATE_LEVEL, 9);
    SET_BAD(cfg, WSRT_OPT_DEFLATE_LEVEL, 10);
    SET_BAD(cfg, WSRT_OPT_DEFLATE_WINDOW_BITS, 0);
    SET_BAD(cfg, WSRT_OPT_DEFLATE_WINDOW_BITS, 8);
    SET_OK(cfg, WSRT_OPT_DEFLATE_WINDOW_BITS, 9);
    SET_OK(cfg, WSRT_OPT_DEFLATE_WINDOW_BITS, 15);
    SET_BAD(cfg, WSRT_OPT_DEFLATE_WINDOW_BITS, 16);
    /* Choices: by number; 0 only where a choice has it. */
    SET_OK(cfg, WSRT_OPT_OVERFLOW_POLICY, WSRT_OVERFLOW_REJECT);
    SET_OK(cfg, WSRT_OPT_OVERFLOW_POLICY, WSRT_OVERFLOW_CLOSE);
    SET_BAD(cfg, WSRT_OPT_OVERFLOW_POLICY, 2);
    SET_OK(cfg, WSRT_OPT_DEFLATE, WSRT_DEFLATE_OFF);
    SET_OK(cfg, WSRT_OPT_DEFLATE, WSRT_DEFLATE_PER_CONNECTION);
    SET_BAD(cfg, WSRT_OPT_DEFLATE, 3);
    SET_BAD(cfg, WSRT_OPT_SLOW_CONSUMER_POLICY, 0);
    SET_OK(cfg, WSRT_OPT_SLOW_CONSUMER_POLICY, WSRT_SLOW_DROP);
    SET_OK(cfg, WSRT_OPT_SLOW_CONSUMER_POLICY, WSRT_SLOW_CLOSE);
    SET_BAD(cfg, WSRT_OPT_SLOW_CONSUMER_POLICY, 3);
    /* A list is not a number. */
    SET_BAD(cfg, WSRT_OPT_ALLOWED_ORIGINS, 1);

    /* By name, from text. */
    check_rc(wsrt_config_set_by_name(cfg, "idle_timeout_ms", "5000"), WSRT_OK,
             "wsrt_config_set_by_name(\"idle_timeout_ms\", \"5000\")");
    check_rc(wsrt_config_set_by_name(cfg, "idle_timeout_ms", "0"), WSRT_OK,
             "wsrt_config_set_by_name(\"idle_timeout_ms\", \"0\"): off");
    check_rc(wsrt_config_set_by_name(cfg, "idle_timeout_ms", "2147483648"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_by_name(\"idle_timeout_ms\", \"2147483648\")");
    check(strstr(wsrt_last_error(), "idle_timeout_ms") != NULL, "its message names the option as given (\"%s\")",
          wsrt_last_error());
    check_rc(wsrt_config_set_by_name(cfg, "idle_timeout_ms", "-1"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_by_name(\"idle_timeout_ms\", \"-1\")");
    check_rc(wsrt_config_set_by_name(cfg, "idle_timeout_ms", "soon"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_by_name(\"idle_timeout_ms\", \"soon\") (not a number)");
    check_rc(wsrt_config_set_by_name(cfg, "deflate", "per-connection"), WSRT_OK,
             "wsrt_config_set_by_name(\"deflate\", \"per-connection\")");
    check_rc(wsrt_config_set_by_name(cfg, "deflate", "1"), WSRT_OK, "wsrt_config_set_by_name(\"deflate\", \"1\")");
    check_rc(wsrt_config_set_by_name(cfg, "deflate", "fast"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_by_name(\"deflate\", \"fast\")");
    check(strstr(wsrt_last_error(), "deflate") != NULL, "its message names the option (\"%s\")", wsrt_last_error());
    check_rc(wsrt_config_set_by_name(cfg, "slow_consumer_policy", "drop"), WSRT_OK,
             "wsrt_config_set_by_name(\"slow_consumer_policy\", \"drop\")");
    check_rc(wsrt_config_set_by_name(cfg, "allowed_origins", "https://a.example, https://b.example"), WSRT_OK,
             "wsrt_config_set_by_name(\"allowed_origins\", a comma-separated list)");
    check_rc(wsrt_config_set_by_name(cfg, "no_such_option", "1"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_by_name(unknown name)");
    check(strstr(wsrt_last_error(), "no_such_option") != NULL, "its message names the unknown option (\"%s\")",
          wsrt_last_error());
    check_rc(wsrt_config_set_by_name(cfg, NULL, "1"), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_set_by_name(NULL name)");
    check_rc(wsrt_config_set_by_name(cfg, "deflate", NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_by_name(NULL value)");
    check_rc(wsrt_config_set_by_name(NULL, "deflate", "off"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_by_name(NULL config)");

    /* Ids by name. */
    check(wsrt_option_id("idle_timeout_ms") == WSRT_OPT_IDLE_TIMEOUT_MS, "wsrt_option_id(\"idle_timeout_ms\")");
    check(wsrt_option_id("deflate_window_bits") == WSRT_OPT_DEFLATE_WINDOW_BITS,
          "wsrt_option_id(\"deflate_window_bits\")");
    check(wsrt_option_id("allowed_origins") == WSRT_OPT_ALLOWED_ORIGINS, "wsrt_option_id(\"allowed_origins\")");
    check(wsrt_option_id("nope") == 0 && wsrt_option_id(NULL) == 0 && wsrt_option_id("") == 0,
          "wsrt_option_id of an unknown name, \"\" and NULL is 0");
    check_rc(wsrt_config_set(cfg, wsrt_option_id("nope"), 1), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set(wsrt_option_id(unknown name)) fails");

    /* A refused value leaves the option as it was: the server still binds. */
    {
        wsrt_server *srv = NULL;
        wsrt_config *c2 = NULL;
        wsrt_config_new("127.0.0.1:0", &c2);
        wsrt_config_set(c2, WSRT_OPT_MAX_HEAD_BYTES, 10);
        check_rc(wsrt_server_new(c2, &srv), WSRT_OK, "a refused option value left the config valid");
        wsrt_server_free(srv);
        wsrt_config_free(c2);
    }
    wsrt_config_free(cfg);

    /* Route headers: added to a known route, checked when binding. */
    cfg = NULL;
    if (wsrt_config_new("127.0.0.1:0", &cfg) == WSRT_OK) {
        check_rc(wsrt_config_add_header(cfg, "/nope", "X-A", "1"), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_config_add_header on a path with no route");
        wsrt_config_add_route(cfg, "/ws", WSRT_ROUTE_WEBSOCKET, 0, NULL);
        check_rc(wsrt_config_add_header(cfg, "/ws", NULL, "1"), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_config_add_header(NULL name)");
        check_rc(wsrt_config_add_header(NULL, "/ws", "X-A", "1"), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_config_add_header(NULL config)");
        check_rc(wsrt_config_add_header(cfg, "/ws", "Sec-WebSocket-Accept", "x"), WSRT_OK,
                 "wsrt_config_add_header takes the header (checked when binding)");
        wsrt_server *srv = NULL;
        check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_server_new refuses a route header wsrt writes itself");
        check(wsrt_last_error()[0] != '\0', "and says why (\"%s\")", wsrt_last_error());
        if (srv != NULL) wsrt_server_free(srv);
        wsrt_config_free(cfg);
    }
    cfg = NULL;
    if (wsrt_config_new("127.0.0.1:0", &cfg) == WSRT_OK) {
        wsrt_config_allow_origin(cfg, "bad\r\norigin");
        wsrt_server *srv = NULL;
        check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_server_new refuses an origin holding CR LF");
        if (srv != NULL) wsrt_server_free(srv);
        wsrt_config_free(cfg);
    }
}

/* Host names and IPv6: the listen address binds and accepts. */
static void test_hosts(void) {
    static const struct {
        const char *listen;
        int family;
    } cases[] = {{"localhost:0", AF_INET}, {"[::1]:0", AF_INET6}, {"0.0.0.0:0", AF_INET}, {"[::]:0", AF_INET6}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        wsrt_config *cfg = NULL;
        wsrt_server *srv = NULL;
        wsrt_config_new(cases[i].listen, &cfg);
        wsrt_result r = wsrt_server_new(cfg, &srv);
        wsrt_config_free(cfg);
        char what[96];
        snprintf(what, sizeof what, "wsrt_server_new on \"%s\"", cases[i].listen);
        if (!check_rc(r, WSRT_OK, what)) continue;
        uint16_t port = wsrt_server_port(srv);
        int fd = socket(cases[i].family, SOCK_STREAM, 0);
        int ok = -1;
        if (cases[i].family == AF_INET) {
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_port = htons(port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            ok = connect(fd, (struct sockaddr *)&a, sizeof a);
        } else {
            struct sockaddr_in6 a;
            memset(&a, 0, sizeof a);
            a.sin6_family = AF_INET6;
            a.sin6_port = htons(port);
            a.sin6_addr = in6addr_loopback;
            ok = connect(fd, (struct sockaddr *)&a, sizeof a);
        }
        check(port != 0 && ok == 0, "%s: a client connects to port %u over %s", what, (unsigned)port,
              cases[i].family == AF_INET ? "127.0.0.1" : "::1");
        if (fd >= 0) close(fd);
        wsrt_server_free(srv);
    }
    check_rc(try_server("localhost", NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new on \"localhost\" (no port)");
}

static void *fresh_thread(void *arg) {
    const char **out = arg;
    *out = wsrt_last_error();
    bool empty = *out != NULL && (*out)[0] == '\0';
    wsrt_config_set(NULL, 0, 0);
    *out = empty ? "" : "not empty";
    return NULL;
}

static void test_thread_local_error(void) {
    wsrt_config_new(NULL, NULL);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", wsrt_last_error());
    const char *other = NULL;
    pthread_t t;
    if (pthread_create(&t, NULL, fresh_thread, &other) == 0) {
        pthread_join(t, NULL);
        check(other != NULL && other[0] == '\0', "wsrt_last_error() is per thread (\"\" on a new thread)");
        check(strcmp(mine, wsrt_last_error()) == 0, "another thread's failure leaves this thread's message alone");
    }
}

/* ------------------------------------------------------------------ */
/* TLS: the tls_* options from C, the TLS port, reload, and real       */
/* handshakes by the openssl CLI (s_client) reading wsrt_request_tls   */
/* ------------------------------------------------------------------ */

/* A message check: the last error holds `part`. */
static bool error_has(const char *part, const char *what) {
    return check(strstr(wsrt_last_error(), part) != NULL, "%s: the message says \"%s\" (\"%s\")", what, part,
                 wsrt_last_error());
}

/* The tls_* options without certificates: kinds, refusals, messages. */
static void test_tls_options(void) {
    wsrt_config *cfg = NULL;
    if (!check_rc(wsrt_config_new("127.0.0.1:0", &cfg), WSRT_OK, "wsrt_config_new for the TLS option checks")) return;
    check_rc(wsrt_config_set_str(cfg, WSRT_OPT_TLS_LISTEN, "127.0.0.1:0"), WSRT_OK,
             "wsrt_config_set_str(TLS_LISTEN, \"127.0.0.1:0\")");
    check_rc(wsrt_config_set_str(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, "5"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_str on a number option (IDLE_TIMEOUT_MS)");
    error_has("WSRT_OPT_IDLE_TIMEOUT_MS is not a string option", "wsrt_config_set_str(IDLE_TIMEOUT_MS)");
    error_has("wsrt_config_set", "wsrt_config_set_str(IDLE_TIMEOUT_MS) names the call to use");
    check_rc(wsrt_config_set_str(cfg, WSRT_OPT_TLS_CERT, "cert.pem"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_str on a list option (TLS_CERT)");
    error_has("WSRT_OPT_TLS_CERT is not a string option: set it with wsrt_config_add_item",
              "wsrt_config_set_str(TLS_CERT)");
    check_rc(wsrt_config_set_str(cfg, 9999, "x"), WSRT_ERR_INVALID_ARGUMENT, "wsrt_config_set_str(unknown option 9999)");
    error_has("9999", "wsrt_config_set_str(9999)");
    check_rc(wsrt_config_set_str(cfg, WSRT_OPT_TLS_LISTEN, NULL), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_str(NULL value)");
    check_rc(wsrt_config_set_str(NULL, WSRT_OPT_TLS_LISTEN, "x"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set_str(NULL config)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_TLS_LISTEN, 443), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_set on the string option TLS_LISTEN");
    error_has("WSRT_OPT_TLS_LISTEN", "wsrt_config_set(TLS_LISTEN)");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_TLS_LISTEN, "x"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_item on the string option TLS_LISTEN");
    error_has("WSRT_OPT_TLS_LISTEN is not a list: set it with wsrt_config_set_str", "wsrt_config_add_item(TLS_LISTEN)");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_IDLE_TIMEOUT_MS, "5"), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_config_add_item on a number option");
    check_rc(wsrt_config_set_by_name(cfg, "tls_listen", "127.0.0.1:0"), WSRT_OK,
             "wsrt_config_set_by_name(\"tls_listen\", ...)");
    /* tls_listen without certificates: refused by wsrt_server_new. */
    wsrt_server *srv = NULL;
    check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_new with tls_listen but no tls_cert");
    error_has("tls_listen needs tls_cert and tls_key", "wsrt_server_new(tls_listen alone)");
    if (srv != NULL) wsrt_server_free(srv);
    wsrt_config_free(cfg);

    /* Certificate and key files that are not there: the option and the
     * path are named. */
    cfg = NULL;
    if (wsrt_config_new("127.0.0.1:0", &cfg) == WSRT_OK) {
        check_rc(wsrt_config_add_item(cfg, WSRT_OPT_TLS_CERT, "/nonexistent/wsrt-test/cert.pem"), WSRT_OK,
                 "wsrt_config_add_item(TLS_CERT, a path)");
        check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_server_new with a tls_cert and no tls_key");
        error_has("tls_key", "a certificate without a key");
        check_rc(wsrt_config_add_item(cfg, WSRT_OPT_TLS_KEY, "/nonexistent/wsrt-test/key.pem"), WSRT_OK,
                 "wsrt_config_add_item(TLS_KEY, a path)");
        srv = NULL;
        check_rc(wsrt_server_new(cfg, &srv), WSRT_ERR_IO, "wsrt_server_new with a missing certificate file");
        error_has("tls_cert", "the missing certificate file");
        error_has("/nonexistent/wsrt-test/cert.pem", "the missing certificate file");
        if (srv != NULL) wsrt_server_free(srv);
        wsrt_config_free(cfg);
    }

    /* A server without TLS: no TLS port, nothing to reload. */
    cfg = NULL;
    srv = NULL;
    if (wsrt_config_new("127.0.0.1:0", &cfg) == WSRT_OK && wsrt_server_new(cfg, &srv) == WSRT_OK) {
        check(wsrt_server_tls_port(srv) == 0, "wsrt_server_tls_port of a server without TLS is 0");
        check(wsrt_server_tls_port(NULL) == 0, "wsrt_server_tls_port(NULL) is 0");
        check_rc(wsrt_server_reload_tls(srv, cfg), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_server_reload_tls on a server without TLS");
        error_has("no TLS listener", "wsrt_server_reload_tls without TLS");
        check_rc(wsrt_server_reload_tls(NULL, cfg), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_reload_tls(NULL server)");
        check_rc(wsrt_server_reload_tls(srv, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_reload_tls(NULL config)");
        wsrt_stats st;
        memset(&st, 0xff, sizeof st);
        check_rc(wsrt_server_stats(srv, &st), WSRT_OK, "wsrt_server_stats of a server without TLS");
        check(st.tls_handshakes == 0 && st.tls_failures == 0, "its TLS counters are 0");
    }
    if (srv != NULL) wsrt_server_free(srv);
    wsrt_config_free(cfg);

    wsrt_tls_info info;
    check_rc(wsrt_request_tls(NULL, &info), WSRT_ERR_INVALID_ARGUMENT, "wsrt_request_tls(NULL request)");
}

/* --- real handshakes ----------------------------------------------- */

static char tls_dir[64];

static bool run_cmd(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* Runs a shell command in tls_dir, its output into tls_dir/cmd.log. */
static bool run_cmd(const char *fmt, ...) {
    char cmd[2048], line[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "cd '%s' && { %s ; } >>cmd.log 2>&1", tls_dir, cmd);
    return system(line) == 0;
}

/* A CA, a server certificate for localhost/127.0.0.1 and a client
 * certificate, made by the openssl CLI in a fresh directory. */
static bool make_certs(void) {
    snprintf(tls_dir, sizeof tls_dir, "/tmp/wsrt-api-tls-XXXXXX");
    if (mkdtemp(tls_dir) == NULL) return false;
    static const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    return run_cmd("openssl req -x509 %s -days 1 -subj '/CN=wsrt api test CA' -keyout ca.key -out ca.pem", ec) &&
           run_cmd("openssl req %s -subj /CN=localhost -keyout key.pem -out server.csr", ec) &&
           run_cmd("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' >server.ext") &&
           run_cmd("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
                   "-extfile server.ext -out cert.pem") &&
           run_cmd("openssl req %s -subj '/O=wsrt/CN=api test client' -keyout client.key -out client.csr", ec) &&
           run_cmd("printf 'extendedKeyUsage=clientAuth\\n' >client.ext") &&
           run_cmd("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
                   "-extfile client.ext -out client.pem") &&
           run_cmd("openssl x509 -in client.pem -outform DER -out client.der");
}

static void system_rm_tls_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tls_dir);
    if (system(cmd) != 0) note("could not remove %s", tls_dir);
}

static const char *tls_path(const char *name) {
    static char buf[4][128];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tls_dir, name);
    return p;
}

typedef struct {
    pthread_t thread;
    char cmd[1024];
    uint16_t port;
    atomic_bool release; /* set by the main thread: close stdin, finish */
    atomic_bool done;
    int status;
} tls_client;

/* s_client sends a WebSocket upgrade and holds the connection until
 * released; its stdout (the server's answer) goes to a file. */
static void *tls_client_thread(void *arg) {
    tls_client *c = arg;
    FILE *p = popen(c->cmd, "w");
    if (p != NULL) {
        fprintf(p,
                "GET /echo HTTP/1.1\r\nHost: localhost:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                (unsigned)c->port, SAMPLE_KEY);
        fflush(p);
        while (!atomic_load(&c->release)) sleep_ms(5);
        c->status = pclose(p);
    } else {
        c->status = -1;
    }
    atomic_store(&c->done, true);
    return NULL;
}

typedef struct {
    bool opened;
    bool tls_rc_ok;
    bool is_tls;
    char version[32], cipher[64], server_name[64], subject[128];
    uint8_t der[4096];
    size_t der_len;
    bool der_null_iff_empty;
} tls_seen;

static void copy_str(char *dst, size_t cap, wsrt_str s) {
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* Polls `srv` until the client's OPEN arrives; reads its TLS side. */
static void tls_open(wsrt_server *srv, tls_client *c, tls_seen *seen) {
    memset(seen, 0, sizeof *seen);
    int64_t start = now_ms();
    while (!seen->opened && !atomic_load(&c->done) && now_ms() - start < PHASE_TIMEOUT_MS) {
        const wsrt_event *evs = NULL;
        size_t n = 0;
        if (wsrt_server_poll(srv, 20, &evs, &n) != WSRT_OK) break;
        for (size_t i = 0; i < n; i++) {
            if (evs[i].type != WSRT_EVENT_OPEN) continue;
            wsrt_tls_info info;
            memset(&info, 0xa5, sizeof info);
            seen->opened = true;
            seen->tls_rc_ok = wsrt_request_tls(evs[i].request, &info) == WSRT_OK;
            seen->is_tls = info.is_tls;
            copy_str(seen->version, sizeof seen->version, info.version);
            copy_str(seen->cipher, sizeof seen->cipher, info.cipher);
            copy_str(seen->server_name, sizeof seen->server_name, info.server_name);
            copy_str(seen->subject, sizeof seen->subject, info.peer_subject);
            seen->der_null_iff_empty = (info.peer_certificate == NULL) == (info.peer_certificate_len == 0);
            if (info.peer_certificate != NULL && info.peer_certificate_len <= sizeof seen->der) {
                memcpy(seen->der, info.peer_certificate, info.peer_certificate_len);
                seen->der_len = info.peer_certificate_len;
            }
            check_rc(wsrt_request_tls(evs[i].request, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_request_tls(NULL out)");
        }
    }
}

/* Releases the client and polls until it is gone. */
static void tls_finish(wsrt_server *srv, tls_client *c) {
    atomic_store(&c->release, true);
    int64_t start = now_ms();
    while (!atomic_load(&c->done) && now_ms() - start < PHASE_TIMEOUT_MS) {
        const wsrt_event *evs = NULL;
        size_t n = 0;
        wsrt_server_poll(srv, 20, &evs, &n);
    }
    pthread_join(c->thread, NULL);
}

static void tls_connect(tls_client *c, uint16_t port, const char *extra) {
    memset(c, 0, sizeof *c);
    c->port = port;
    snprintf(c->cmd, sizeof c->cmd,
             "openssl s_client -connect 127.0.0.1:%u -CAfile '%s' -verify_return_error -verify_hostname localhost "
             "-quiet -no_ign_eof %s >>'%s' 2>&1",
             (unsigned)port, tls_path("ca.pem"), extra, tls_path("s_client.log"));
    pthread_create(&c->thread, NULL, tls_client_thread, c);
}

/* A whole file, malloc'ed (the caller frees it); NULL if unreadable. */
static char *read_file_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = malloc(65536);
    *len = buf != NULL ? fread(buf, 1, 65536, f) : 0;
    fclose(f);
    return buf;
}

static bool file_has(const char *path, const char *text) {
    size_t len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return false;
    char buf[65536];
    len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    return strstr(buf, text) != NULL;
}

static void test_tls_handshakes(void) {
    if (system("openssl version >/dev/null 2>&1") != 0) {
        note("the openssl CLI is not installed: the TLS handshake checks did not run");
        return;
    }
    bool made = make_certs();
    if (tls_dir[0] != '\0' && !made) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "sed 's/^/# openssl: /' '%s/cmd.log'", tls_dir);
        if (system(cmd) != 0) note("no openssl output in %s", tls_dir);
    }
    if (!check(made, "openssl made a CA, a server and a client certificate in %s", tls_dir)) {
        if (tls_dir[0] != '\0') system_rm_tls_dir();
        return;
    }

    /* A plain listen with TLS beside it, client certificates optional. */
    wsrt_config *cfg = NULL;
    wsrt_server *srv = NULL;
    wsrt_config_new("127.0.0.1:0", &cfg);
    wsrt_config_add_route(cfg, "/echo", WSRT_ROUTE_WEBSOCKET, 0, NULL);
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_TLS_CERT, tls_path("cert.pem")), WSRT_OK, "add_item(TLS_CERT, file)");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_TLS_KEY, tls_path("key.pem")), WSRT_OK, "add_item(TLS_KEY, file)");
    check_rc(wsrt_config_add_item(cfg, WSRT_OPT_TLS_CA, tls_path("ca.pem")), WSRT_OK, "add_item(TLS_CA, file)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_TLS_CLIENT_AUTH, WSRT_TLS_CLIENT_AUTH_OPTIONAL), WSRT_OK,
             "wsrt_config_set(TLS_CLIENT_AUTH, OPTIONAL)");
    check_rc(wsrt_config_set_str(cfg, WSRT_OPT_TLS_LISTEN, "127.0.0.1:0"), WSRT_OK,
             "wsrt_config_set_str(TLS_LISTEN, \"127.0.0.1:0\")");
    wsrt_result r = wsrt_server_new(cfg, &srv);
    wsrt_config_free(cfg);
    if (!check_rc(r, WSRT_OK, "wsrt_server_new with certificates and tls_listen")) {
        system_rm_tls_dir();
        return;
    }
    uint16_t plain = wsrt_server_port(srv), tls = wsrt_server_tls_port(srv);
    check(tls != 0 && tls != plain, "wsrt_server_tls_port is tls_listen's own port (%u; plain %u)", (unsigned)tls,
          (unsigned)plain);

    /* With a client certificate and SNI. */
    tls_client c;
    tls_seen seen;
    char extra[512];
    snprintf(extra, sizeof extra, "-servername localhost -cert '%s' -key '%s'", tls_path("client.pem"),
             tls_path("client.key"));
    tls_connect(&c, tls, extra);
    tls_open(srv, &c, &seen);
    check(seen.opened, "a WebSocket opens over TLS (openssl s_client)");
    if (seen.opened) {
        check(seen.tls_rc_ok && seen.is_tls, "wsrt_request_tls: is_tls");
        check(strcmp(seen.version, "TLSv1.3") == 0, "wsrt_request_tls: version \"TLSv1.3\" (got \"%s\")", seen.version);
        check(strncmp(seen.cipher, "TLS13_", 6) == 0, "wsrt_request_tls: cipher (got \"%s\")", seen.cipher);
        check(strcmp(seen.server_name, "localhost") == 0, "wsrt_request_tls: server_name \"localhost\" (got \"%s\")",
              seen.server_name);
        check(strcmp(seen.subject, "CN=api test client,O=wsrt") == 0,
              "wsrt_request_tls: peer_subject \"CN=api test client,O=wsrt\" (got \"%s\")", seen.subject);
        size_t der_len = 0;
        uint8_t *der = (uint8_t *)read_file_bytes(tls_path("client.der"), &der_len);
        check(der != NULL && seen.der_len == der_len && memcmp(seen.der, der, der_len) == 0,
              "wsrt_request_tls: peer_certificate is the client's certificate, DER (%zu bytes)", seen.der_len);
        free(der);
    }
    tls_finish(srv, &c);
    check(file_has(tls_path("s_client.log"), "HTTP/1.1 101 Switching Protocols"),
          "s_client got the 101 over TLS, having verified the server for \"localhost\"");

    /* Without a client certificate, without SNI. */
    tls_connect(&c, tls, "-noservername");
    tls_open(srv, &c, &seen);
    check(seen.opened && seen.is_tls && seen.server_name[0] == '\0' && seen.subject[0] == '\0' && seen.der_len == 0 &&
              seen.der_null_iff_empty,
          "wsrt_request_tls without SNI or client certificate: server_name \"\", peer_subject \"\", "
          "peer_certificate NULL/0 (got \"%s\", \"%s\", %zu)",
          seen.server_name, seen.subject, seen.der_len);
    tls_finish(srv, &c);

    /* A plain request on the plain port: not TLS. */
    {
        int fd = tcp_connect(plain, NULL);
        char req[512];
        snprintf(req, sizeof req,
                 "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 SAMPLE_KEY);
        bool sent = fd >= 0 && send_str(fd, req);
        bool opened = false;
        wsrt_tls_info info;
        memset(&info, 0xa5, sizeof info);
        int64_t start = now_ms();
        while (sent && !opened && now_ms() - start < PHASE_TIMEOUT_MS) {
            const wsrt_event *evs = NULL;
            size_t n = 0;
            wsrt_server_poll(srv, 20, &evs, &n);
            for (size_t i = 0; i < n; i++)
                if (evs[i].type == WSRT_EVENT_OPEN) {
                    opened = wsrt_request_tls(evs[i].request, &info) == WSRT_OK;
                }
        }
        check(opened && !info.is_tls && info.version.len == 0 && info.version.ptr != NULL && info.cipher.len == 0 &&
                  info.server_name.len == 0 && info.peer_subject.len == 0 && info.peer_certificate == NULL &&
                  info.peer_certificate_len == 0,
              "wsrt_request_tls on the plain port: is_tls false, empty strings, no certificate");
        if (fd >= 0) close(fd);
    }

    /* Plain HTTP on the TLS port: a 400, counted as a TLS failure. */
    {
        int fd = tcp_connect(tls, NULL);
        bool sent = fd >= 0 && send_str(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        wsrt_stats st;
        memset(&st, 0, sizeof st);
        int64_t start = now_ms();
        while (sent && st.tls_failures == 0 && now_ms() - start < PHASE_TIMEOUT_MS) {
            const wsrt_event *evs = NULL;
            size_t n = 0;
            wsrt_server_poll(srv, 20, &evs, &n);
            wsrt_server_stats(srv, &st);
        }
        char answer[1024];
        bool eof = false;
        if (fd >= 0) read_to_eof(fd, answer, sizeof answer, &eof);
        check(sent && strncmp(answer, "HTTP/1.1 400 ", 13) == 0, "plain HTTP on the TLS port is answered 400");
        check(st.tls_handshakes >= 2 && st.tls_failures >= 1,
              "wsrt_stats counts TLS handshakes (%" PRIu64 ") and failures (%" PRIu64 ")", st.tls_handshakes,
              st.tls_failures);
        if (fd >= 0) close(fd);
    }

    /* Reload: the same files again, then broken ones, then a new tls_listen. */
    wsrt_config *re = NULL;
    wsrt_config_new("127.0.0.1:0", &re);
    wsrt_config_add_item(re, WSRT_OPT_TLS_CERT, tls_path("cert.pem"));
    wsrt_config_add_item(re, WSRT_OPT_TLS_KEY, tls_path("key.pem"));
    check_rc(wsrt_server_reload_tls(srv, re), WSRT_OK, "wsrt_server_reload_tls with good files");
    wsrt_config_free(re);
    re = NULL;
    wsrt_config_new("127.0.0.1:0", &re);
    wsrt_config_add_item(re, WSRT_OPT_TLS_CERT, tls_path("missing.pem"));
    wsrt_config_add_item(re, WSRT_OPT_TLS_KEY, tls_path("key.pem"));
    check_rc(wsrt_server_reload_tls(srv, re), WSRT_ERR_IO, "wsrt_server_reload_tls with a missing file");
    error_has(tls_path("missing.pem"), "wsrt_server_reload_tls(missing file)");
    wsrt_config_free(re);
    re = NULL;
    wsrt_config_new("127.0.0.1:0", &re);
    wsrt_config_add_item(re, WSRT_OPT_TLS_CERT, tls_path("cert.pem"));
    wsrt_config_add_item(re, WSRT_OPT_TLS_KEY, tls_path("key.pem"));
    wsrt_config_set_str(re, WSRT_OPT_TLS_LISTEN, "127.0.0.1:1");
    check_rc(wsrt_server_reload_tls(srv, re), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_reload_tls with a new tls_listen");
    error_has("tls_listen cannot change", "wsrt_server_reload_tls(new tls_listen)");
    wsrt_config_free(re);

    /* Still serving after the refused reloads. */
    tls_connect(&c, tls, "-servername localhost");
    tls_open(srv, &c, &seen);
    check(seen.opened && seen.is_tls, "a TLS connection opens after the refused reloads");
    tls_finish(srv, &c);
    wsrt_server_free(srv);

    /* TLS on the listen port itself: the TLS port is the port. */
    cfg = NULL;
    srv = NULL;
    wsrt_config_new("127.0.0.1:0", &cfg);
    wsrt_config_add_item(cfg, WSRT_OPT_TLS_CERT, tls_path("cert.pem"));
    wsrt_config_add_item(cfg, WSRT_OPT_TLS_KEY, tls_path("key.pem"));
    if (check_rc(wsrt_server_new(cfg, &srv), WSRT_OK, "wsrt_server_new with certificates on the listen port")) {
        check(wsrt_server_tls_port(srv) == wsrt_server_port(srv) && wsrt_server_port(srv) != 0,
              "wsrt_server_tls_port is the listen port when it speaks TLS");
        wsrt_server_free(srv);
    }
    wsrt_config_free(cfg);
    system_rm_tls_dir();
}

/* ------------------------------------------------------------------ */
/* wsrt_server_free with connections open and events borrowed          */
/* ------------------------------------------------------------------ */

/* A server is freed in the middle of its life: WebSockets (one with
 * deflate negotiated, one in its close handshake) and an event stream
 * open, all subscribed to a topic with history, megabytes queued for a
 * peer that does not read, user data set, the events of the last
 * wsrt_server_poll still borrowed (never read after the free: the header
 * says they die with it), and another thread calling through a
 * wsrt_handle all along. Under valgrind (`make test-valgrind`,
 * tests/reliability/README.md) this must free everything without an
 * invalid read or write and without a leak; here the peers must see their
 * connections end and the handle must fail with STOPPED. */

enum { FREE_WS_CLIENTS = 2, FREE_BIG = 256 * 1024 };

typedef struct {
    pthread_t thread;
    bool started;
    bool sse;
    bool deflate;        /* offers permessage-deflate */
    atomic_bool opened;  /* handshake answered, first message sent */
    atomic_bool ended;   /* saw EOF or a reset after the free */
    atomic_bool done;
} free_client;

static struct {
    uint16_t port;
    atomic_bool freed;
    atomic_bool stop_handle_thread;
    atomic_int handle_stopped; /* calls that returned WSRT_ERR_STOPPED */
    atomic_int handle_other;   /* calls that returned anything but OK/STOPPED */
    wsrt_handle *handle;
} fr;

static void *free_client_thread(void *arg) {
    free_client *c = arg;
    char head[2048];
    int fd = tcp_connect(fr.port, NULL);
    if (fd < 0) goto out;
    if (c->sse) {
        char req[256];
        snprintf(req, sizeof req, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: text/event-stream\r\n\r\n",
                 (unsigned)fr.port);
        if (!send_str(fd, req) || read_head(fd, head, sizeof head) <= 0) goto out;
    } else {
        const char *offer = c->deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "";
        if (!ws_handshake(fd, fr.port, "/ws", offer, head, sizeof head)) goto out;
        if (c->deflate && strstr(head, "permessage-deflate") == NULL) goto out;
        if (!ws_send_frame(fd, true, OP_TEXT, c->deflate ? "deflate" : "plain", c->deflate ? 7 : 5)) goto out;
    }
    atomic_store(&c->opened, true);
    /* Read nothing until the server is gone, then drain to the end. */
    int64_t start = now_ms();
    while (!atomic_load(&fr.freed) && now_ms() - start < PHASE_TIMEOUT_MS) sleep_ms(5);
    char scratch[16384];
    for (;;) {
        ssize_t r = recv(fd, scratch, sizeof scratch, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r > 0) continue;
        if (r == 0 || errno == ECONNRESET) atomic_store(&c->ended, true);
        break; /* a timeout (EAGAIN) leaves `ended` false */
    }
out:
    if (fd >= 0) close(fd);
    atomic_store(&c->done, true);
    return NULL;
}

/* Calls through the handle until the server is gone and a while after. */
static void *free_handle_thread(void *arg) {
    (void)arg;
    const uint8_t *x = (const uint8_t *)"from another thread";
    while (!atomic_load(&fr.stop_handle_thread)) {
        wsrt_result r[3] = {wsrt_handle_publish(fr.handle, "room", x, 19, true, NULL), wsrt_handle_wake(fr.handle),
                            wsrt_handle_send(fr.handle, 1, x, 19, true)};
        for (int i = 0; i < 3; i++) {
            if (r[i] == WSRT_ERR_STOPPED)
                atomic_fetch_add(&fr.handle_stopped, 1);
            else if (r[i] != WSRT_OK && !(i == 2 && r[i] == WSRT_ERR_UNKNOWN_CONNECTION))
                atomic_fetch_add(&fr.handle_other, 1);
        }
        sleep_ms(1);
    }
    return NULL;
}

/* --- one poll per loop: wsrt_server_split (thread-per-core) ------------- */

#define SPLIT_CLIENTS 12

typedef struct {
    wsrt_loop *lp;
    atomic_int opens;
    wsrt_result last_rc;
} split_thread;

/* One loop's thread: polls its loop, answers every message through a
 * handle, until a shutdown has ended the loop. */
static void *split_loop_thread(void *arg) {
    split_thread *t = arg;
    wsrt_handle *h = wsrt_loop_handle(t->lp);
    while (!wsrt_loop_is_finished(t->lp)) {
        const wsrt_event *ev = NULL;
        size_t n = 0;
        wsrt_result r = wsrt_loop_poll(t->lp, 50, &ev, &n);
        if (r != WSRT_OK) {
            t->last_rc = r;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (ev[i].type == WSRT_EVENT_OPEN) atomic_fetch_add(&t->opens, 1);
            if (ev[i].type == WSRT_EVENT_MESSAGE) {
                wsrt_result s = wsrt_handle_send(h, ev[i].conn, ev[i].data, ev[i].len, ev[i].is_text);
                if (s != WSRT_OK) t->last_rc = s;
            }
        }
    }
    wsrt_handle_free(h);
    return NULL;
}

static void test_split_loops(void) {
    note("one poll per loop (wsrt_server_split)");
    wsrt_config *cfg = NULL;
    if (!check_rc(wsrt_config_new("127.0.0.1:0", &cfg), WSRT_OK, "split: wsrt_config_new")) return;
    check_rc(wsrt_config_add_route(cfg, "/echo", WSRT_ROUTE_WEBSOCKET, 0, NULL), WSRT_OK, "split: add /echo");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_WORKERS, 2), WSRT_OK, "split: WSRT_OPT_WORKERS 2");
    wsrt_server *srv = NULL;
    wsrt_result r = wsrt_server_new(cfg, &srv);
    wsrt_config_free(cfg);
    if (!check_rc(r, WSRT_OK, "split: wsrt_server_new with 2 loops")) return;
    uint16_t port = wsrt_server_port(srv);
    check(wsrt_server_loop_count(srv) == 2, "wsrt_server_loop_count is 2 (%zu)", wsrt_server_loop_count(srv));
    wsrt_loop *loops[2] = {NULL, NULL};
    size_t count = 99;
    check_rc(wsrt_server_split(srv, loops, 1, &count), WSRT_ERR_INVALID_ARGUMENT,
             "wsrt_server_split with room for 1 of 2 loops");
    check(count == 0 && loops[0] == NULL, "a refused split hands nothing out (count %zu)", count);
    if (!check_rc(wsrt_server_split(srv, loops, 2, &count), WSRT_OK, "wsrt_server_split into 2 loops")) return;
    check(count == 2 && wsrt_loop_index(loops[0]) == 0 && wsrt_loop_index(loops[1]) == 1,
          "two loops, indexes 0 and 1");
    check(wsrt_loop_fd(loops[0]) >= 0 && wsrt_loop_fd(loops[0]) != wsrt_loop_fd(loops[1]),
          "each loop has a descriptor of its own");
    wsrt_handle *h = wsrt_loop_handle(loops[0]);
    split_thread t[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        t[i].lp = loops[i];
        atomic_init(&t[i].opens, 0);
        t[i].last_rc = WSRT_OK;
        pthread_create(&th[i], NULL, split_loop_thread, &t[i]);
    }
    int fds[SPLIT_CLIENTS];
    char head[1024];
    for (int i = 0; i < SPLIT_CLIENTS; i++) {
        fds[i] = tcp_connect(port, NULL);
        check(fds[i] >= 0 && ws_handshake(fds[i], port, "/echo", "", head, sizeof head) &&
                  strstr(head, " 101 ") != NULL,
              "split: client %d opens /echo", i);
    }
    for (int i = 0; i < SPLIT_CLIENTS; i++) {
        char text[32];
        snprintf(text, sizeof text, "split %d", i);
        ws_send_frame(fds[i], true, OP_TEXT, text, strlen(text));
        expect_text(fds[i], text, "split: the loop's thread answers through a handle");
    }
    int o0 = atomic_load(&t[0].opens), o1 = atomic_load(&t[1].opens);
    check(o0 + o1 == SPLIT_CLIENTS && o0 > 0 && o1 > 0,
          "each loop's thread saw its own opens (%d + %d of %d)", o0, o1, SPLIT_CLIENTS);
    check_rc(wsrt_handle_shutdown(h), WSRT_OK, "split: wsrt_handle_shutdown reaches every loop");
    for (int i = 0; i < SPLIT_CLIENTS; i++) {
        expect_close(fds[i], 1001, "split: every client gets 1001");
        ws_send_close(fds[i], 1001, "");
        close(fds[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        check_rc(t[i].last_rc, WSRT_OK, "split: the loop's polls and sends succeeded");
        check(wsrt_loop_is_finished(loops[i]), "split: loop %d is finished", i);
        wsrt_loop_free(loops[i]);
    }
    check_rc(wsrt_handle_shutdown(h), WSRT_ERR_STOPPED, "split: the handle fails once the loops are freed");
    wsrt_handle_free(h);
}

static void test_free_with_open_connections(void) {
    wsrt_config *cfg = NULL;
    wsrt_server *srv = NULL;
    if (!check_rc(wsrt_config_new("127.0.0.1:0", &cfg), WSRT_OK, "free-while-open: wsrt_config_new")) return;
    check_rc(wsrt_config_add_route(cfg, "/ws", WSRT_ROUTE_WEBSOCKET, 0, NULL), WSRT_OK, "free-while-open: route /ws");
    check_rc(wsrt_config_add_route(cfg, "/sse", WSRT_ROUTE_SSE, 0, NULL), WSRT_OK, "free-while-open: route /sse");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_DEFLATE, WSRT_DEFLATE_PER_CONNECTION), WSRT_OK,
             "free-while-open: deflate per connection");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_SSE_KEEPALIVE_MS, 0), WSRT_OK, "free-while-open: no keep-alives");
    /* The peer with megabytes queued skips publishes rather than being
     * closed: it must still be open at the free. */
    check_rc(wsrt_config_set(cfg, WSRT_OPT_SLOW_CONSUMER_POLICY, WSRT_SLOW_DROP), WSRT_OK,
             "free-while-open: slow subscribers skip publishes");
    wsrt_result r = wsrt_server_new(cfg, &srv);
    wsrt_config_free(cfg);
    if (!check_rc(r, WSRT_OK, "free-while-open: wsrt_server_new") || srv == NULL) return;
    fr.port = wsrt_server_port(srv);
    atomic_store(&fr.freed, false);
    atomic_store(&fr.stop_handle_thread, false);
    check_rc(wsrt_set_topic_history(srv, "room", 50, 0), WSRT_OK, "free-while-open: topic history");
    fr.handle = wsrt_server_handle(srv);
    check(fr.handle != NULL, "free-while-open: wsrt_server_handle");

    free_client clients[FREE_WS_CLIENTS + 1];
    memset(clients, 0, sizeof clients);
    clients[0].deflate = true;
    clients[FREE_WS_CLIENTS].sse = true;
    for (int i = 0; i <= FREE_WS_CLIENTS; i++)
        clients[i].started = pthread_create(&clients[i].thread, NULL, free_client_thread, &clients[i]) == 0;
    pthread_t handle_thread;
    bool handle_started = fr.handle != NULL && pthread_create(&handle_thread, NULL, free_handle_thread, NULL) == 0;

    /* Incompressible, so deflate cannot shrink what stays queued. */
    uint8_t *big = malloc(FREE_BIG);
    if (big != NULL) {
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < FREE_BIG; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            big[i] = (uint8_t)x;
        }
    }
    /* Poll until every client is open and each WebSocket's message is in;
     * the batch that completes this is the last: its events stay borrowed. */
    int opens = 0, sse_opens = 0, messages = 0, user_data_seen = 0;
    wsrt_conn deflate_conn = 0;
    size_t last_n = 0;
    const wsrt_event *borrowed = NULL;
    int64_t deadline = now_ms() + PHASE_TIMEOUT_MS;
    while ((opens < FREE_WS_CLIENTS || sse_opens < 1 || messages < FREE_WS_CLIENTS) && now_ms() < deadline) {
        const wsrt_event *ev = NULL;
        size_t n = 0;
        if (wsrt_server_poll(srv, 20, &ev, &n) != WSRT_OK) break;
        if (n == 0) continue;
        borrowed = ev;
        last_n = n;
        for (size_t i = 0; i < n; i++) {
            if (ev[i].user_data == (void *)&fr) user_data_seen++;
            switch (ev[i].type) {
            case WSRT_EVENT_OPEN:
                opens++;
                wsrt_set_user_data(srv, ev[i].conn, &fr);
                wsrt_subscribe(srv, ev[i].conn, "room", NULL);
                break;
            case WSRT_EVENT_SSE_OPEN:
                sse_opens++;
                wsrt_set_user_data(srv, ev[i].conn, &fr);
                wsrt_resume(srv, ev[i].conn, "room", NULL, NULL);
                break;
            case WSRT_EVENT_MESSAGE:
                messages++;
                /* Megabytes queued for a peer that does not read (the
                 * one without deflate: compressing them is slow under
                 * valgrind), a compressed message for the other: freed
                 * with the server, never written. */
                if (big != NULL && ev[i].len == 5)
                    for (int k = 0; k < 32; k++)
                        if (wsrt_send(srv, ev[i].conn, big, FREE_BIG, false) != WSRT_OK) break;
                if (ev[i].len == 7) {
                    static char text[4096];
                    memset(text, 'z', sizeof text);
                    wsrt_send(srv, ev[i].conn, (const uint8_t *)text, sizeof text, true);
                }
                wsrt_publish(srv, "room", ev[i].data, ev[i].len, ev[i].is_text, NULL, NULL);
                if (ev[i].len == 7) deflate_conn = ev[i].conn;
                break;
            default:
                break;
            }
        }
    }
    free(big);
    check(opens == FREE_WS_CLIENTS && sse_opens == 1 && messages == FREE_WS_CLIENTS,
          "free-while-open: %d WebSockets and a stream open, a message from each (opens %d, sse %d, messages %d)",
          FREE_WS_CLIENTS, opens, sse_opens, messages);
    check(user_data_seen >= 1, "free-while-open: events carry the user data set (%d)", user_data_seen);
    check(wsrt_server_connection_count(srv) == FREE_WS_CLIENTS + 1, "free-while-open: %zu connections open at the free",
          wsrt_server_connection_count(srv));
    {
        wsrt_stats st;
        if (wsrt_server_stats(srv, &st) == WSRT_OK)
            check(st.buffered_bytes > (size_t)4 * FREE_BIG, "free-while-open: %zu bytes still queued at the free",
                  st.buffered_bytes);
    }
    /* One connection in its close handshake at the free. */
    check_rc(wsrt_close(srv, deflate_conn, 1001, "going"), WSRT_OK, "free-while-open: wsrt_close one WebSocket");
    check(borrowed != NULL && last_n > 0, "free-while-open: the last poll's %zu events are still borrowed", last_n);

    wsrt_server_free(srv); /* events borrowed, connections open, bytes queued */
    srv = NULL;
    borrowed = NULL; /* dead with the server: never read again */
    atomic_store(&fr.freed, true);
    check(true, "free-while-open: wsrt_server_free returned");

    for (int i = 0; i <= FREE_WS_CLIENTS; i++)
        if (clients[i].started) pthread_join(clients[i].thread, NULL);
    for (int i = 0; i <= FREE_WS_CLIENTS; i++)
        check(atomic_load(&clients[i].opened) && atomic_load(&clients[i].ended),
              "free-while-open: client %d (%s) saw its connection end after the free", i,
              clients[i].sse ? "SSE" : "WebSocket");

    /* The handle thread goes on a little after the free, then stops. */
    if (handle_started) {
        int64_t until = now_ms() + 2000;
        while (atomic_load(&fr.handle_stopped) == 0 && now_ms() < until) sleep_ms(5);
        atomic_store(&fr.stop_handle_thread, true);
        pthread_join(handle_thread, NULL);
        check(atomic_load(&fr.handle_stopped) > 0, "free-while-open: handle calls fail with STOPPED after the free (%d)",
              atomic_load(&fr.handle_stopped));
        check(atomic_load(&fr.handle_other) == 0,
              "free-while-open: handle calls only ever gave OK or STOPPED (%d others)", atomic_load(&fr.handle_other));
    }
    check_rc(wsrt_handle_wake(fr.handle), WSRT_ERR_STOPPED, "free-while-open: wsrt_handle_wake after the free");
    wsrt_handle_free(fr.handle);
    fr.handle = NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(WATCHDOG_SECONDS);

    /* --- library identity and configuration errors ---------------- */
    test_version();
    test_config_errors();
    test_options();
    test_hosts();
    test_thread_local_error();
    test_socketio();
    test_tls_options();
    test_tls_handshakes();
    test_free_with_open_connections();
    test_split_loops();

    /* --- the server under test ------------------------------------ */
    wsrt_config *cfg = NULL;
    if (!check_rc(wsrt_config_new("127.0.0.1:0", &cfg), WSRT_OK, "wsrt_config_new for the test server")) goto done;
    check_rc(wsrt_config_add_route(cfg, "/echo", WSRT_ROUTE_WEBSOCKET, 0, NULL), WSRT_OK, "add route /echo (WebSocket)");
    check_rc(wsrt_config_add_route(cfg, "/sse", WSRT_ROUTE_SSE, 0, NULL), WSRT_OK, "add route /sse (SSE)");
    check_rc(wsrt_config_add_route(cfg, "/auth", WSRT_ROUTE_WEBSOCKET, WSRT_ROUTE_APPROVE, "chat,superchat"), WSRT_OK,
             "add route /auth (WebSocket, APPROVE, \"chat,superchat\")");
    check_rc(wsrt_config_add_static(cfg, "/", "text/html; charset=utf-8", (const uint8_t *)STATIC_BODY,
                                    strlen(STATIC_BODY)),
             WSRT_OK, "add static page /");
    check_rc(wsrt_config_add_header(cfg, "/echo", "X-Route", "echo"), WSRT_OK, "wsrt_config_add_header on /echo");
    check_rc(wsrt_config_add_header(cfg, "/sse", "X-Route", "sse"), WSRT_OK, "wsrt_config_add_header on /sse");
    check_rc(wsrt_config_add_header(cfg, "/", "Cache-Control", "no-store"), WSRT_OK,
             "wsrt_config_add_header on the static page");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_SSE_KEEPALIVE_MS, 0), WSRT_OK, "wsrt_config_set(SSE_KEEPALIVE_MS, 0)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_CLOSE_TIMEOUT_MS, 3000), WSRT_OK, "wsrt_config_set(CLOSE_TIMEOUT_MS, 3000)");
    check_rc(wsrt_config_set(cfg, WSRT_OPT_MAX_MESSAGE_SIZE, 1 << 20), WSRT_OK, "wsrt_config_set(MAX_MESSAGE_SIZE)");
    wsrt_result r = wsrt_server_new(cfg, &g.srv);
    wsrt_config_free(cfg);
    if (!check_rc(r, WSRT_OK, "wsrt_server_new for the test server") || g.srv == NULL) goto done;
    server_port = wsrt_server_port(g.srv);
    check(server_port != 0, "wsrt_server_port gives the bound port (%u)", (unsigned)server_port);
    check(wsrt_server_connection_count(g.srv) == 0, "wsrt_server_connection_count == 0 at start");
    check(!wsrt_server_is_finished(g.srv), "wsrt_server_is_finished false before a shutdown");
    {
        int64_t t = wsrt_server_next_timeout_ms(g.srv);
        check(t == -1 || t >= 0, "wsrt_server_next_timeout_ms is -1 or >= 0 (%" PRId64 ")", t);
    }

    /* Binding the port in use fails with an I/O error. */
    {
        char listen[64];
        snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)server_port);
        check_rc(try_server(listen, "/x"), WSRT_ERR_IO, "wsrt_server_new on a port already in use");
        check(wsrt_last_error()[0] != '\0', "wsrt_last_error() explains the bind failure (\"%s\")", wsrt_last_error());
    }

    g.handle = wsrt_server_handle(g.srv);
    check(g.handle != NULL, "wsrt_server_handle returns a handle");

    /* --- wsrt_server_fd becomes readable on a new connection ------ */
    {
        int fd = wsrt_server_fd(g.srv);
        check(fd >= 0, "wsrt_server_fd is a valid descriptor (%d)", fd);
        start_client(&c_static, client_static);
        if (fd >= 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            int pr;
            do {
                pr = poll(&pfd, 1, 5000);
            } while (pr < 0 && errno == EINTR);
            check(pr == 1 && (pfd.revents & POLLIN), "wsrt_server_fd becomes readable when a client connects");
            /* As documented: readable -> wsrt_server_poll with timeout 0. */
            const wsrt_event *evs = NULL;
            size_t n = 0;
            check_rc(wsrt_server_poll(g.srv, 0, &evs, &n), WSRT_OK, "wsrt_server_poll(timeout 0) after fd readable");
            for (size_t i = 0; i < n; i++) handle_event(&evs[i]);
        }
        run_until(static_done, PHASE_TIMEOUT_MS, "static page client");
        join_client(&c_static);
    }

    /* --- /echo ---------------------------------------------------- */
    start_client(&c_echo, client_echo);
    run_until(echo_done, PHASE_TIMEOUT_MS, "echo client, its CLOSE event and a WAKE");
    join_client(&c_echo);
    if (g.handle_thread_started) pthread_join(g.handle_thread, NULL);
    check(g.echo_open, "WSRT_EVENT_OPEN for /echo");
    check(g.pong_seen, "WSRT_EVENT_PONG after wsrt_ping");
    check(g.wakes >= 1, "WSRT_EVENT_WAKE after wsrt_handle_wake from another thread");
    check(g.echo_closed && g.echo_close_code == 4001, "CLOSE event code 4001 (got %u)", (unsigned)g.echo_close_code);
    check(g.echo_closed && strcmp(g.echo_close_reason, "bye") == 0, "CLOSE event reason \"bye\" (got \"%s\")",
          g.echo_close_reason);
    check(g.handle_pong_seen, "WSRT_EVENT_PONG answers wsrt_handle_ping");
    check_rc(wsrt_send(g.srv, g.echo_conn, (const uint8_t *)"late", 4, true), WSRT_ERR_UNKNOWN_CONNECTION,
             "wsrt_send after the batch that reported CLOSE");
    check(wsrt_state(g.srv, g.echo_conn) == WSRT_STATE_CLOSED, "wsrt_state after CLOSE is WSRT_STATE_CLOSED");
    check(g.ud_events >= 8 && g.ud_bad == 0,
          "every event after wsrt_set_user_data carries the user data, no other event has any (%d events, %d wrong)",
          g.ud_events, g.ud_bad);

    /* --- server-side close and terminate --------------------------- */
    start_client(&c_term, client_term);
    run_until(term_done, PHASE_TIMEOUT_MS, "closing and terminate clients and their CLOSE events");
    join_client(&c_term);
    check(g.closing_closed && g.closing_code == 4000, "CLOSE after wsrt_close carries the peer's answer 4000 (got %u)",
          (unsigned)g.closing_code);
    check(g.term_closed && g.term_code == 1006, "CLOSE after wsrt_terminate has code 1006 (got %u)",
          (unsigned)g.term_code);
    check_rc(wsrt_terminate(g.srv, g.term_conn), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_terminate of a reported close");

    /* A wake interrupts a poll that would otherwise block. */
    {
        pthread_t t;
        int wakes_before = g.wakes;
        if (pthread_create(&t, NULL, delayed_waker, NULL) == 0) {
            int64_t start = now_ms();
            while (g.wakes == wakes_before && now_ms() - start < 5000) pump_once(5000);
            int64_t took = now_ms() - start;
            pthread_join(t, NULL);
            check(g.wakes > wakes_before && took < 3000,
                  "wsrt_server_poll(5000) returns WSRT_EVENT_WAKE soon after wsrt_handle_wake (%" PRId64 " ms)", took);
        }
    }

    /* --- /auth: approval ----------------------------------------- */
    start_client(&c_auth_ok, client_auth_ok);
    start_client(&c_auth_no, client_auth_no);
    run_until(auth_done, PHASE_TIMEOUT_MS, "approval clients");
    join_client(&c_auth_ok);
    join_client(&c_auth_no);
    check(g.auth_ok_conn != 0 && g.auth_ok_open, "WSRT_EVENT_OPEN follows wsrt_accept");
    check(g.auth_no_requested, "WSRT_EVENT_REQUEST for the rejected client");

    /* --- /sse ------------------------------------------------------ */
    start_client(&c_sse, client_sse);
    run_until(sse_done, PHASE_TIMEOUT_MS, "SSE client and WSRT_EVENT_SSE_CLOSE");
    join_client(&c_sse);
    check(g.sse_open, "WSRT_EVENT_SSE_OPEN");
    check(g.sse_closed, "WSRT_EVENT_SSE_CLOSE after the client disconnected");
    check_rc(wsrt_sse_send(g.srv, g.sse_conn, NULL, NULL, -1, (const uint8_t *)"x", 1), WSRT_ERR_UNKNOWN_CONNECTION,
             "wsrt_sse_send after the batch that reported SSE_CLOSE");

    /* --- topic history, wsrt_resume, handle calls on a stream ------ */
    {
        const uint8_t *hi = (const uint8_t *)"hi";
        check_rc(wsrt_set_topic_history(g.srv, "feed", 0, 0), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_set_topic_history with both bounds 0");
        check(wsrt_last_error()[0] != '\0', "and says why (\"%s\")", wsrt_last_error());
        check_rc(wsrt_set_topic_history(g.srv, "feed", 0, 60000), WSRT_OK, "wsrt_set_topic_history(age only)");
        check_rc(wsrt_set_topic_history(g.srv, "feed", 10, 0), WSRT_OK, "wsrt_set_topic_history(count only)");
        check_rc(wsrt_set_topic_history(g.srv, "feed", 10, (uint64_t)1 << 40), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_set_topic_history with max_age_ms 2^40");
        check_rc(wsrt_set_topic_history(g.srv, NULL, 10, 0), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_set_topic_history(NULL topic)");
        check_rc(wsrt_set_topic_history(NULL, "feed", 10, 0), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_set_topic_history(NULL server)");
        const char *data[3] = {"f1", "f2", "f3"};
        for (int i = 0; i < 3; i++) {
            wsrt_published pub = {0, 0, 0, 0};
            check_rc(wsrt_publish(g.srv, "feed", (const uint8_t *)data[i], 2, true, NULL, &pub), WSRT_OK,
                     "wsrt_publish to the history topic");
            g.feed_ids[i] = pub.event_id;
        }
        check(g.feed_ids[0] != 0 && g.feed_ids[1] > g.feed_ids[0] && g.feed_ids[2] > g.feed_ids[1],
              "the history topic numbers its events upwards (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")", g.feed_ids[0],
              g.feed_ids[1], g.feed_ids[2]);
        start_client(&c_resume, client_resume);
        run_until(resume_started, PHASE_TIMEOUT_MS, "the resuming stream");
        if (g.resume_thread_started) {
            pthread_join(g.resume_thread, NULL);
            g.resume_thread_started = false;
        }
        pump_once(0); /* runs what the handle queued */
        check_rc(wsrt_close(g.srv, g.resume_conn, 999, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_close on an SSE stream with code 999");
        check_rc(wsrt_close(g.srv, g.resume_conn, 1000, "done"), WSRT_OK, "wsrt_close on an SSE stream");
        run_until(resume_done, PHASE_TIMEOUT_MS, "the resuming client and its SSE_CLOSE");
        join_client(&c_resume);
        check(g.resume_closed, "WSRT_EVENT_SSE_CLOSE after wsrt_close on the stream");
        check_rc(wsrt_clear_topic_history(g.srv, "feed"), WSRT_OK, "wsrt_clear_topic_history");
        check_rc(wsrt_clear_topic_history(g.srv, ""), WSRT_ERR_INVALID_ARGUMENT, "wsrt_clear_topic_history(\"\")");
        check_rc(wsrt_clear_topic_history(NULL, "feed"), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_clear_topic_history(NULL server)");
        wsrt_published pub = {0, 0, 0, 7};
        check_rc(wsrt_publish(g.srv, "feed", hi, 2, true, NULL, &pub), WSRT_OK, "wsrt_publish after clearing");
        check(pub.event_id == 0, "a topic whose history was cleared gives no event ids");
    }

    /* --- pub/sub arguments (live fan-out is tested through the example
     *     server in tests/python/test_broadcast.py) ------------------ */
    {
        wsrt_published pub = {1, 1, 1, 1};
        const uint8_t *hi = (const uint8_t *)"hi";
        check_rc(wsrt_publish(g.srv, "nobody", hi, 2, true, NULL, &pub), WSRT_OK, "wsrt_publish to an empty topic");
        check(pub.delivered == 0 && pub.dropped == 0 && pub.closed == 0 && pub.event_id == 0,
              "an empty topic delivers nothing and gives no id");
        check_rc(wsrt_publish(NULL, "t", hi, 2, true, NULL, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_publish(NULL server)");
        check_rc(wsrt_publish(g.srv, "", hi, 2, true, NULL, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_publish to \"\"");
        check_rc(wsrt_publish(g.srv, "t", (const uint8_t *)"\xff", 1, true, NULL, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_publish of invalid UTF-8 as text");
        check_rc(wsrt_publish(g.srv, "t", NULL, 3, false, NULL, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_publish(NULL data, len 3)");
        wsrt_publish_opts opts = {0, 7, NULL};
        check_rc(wsrt_publish(g.srv, "t", hi, 2, true, &opts, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_publish with an unknown on_slow policy");
        opts = (wsrt_publish_opts){0, WSRT_SLOW_DROP, "bad\nname"};
        check_rc(wsrt_publish(g.srv, "t", hi, 2, true, &opts, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_publish with an SSE event name holding a newline");
        check_rc(wsrt_publish(g.srv, NULL, hi, 2, true, NULL, &pub), WSRT_OK, "wsrt_publish to everyone (NULL topic)");
        check_rc(wsrt_set_topic_history(g.srv, "hist", 10, 0), WSRT_OK, "wsrt_set_topic_history");
        check_rc(wsrt_publish(g.srv, "hist", hi, 2, true, NULL, &pub), WSRT_OK, "wsrt_publish to a topic with history");
        uint64_t first = pub.event_id;
        check_rc(wsrt_publish(g.srv, "hist", hi, 2, true, NULL, &pub), WSRT_OK, "wsrt_publish again");
        check(first != 0 && pub.event_id > first, "a topic with history numbers its events upwards");
        check_rc(wsrt_subscribe(g.srv, 12345, "t", NULL), WSRT_ERR_UNKNOWN_CONNECTION, "wsrt_subscribe(unknown conn)");
        check_rc(wsrt_resume(g.srv, 12345, "hist", "1", NULL), WSRT_ERR_UNKNOWN_CONNECTION,
                 "wsrt_resume(unknown conn)");
        check_rc(wsrt_resume(g.srv, 12345, NULL, "1", NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_resume(NULL topic)");
        check(!wsrt_is_subscribed(g.srv, 12345, "t") && !wsrt_is_subscribed(NULL, 1, "t"),
              "wsrt_is_subscribed is false for unknown ids and NULL");
        check(wsrt_subscriber_count(g.srv, "hist") == 0 && wsrt_subscriber_count(g.srv, NULL) == 0,
              "wsrt_subscriber_count of an unsubscribed topic and of NULL is 0");
        check(wsrt_cluster_subscriber_count(g.srv, "hist") == 0 && wsrt_cluster_subscriber_count(g.srv, NULL) == 0 &&
                  wsrt_cluster_subscriber_count(NULL, "t") == 0,
              "wsrt_cluster_subscriber_count without a cluster is the local count; NULL gives 0");
        wsrt_stats st;
        check_rc(wsrt_server_stats(g.srv, &st), WSRT_OK, "wsrt_server_stats");
        check(st.published >= 4 && st.topics >= 1, "stats count publishes (%" PRIu64 ") and topics (%zu)", st.published,
              st.topics);
        check_rc(wsrt_server_stats(g.srv, NULL), WSRT_ERR_INVALID_ARGUMENT, "wsrt_server_stats(NULL out)");
        check_rc(wsrt_handle_publish(g.handle, "t", hi, 2, true, NULL), WSRT_OK, "wsrt_handle_publish");
        check_rc(wsrt_handle_publish(g.handle, NULL, hi, 2, true, NULL), WSRT_OK,
                 "wsrt_handle_publish to everyone (NULL topic)");
        check_rc(wsrt_handle_publish(g.handle, "", hi, 2, true, NULL), WSRT_ERR_INVALID_ARGUMENT,
                 "wsrt_handle_publish to \"\"");
    }

    /* --- graceful shutdown ---------------------------------------- */
    /* Start from an idle server, so only the shutdown clients count. */
    run_until(no_connections, 2000, "connections of finished clients to go away");
    check(wsrt_server_connection_count(g.srv) == 0, "wsrt_server_connection_count back to 0 once clients left");
    start_client(&c_down_ws, client_down_ws);
    start_client(&c_down_sse, client_down_sse);
    if (run_until(down_ready, PHASE_TIMEOUT_MS, "clients connected before shutdown")) {
        g.shutting_down = true;
        check_rc(wsrt_server_begin_shutdown(g.srv), WSRT_OK, "wsrt_server_begin_shutdown");
        int64_t t = wsrt_server_next_timeout_ms(g.srv);
        check(t == -1 || t >= 0, "wsrt_server_next_timeout_ms during shutdown is -1 or >= 0 (%" PRId64 ")", t);
        check(!wsrt_server_is_finished(g.srv), "wsrt_server_is_finished false while clients are connected");
        /* wsrt_server_flush writes the close frame (1001, then FIN) and
         * ends the stream. Then, without polling, let both clients finish:
         * the WebSocket client answers with its close frame and closes its
         * socket, so its close frame and its FIN are both waiting when the
         * loop next looks. The loop must see the EOF behind the frame. */
        check_rc(wsrt_server_flush(g.srv), WSRT_OK, "wsrt_server_flush after wsrt_server_begin_shutdown");
        int64_t wait_start = now_ms();
        while (!down_clients_done() && now_ms() - wait_start < PHASE_TIMEOUT_MS) sleep_ms(5);
        check(down_clients_done(), "shutdown clients finished their close handshakes without further polls");
        int64_t start = now_ms();
        while (!wsrt_server_is_finished(g.srv) && now_ms() - start < 10000) pump_once(20);
        int64_t took = now_ms() - start;
        check(wsrt_server_is_finished(g.srv), "wsrt_server_is_finished after polling");
        check(took < 1500,
              "shutdown finished promptly once every client had closed (%" PRId64
              " ms; close timeout 3000 ms)",
              took);
        check(wsrt_server_connection_count(g.srv) == 0, "no connections left after the shutdown");
        check(g.down_ws_closed && g.down_ws_code == 1001, "CLOSE event with code 1001 for the WebSocket (got %u)",
              (unsigned)g.down_ws_code);
        check(g.down_sse_closed, "SSE_CLOSE event for the stream ended by the shutdown");
        int fd = tcp_connect(server_port, NULL);
        check(fd < 0, "new connections are refused after the shutdown");
        if (fd >= 0) close(fd);
        const wsrt_event *evs = NULL;
        size_t n = 99;
        check_rc(wsrt_server_poll(g.srv, 0, &evs, &n), WSRT_OK, "wsrt_server_poll after the shutdown finished");
        check(n == 0, "no events after the shutdown finished (%zu)", n);

        /* Once shut down, calls that would act on the server fail. */
        const uint8_t *x = (const uint8_t *)"x";
        check_rc(wsrt_publish(g.srv, "t", x, 1, true, NULL, NULL), WSRT_ERR_STOPPED, "wsrt_publish after shutdown");
        check(strlen(wsrt_last_error()) > 0, "with a message (\"%s\")", wsrt_last_error());
        check_rc(wsrt_publish(g.srv, NULL, x, 1, true, NULL, NULL), WSRT_ERR_STOPPED,
                 "wsrt_publish to everyone after shutdown");
        check_rc(wsrt_send(g.srv, g.down_ws_conn, x, 1, true), WSRT_ERR_STOPPED, "wsrt_send after shutdown");
        check_rc(wsrt_close(g.srv, g.down_ws_conn, 1000, NULL), WSRT_ERR_STOPPED, "wsrt_close after shutdown");
        check_rc(wsrt_subscribe(g.srv, g.down_ws_conn, "t", NULL), WSRT_ERR_STOPPED, "wsrt_subscribe after shutdown");
        check_rc(wsrt_set_topic_history(g.srv, "t", 1, 0), WSRT_ERR_STOPPED, "wsrt_set_topic_history after shutdown");
        check_rc(wsrt_set_user_data(g.srv, g.down_ws_conn, NULL), WSRT_ERR_STOPPED,
                 "wsrt_set_user_data after shutdown");
        check(wsrt_state(g.srv, g.down_ws_conn) == WSRT_STATE_CLOSED, "wsrt_state after shutdown is CLOSED");
    }
    run_until(down_clients_done, PHASE_TIMEOUT_MS, "shutdown clients");
    join_client(&c_down_ws);
    join_client(&c_down_sse);

    /* --- whole-run event sanity ----------------------------------- */
    check(g.events_seen > 0 && g.null_data == 0, "every event's data pointer is non-NULL (%d events)", g.events_seen);
    check(g.bad_request_ptr == 0, "request set on every REQUEST/OPEN/SSE_OPEN, and on no other event but a close (%d bad)", g.bad_request_ptr);
    check(g.zero_conn == 0, "no connection event has conn 0");
    check(g.close_state_bad == 0, "wsrt_state is WSRT_STATE_CLOSED in the batch of every CLOSE/SSE_CLOSE (%d not)",
          g.close_state_bad);
    check(g.bad_timeout == 0, "wsrt_server_next_timeout_ms always -1 or >= 0 (%d values >= 0)", g.timeout_nonneg);
    {
        int bad = 0;
        for (size_t i = 0; i < nrecs; i++) {
            conn_rec *c = &recs[i];
            if (c->opens > 1 || c->sse_opens > 1) bad++;
            if (c->opens == 1 && c->closes != 1) bad++;
            if (c->sse_opens == 1 && c->sse_closes != 1) bad++;
            if (c->opens == 0 && c->requests == 0 && c->closes > 0) bad++;
            if (c->sse_opens == 0 && c->sse_closes > 0) bad++;
        }
        check(bad == 0, "exactly one CLOSE per OPEN and one SSE_CLOSE per SSE_OPEN (%zu connections)", nrecs);
    }

    wsrt_server_free(g.srv);
    g.srv = NULL;
    check(true, "wsrt_server_free");

    /* The handle outlives the server: its calls now fail with STOPPED. */
    if (g.handle != NULL) {
        const uint8_t *x = (const uint8_t *)"x";
        check_rc(wsrt_handle_wake(g.handle), WSRT_ERR_STOPPED, "wsrt_handle_wake after wsrt_server_free");
        check_rc(wsrt_handle_send(g.handle, 1, x, 1, false), WSRT_ERR_STOPPED, "wsrt_handle_send after wsrt_server_free");
        check_rc(wsrt_handle_ping(g.handle, 1, x, 1), WSRT_ERR_STOPPED, "wsrt_handle_ping after wsrt_server_free");
        check_rc(wsrt_handle_close(g.handle, 1, 1000, NULL), WSRT_ERR_STOPPED, "wsrt_handle_close after wsrt_server_free");
        check_rc(wsrt_handle_terminate(g.handle, 1), WSRT_ERR_STOPPED, "wsrt_handle_terminate after wsrt_server_free");
        check_rc(wsrt_handle_sse_send(g.handle, 1, NULL, NULL, -1, x, 1), WSRT_ERR_STOPPED,
                 "wsrt_handle_sse_send after wsrt_server_free");
        check_rc(wsrt_handle_sse_comment(g.handle, 1, "c"), WSRT_ERR_STOPPED,
                 "wsrt_handle_sse_comment after wsrt_server_free");
        check_rc(wsrt_handle_subscribe(g.handle, 1, "t"), WSRT_ERR_STOPPED, "wsrt_handle_subscribe after wsrt_server_free");
        check_rc(wsrt_handle_unsubscribe(g.handle, 1, "t"), WSRT_ERR_STOPPED,
                 "wsrt_handle_unsubscribe after wsrt_server_free");
        check_rc(wsrt_handle_publish(g.handle, "t", x, 1, true, NULL), WSRT_ERR_STOPPED,
                 "wsrt_handle_publish after wsrt_server_free");
        check_rc(wsrt_handle_shutdown(g.handle), WSRT_ERR_STOPPED, "wsrt_handle_shutdown after wsrt_server_free");
        wsrt_handle_free(g.handle);
        g.handle = NULL;
        check(true, "wsrt_handle_free");
    }

done:
    if (g.srv != NULL) wsrt_server_free(g.srv);
    if (g.handle != NULL) wsrt_handle_free(g.handle);
    alarm(0);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
