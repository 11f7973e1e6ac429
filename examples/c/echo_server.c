/*
 * wsrt example server, built only from include/wsrt.h and libwsrt.so.
 *
 *   /echo  every WebSocket message is sent back on the same connection,
 *          in order, with the same type (text or binary)
 *   /sse   an event "tick" every $SSE_INTERVAL_MS ms (default 1000), ids
 *          counting up from 1, data "tick <id>\n<unix time ms>"; a client
 *          reconnecting with Last-Event-ID: N resumes at N+1
 *   /broadcast  every WebSocket message from any client here is published
 *          to every client here, the sender included (topic "broadcast")
 *   /events an SSE stream of the text published on /broadcast; the topic
 *          keeps its last $HISTORY events (default 100; 0: none), so a
 *          client reconnecting with Last-Event-ID gets exactly what it
 *          missed, or an event "snapshot" when that is no longer known
 *   /stats  a WebSocket that gets the server's counters as one JSON text
 *          (wsrt_stats's fields, and broadcast_subscribers: the topic's
 *          subscribers across the cluster) and is closed (1000)
 *   /      if $WSRT_DEMO_PAGE names an HTML file, that page
 *   /socket.io/, /engine.io/, /chat  the Socket.IO example contract
 *          (sio_contract.c): namespaces "/" and "/custom", rooms, acks,
 *          binary, recovery; room "broadcast" is the /broadcast topic too
 *          ($SIO_PING_INTERVAL_MS, $SIO_PING_TIMEOUT_MS,
 *          $SIO_CONNECT_TIMEOUT_MS, $SIO_RECOVERY_WINDOW_MS (default
 *          120000, 0: off); /chat and the client script from
 *          $WSRT_CHAT_PAGE and $WSRT_SIO_CLIENT)
 *
 * $DEFLATE (off, shared, per-connection) turns on permessage-deflate.
 * Listens on 127.0.0.1:$PORT (default 9001). SIGTERM or SIGINT shuts down
 * gracefully (WebSockets closed with 1001) and exits 0.
 *
 * TLS: $TLS_CERT and $TLS_KEY (PEM file paths, both or neither) make $PORT
 * speak TLS (https, wss); with $TLS_PORT as well, $PORT stays plain and
 * 127.0.0.1:$TLS_PORT speaks TLS beside it. SIGHUP reloads the certificate
 * and key from the same paths (new connections get them; on error the
 * server keeps the old ones and says why).
 *
 * Cluster: with $REDIS_URL (redis://host:port/ or redis+unix:///path),
 * servers sharing that Redis form one cluster: /broadcast and /events span
 * them all. Redis away: each server goes on serving its own clients.
 *
 * $WORKERS (default 1; 0 or auto: one per core) runs that many event loops
 * on threads of their own; this thread still runs every handler. More than
 * one does not combine with $REDIS_URL yet (the library says so).
 *
 * Signals are taken by a thread of their own (sigwait), which asks the loop
 * to stop (or to reload) through a wsrt_handle: a flag set by a signal
 * handler could be missed by a loop already about to block in
 * wsrt_server_poll.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sio_contract.h"
#include "wsrt.h"

typedef struct {
    wsrt_conn conn;
    uint64_t next_id;
    int64_t due_ms;
} stream;

static sigset_t signals_taken;
/* Set by the signal thread on SIGHUP; the loop reloads the certificate. */
static atomic_bool reload_wanted;

/* Waits for SIGTERM/SIGINT and starts a graceful shutdown of the loop; a
 * SIGHUP in between asks the loop to reload the TLS certificate. */
static void *signal_thread(void *arg) {
    wsrt_handle *handle = arg;
    int sig = 0;
    while (sigwait(&signals_taken, &sig) == 0) {
        if (sig == SIGHUP) {
            atomic_store(&reload_wanted, true);
            wsrt_handle_wake(handle);
            continue;
        }
        fprintf(stderr, "echo_server: signal %d, shutting down\n", sig);
        wsrt_handle_shutdown(handle);
        break;
    }
    return NULL;
}

