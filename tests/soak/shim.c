/*
 * The soak's server shim, preloaded into the C example (LD_PRELOAD). It
 * wraps wsrt_server_new to:
 *
 *  - set idle_timeout_ms from $SOAK_IDLE_TIMEOUT_MS on the configuration
 *    first: the example sets no idle timeout, so its WebSockets get the
 *    default (120 s), and a soak that leaves connections half-open every
 *    second would hold 120 s of them. The driver sets it only when the
 *    example does not read $IDLE_TIMEOUT_MS itself;
 *  - with $SOAK_MALLINFO_FILE, start a thread that writes glibc's count of
 *    heap bytes in use (mallinfo2: uordblks + hblkhd) and the heap's size
 *    (arena + hblkhd) to that file every second: what is live, apart from
 *    what the allocator keeps, so that a leak can be told from RSS the
 *    allocator has not given back.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsrt.h"

typedef wsrt_result (*server_new_fn)(const struct wsrt_config *, struct wsrt_server **);

static void *mallinfo_thread(void *arg) {
    const char *path = arg;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    for (;;) {
        struct mallinfo2 mi = mallinfo2();
        char line[128];
        int len = snprintf(line, sizeof line, "%zu %zu\n", mi.uordblks + mi.hblkhd, mi.arena + mi.hblkhd);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (write(fd, line, (size_t)len) == len) rename(tmp, path);
            close(fd);
        }
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
    }
    return NULL;
}

wsrt_result wsrt_server_new(const struct wsrt_config *config, struct wsrt_server **out) {
    server_new_fn real = (server_new_fn)dlsym(RTLD_NEXT, "wsrt_server_new");
    if (real == NULL) {
        fprintf(stderr, "soak shim: wsrt_server_new not found\n");
        abort();
    }
    const char *ms = getenv("SOAK_IDLE_TIMEOUT_MS");
    if (ms != NULL && *ms != '\0' && config != NULL) {
        /* The example's own configuration, made with wsrt_config_new: not
         * a const object, only passed as one. */
        wsrt_result r = wsrt_config_set_by_name((struct wsrt_config *)config, "idle_timeout_ms", ms);
        if (r != WSRT_OK) {
            fprintf(stderr, "soak shim: idle_timeout_ms=%s: %s\n", ms, wsrt_last_error());
            return r;
        }
        fprintf(stderr, "soak shim: idle_timeout_ms=%s\n", ms);
    }
    const char *file = getenv("SOAK_MALLINFO_FILE");
    static int started;
    if (file != NULL && *file != '\0' && !started) {
        started = 1;
        /* Its signals stay blocked as the caller's are (inherited mask). */
        pthread_t t;
        char *path = strdup(file);
        if (path == NULL || pthread_create(&t, NULL, mallinfo_thread, path) != 0)
            fprintf(stderr, "soak shim: cannot start the mallinfo thread\n");
        else
            pthread_detach(t);
    }
    return real(config, out);
}
