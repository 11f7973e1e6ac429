/*
 * The C face's contract server for the cross-front test (see README.md
 * here): options from a JSON argument, /ws echo, /sse greeting, /probe edge
 * calls, outcomes as JSON lines on stdout. Built by `make contract-c` into
 * build/tests/contract_server from the installed header and library, the
 * way a user of the C API builds a program.
 *
 *   build/tests/contract_server '{"idle_timeout_ms": 0, "deflate": "shared"}'
 *
 * Integers go to wsrt_config_set(cfg, wsrt_option_id(name), value), strings
 * (and numbers C cannot hold: fractions, beyond 2^64) to
 * wsrt_config_set_by_name, allowed_origins to wsrt_config_allow_origin per
 * entry, other lists (cors_origins) to wsrt_config_add_item per entry. Nothing is checked here: a bad value comes back as the library's
 * error. The server runs until stdin reaches EOF, then shuts down
 * gracefully.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsrt.h"

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* The outcome name of a result code (the error kind in snake_case). */
static const char *outcome(wsrt_result r) {
    switch (r) {
    case WSRT_OK: return "ok";
    case WSRT_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case WSRT_ERR_UNKNOWN_CONNECTION: return "unknown_connection";
    case WSRT_ERR_WRONG_STATE: return "wrong_state";
    case WSRT_ERR_CLOSED: return "closed";
    case WSRT_ERR_BACKPRESSURE: return "backpressure";
    case WSRT_ERR_STOPPED: return "stopped";
    case WSRT_ERR_IO: return "io";
    case WSRT_ERR_INTERNAL: return "internal";
    default: return "unknown";
    }
}

static const char *state_name(int state) {
    switch (state) {
    case WSRT_STATE_CONNECTING: return "CONNECTING";
    case WSRT_STATE_OPEN: return "OPEN";
    case WSRT_STATE_CLOSING: return "CLOSING";
    case WSRT_STATE_CLOSED: return "CLOSED";
    default: return "UNKNOWN";
    }
}

/* Writes `s` as a JSON string. */
static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void say_probe(const char *name, const char *result) {
    printf("{\"probe\": ");
    json_string(name);
    printf(", \"outcome\": ");
    json_string(result);
    printf("}\n");
    fflush(stdout);
}

static int say_refused(wsrt_result r) {
    printf("{\"ok\": false, \"kind\": ");
    json_string(outcome(r));
    printf(", \"message\": ");
    json_string(wsrt_last_error());
    printf("}\n");
    fflush(stdout);
    return 0;
}

/* ------------------------------------------------------------------ */
/* A JSON reader for one flat object of options                        */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *p;
    bool bad;
} reader;

static void skip_ws(reader *r) {
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r') r->p++;
}

