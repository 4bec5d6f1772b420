#include "counters.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "test_sockets.h"

namespace ferry {
namespace {

using testing::RunInChild;

constexpr std::size_t kWords =
    sizeof(WorkerCounters) / sizeof(WorkerCounters::Counter);
constexpr std::size_t kBuckets = std::size(kLoopBucketMicros) + 1;

TEST(Counters, ThePageStartsAtZero) {
  CountersPage page(3);
  EXPECT_EQ(page.workers(), 3u);
  for (const CounterField& field : kCounterFields) {
    EXPECT_EQ(page.Sum(field.member), 0u) << field.name;
  }
}

TEST(Counters, AChildsWritesAreSeenByTheParent) {
  CountersPage page(2);
  Set(page.worker(0).requests, 5);  // before the fork: the child sees it
  int status = RunInChild([&] {
    if (page.worker(0).requests.load() != 5) return 1;
    Set(page.worker(1).requests, 7);
    Bump(page.worker(1).bytes_sent, 1000);
    Bump(page.worker(1).bytes_sent);
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(page.worker(1).requests.load(), 7u);
  EXPECT_EQ(page.worker(1).bytes_sent.load(), 1001u);
  EXPECT_EQ(page.Sum(&WorkerCounters::requests), 12u);
}

TEST(Counters, EveryCounterOutsideTheHistogramHasOneField) {
  // Each field written with its own value: a counter two fields name would
  // keep only the last, one no field names would stay 0.
  CountersPage page(1);
  std::set<std::string> names;
  for (std::size_t i = 0; i < std::size(kCounterFields); ++i) {
    Set(page.worker(0).*kCounterFields[i].member, i + 1);
    EXPECT_TRUE(names.insert(kCounterFields[i].name).second)
        << kCounterFields[i].name;
  }
  EXPECT_EQ(std::size(kCounterFields), kWords - kBuckets);
  const auto* words =
      reinterpret_cast<const WorkerCounters::Counter*>(&page.worker(0));
  const auto* buckets = &page.worker(0).loop_buckets[0];
  std::set<std::uint64_t> values;
  for (std::size_t i = 0; i < kWords; ++i) {
    bool bucket = &words[i] >= buckets && &words[i] < buckets + kBuckets;
    if (bucket) {
      EXPECT_EQ(words[i].load(), 0u) << i;
    } else {
      EXPECT_NE(words[i].load(), 0u) << "word " << i << " has no field";
      values.insert(words[i].load());
    }
  }
  EXPECT_EQ(values.size(), std::size(kCounterFields));
}

TEST(Counters, SummaryNamesEveryCounterSummedOverTheWorkers) {
  CountersPage page(2);
  for (std::size_t i = 0; i < std::size(kCounterFields); ++i) {
    Set(page.worker(0).*kCounterFields[i].member, i + 1);
    Set(page.worker(1).*kCounterFields[i].member, 100);
  }
  std::string summary = " " + page.Summary() + " ";
  for (std::size_t i = 0; i < std::size(kCounterFields); ++i) {
    std::string pair = std::string(" ") + kCounterFields[i].name + "=" +
                       std::to_string(i + 101) + " ";
    EXPECT_NE(summary.find(pair), std::string::npos) << pair << summary;
  }
  EXPECT_TRUE(page.Summary().starts_with("requests=101 accepted=102 "))
      << page.Summary();
}

}  // namespace
}  // namespace ferry
