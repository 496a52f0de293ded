// Open-loop HTTP/1.1 load: sends POSTs at a fixed rate, whatever the server's latency, and
// measures each request from the moment it was *due* (not sent), so a stalled server shows up
// in the percentiles instead of slowing the load down (no coordinated omission; wrk cannot do
// this and wrk2 is not in Debian).
//
//   openloop HOST PORT PATH BODY_FILE RATE SECONDS CONNECTIONS [BEARER_KEY]
//
// Prints one line like wrk's bench/post.lua:
//   RESULT {"requests":N,"duration_us":D,"errors":E,"late":L,"p50":..,"p90":..,"p99":..,"p999":..}
// "late": requests that found no free connection when due and waited for one.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BUFFER_SIZE = 1 << 16 };

typedef struct {
    int fd;
    int busy;
    uint64_t due;  // when the request in flight was due, ns
    size_t filled;
    char buffer[BUFFER_SIZE];
} Connection;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void fail(const char *what) {
    perror(what);
    exit(1);
}

static int open_connection(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) fail("socket");
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) fail("inet_pton (HOST must be an IPv4 address)");
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) fail("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// -1: malformed, 0: incomplete, otherwise the response's total length; *status gets the code.
static long response_length(const char *data, size_t size, int *status) {
    const char *end = memmem(data, size, "\r\n\r\n", 4);
    if (!end) return 0;
    if (size < 12 || strncmp(data, "HTTP/1.1 ", 9) != 0) return -1;
    *status = atoi(data + 9);
    size_t header = (size_t)(end - data) + 4;
    long content_length = -1;
    int chunked = 0;
    for (const char *line = data; line < end;) {
        const char *line_end = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        if (strncasecmp(line, "content-length:", 15) == 0) content_length = atol(line + 15);
        if (strncasecmp(line, "transfer-encoding:", 18) == 0 && memmem(line, (size_t)(line_end - line), "chunked", 7))
            chunked = 1;
        line = line_end + 2;
    }
    if (content_length >= 0) return header + (size_t)content_length <= size ? (long)(header + content_length) : 0;
    if (!chunked) return -1;
    size_t at = header;
    for (;;) {  // walk the chunks: "<hex size>\r\n<data>\r\n", ending with "0\r\n\r\n"
        const char *line_end = memmem(data + at, size - at, "\r\n", 2);
        if (!line_end) return 0;
        long chunk = strtol(data + at, NULL, 16);
        at = (size_t)(line_end - data) + 2;
        if (chunk == 0) return at + 2 <= size ? (long)(at + 2) : 0;
        at += (size_t)chunk + 2;
        if (at > size) return 0;
    }
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s HOST PORT PATH BODY_FILE RATE SECONDS CONNECTIONS [BEARER_KEY]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), connections = atoi(argv[7]);
    double rate = atof(argv[5]), seconds = atof(argv[6]);
    FILE *body_file = fopen(argv[4], "rb");
    if (!body_file) fail("body file");
    static char body[BUFFER_SIZE];
    size_t body_size = fread(body, 1, sizeof body, body_file);
    fclose(body_file);
    static char request[BUFFER_SIZE + 1024];
    int request_size = snprintf(
        request, sizeof request,
        "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n", path,
        host, port, argc > 8 ? "Authorization: Bearer " : "", argc > 8 ? argv[8] : "", argc > 8 ? "\r\n" : "", body_size);
    memcpy(request + request_size, body, body_size);
    request_size += (int)body_size;

    size_t total = (size_t)(rate * seconds);
    uint64_t interval = (uint64_t)(1e9 / rate);
    uint64_t *latencies = calloc(total, sizeof *latencies);
    uint64_t *backlog = calloc(total, sizeof *backlog);  // due times of requests waiting for a connection
    Connection *pool = calloc((size_t)connections, sizeof *pool);
    int epoll = epoll_create1(0);
    for (int i = 0; i < connections; i++) {
        pool[i].fd = open_connection(host, port);
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(epoll, EPOLL_CTL_ADD, pool[i].fd, &event);
    }

    size_t scheduled = 0, completed = 0, errors = 0, late = 0, backlog_head = 0, backlog_tail = 0;
    int free_count = connections;
    uint64_t start = now_ns();
    uint64_t give_up = start + (uint64_t)(seconds * 1e9) + 10000000000ull;  // 10 s for stragglers

    // Sends on any free connection; returns 0 when none is free.
    #define SEND(due_time)                                                                            \
        ({                                                                                            \
            int sent = 0;                                                                             \
            for (int i = 0; i < connections && !sent; i++) {                                          \
                if (pool[i].busy || pool[i].fd < 0) continue;                                         \
                if (write(pool[i].fd, request, (size_t)request_size) != request_size) fail("write");  \
                pool[i].busy = 1;                                                                     \
                pool[i].due = (due_time);                                                             \
                pool[i].filled = 0;                                                                   \
                free_count--;                                                                         \
                sent = 1;                                                                             \
            }                                                                                         \
            sent;                                                                                     \
        })

    while (completed + errors < total && now_ns() < give_up) {
        uint64_t now = now_ns();
        while (scheduled < total && start + scheduled * interval <= now) {
            uint64_t due = start + scheduled * interval;
            scheduled++;
            if (free_count == 0 || !SEND(due)) {
                backlog[backlog_tail++] = due;
                late++;
            }
        }
        struct epoll_event events[64];
        struct timespec timeout = {0, 0};
        if (scheduled < total) {
            uint64_t next = start + scheduled * interval;
            now = now_ns();
            uint64_t wait = next > now ? next - now : 0;
            timeout.tv_sec = (time_t)(wait / 1000000000ull);
            timeout.tv_nsec = (long)(wait % 1000000000ull);
        } else {
            timeout.tv_nsec = 10000000;
        }
        int ready = epoll_pwait2(epoll, events, 64, &timeout, NULL);
        if (ready < 0 && errno != EINTR) fail("epoll_pwait2");
        for (int e = 0; e < ready; e++) {
            Connection *connection = &pool[events[e].data.u32];
            ssize_t got = read(connection->fd, connection->buffer + connection->filled,
                               sizeof connection->buffer - connection->filled);
            if (got <= 0 || !connection->busy) {  // closed, or data nobody asked for
                if (got < 0 && errno == EAGAIN) continue;
                errors += connection->busy;
                close(connection->fd);
                connection->fd = -1;
                if (!connection->busy) free_count--;
                connection->busy = 0;
                continue;
            }
            connection->filled += (size_t)got;
            int status = 0;
            long length = response_length(connection->buffer, connection->filled, &status);
            if (length == 0 && connection->filled < sizeof connection->buffer) continue;
            uint64_t finished = now_ns();
            if (length < 0 || status < 200 || status > 299 || (size_t)length != connection->filled) {
                errors++;
            } else {
                latencies[completed++] = finished - connection->due;
            }
            connection->busy = 0;
            free_count++;
            if (backlog_head < backlog_tail) SEND(backlog[backlog_head++]);
        }
    }
    uint64_t duration = now_ns() - start;
    qsort(latencies, completed, sizeof *latencies, compare);
    #define PERCENTILE(p) (completed ? latencies[(size_t)((double)(completed - 1) * (p))] / 1000 : 0)
    printf("RESULT {\"requests\":%zu,\"duration_us\":%llu,\"errors\":%zu,\"late\":%zu,\"p50\":%llu,\"p90\":%llu,"
           "\"p99\":%llu,\"p999\":%llu}\n",
           completed, (unsigned long long)(duration / 1000), total - completed, late,
           (unsigned long long)PERCENTILE(0.50), (unsigned long long)PERCENTILE(0.90),
           (unsigned long long)PERCENTILE(0.99), (unsigned long long)PERCENTILE(0.999));
    return 0;
}
