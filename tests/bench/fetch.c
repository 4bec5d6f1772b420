/* fetch: a tiny HTTP/1.1 load client for tests/bench/compare.
 *
 * It exists because wrk cannot sink several GB/s and because curl cannot
 * hold 10,000 idle connections. Single-threaded, epoll, non-blocking.
 * Bodies are discarded with recv(MSG_TRUNC), so the client copies nothing.
 *
 *   fetch stream [--rate=BYTES] [--rcvbuf=BYTES] HOST PORT CONNS TIMEOUT_S
 *                PATH...
 *       CONNS keep-alive connections; connection i GETs PATH i, i+CONNS, ...
 *       one after the other.
 *       --rate=BYTES: each connection reads at most BYTES body bytes per
 *       second (a token bucket per connection, holding at most
 *       max(128 KiB, 10 ms of BYTES); a connection out of tokens leaves the
 *       epoll set until its bucket is half full again, and when every busy
 *       connection waits so, the client sleeps in clock_nanosleep). The
 *       server is held back by TCP's window, so give a small --rcvbuf too.
 *       --rcvbuf=BYTES: SO_RCVBUF of every connection, set before connect()
 *       (the kernel doubles it and turns its autotuning off).
 *   fetch split HOST PORT CONNS TIMEOUT_S SIZE PATH
 *       CONNS connections each GET one of CONNS equal byte ranges of PATH
 *       (SIZE bytes long), so the file is read once in total.
 *   fetch idle HOST PORT CONNS TIMEOUT_S PATH
 *       open CONNS connections (at most 256 connects in flight), print
 *       "connected N MS", wait for a line on stdin, then send one GET for
 *       PATH on every connection and read every response.
 *
 * Prints one JSON object on stdout at the end:
 *   {"bytes":B,"seconds":S,"responses":R,"errors":E,"connect_ms":C,
 *    "conn_bytes_min":L,"conn_bytes_max":H}
 * bytes counts body bytes; seconds runs from the first request to the last
 * byte; conn_bytes_min/max: body bytes of the connection that received the
 * fewest and the most. Exit status 0 if every response was 2xx with its full
 * body.
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kHeadMax = 8192 };

typedef struct {
  int fd;
  int state; /* 0 connecting, 1 idle(connected), 2 sending, 3 head, 4 body, 5
                done */
  int next_job;
  char req[1024];
  size_t req_len, req_sent;
  char head[kHeadMax];
  size_t head_len;
  long long remaining;
  long long bytes; /* body bytes this connection received */
  /* --rate: the token bucket (bytes this connection may still read) */
  double tokens, refilled_at, wake_at;
  int throttled; /* out of tokens: not in the epoll set until wake_at */
} Conn;

static const char* g_host;
static int g_port;
static int g_conns;
static char** g_paths;
static int g_npaths;
static long long g_size;
static int g_mode; /* 0 stream, 1 split, 2 idle */
static long long g_bytes, g_responses, g_errors;
static int g_epoll;
static double g_rate;  /* stream mode: body bytes/s per connection, 0: no cap */
static double g_burst; /* the bucket's size */
static int g_rcvbuf;   /* SO_RCVBUF, 0: the kernel's default */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_conn(Conn* c) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(g_port);
  inet_pton(AF_INET, g_host, &a.sin_addr);
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("socket");
    return -1;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* Before connect(): the window scale is agreed in the handshake. */
  if (g_rcvbuf > 0 &&
      setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &g_rcvbuf, sizeof g_rcvbuf) < 0)
    perror("SO_RCVBUF");
  if (connect(c->fd, (struct sockaddr*)&a, sizeof a) < 0 &&
      errno != EINPROGRESS) {
    perror("connect");
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  c->state = 0;
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, c->fd, &ev);
  return 0;
}

