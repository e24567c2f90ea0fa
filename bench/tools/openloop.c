/*
 * openloop: a small open-loop HTTP/1.1 load generator, the part of wrk2 the benchmarks need (wrk2 is not
 * packaged in Debian). Requests are scheduled at a fixed rate whatever the server does; each latency is
 * counted from the request's scheduled time, so a stalled server cannot hide its queue (no coordinated
 * omission). One thread, epoll, keep-alive connections; a request waits in a FIFO when every connection
 * is busy, and that wait counts. Written in C so that the load generator takes little CPU on a 2-core
 * machine and adds no garbage-collector pauses of its own to the latencies it measures.
 *
 * Usage: openloop HOST PORT PATH RATE SECONDS CONNECTIONS WARMUP_SECONDS ['Header: value' ...]
 * Prints one JSON line: {"sent":..,"ok":..,"failed":..,"p50":..,"p90":..,"p99":..,"p999":..,"max":..}
 * (milliseconds; counts and latencies of the measured window only; "failed" = non-2xx or a broken
 * connection).
 * Build: cc -O2 -o openloop openloop.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  int busy;          /* a request is in flight */
  double scheduled;  /* its scheduled time (s, monotonic) */
  int measured;      /* scheduled inside the measured window */
  char buf[65536];
  size_t len;
} conn_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in addr;
static char request[8192];
static size_t request_len;

static int open_conn(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("connect");
    exit(2);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Whether the response head says `Connection: close`. */
static int closes(const char *buf, size_t len) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  for (const char *p = buf; end && p < end;) {
    const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
    if (!eol) break;
    if (eol - p >= 17 && strncasecmp(p, "connection: close", 17) == 0) return 1;
    p = eol + 2;
  }
  return 0;
}

static void reopen(int ep, conn_t *c, uint32_t id) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = open_conn();
  c->len = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = id};
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Length of a complete response at the start of buf (0 if incomplete, -1 if unparseable); *status set. */
static long response_length(const char *buf, size_t len, int *status) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return 0;
  size_t head = (size_t)(end - buf) + 4;
  if (len < 12 || sscanf(buf, "HTTP/1.%*c %d", status) != 1) return -1;
  const char *p = buf;
  while (p < end) {
    const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
    if (!eol) break;
    if (eol - p > 15 && strncasecmp(p, "content-length:", 15) == 0) {
      long body = strtol(p + 15, NULL, 10);
      return len >= head + (size_t)body ? (long)(head + (size_t)body) : 0;
    }
    if (eol - p > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0) {
      /* chunked: walk the chunks */
      size_t at = head;
      for (;;) {
        const char *crlf = memmem(buf + at, len - at, "\r\n", 2);
        if (!crlf) return 0;
        long size = strtol(buf + at, NULL, 16);
        at = (size_t)(crlf - buf) + 2 + (size_t)size + 2;
        if (at > len) return 0;
        if (size == 0) return (long)at;
      }
    }
    p = eol + 2;
  }
  return (long)head; /* no body (204, 304, or close-delimited, which we do not use) */
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr, "usage: openloop HOST PORT PATH RATE SECONDS CONNECTIONS WARMUP ['H: v' ...]\n");
    return 1;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  const char *path = argv[3];
  double rate = atof(argv[4]);
  double seconds = atof(argv[5]);
  int nconn = atoi(argv[6]);
  double warmup = atof(argv[7]);
  signal(SIGPIPE, SIG_IGN);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, host, &addr.sin_addr);

  request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n", path, host, port);
  for (int i = 8; i < argc; i++)
    request_len += (size_t)snprintf(request + request_len, sizeof request - request_len, "%s\r\n", argv[i]);
  request_len += (size_t)snprintf(request + request_len, sizeof request - request_len, "\r\n");

  long total = (long)((warmup + seconds) * rate);
  double *lat = calloc((size_t)total + 1, sizeof(double));
  long nlat = 0, ok = 0, failed = 0;
  double *queue = malloc(sizeof(double) * ((size_t)total + 1));
  long qhead = 0, qtail = 0;

  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
  for (int i = 0; i < nconn; i++) {
    conns[i].fd = open_conn();
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct epoll_event tev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

  double start = now_s() + 0.01;
  double measure_from = start + warmup;
  long scheduled = 0, done = 0;
  int idle_top = nconn;
  int *idle = malloc(sizeof(int) * (size_t)nconn);
  for (int i = 0; i < nconn; i++) idle[i] = nconn - 1 - i;

#define SEND(c, when)                                                                   \
  do {                                                                                  \
    (c)->busy = 1;                                                                      \
    (c)->scheduled = (when);                                                            \
    (c)->measured = (when) >= measure_from;                                             \
    (c)->len = 0;                                                                       \
    if (write((c)->fd, request, request_len) != (ssize_t)request_len) {                 \
      perror("write");                                                                  \
      exit(2);                                                                          \
    }                                                                                   \
  } while (0)

  struct epoll_event events[256];
  while (done < total) {
    double t = now_s();
    /* Everything due by now is sent, or queued when every connection is busy. */
    while (scheduled < total && start + scheduled / rate <= t) {
      double when = start + scheduled / rate;
      scheduled++;
      if (idle_top > 0) {
        conn_t *c = &conns[idle[--idle_top]];
        SEND(c, when);
      } else {
        queue[qtail++] = when;
      }
    }
    if (scheduled < total) {
      double next = start + scheduled / rate;
      struct itimerspec its = {0};
      its.it_value.tv_sec = (time_t)next;
      its.it_value.tv_nsec = (long)((next - (double)(time_t)next) * 1e9);
      timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    }
    int n = epoll_wait(ep, events, 256, 1000);
    for (int e = 0; e < n; e++) {
      if (events[e].data.u32 == UINT32_MAX) {
        uint64_t x;
        while (read(tfd, &x, sizeof x) > 0) {
        }
        continue;
      }
      conn_t *c = &conns[events[e].data.u32];
      ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
      int status = 0;
      long size = 0;
      if (r > 0) {
        c->len += (size_t)r;
        size = response_length(c->buf, c->len, &status);
        if (size == 0) continue; /* incomplete */
      } else if (r < 0 && errno == EAGAIN) {
        continue;
      }
      double finished = now_s();
      if (!c->busy) { /* an idle connection closed by the server: open another in its place */
        if (r <= 0) reopen(ep, c, events[e].data.u32);
        continue;
      }
      int good = r > 0 && size > 0 && status >= 200 && status < 300;
      if (c->measured) {
        if (good) lat[nlat++] = (finished - c->scheduled) * 1000.0, ok++;
        else failed++;
      }
      done++;
      c->busy = 0;
      /* Broken, or the server said it closes (nginx after keepalive_requests): reconnect. */
      if (r <= 0 || size < 0 || closes(c->buf, (size_t)size)) reopen(ep, c, events[e].data.u32);
      if (qhead < qtail) {
        SEND(c, queue[qhead]);
        qhead++;
      } else {
        idle[idle_top++] = (int)events[e].data.u32;
      }
    }
  }
  qsort(lat, (size_t)nlat, sizeof(double), cmp);
#define AT(q) (nlat ? lat[(long)((q) * (nlat - 1))] : -1.0)
  printf("{\"sent\":%ld,\"ok\":%ld,\"failed\":%ld,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}\n",
         ok + failed, ok, failed, AT(0.5), AT(0.9), AT(0.99), AT(0.999), AT(1.0));
  return 0;
}