static void put_utf8(char **out, unsigned long c) {
    char *o = *out;
    if (c < 0x80) {
        *o++ = (char)c;
    } else if (c < 0x800) {
        *o++ = (char)(0xc0 | (c >> 6));
        *o++ = (char)(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        *o++ = (char)(0xe0 | (c >> 12));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
        *o++ = (char)(0x80 | (c & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (c >> 18));
        *o++ = (char)(0x80 | ((c >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((c >> 6) & 0x3f));
        *o++ = (char)(0x80 | (c & 0x3f));
    }
    *out = o;
}

static unsigned long hex4(reader *r) {
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *r->p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) {
            r->bad = true;
            return 0;
        }
        v = v * 16 + (unsigned long)d;
        r->p++;
    }
    return v;
}

/* A JSON string at r->p (after skipping blanks), decoded; malloc'd. */
static char *read_string(reader *r) {
    skip_ws(r);
    if (*r->p != '"') {
        r->bad = true;
        return NULL;
    }
    r->p++;
    char *out = malloc(strlen(r->p) * 4 + 1), *o = out;
    if (out == NULL) {
        r->bad = true;
        return NULL;
    }
    while (*r->p != '"') {
        if (*r->p == '\0') {
            r->bad = true;
            break;
        }
        if (*r->p != '\\') {
            *o++ = *r->p++;
            continue;
        }
        r->p++;
        char e = *r->p++;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned long c = hex4(r);
            if (c >= 0xd800 && c < 0xdc00 && r->p[0] == '\\' && r->p[1] == 'u') {
                r->p += 2;
                unsigned long lo = hex4(r);
                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(&o, c);
            break;
        }
        default: r->bad = true; break;
        }
        if (r->bad) break;
    }
    if (*r->p == '"') r->p++;
    *o = '\0';
    return out;
}

/* The text of a scalar that is not a string (a number, true, false,
 * null); malloc'd. */
static char *read_scalar(reader *r) {
    skip_ws(r);
    const char *start = r->p;
    while (*r->p && strchr(",}] \t\r\n", *r->p) == NULL) r->p++;
    if (r->p == start) {
        r->bad = true;
        return NULL;
    }
    size_t n = (size_t)(r->p - start);
    char *out = malloc(n + 1);
    if (out == NULL) {
        r->bad = true;
        return NULL;
    }
    memcpy(out, start, n);
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/* One scalar option value as the JSON had it. */
static wsrt_result set_scalar(wsrt_config *cfg, const char *name, const char *text, bool quoted) {
    if (!quoted) {
        if (strcmp(text, "null") == 0) return WSRT_OK; /* the default */
        bool digits = text[0] != '\0';
        for (const char *c = text; *c; c++) digits = digits && *c >= '0' && *c <= '9';
        if (digits) {
            errno = 0;
            unsigned long long v = strtoull(text, NULL, 10);
            if (errno == 0) return wsrt_config_set(cfg, wsrt_option_id(name), (uint64_t)v);
        }
    }
    return wsrt_config_set_by_name(cfg, name, text);
}

/* An array value, entry by entry: allowed_origins through
 * wsrt_config_allow_origin, any other option through wsrt_config_add_item
 * (the library refuses an option that is not a list). */
static wsrt_result set_array(wsrt_config *cfg, const char *name, reader *r) {
    bool origins = strcmp(name, "allowed_origins") == 0;
    uint32_t id = wsrt_option_id(name);
    wsrt_result result = WSRT_OK;
    r->p++; /* '[' */
    skip_ws(r);
    if (*r->p == ']') {
        r->p++;
        return WSRT_OK;
    }
    for (;;) {
        skip_ws(r);
        bool quoted = *r->p == '"';
        char *item = quoted ? read_string(r) : read_scalar(r);
        if (r->bad) {
            free(item);
            return WSRT_OK;
        }
        if (result == WSRT_OK)
            result = origins ? wsrt_config_allow_origin(cfg, item) : wsrt_config_add_item(cfg, id, item);
        free(item);
        skip_ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == ']') r->p++;
        else r->bad = true;
        break;
    }
    return result;
}

/* Applies the options object in order; the first refusal stops it. */
static wsrt_result apply_options(wsrt_config *cfg, const char *json, bool *malformed) {
    reader r = {json, false};
    skip_ws(&r);
    if (*r.p != '{') {
        *malformed = true;
        return WSRT_ERR_INVALID_ARGUMENT;
    }
    r.p++;
    skip_ws(&r);
    if (*r.p == '}') return WSRT_OK;
    for (;;) {
        char *name = read_string(&r);
        skip_ws(&r);
        if (r.bad || *r.p != ':') {
            free(name);
            *malformed = true;
            return WSRT_ERR_INVALID_ARGUMENT;
        }
        r.p++;
        skip_ws(&r);
        wsrt_result res;
        if (*r.p == '[') {
            res = set_array(cfg, name, &r);
        } else {
            bool quoted = *r.p == '"';
            char *text = quoted ? read_string(&r) : read_scalar(&r);
            res = r.bad ? WSRT_OK : set_scalar(cfg, name, text, quoted);
            free(text);
        }
        free(name);
        if (r.bad) {
            *malformed = true;
            return WSRT_ERR_INVALID_ARGUMENT;
        }
        if (res != WSRT_OK) return res;
        skip_ws(&r);
        if (*r.p == ',') {
            r.p++;
            skip_ws(&r);
            continue;
        }
        if (*r.p == '}') return WSRT_OK;
        *malformed = true;
        return WSRT_ERR_INVALID_ARGUMENT;
    }
}

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

/* User data marking each WebSocket's route. */
static int route_ws, route_probe;

/* Stdin's EOF asks for the shutdown. */
static void *stdin_watch(void *arg) {
    wsrt_handle *handle = arg;
    char buf[4096];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {
    }
    wsrt_handle_shutdown(handle);
    return NULL;
}

static void probes(wsrt_server *srv, wsrt_conn conn, wsrt_conn stale) {
    char a2k[2049], a1k[1025];
    uint8_t p126[126];
    memset(a2k, 'a', 2048);
    a2k[2048] = '\0';
    memset(a1k, 'a', 1024);
    a1k[1024] = '\0';
    memset(p126, 'p', sizeof p126);
    const uint8_t *x = (const uint8_t *)"x";

    say_probe("bad_utf8", outcome(wsrt_send(srv, conn, (const uint8_t *)"\xff\xfe", 2, true)));
    say_probe("topic_2k", outcome(wsrt_subscribe(srv, conn, a2k, NULL)));
    say_probe("topic_1k", outcome(wsrt_subscribe(srv, conn, a1k, NULL)));
    say_probe("publish_2k", outcome(wsrt_publish(srv, a2k, x, 1, true, NULL, NULL)));
    say_probe("close_code", outcome(wsrt_close(srv, conn, 1005, NULL)));
    say_probe("ping_126", outcome(wsrt_ping(srv, conn, p126, sizeof p126)));
    if (stale == 0) stale = UINT64_MAX; /* no /ws connection has closed yet */
    say_probe("stale_send", outcome(wsrt_send(srv, stale, (const uint8_t *)"late", 4, true)));
    say_probe("stale_state", state_name(wsrt_state(srv, stale)));
    say_probe("close", outcome(wsrt_close(srv, conn, 1000, NULL)));
    say_probe("send_after_close", outcome(wsrt_send(srv, conn, x, 1, true)));
}

int main(int argc, char **argv) {
    const char *options = argc > 1 ? argv[1] : "{}";
    wsrt_config *cfg = NULL;
    wsrt_result r = wsrt_config_new("127.0.0.1:0", &cfg);
    if (r != WSRT_OK) return say_refused(r);
    wsrt_config_add_route(cfg, "/ws", WSRT_ROUTE_WEBSOCKET, 0, NULL);
    wsrt_config_add_route(cfg, "/sse", WSRT_ROUTE_SSE, 0, NULL);
    wsrt_config_add_route(cfg, "/probe", WSRT_ROUTE_WEBSOCKET, 0, NULL);
    bool malformed = false;
    r = apply_options(cfg, options, &malformed);
    if (malformed) {
        printf("{\"ok\": false, \"kind\": \"invalid_argument\", \"message\": \"the options are not a JSON object\"}\n");
        fflush(stdout);
        wsrt_config_free(cfg);
        return 0;
    }
    wsrt_server *srv = NULL;
    if (r == WSRT_OK) r = wsrt_server_new(cfg, &srv);
    wsrt_config_free(cfg);
    if (r != WSRT_OK) return say_refused(r);
    printf("{\"ok\": true, \"port\": %u}\n", (unsigned)wsrt_server_port(srv));
    fflush(stdout);

    wsrt_handle *handle = wsrt_server_handle(srv);
    pthread_t watcher;
    if (handle == NULL || pthread_create(&watcher, NULL, stdin_watch, handle) != 0) {
        fprintf(stderr, "contract_server: cannot watch stdin\n");
        return 1;
    }

    wsrt_conn stale = 0;
    while (!wsrt_server_is_finished(srv)) {
        const wsrt_event *ev = NULL;
        size_t n = 0;
        if ((r = wsrt_server_poll(srv, 1000, &ev, &n)) != WSRT_OK) {
            fprintf(stderr, "contract_server: poll: %s\n", wsrt_last_error());
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            const wsrt_event *e = &ev[i];
            switch (e->type) {
            case WSRT_EVENT_OPEN: {
                wsrt_str path = wsrt_request_path(e->request);
                bool probe = path.len == 6 && memcmp(path.ptr, "/probe", 6) == 0;
                wsrt_set_user_data(srv, e->conn, probe ? &route_probe : &route_ws);
                break;
            }
            case WSRT_EVENT_MESSAGE:
                if (e->user_data == &route_probe) {
                    if (e->is_text && e->len == 3 && memcmp(e->data, "run", 3) == 0) probes(srv, e->conn, stale);
                } else {
                    wsrt_send(srv, e->conn, e->data, e->len, e->is_text);
                }
                break;
            case WSRT_EVENT_CLOSE:
                if (e->user_data == &route_ws) stale = e->conn;
                break;
            case WSRT_EVENT_SSE_OPEN:
                wsrt_sse_send(srv, e->conn, NULL, NULL, -1, (const uint8_t *)"hello", 5);
                break;
            default:
                break;
            }
        }
    }
    pthread_join(watcher, NULL);

    say_probe("after_close", outcome(wsrt_publish(srv, "t", (const uint8_t *)"x", 1, true, NULL, NULL)));
    wsrt_handle_free(handle);
    wsrt_server_free(srv);
    return 0;
}