/* Prepares the next request of connection c; 0 if it has none left. */
static int next_request(Conn* c, int index) {
  if (g_mode == 1) {
    if (c->next_job > 0) return 0;
    long long lo = g_size / g_conns * index;
    long long hi =
        index == g_conns - 1 ? g_size - 1 : g_size / g_conns * (index + 1) - 1;
    c->req_len = snprintf(
        c->req, sizeof c->req,
        "GET /%s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%lld-%lld\r\n\r\n",
        g_paths[0], g_host, lo, hi);
    c->next_job = 1;
  } else if (g_mode == 2) {
    if (c->next_job > 0) return 0;
    c->req_len =
        snprintf(c->req, sizeof c->req, "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n",
                 g_paths[0], g_host);
    c->next_job = 1;
  } else {
    int job = index + c->next_job * g_conns;
    if (job >= g_npaths) return 0;
    c->req_len =
        snprintf(c->req, sizeof c->req, "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n",
                 g_paths[job], g_host);
    c->next_job++;
  }
  c->req_sent = 0;
  c->head_len = 0;
  c->state = 2;
  return 1;
}

static void set_events(Conn* c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  epoll_ctl(g_epoll, EPOLL_CTL_MOD, c->fd, &ev);
}

/* --rate: tokens for the time since the last refill, at most g_burst. */
static void refill(Conn* c, double now) {
  c->tokens += (now - c->refilled_at) * g_rate;
  if (c->tokens > g_burst) c->tokens = g_burst;
  c->refilled_at = now;
}

/* --rate: c is out of tokens; it leaves the epoll set (so neither its data
 * nor a hang-up wakes the loop) until its bucket is half full: the other
 * half holds what a late wake-up would otherwise lose to the cap. */
static void throttle(Conn* c, double now) {
  c->throttled = 1;
  c->wake_at = now + (g_burst / 2 - c->tokens) / g_rate;
  epoll_ctl(g_epoll, EPOLL_CTL_DEL, c->fd, NULL);
}

static void unthrottle(Conn* c) {
  c->throttled = 0;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(g_epoll, EPOLL_CTL_ADD, c->fd, &ev);
}

static void finish(Conn* c) {
  if (c->fd >= 0) {
    epoll_ctl(g_epoll, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
  }
  c->state = 5;
}

static void fail(Conn* c, const char* why) {
  fprintf(stderr, "fetch: connection failed: %s\n", why);
  g_errors++;
  finish(c);
}

/* Drives connection c (number index) as far as it can go; returns 1 when
 * the connection has finished all its work. */
static int drive(Conn* c, int index) {
  for (;;) {
    if (c->state == 2) {
      while (c->req_sent < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_sent, c->req_len - c->req_sent,
                         MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
          set_events(c, EPOLLOUT);
          return 0;
        }
        if (n <= 0) {
          fail(c, "send");
          return 1;
        }
        c->req_sent += n;
      }
      set_events(c, EPOLLIN);
      c->state = 3;
    }
    if (c->state == 3) {
      ssize_t n =
          recv(c->fd, c->head + c->head_len, kHeadMax - 1 - c->head_len, 0);
      if (n < 0 && errno == EAGAIN) return 0;
      if (n <= 0) {
        fail(c, n == 0 ? "closed before the response head" : "recv");
        return 1;
      }
      c->head_len += n;
      c->head[c->head_len] = 0;
      char* end = strstr(c->head, "\r\n\r\n");
      if (end == NULL) {
        if (c->head_len >= kHeadMax - 1) {
          fail(c, "response head too large");
          return 1;
        }
        continue;
      }
      int status = atoi(c->head + 9);
      char* cl = strcasestr(c->head, "\r\nContent-Length:");
      if (cl == NULL || cl > end) {
        fail(c, "no Content-Length");
        return 1;
      }
      long long length = atoll(cl + 17);
      size_t head_bytes = (size_t)(end + 4 - c->head);
      long long early = (long long)(c->head_len - head_bytes);
      if (early > length) {
        fail(c, "more bytes than Content-Length (pipelining is not used)");
        return 1;
      }
      g_bytes += early;
      c->bytes += early;
      c->tokens -= early;
      c->remaining = length - early;
      if (status < 200 || status > 299) {
        fprintf(stderr, "fetch: status %d\n", status);
        g_errors++;
      }
      c->state = 4;
    }
    if (c->state == 4) {
      while (c->remaining > 0) {
        size_t want =
            c->remaining > (1 << 26) ? (1 << 26) : (size_t)c->remaining;
        if (g_rate > 0) {
          double now = now_s();
          refill(c, now);
          /* Not a dribble of a few bytes at a time: wait for half a bucket
           * unless the response's last bytes fit. */
          double least = c->remaining < 16384 ? (double)c->remaining : 16384;
          if (c->tokens < least) {
            throttle(c, now);
            return 0;
          }
          if ((double)want > c->tokens) want = (size_t)c->tokens;
        }
        ssize_t n = recv(c->fd, NULL, want, MSG_TRUNC);
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0) {
          fail(c, n == 0 ? "closed in the body" : "recv body");
          return 1;
        }
        c->remaining -= n;
        g_bytes += n;
        c->bytes += n;
        c->tokens -= n;
      }
      g_responses++;
      if (!next_request(c, index)) {
        finish(c);
        return 1;
      }
    }
  }
}