static int64_t now_ms(int clockid) {
    struct timespec ts;
    clock_gettime(clockid, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *what, wsrt_result r) {
    fprintf(stderr, "echo_server: %s: %s (%s)\n", what, wsrt_result_str(r), wsrt_last_error());
    return 1;
}

/* $name as an integer of at least `min`, or `fallback` when unset. */
static long env_at_least(const char *name, long fallback, long min) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return fallback;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < min) {
        fprintf(stderr, "echo_server: %s must be an integer of at least %ld\n", name, min);
        exit(2);
    }
    return n;
}

static long env_long(const char *name, long fallback) { return env_at_least(name, fallback, 1); }

/* /stats: the counters as one JSON text, then a normal close. */
static void send_stats(wsrt_server *srv, wsrt_conn conn) {
    wsrt_stats st;
    char json[1024];
    if (wsrt_server_stats(srv, &st) != WSRT_OK) return;
    int len = snprintf(json, sizeof json,
                       "{\"connections\":%zu,\"websockets\":%zu,\"sse_streams\":%zu,\"buffered_bytes\":%zu,"
                       "\"topics\":%zu,\"published\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"dropped\":%" PRIu64
                       ",\"slow_closed\":%" PRIu64 ",\"tls_handshakes\":%" PRIu64 ",\"tls_failures\":%" PRIu64
                       ",\"cluster_published\":%" PRIu64 ",\"cluster_received\":%" PRIu64
                       ",\"cluster_dropped\":%" PRIu64 ",\"broadcast_subscribers\":%zu}",
                       st.connections, st.websockets, st.sse_streams, st.buffered_bytes, st.topics, st.published,
                       st.delivered, st.dropped, st.slow_closed, st.tls_handshakes, st.tls_failures,
                       st.cluster_published, st.cluster_received, st.cluster_dropped,
                       wsrt_cluster_subscriber_count(srv, "broadcast"));
    if (len > 0 && (size_t)len < sizeof json) wsrt_send(srv, conn, (const uint8_t *)json, (size_t)len, true);
    wsrt_close(srv, conn, 1000, NULL);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(buf, cap);
            if (grown == NULL) break;
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) break;
        *len += n;
    }
    fclose(f);
    return buf;
}

/* $TLS_CERT and $TLS_KEY as the certificate and key of `cfg`. */
static wsrt_result add_tls_files(wsrt_config *cfg, const char *cert, const char *key) {
    wsrt_result r = wsrt_config_add_item(cfg, WSRT_OPT_TLS_CERT, cert);
    return r != WSRT_OK ? r : wsrt_config_add_item(cfg, WSRT_OPT_TLS_KEY, key);
}

/* SIGHUP: the certificate and key read again from the same paths, handed
 * to the server in a scratch configuration. The server checks everything
 * before it changes anything, so on error it goes on as it was. */
static void reload_tls(wsrt_server *srv, const char *cert, const char *key) {
    if (cert == NULL) {
        fprintf(stderr, "echo_server: SIGHUP: no TLS to reload (TLS_CERT and TLS_KEY are not set)\n");
        return;
    }
    wsrt_config *tls = NULL;
    wsrt_result r = wsrt_config_new("127.0.0.1:0", &tls);
    if (r == WSRT_OK) r = add_tls_files(tls, cert, key);
    if (r == WSRT_OK) r = wsrt_server_reload_tls(srv, tls);
    wsrt_config_free(tls);
    if (r == WSRT_OK)
        fprintf(stderr, "echo_server: SIGHUP: TLS certificate reloaded from %s\n", cert);
    else
        fprintf(stderr, "echo_server: SIGHUP: TLS reload failed, keeping the old certificate: %s\n",
                wsrt_last_error());
}

static bool has_path(const wsrt_request *req, const char *path) {
    wsrt_str p = wsrt_request_path(req);
    return p.len == strlen(path) && memcmp(p.ptr, path, p.len) == 0;
}

/* Last-Event-ID as a number; anything else starts from the beginning. */
static uint64_t resume_id(const wsrt_request *req) {
    wsrt_str v;
    if (!wsrt_request_header(req, "last-event-id", &v) || v.len == 0 || v.len > 19) return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') return 0;
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    return n;
}

