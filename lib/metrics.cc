#include "metrics.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cinttypes>
#include <cstdio>
#include <vector>

namespace ferry {
namespace {

void Line(std::string* out, const std::string& name, const std::string& labels,
          std::uint64_t value) {
  char number[32];
  std::snprintf(number, sizeof number, " %" PRIu64 "\n", value);
  *out += name;
  if (!labels.empty()) *out += "{" + labels + "}";
  *out += number;
}

void LineSeconds(std::string* out, const std::string& name,
                 const std::string& labels, std::uint64_t micros) {
  char number[48];
  std::snprintf(number, sizeof number, " %" PRIu64 ".%06" PRIu64 "\n",
                micros / 1000000, micros % 1000000);
  *out += name;
  if (!labels.empty()) *out += "{" + labels + "}";
  *out += number;
}

std::string WorkerLabel(unsigned worker) {
  return "worker=\"" + std::to_string(worker) + "\"";
}

}  // namespace

std::string RenderMetrics(const CountersPage& page, unsigned workers) {
  std::string out;
  auto value = [&](unsigned worker,
                   WorkerCounters::Counter WorkerCounters::*m) {
    std::uint64_t sum = 0;
    for (unsigned slot = worker; slot < page.workers(); slot += workers) {
      sum += (page.worker(slot).*m).load(std::memory_order_relaxed);
    }
    return sum;
  };
  for (const CounterField& field : kCounterFields) {
    std::string name = std::string("ferry_") + field.name;
    if (!field.gauge) name += "_total";
    out += "# HELP " + name + " " + field.help + "\n";
    out += "# TYPE " + name + (field.gauge ? " gauge\n" : " counter\n");
    std::uint64_t total = 0;
    for (unsigned w = 0; w < workers; ++w) {
      std::uint64_t v = value(w, field.member);
      total += v;
      Line(&out, name, WorkerLabel(w), v);
    }
    Line(&out, name, "", total);
  }

  const std::string histogram = "ferry_loop_iteration_seconds";
  out += "# HELP " + histogram +
         " Time from a loop's wake-up to its next wait (a loop that blocked "
         "shows here).\n";
  out += "# TYPE " + histogram + " histogram\n";
  constexpr std::size_t kBuckets = std::size(kLoopBucketMicros);
  std::vector<std::uint64_t> total_buckets(kBuckets + 1, 0);
  std::uint64_t total_micros = 0;
  auto emit = [&](const std::string& labels, const std::uint64_t* buckets,
                  std::uint64_t micros) {
    std::string prefix = labels.empty() ? "" : labels + ",";
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      cumulative += buckets[b];
      char le[32];
      std::snprintf(le, sizeof le, "le=\"%g\"",
                    static_cast<double>(kLoopBucketMicros[b]) / 1e6);
      Line(&out, histogram + "_bucket", prefix + le, cumulative);
    }
    // +Inf and _count from the buckets themselves, so that they agree even
    // when a worker is between two of its stores.
    cumulative += buckets[kBuckets];
    Line(&out, histogram + "_bucket", prefix + "le=\"+Inf\"", cumulative);
    LineSeconds(&out, histogram + "_sum", labels, micros);
    Line(&out, histogram + "_count", labels, cumulative);
  };
  for (unsigned w = 0; w < workers; ++w) {
    std::uint64_t buckets[kBuckets + 1];
    for (std::size_t b = 0; b <= kBuckets; ++b) {
      buckets[b] = 0;
      for (unsigned slot = w; slot < page.workers(); slot += workers) {
        buckets[b] +=
            page.worker(slot).loop_buckets[b].load(std::memory_order_relaxed);
      }
      total_buckets[b] += buckets[b];
    }
    std::uint64_t micros = value(w, &WorkerCounters::loop_micros);
    total_micros += micros;
    emit(WorkerLabel(w), buckets, micros);
  }
  emit("", total_buckets.data(), total_micros);
  return out;
}

void AnswerMetricsRequest(int client, const CountersPage& page,
                          unsigned workers) {
  timeval second{1, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &second, sizeof second);
  setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &second, sizeof second);
  fcntl(client, F_SETFL, fcntl(client, F_GETFL) & ~O_NONBLOCK);
  std::string request;
  char buffer[2048];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.find("\n\n") == std::string::npos && request.size() < 8192) {
    ssize_t n = recv(client, buffer, sizeof buffer, 0);
    if (n <= 0) return;
    request.append(buffer, static_cast<std::size_t>(n));
  }
  bool head = request.rfind("HEAD ", 0) == 0;
  std::string body, status = "200 OK";
  if (head || request.rfind("GET ", 0) == 0) {
    body = RenderMetrics(page, workers);
  } else {
    status = "405 Method Not Allowed";
    body = "only GET and HEAD\n";
  }
  std::string response =
      "HTTP/1.1 " + status +
      "\r\nServer: ferry\r\n"
      "Content-Type: text/plain; version=0.0.4; charset=utf-8"
      "\r\nContent-Length: " +
      std::to_string(body.size()) +
      "\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n";
  if (!head) response += body;
  for (std::size_t sent = 0; sent < response.size();) {
    ssize_t n = send(client, response.data() + sent, response.size() - sent,
                     MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace ferry
