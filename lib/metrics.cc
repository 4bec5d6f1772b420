#include "metrics.h"

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

// The hot-file table's figures, the daemon's (not one worker's).
void RenderHotTable(const HotTable& hot, std::string* out) {
  const struct {
    const char* name;
    const char* help;
    bool gauge;
    std::uint64_t value;
  } figures[] = {
      {"ferry_hot_bytes",
       "Bytes of hot files held (--hot-cache): pinned, or evicted and not "
       "yet let go by every worker; never more than ferry_hot_budget_bytes.",
       true, hot.charged()},
      {"ferry_hot_budget_bytes", "The --hot-cache budget for the daemon.", true,
       hot.budget()},
      {"ferry_hot_admitted_total", "Files made hot: sent a second time.", false,
       hot.admitted()},
      {"ferry_hot_evicted_total",
       "Hot files that went: for a more popular one, cooled, or changed.",
       false, hot.evicted()},
  };
  for (const auto& figure : figures) {
    *out += std::string("# HELP ") + figure.name + " " + figure.help + "\n";
    *out += std::string("# TYPE ") + figure.name +
            (figure.gauge ? " gauge\n" : " counter\n");
    Line(out, figure.name, "", figure.value);
  }
}

}  // namespace

std::string RenderMetrics(const CountersPage& page, unsigned workers,
                          const HotTable* hot) {
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
  if (hot != nullptr) RenderHotTable(*hot, &out);
  return out;
}

}  // namespace ferry