int main(void) {
    long port = env_long("PORT", 9001);
    long interval = env_long("SSE_INTERVAL_MS", 1000);
    long history = env_at_least("HISTORY", 100, 0); /* 0: no history */
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%ld", port);

    /* Blocked here, before any thread starts, so every thread inherits the
     * mask and only signal_thread receives them. */
    sigemptyset(&signals_taken);
    sigaddset(&signals_taken, SIGTERM);
    sigaddset(&signals_taken, SIGINT);
    sigaddset(&signals_taken, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals_taken, NULL);
    signal(SIGPIPE, SIG_IGN);

    wsrt_config *cfg = NULL;
    wsrt_result r = wsrt_config_new(listen, &cfg);
    if (r != WSRT_OK) return fail("config", r);
    if ((r = wsrt_config_add_route(cfg, "/echo", WSRT_ROUTE_WEBSOCKET, 0, NULL)) != WSRT_OK) return fail("route /echo", r);
    if ((r = wsrt_config_add_route(cfg, "/sse", WSRT_ROUTE_SSE, 0, NULL)) != WSRT_OK) return fail("route /sse", r);
    if ((r = wsrt_config_add_route(cfg, "/broadcast", WSRT_ROUTE_WEBSOCKET, 0, NULL)) != WSRT_OK)
        return fail("route /broadcast", r);
    if ((r = wsrt_config_add_route(cfg, "/events", WSRT_ROUTE_SSE, 0, NULL)) != WSRT_OK) return fail("route /events", r);
    if ((r = wsrt_config_add_route(cfg, "/stats", WSRT_ROUTE_WEBSOCKET, 0, NULL)) != WSRT_OK) return fail("route /stats", r);
    /* REDIS_URL: a cluster of the servers sharing that Redis (the URL is
     * checked by wsrt_server_new; Redis itself may come later). */
    const char *redis_url = getenv("REDIS_URL");
    if (redis_url != NULL && *redis_url != '\0' &&
        (r = wsrt_config_set_str(cfg, WSRT_OPT_CLUSTER_REDIS_URL, redis_url)) != WSRT_OK) {
        fail("REDIS_URL", r);
        return 2;
    }
    /* DEFLATE=off (default) | shared | per-connection: permessage-deflate,
     * set by the option's name (the library checks the value). */
    const char *deflate = getenv("DEFLATE");
    if (deflate != NULL && *deflate != '\0') {
        if ((r = wsrt_config_set_by_name(cfg, "deflate", deflate)) != WSRT_OK) {
            fail("DEFLATE", r);
            return 2;
        }
    }
    /* WORKERS: event loops (the library checks the value: a number, or
     * "auto"). */
    const char *workers = getenv("WORKERS");
    if (workers != NULL && *workers != '\0' && (r = wsrt_config_set_by_name(cfg, "workers", workers)) != WSRT_OK) {
        fail("WORKERS", r);
        return 2;
    }
    const char *sio_step = "";
    if ((r = sio_contract_configure(cfg, &sio_step)) != WSRT_OK) {
        fail(sio_step, r);
        return 2;
    }
    /* TLS_CERT + TLS_KEY: PORT speaks TLS, or TLS_PORT beside a plain PORT.
     * The files are read (and checked) by wsrt_server_new. */
    const char *tls_cert = getenv("TLS_CERT"), *tls_key = getenv("TLS_KEY");
    if (tls_cert != NULL && *tls_cert == '\0') tls_cert = NULL;
    if (tls_key != NULL && *tls_key == '\0') tls_key = NULL;
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        fprintf(stderr, "echo_server: TLS_CERT and TLS_KEY go together (PEM file paths): %s is set, %s is not\n",
                tls_cert ? "TLS_CERT" : "TLS_KEY", tls_cert ? "TLS_KEY" : "TLS_CERT");
        return 2;
    }
    long tls_port = env_long("TLS_PORT", 0);
    if (tls_port != 0 && tls_cert == NULL) {
        fprintf(stderr, "echo_server: TLS_PORT needs TLS_CERT and TLS_KEY\n");
        return 2;
    }
    if (tls_cert != NULL) {
        if ((r = add_tls_files(cfg, tls_cert, tls_key)) != WSRT_OK) {
            fail("TLS_CERT/TLS_KEY", r);
            return 2;
        }
        if (tls_port != 0) {
            char tls_listen[64];
            snprintf(tls_listen, sizeof tls_listen, "127.0.0.1:%ld", tls_port);
            if ((r = wsrt_config_set_str(cfg, WSRT_OPT_TLS_LISTEN, tls_listen)) != WSRT_OK) {
                fail("TLS_PORT", r);
                return 2;
            }
        }
    }
    const char *page_path = getenv("WSRT_DEMO_PAGE");
    if (page_path != NULL && *page_path != '\0') {
        size_t len = 0;
        char *page = read_file(page_path, &len);
        if (page == NULL) {
            fprintf(stderr, "echo_server: cannot read %s: %s\n", page_path, strerror(errno));
            return 1;
        }
        r = wsrt_config_add_static(cfg, "/", "text/html; charset=utf-8", (const uint8_t *)page, len);
        free(page);
        if (r != WSRT_OK) return fail("route /", r);
    }

    wsrt_server *srv = NULL;
    r = wsrt_server_new(cfg, &srv);
    wsrt_config_free(cfg);
    if (r != WSRT_OK) return fail("listen", r);
    if (history > 0 && (r = wsrt_set_topic_history(srv, "broadcast", (size_t)history, 0)) != WSRT_OK)
        return fail("history", r);
    unsigned port_bound = wsrt_server_port(srv), tls_bound = wsrt_server_tls_port(srv);
    if (tls_bound == 0 || tls_bound == port_bound)
        fprintf(stderr, "echo_server: wsrt %s listening on 127.0.0.1:%u (%s)", wsrt_version(), port_bound,
                tls_bound ? "https, wss" : "http, ws");
    else
        fprintf(stderr, "echo_server: wsrt %s listening on 127.0.0.1:%u (http, ws) and 127.0.0.1:%u (https, wss)",
                wsrt_version(), port_bound, tls_bound);
    fprintf(stderr, " (/echo, /sse, /broadcast, /events, /stats, /socket.io/, /engine.io/; %s workers)\n",
            workers != NULL && *workers != '\0' ? workers : "1");
    if (redis_url != NULL && *redis_url != '\0')
        fprintf(stderr, "echo_server: cluster over %s\n", redis_url);
    if (page_path != NULL && *page_path != '\0')
        fprintf(stderr, "echo_server: demo page at %s://127.0.0.1:%u/\n", tls_bound ? "https" : "http",
                tls_bound ? tls_bound : port_bound);

    wsrt_handle *handle = wsrt_server_handle(srv);
    pthread_t signals;
    if (handle == NULL || pthread_create(&signals, NULL, signal_thread, handle) != 0) {
        fprintf(stderr, "echo_server: cannot start the signal thread\n");
        return 1;
    }

    stream *streams = NULL;
    size_t nstreams = 0, cap = 0;

    /* After a shutdown begins, the loop runs on until every connection has
     * finished its close handshake (or the close timeout dropped it). */
    while (!wsrt_server_is_finished(srv)) {
        /* Sleep until the earliest tick is due (or I/O arrives). */
        int64_t now = now_ms(CLOCK_MONOTONIC);
        int timeout = -1;
        for (size_t i = 0; i < nstreams; i++) {
            int64_t wait = streams[i].due_ms - now;
            if (wait < 0) wait = 0;
            if (timeout < 0 || wait < timeout) timeout = (int)wait;
        }
        const wsrt_event *ev = NULL;
        size_t n = 0;
        if ((r = wsrt_server_poll(srv, timeout, &ev, &n)) != WSRT_OK) return fail("poll", r);
        if (atomic_exchange(&reload_wanted, false)) reload_tls(srv, tls_cert, tls_key);
        for (size_t i = 0; i < n; i++) {
            if (sio_contract_handle(srv, &ev[i])) continue;
            switch (ev[i].type) {
            case WSRT_EVENT_OPEN:
                if (has_path(ev[i].request, "/stats")) {
                    send_stats(srv, ev[i].conn);
                    break;
                }
                if (has_path(ev[i].request, "/broadcast") &&
                    (r = wsrt_subscribe(srv, ev[i].conn, "broadcast", NULL)) != WSRT_OK)
                    fprintf(stderr, "echo_server: subscribe: %s\n", wsrt_last_error());
                break;
            case WSRT_EVENT_MESSAGE:
                if (wsrt_is_subscribed(srv, ev[i].conn, "broadcast")) {
                    /* Encoded once, queued to every subscriber; a subscriber
                     * too slow to keep up is closed (the default policy). */
                    r = wsrt_publish(srv, "broadcast", ev[i].data, ev[i].len, ev[i].is_text, NULL, NULL);
                    if (r != WSRT_OK) fprintf(stderr, "echo_server: publish: %s\n", wsrt_last_error());
                    break;
                }
                r = wsrt_send(srv, ev[i].conn, ev[i].data, ev[i].len, ev[i].is_text);
                /* Backpressure cannot lose echoes: wsrt stops reading from
                 * a connection long before its queue reaches the cap. A
                 * client that reset the connection right after its message
                 * is gone already (UNKNOWN_CONNECTION): nothing to say. */
                if (r != WSRT_OK && r != WSRT_ERR_CLOSED && r != WSRT_ERR_UNKNOWN_CONNECTION)
                    fprintf(stderr, "echo_server: send: %s\n", wsrt_last_error());
                break;
            case WSRT_EVENT_SSE_OPEN:
                if (has_path(ev[i].request, "/events")) {
                    /* Resumes from the client's Last-Event-ID header (NULL). */
                    wsrt_replay replay;
                    r = wsrt_resume(srv, ev[i].conn, "broadcast", NULL, &replay);
                    if (r != WSRT_OK) {
                        fprintf(stderr, "echo_server: subscribe: %s\n", wsrt_last_error());
                    } else if (replay.missed) {
                        /* The history no longer covers this client: a real
                         * app would send its full state here. */
                        static const char snapshot[] = "history unavailable: start over";
                        wsrt_sse_send(srv, ev[i].conn, "snapshot", NULL, -1, (const uint8_t *)snapshot,
                                      sizeof snapshot - 1);
                    }
                    break;
                }
                if (nstreams == cap) {
                    cap = cap ? cap * 2 : 16;
                    stream *grown = realloc(streams, cap * sizeof *streams);
                    if (grown == NULL) {
                        wsrt_close(srv, ev[i].conn, 1000, NULL);
                        break;
                    }
                    streams = grown;
                }
                streams[nstreams++] = (stream){ev[i].conn, resume_id(ev[i].request) + 1,
                                              now_ms(CLOCK_MONOTONIC) + interval};
                break;
            case WSRT_EVENT_SSE_CLOSE:
                for (size_t j = 0; j < nstreams; j++) {
                    if (streams[j].conn == ev[i].conn) {
                        streams[j] = streams[--nstreams];
                        break;
                    }
                }
                break;
            default:
                break;
            }
        }
        now = now_ms(CLOCK_MONOTONIC);
        for (size_t i = 0; i < nstreams; i++) {
            stream *s = &streams[i];
            if (s->due_ms > now) continue;
            char id[24], data[64];
            snprintf(id, sizeof id, "%" PRIu64, s->next_id);
            int len = snprintf(data, sizeof data, "tick %" PRIu64 "\n%" PRId64, s->next_id, now_ms(CLOCK_REALTIME));
            if (wsrt_sse_send(srv, s->conn, "tick", id, -1, (const uint8_t *)data, (size_t)len) == WSRT_OK) s->next_id++;
            s->due_ms += interval;
            if (s->due_ms <= now) s->due_ms = now + interval; /* fell behind: don't burst */
        }
    }

    pthread_join(signals, NULL);
    wsrt_handle_free(handle);
    wsrt_server_free(srv);
    sio_contract_free();
    free(streams);
    fprintf(stderr, "echo_server: stopped\n");
    return 0;
}
