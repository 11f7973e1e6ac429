/*
 * The Socket.IO example contract on the C API (the same server as
 * core/examples/sio_contract.rs), compiled into the example server:
 *
 *   /engine.io/   plain Engine.IO: every message (text or binary) is sent
 *                 back on its session
 *   /socket.io/   namespace "/" (a client whose auth.token is "bad" is
 *                 refused: "unauthorized", {"reason":"bad token"}) and
 *                 "/custom"; both emit "auth" with the auth payload on
 *                 connection. Events of "/": message, message-with-ack,
 *                 echo, join, leave, to-room, broadcast, ask, disconnect-me,
 *                 whoami, reasons, chat-join, chat-message, chat-leave.
 *   /chat         $WSRT_CHAT_PAGE, and /socket.io/socket.io.min.js
 *                 $WSRT_SIO_CLIENT, when set
 *
 * Options: SIO_PING_INTERVAL_MS, SIO_PING_TIMEOUT_MS, SIO_CONNECT_TIMEOUT_MS
 * and SIO_RECOVERY_WINDOW_MS (default 120000; 0 turns connection state
 * recovery off) from the environment, checked by the library; CORS for
 * any origin; maxPayload 1,000,000. Room
 * "broadcast" is the topic the example's /broadcast and /events share.
 *
 * Arguments come and go as JSON array text. C has no JSON library, so
 * this file carries a small reader (it finds a value's extent and decodes
 * strings; the library has already checked that the text is JSON) and
 * builds its few replies by hand, escaping every string it puts in them.
 */
#define _POSIX_C_SOURCE 200809L
#include "sio_contract.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Text being built                                                    */
/* ------------------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} strbuf;

static void put(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->p, cap);
        if (grown == NULL) {
            b->oom = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_s(strbuf *b, const char *s) { put(b, s, strlen(s)); }

/* `s` as a JSON string: quotes, backslashes and control characters
 * escaped; everything else (UTF-8 included) as it is. */
static void put_json_string(strbuf *b, const char *s, size_t n) {
    put(b, "\"", 1);
    size_t plain = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + plain, i - plain);
        plain = i + 1;
        char esc[8];
        switch (c) {
        case '"': put(b, "\\\"", 2); break;
        case '\\': put(b, "\\\\", 2); break;
        case '\n': put(b, "\\n", 2); break;
        case '\r': put(b, "\\r", 2); break;
        case '\t': put(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        }
    }
    put(b, s + plain, n - plain);
    put(b, "\"", 1);
}

static void put_json_cstring(strbuf *b, const char *s) { put_json_string(b, s, strlen(s)); }

/* ------------------------------------------------------------------ */
/* Reading JSON values                                                 */
/* ------------------------------------------------------------------ */

/* The raw text of one JSON value. */
typedef struct {
    const char *p;
    size_t len;
} json;

static const char *skip_blank(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Past the string starting at p ('"'); NULL if it does not end. */
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return NULL;
}

/* Past the value starting at p; NULL if there is none. Deep nesting is
 * refused rather than recursed into without bound. */
static const char *skip_value(const char *p, const char *end, int depth) {
    if (p >= end || depth > 128) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        bool object = *p == '{';
        char close = object ? '}' : ']';
        p = skip_blank(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (object) {
                if (p >= end || *p != '"' || (p = skip_string(p, end)) == NULL) return NULL;
                p = skip_blank(p, end);
                if (p >= end || *p != ':') return NULL;
                p = skip_blank(p + 1, end);
            }
            if ((p = skip_value(p, end, depth + 1)) == NULL) return NULL;
            p = skip_blank(p, end);
            if (p < end && *p == ',') {
                p = skip_blank(p + 1, end);
                continue;
            }
            return p < end && *p == close ? p + 1 : NULL;
        }
    }
    const char *start = p;
    while (p < end && strchr(",]} \t\r\n", *p) == NULL) p++;
    return p > start ? p : NULL;
}