int main(int argc, char** argv) {
  const char* usage =
      "usage: fetch stream|split|idle [--rate=BYTES] [--rcvbuf=BYTES] HOST "
      "PORT CONNS TIMEOUT_S [SIZE] PATH...\n";
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char* mode = argv[1];
  g_mode = strcmp(mode, "split") == 0 ? 1 : strcmp(mode, "idle") == 0 ? 2 : 0;
  int arg = 2;
  for (; arg < argc && strncmp(argv[arg], "--", 2) == 0; ++arg) {
    if (strncmp(argv[arg], "--rate=", 7) == 0) {
      g_rate = atof(argv[arg] + 7);
    } else if (strncmp(argv[arg], "--rcvbuf=", 9) == 0) {
      g_rcvbuf = atoi(argv[arg] + 9);
    } else {
      fputs(usage, stderr);
      return 2;
    }
  }
  if (argc - arg < 5 || g_rate < 0 || (g_rate > 0 && g_mode != 0)) {
    fputs(usage, stderr);
    return 2;
  }
  g_burst = g_rate * 0.01 > 131072 ? g_rate * 0.01 : 131072;
  g_host = argv[arg];
  g_port = atoi(argv[arg + 1]);
  g_conns = atoi(argv[arg + 2]);
  double timeout = atof(argv[arg + 3]);
  int first_path = arg + 4;
  if (g_mode == 1) {
    if (argc - arg < 6) {
      fputs(usage, stderr);
      return 2;
    }
    g_size = atoll(argv[arg + 4]);
    first_path = arg + 5;
  }
  g_paths = argv + first_path;
  g_npaths = argc - first_path;
  for (int i = 0; i < g_npaths; ++i)
    while (g_paths[i][0] == '/') g_paths[i]++;
  if (g_npaths < 1 || g_conns < 1) return 2;
  if (g_mode == 0 && g_conns > g_npaths) g_conns = g_npaths;

  g_epoll = epoll_create1(EPOLL_CLOEXEC);
  Conn* conns = calloc(g_conns, sizeof(Conn));
  double start = now_s();
  double deadline = start + timeout;
  struct epoll_event events[256];
  int active = 0;
  double connect_ms = 0;

  if (g_mode == 2) {
    /* Connect everything first, at most 256 handshakes at a time. */
    int opened = 0, connected = 0;
    while (connected + (int)g_errors < g_conns) {
      while (opened < g_conns && opened - connected - (int)g_errors < 256) {
        if (open_conn(&conns[opened]) < 0) {
          g_errors++;
          conns[opened].state = 5;
        }
        opened++;
      }
      int n = epoll_wait(g_epoll, events, 256, 1000);
      for (int i = 0; i < n; ++i) {
        Conn* c = events[i].data.ptr;
        if (c->state != 0) continue;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(c, strerror(err));
          continue;
        }
        c->state = 1;
        set_events(c, EPOLLIN); /* a close by the server would show */
        connected++;
      }
      if (now_s() > deadline) break;
    }
    connect_ms = (now_s() - start) * 1000;
    /* Anything readable now means the server closed an idle connection. */
    int n = epoll_wait(g_epoll, events, 256, 0);
    (void)n;
    printf("connected %d %.1f\n", connected, connect_ms);
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) return 3;
    start = now_s();
    deadline = start + timeout;
    for (int i = 0; i < g_conns; ++i) {
      if (conns[i].state != 1) continue;
      next_request(&conns[i], i);
      active++;
      drive(&conns[i], i) ? active-- : 0;
    }
  } else {
    for (int i = 0; i < g_conns; ++i) {
      conns[i].tokens = g_burst;
      conns[i].refilled_at = start;
      if (open_conn(&conns[i]) < 0) {
        g_errors++;
        conns[i].state = 5;
        continue;
      }
      active++;
    }
  }

  while (active > 0) {
    double now = now_s();
    double wake = deadline;
    if (g_rate > 0) {
      /* Connections whose bucket is full again read what waits for them;
       * the rest say when the loop must wake next. */
      int waiting = 0;
      for (int i = 0; i < g_conns; ++i) {
        Conn* c = &conns[i];
        if (!c->throttled || c->state == 5) continue;
        if (c->wake_at <= now) {
          unthrottle(c);
          if (drive(c, i)) active--;
          now = now_s();
        }
        if (c->throttled) {
          waiting++;
          if (c->wake_at < wake) wake = c->wake_at;
        }
      }
      if (active == 0) break;
      if (waiting == active && wake < deadline) {
        /* Every busy connection waits for its tokens: nothing to poll. */
        struct timespec ts = {.tv_sec = (time_t)wake,
                              .tv_nsec = (long)((wake - (time_t)wake) * 1e9)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
               EINTR) {
        }
        continue;
      }
    }
    if (deadline - now <= 0) {
      fprintf(stderr, "fetch: timed out with %d connections busy\n", active);
      g_errors += active;
      break;
    }
    /* Rounded up: the buckets keep what a late wake-up would lose. */
    int timeout_ms = (int)((wake - now) * 1000 + 0.999);
    int n = epoll_wait(g_epoll, events, 256, timeout_ms);
    for (int i = 0; i < n; ++i) {
      Conn* c = events[i].data.ptr;
      int index = (int)(c - conns);
      if (c->state == 5 || c->throttled) continue;
      if (c->state == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(c, strerror(err));
          active--;
          continue;
        }
        if (!next_request(c, index)) {
          finish(c);
          active--;
          continue;
        }
      }
      if (c->state == 1) {
        fail(c, "unexpected");
        active--;
        continue;
      }
      if (drive(c, index)) active--;
    }
  }
  double seconds = now_s() - start;
  long long least = -1, most = 0;
  for (int i = 0; i < g_conns; ++i) {
    if (least < 0 || conns[i].bytes < least) least = conns[i].bytes;
    if (conns[i].bytes > most) most = conns[i].bytes;
  }
  printf(
      "{\"bytes\":%lld,\"seconds\":%.6f,\"responses\":%lld,\"errors\":%lld,"
      "\"connect_ms\":%.1f,\"conn_bytes_min\":%lld,\"conn_bytes_max\":%lld}\n",
      g_bytes, seconds, g_responses, g_errors, connect_ms,
      least < 0 ? 0 : least, most);
  return g_errors == 0 ? 0 : 1;
}