/* The first element of an array; false if it is empty (or no array). */
static bool array_first(json array, json *out) {
    const char *end = array.p + array.len;
    const char *p = skip_blank(array.p, end);
    if (p >= end || *p != '[') return false;
    p = skip_blank(p + 1, end);
    const char *after = skip_value(p, end, 1);
    if (after == NULL) return false;
    *out = (json){p, (size_t)(after - p)};
    return true;
}

static void put_utf8(strbuf *b, unsigned long c) {
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xc0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xe0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
        u[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    put(b, u, n);
}

static long hex4(const char *p, const char *end) {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* If `v` is a JSON string, its decoded text (UTF-8, NUL-terminated,
 * malloc'd; the caller frees it); NULL for any other value. */
static char *string_value(json v) {
    const char *p = v.p, *end = v.p + v.len;
    if (v.len < 2 || *p != '"' || end[-1] != '"') return NULL;
    strbuf b = {0};
    put(&b, "", 0);
    for (p++, end--; p < end; p++) {
        if (*p != '\\') {
            const char *run = p;
            while (p + 1 < end && p[1] != '\\') p++;
            put(&b, run, (size_t)(p - run + 1));
            continue;
        }
        if (++p >= end) break;
        switch (*p) {
        case 'b': put(&b, "\b", 1); break;
        case 'f': put(&b, "\f", 1); break;
        case 'n': put(&b, "\n", 1); break;
        case 'r': put(&b, "\r", 1); break;
        case 't': put(&b, "\t", 1); break;
        case 'u': {
            long c = hex4(p + 1, end);
            if (c < 0) break;
            p += 4;
            /* A high surrogate followed by a low one is one character. */
            long lo = c >= 0xd800 && c < 0xdc00 && end - p > 6 && p[1] == '\\' && p[2] == 'u' ? hex4(p + 3, end) : -1;
            if (lo >= 0xdc00 && lo < 0xe000) {
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else if (c >= 0xd800 && c < 0xe000) {
                c = 0xfffd; /* a lone surrogate has no UTF-8 form */
            }
            put_utf8(&b, (unsigned long)c);
            break;
        }
        default: put(&b, p, 1); break; /* \" \\ \/ */
        }
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* The value of `key` in an object; false if absent (or no object). */
static bool object_get(json object, const char *key, json *out) {
    const char *end = object.p + object.len;
    const char *p = skip_blank(object.p, end);
    if (p >= end || *p != '{') return false;
    p = skip_blank(p + 1, end);
    while (p < end && *p == '"') {
        const char *key_end = skip_string(p, end);
        if (key_end == NULL) return false;
        char *name = string_value((json){p, (size_t)(key_end - p)});
        bool match = name != NULL && strcmp(name, key) == 0;
        free(name);
        p = skip_blank(key_end, end);
        if (p >= end || *p != ':') return false;
        p = skip_blank(p + 1, end);
        const char *after = skip_value(p, end, 1);
        if (after == NULL) return false;
        if (match) {
            *out = (json){p, (size_t)(after - p)};
            return true;
        }
        p = skip_blank(after, end);
        if (p >= end || *p != ',') return false;
        p = skip_blank(p + 1, end);
    }
    return false;
}

/* A string member of an object, decoded and malloc'd; `fallback` (copied)
 * when it is absent or not a string. */
static char *string_member(json object, const char *key, const char *fallback) {
    json v;
    char *s = object_get(object, key, &v) ? string_value(v) : NULL;
    if (s == NULL && fallback != NULL) {
        s = malloc(strlen(fallback) + 1);
        if (s != NULL) strcpy(s, fallback);
    }
    return s;
}

/* A member's raw JSON, or `null` when absent. */
static json member_or_null(json object, const char *key) {
    json v;
    return object_get(object, key, &v) ? v : (json){"null", 4};
}

/* ------------------------------------------------------------------ */
/* What the app keeps per socket                                       */
/* ------------------------------------------------------------------ */

typedef struct sock {
    wsrt_conn conn;
    struct sock *next; /* in its hash bucket */
    char *sid;
    bool main_nsp; /* namespace "/" (only its disconnections are kept) */
    char *chat_room, *chat_nick; /* both NULL unless in a chat room */
} sock;

/* Keyed by connection id, not kept in wsrt_set_user_data: an event that
 * arrives in the same batch as OPEN was recorded before OPEN's handler
 * could store anything with the connection. */
static struct {
    sock **buckets;
    size_t nbuckets, count;
} table;

static size_t bucket_of(wsrt_conn conn, size_t nbuckets) {
    return (size_t)((conn * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (nbuckets - 1);
}

static sock *find_sock(wsrt_conn conn) {
    if (table.nbuckets == 0) return NULL;
    for (sock *s = table.buckets[bucket_of(conn, table.nbuckets)]; s != NULL; s = s->next)
        if (s->conn == conn) return s;
    return NULL;
}

static bool add_sock(sock *s) {
    if (table.count >= table.nbuckets) {
        size_t n = table.nbuckets ? table.nbuckets * 2 : 64;
        sock **grown = calloc(n, sizeof *grown);
        if (grown == NULL) return false;
        for (size_t i = 0; i < table.nbuckets; i++) {
            for (sock *e = table.buckets[i], *next; e != NULL; e = next) {
                next = e->next;
                size_t b = bucket_of(e->conn, n);
                e->next = grown[b];
                grown[b] = e;
            }
        }
        free(table.buckets);
        table.buckets = grown;
        table.nbuckets = n;
    }
    size_t b = bucket_of(s->conn, table.nbuckets);
    s->next = table.buckets[b];
    table.buckets[b] = s;
    table.count++;
    return true;
}

static sock *remove_sock(wsrt_conn conn) {
    if (table.nbuckets == 0) return NULL;
    for (sock **link = &table.buckets[bucket_of(conn, table.nbuckets)]; *link != NULL; link = &(*link)->next) {
        sock *s = *link;
        if (s->conn == conn) {
            *link = s->next;
            table.count--;
            return s;
        }
    }
    return NULL;
}

static void leave_chat(sock *s) {
    free(s->chat_room);
    free(s->chat_nick);
    s->chat_room = s->chat_nick = NULL;
}

static void free_sock(sock *s) {
    leave_chat(s);
    free(s->sid);
    free(s);
}

/* "ask": an emit of ours awaiting the client's ack, and the ack id of the
 * client's "ask" to answer when it arrives. */
typedef struct pending_ask {
    wsrt_conn conn;
    uint64_t emit_ack;
    uint64_t client_ack;
    struct pending_ask *next;
} pending_ask;

static pending_ask *asks;

/* The last 100 server-side disconnections of "/" sockets, oldest first,
 * each as its JSON object {"id":...,"reason":...}. */
#define REASONS_KEPT 100
static char *reasons[REASONS_KEPT];
static size_t reasons_start, reasons_count;

static void keep_reason(const char *sid, const uint8_t *reason, size_t len) {
    strbuf b = {0};
    put_s(&b, "{\"id\":");
    put_json_cstring(&b, sid);
    put_s(&b, ",\"reason\":");
    put_json_string(&b, (const char *)reason, len);
    put_s(&b, "}");
    if (b.oom) {
        free(b.p);
        return;
    }
    if (reasons_count == REASONS_KEPT) {
        free(reasons[reasons_start]);
        reasons[reasons_start] = b.p;
        reasons_start = (reasons_start + 1) % REASONS_KEPT;
    } else {
        reasons[(reasons_start + reasons_count++) % REASONS_KEPT] = b.p;
    }
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    strbuf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, n);
    fclose(f);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* A static page from the file named by $env, when set and readable. */
static wsrt_result add_file(wsrt_config *cfg, const char *env, const char *path, const char *content_type) {
    const char *file = getenv(env);
    if (file == NULL || *file == '\0') return WSRT_OK;
    size_t len = 0;
    char *body = slurp(file, &len);
    if (body == NULL) {
        fprintf(stderr, "echo_server: cannot read %s=%s; %s not served\n", env, file, path);
        return WSRT_OK;
    }
    wsrt_result r = wsrt_config_add_static(cfg, path, content_type, (const uint8_t *)body, len);
    free(body);
    return r;
}

wsrt_result sio_contract_configure(wsrt_config *cfg, const char **what) {
    wsrt_result r;
#define STEP(name, call)         \
    do {                         \
        *what = name;            \
        if ((r = (call)) != WSRT_OK) return r; \
    } while (0)
    STEP("route /engine.io/", wsrt_config_add_route(cfg, "/engine.io/", WSRT_ROUTE_ENGINEIO, 0, NULL));
    STEP("route /socket.io/", wsrt_config_add_route(cfg, "/socket.io/", WSRT_ROUTE_SOCKETIO, WSRT_ROUTE_APPROVE, NULL));
    STEP("namespace /", wsrt_config_add_namespace(cfg, "/socket.io/", "/"));
    STEP("namespace /custom", wsrt_config_add_namespace(cfg, "/socket.io/", "/custom"));
    /* Durations from the environment go to the library as text: it
     * checks them and names the option in its message. */
    static const char *const timers[][2] = {
        {"SIO_PING_INTERVAL_MS", "sio_ping_interval_ms"},
        {"SIO_PING_TIMEOUT_MS", "sio_ping_timeout_ms"},
        {"SIO_CONNECT_TIMEOUT_MS", "sio_connect_timeout_ms"},
    };
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        const char *v = getenv(timers[i][0]);
        if (v != NULL && *v != '\0') STEP(timers[i][0], wsrt_config_set_by_name(cfg, timers[i][1], v));
    }
    STEP("sio_max_payload", wsrt_config_set(cfg, WSRT_OPT_SIO_MAX_PAYLOAD, 1000000));
    const char *recovery = getenv("SIO_RECOVERY_WINDOW_MS");
    if (recovery != NULL && *recovery != '\0')
        STEP("SIO_RECOVERY_WINDOW_MS", wsrt_config_set_by_name(cfg, "sio_recovery_window_ms", recovery));
    else
        STEP("sio_recovery_window_ms", wsrt_config_set(cfg, WSRT_OPT_SIO_RECOVERY_WINDOW_MS, 120000));
    STEP("cors_origins", wsrt_config_add_item(cfg, WSRT_OPT_CORS_ORIGINS, "*"));
    STEP("WSRT_CHAT_PAGE", add_file(cfg, "WSRT_CHAT_PAGE", "/chat", "text/html; charset=utf-8"));
    STEP("WSRT_SIO_CLIENT",
         add_file(cfg, "WSRT_SIO_CLIENT", "/socket.io/socket.io.min.js", "application/javascript"));
#undef STEP
    return WSRT_OK;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

/* Like the Rust contract, calls whose failure only means the client went
 * away (or sent something unusable) are not reported: the outcome is the
 * same either way, and a log line per departed client is noise. */

static void ack(wsrt_server *srv, const wsrt_event *ev, const strbuf *reply) {
    if (ev->ack != WSRT_NO_ACK && !reply->oom) wsrt_ack(srv, ev->conn, ev->ack, reply->p, reply->len, NULL, 0);
}

/* Emits to the sockets of `room` in "/". */
static void to_room(wsrt_server *srv, const char *room, const char *event, const strbuf *args) {
    if (args->oom) return;
    const char *rooms[1] = {room};
    wsrt_broadcast_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.rooms = rooms;
    opts.n_rooms = 1;
    opts.event = event;
    opts.args = args->p;
    opts.args_len = args->len;
    wsrt_broadcast(srv, &opts, NULL);
}

/* Tells a chat room its member count; returns it. */
static size_t presence(wsrt_server *srv, const char *room) {
    size_t count = wsrt_subscriber_count(srv, room);
    strbuf b = {0};
    char n[32];
    snprintf(n, sizeof n, "%zu", count);
    put_s(&b, "[{\"room\":");
    put_json_cstring(&b, room);
    put_s(&b, ",\"count\":");
    put_s(&b, n);
    put_s(&b, "}]");
    to_room(srv, room, "presence", &b);
    free(b.p);
    return count;
}

/* [{"ok":true,"room":ROOM}] */
static void ack_room(wsrt_server *srv, const wsrt_event *ev, const char *room) {
    strbuf b = {0};
    put_s(&b, "[{\"ok\":true,\"room\":");
    put_json_cstring(&b, room);
    put_s(&b, "}]");
    ack(srv, ev, &b);
    free(b.p);
}

static int by_bytes(const void *a, const void *b) {
    const wsrt_str *x = a, *y = b;
    int c = memcmp(x->ptr, y->ptr, x->len < y->len ? x->len : y->len);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void on_request(wsrt_server *srv, const wsrt_event *ev) {
    json auth = {(const char *)ev->data, ev->len};
    json token;
    char *value = object_get(auth, "token", &token) ? string_value(token) : NULL;
    bool bad = ev->name_len == 1 && ev->name[0] == '/' && value != NULL && strcmp(value, "bad") == 0;
    free(value);
    if (bad)
        wsrt_reject_socket(srv, ev->conn, "unauthorized", "{\"reason\":\"bad token\"}");
    else
        wsrt_accept(srv, ev->conn, NULL, NULL, 0);
}

static void on_open(wsrt_server *srv, const wsrt_event *ev) {
    sock *s = calloc(1, sizeof *s);
    char sid[64];
    size_t len = wsrt_socket_id(srv, ev->conn, sid, sizeof sid);
    if (s != NULL && len > 0 && len < sizeof sid && (s->sid = malloc(len + 1)) != NULL) {
        memcpy(s->sid, sid, len + 1);
        s->conn = ev->conn;
        s->main_nsp = ev->name_len == 1 && ev->name[0] == '/';
        if (!add_sock(s)) free_sock(s);
    } else if (s != NULL) {
        free(s->sid);
        free(s);
    }
    strbuf b = {0};
    put_s(&b, "[");
    put(&b, (const char *)ev->data, ev->len);
    put_s(&b, "]");
    if (!b.oom) wsrt_emit(srv, ev->conn, "auth", b.p, b.len, NULL, 0, 0, NULL);
    free(b.p);
}

static void on_close(wsrt_server *srv, const wsrt_event *ev) {
    sock *s = remove_sock(ev->conn);
    if (s == NULL) return;
    if (s->main_nsp) keep_reason(s->sid, ev->data, ev->len);
    if (s->chat_room != NULL) presence(srv, s->chat_room);
    free_sock(s);
}

static void on_ack(wsrt_server *srv, const wsrt_event *ev) {
    for (pending_ask **link = &asks; *link != NULL; link = &(*link)->next) {
        pending_ask *a = *link;
        if (a->conn != ev->conn || a->emit_ack != ev->ack) continue;
        *link = a->next;
        strbuf b = {0};
        if (ev->code == 0) {
            put_s(&b, "[{\"ok\":true,\"answer\":");
            if (ev->len > 0)
                put(&b, (const char *)ev->data, ev->len);
            else
                put_s(&b, "[]");
            put_s(&b, "}]");
        } else {
            put_s(&b, "[{\"ok\":false,\"error\":\"timeout\"}]");
        }
        if (!b.oom) wsrt_ack(srv, a->conn, a->client_ack, b.p, b.len, NULL, 0);
        free(b.p);
        free(a);
        return;
    }
}

static void chat_join(wsrt_server *srv, const wsrt_event *ev, sock *s, json first) {
    char *room = string_member(first, "room", "");
    char *nick = string_member(first, "nick", "anonymous");
    if (room == NULL || nick == NULL) {
        free(room);
        free(nick);
        return;
    }
    if (s != NULL) {
        if (s->chat_room != NULL) {
            wsrt_unsubscribe(srv, ev->conn, s->chat_room, NULL);
            presence(srv, s->chat_room);
            leave_chat(s);
        }
        s->chat_room = room;
        s->chat_nick = nick;
    }
    wsrt_subscribe(srv, ev->conn, room, NULL);
    size_t count = presence(srv, room);
    strbuf b = {0};
    char n[32];
    snprintf(n, sizeof n, "%zu", count);
    put_s(&b, "[{\"ok\":true,\"room\":");
    put_json_cstring(&b, room);
    put_s(&b, ",\"count\":");
    put_s(&b, n);
    put_s(&b, "}]");
    ack(srv, ev, &b);
    free(b.p);
    if (s == NULL) {
        free(room);
        free(nick);
    }
}

static void on_event(wsrt_server *srv, const wsrt_event *ev) {
    json args = {(const char *)ev->data, ev->len};
    json first;
    if (!array_first(args, &first)) first = (json){"null", 4};
    sock *s = find_sock(ev->conn);
    char name[32];
    if (ev->name_len >= sizeof name) return; /* no event of the contract */
    memcpy(name, ev->name, ev->name_len);
    name[ev->name_len] = '\0';
    strbuf b = {0};

    if (strcmp(name, "message") == 0) {
        wsrt_emit(srv, ev->conn, "message-back", args.p, args.len, ev->attachments, ev->attachment_count, 0, NULL);
    } else if (strcmp(name, "message-with-ack") == 0 || strcmp(name, "echo") == 0) {
        if (ev->ack != WSRT_NO_ACK)
            wsrt_ack(srv, ev->conn, ev->ack, args.p, args.len, ev->attachments, ev->attachment_count);
    } else if (strcmp(name, "join") == 0 || strcmp(name, "leave") == 0) {
        char *room = string_value(first);
        const char *r = room != NULL ? room : "";
        if (name[0] == 'j')
            wsrt_subscribe(srv, ev->conn, r, NULL);
        else
            wsrt_unsubscribe(srv, ev->conn, r, NULL);
        ack_room(srv, ev, r);
        free(room);
    } else if (strcmp(name, "to-room") == 0) {
        char *room = string_member(first, "room", "");
        json msg = member_or_null(first, "msg");
        put_s(&b, "[{\"room\":");
        put_json_cstring(&b, room != NULL ? room : "");
        put_s(&b, ",\"msg\":");
        put(&b, msg.p, msg.len);
        put_s(&b, "}]");
        if (room != NULL) to_room(srv, room, "room-msg", &b);
        free(room);
    } else if (strcmp(name, "broadcast") == 0) {
        put_s(&b, "[");
        put(&b, first.p, first.len);
        put_s(&b, "]");
        wsrt_broadcast_opts opts;
        memset(&opts, 0, sizeof opts);
        opts.except = ev->conn;
        opts.event = "broadcast-msg";
        opts.args = b.p;
        opts.args_len = b.len;
        if (!b.oom) wsrt_broadcast(srv, &opts, NULL);
    } else if (strcmp(name, "ask") == 0) {
        put_s(&b, "[");
        put(&b, first.p, first.len);
        put_s(&b, "]");
        uint64_t id = 0;
        if (!b.oom && wsrt_emit(srv, ev->conn, "question", b.p, b.len, NULL, 0, 1000, &id) == WSRT_OK &&
            ev->ack != WSRT_NO_ACK) {
            pending_ask *a = malloc(sizeof *a);
            if (a != NULL) {
                *a = (pending_ask){ev->conn, id, ev->ack, asks};
                asks = a;
            }
        }
    } else if (strcmp(name, "disconnect-me") == 0) {
        wsrt_close(srv, ev->conn, 1000, NULL);
    } else if (strcmp(name, "whoami") == 0) {
        const wsrt_str *topics = NULL;
        size_t n = 0;
        wsrt_str *sorted = NULL;
        if (wsrt_topics(srv, ev->conn, &topics, &n) == WSRT_OK && n > 0 && (sorted = malloc(n * sizeof *sorted)) != NULL) {
            memcpy(sorted, topics, n * sizeof *sorted);
            qsort(sorted, n, sizeof *sorted, by_bytes);
        }
        put_s(&b, "[{\"id\":");
        put_json_cstring(&b, s != NULL ? s->sid : "");
        put_s(&b, ",\"rooms\":[");
        for (size_t i = 0; sorted != NULL && i < n; i++) {
            if (i > 0) put_s(&b, ",");
            put_json_string(&b, sorted[i].ptr, sorted[i].len);
        }
        put_s(&b, "]}]");
        free(sorted);
        ack(srv, ev, &b);
    } else if (strcmp(name, "reasons") == 0) {
        put_s(&b, "[[");
        for (size_t i = 0; i < reasons_count; i++) {
            if (i > 0) put_s(&b, ",");
            put_s(&b, reasons[(reasons_start + i) % REASONS_KEPT]);
        }
        put_s(&b, "]]");
        ack(srv, ev, &b);
    } else if (strcmp(name, "chat-join") == 0) {
        chat_join(srv, ev, s, first);
    } else if (strcmp(name, "chat-message") == 0) {
        if (s != NULL && s->chat_room != NULL) {
            json text = member_or_null(first, "text");
            put_s(&b, "[{\"room\":");
            put_json_cstring(&b, s->chat_room);
            put_s(&b, ",\"nick\":");
            put_json_cstring(&b, s->chat_nick);
            put_s(&b, ",\"text\":");
            put(&b, text.p, text.len);
            put_s(&b, "}]");
            to_room(srv, s->chat_room, "chat-message", &b);
        }
    } else if (strcmp(name, "chat-leave") == 0) {
        if (s != NULL && s->chat_room != NULL) {
            char *room = s->chat_room;
            s->chat_room = NULL;
            wsrt_unsubscribe(srv, ev->conn, room, NULL);
            presence(srv, room);
            free(room);
            leave_chat(s);
        }
    }
    free(b.p);
}

bool sio_contract_handle(wsrt_server *srv, const wsrt_event *ev) {
    switch (ev->type) {
    case WSRT_EVENT_MESSAGE:
        if (ev->endpoint != WSRT_ENDPOINT_ENGINEIO) return false;
        wsrt_send(srv, ev->conn, ev->data, ev->len, ev->is_text);
        return true;
    case WSRT_EVENT_REQUEST:
        if (ev->endpoint != WSRT_ENDPOINT_SOCKETIO) return false;
        on_request(srv, ev);
        return true;
    case WSRT_EVENT_OPEN:
    case WSRT_EVENT_CLOSE:
        if (ev->endpoint == WSRT_ENDPOINT_ENGINEIO) return true; /* nothing to keep */
        if (ev->endpoint != WSRT_ENDPOINT_SOCKETIO) return false;
        if (ev->type == WSRT_EVENT_OPEN)
            on_open(srv, ev);
        else
            on_close(srv, ev);
        return true;
    case WSRT_EVENT_SIO_EVENT:
        on_event(srv, ev);
        return true;
    case WSRT_EVENT_SIO_ACK:
        on_ack(srv, ev);
        return true;
    default:
        return false;
    }
}

void sio_contract_free(void) {
    for (size_t i = 0; i < table.nbuckets; i++) {
        for (sock *s = table.buckets[i], *next; s != NULL; s = next) {
            next = s->next;
            free_sock(s);
        }
    }
    free(table.buckets);
    table.buckets = NULL;
    table.nbuckets = table.count = 0;
    while (asks != NULL) {
        pending_ask *next = asks->next;
        free(asks);
        asks = next;
    }
    for (size_t i = 0; i < reasons_count; i++) free(reasons[(reasons_start + i) % REASONS_KEPT]);
    reasons_start = reasons_count = 0;
}
