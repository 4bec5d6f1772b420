#include "metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace ferry {
namespace {

TEST(Metrics, PerWorkerAndSummedWithBothGenerationsOfAWorkerAsOne) {
  CountersPage page(4);  // 2 workers x 2 generations
  Set(page.worker(0).requests, 5);
  Set(page.worker(1).requests, 7);
  Set(page.worker(2).requests, 1);  // worker 0's next generation
  std::string text = RenderMetrics(page, 2);
  EXPECT_NE(text.find("# TYPE ferry_requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("ferry_requests_total{worker=\"0\"} 6\n"),
            std::string::npos);
  EXPECT_NE(text.find("ferry_requests_total{worker=\"1\"} 7\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nferry_requests_total 13\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE ferry_open_connections gauge\n"),
            std::string::npos);
}

TEST(Metrics, TheHotTableIsTheDaemons) {
  CountersPage page(2);
  EXPECT_EQ(RenderMetrics(page, 1).find("ferry_hot_bytes"), std::string::npos);
  HotTable hot(1000, 60'000, 2);
  FileStatus file;
  file.inode = 1;
  file.size = 300;
  hot.Request(file, file.size, 0);
  hot.Request(file, file.size, 1);
  const std::string text = RenderMetrics(page, 1, &hot);
  EXPECT_NE(text.find("# TYPE ferry_hot_bytes gauge\nferry_hot_bytes 300\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\nferry_hot_budget_bytes 1000\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE ferry_hot_admitted_total counter\n"
                      "ferry_hot_admitted_total 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nferry_hot_evicted_total 0\n"), std::string::npos);
}

TEST(Metrics, TheLoopHistogramIsCumulative) {
  CountersPage page(2);
  Set(page.worker(0).loop_buckets[0], 3);   // <= 10 us
  Set(page.worker(0).loop_buckets[5], 2);   // <= 1 ms
  Set(page.worker(0).loop_buckets[11], 1);  // > 1 s
  Set(page.worker(0).loop_micros, 2'500'000);
  std::string text = RenderMetrics(page, 1);
  EXPECT_NE(
      text.find(
          "ferry_loop_iteration_seconds_bucket{worker=\"0\",le=\"1e-05\"} 3\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "ferry_loop_iteration_seconds_bucket{worker=\"0\",le=\"0.001\"} 5\n"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          "ferry_loop_iteration_seconds_bucket{worker=\"0\",le=\"1\"} 5\n"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          "ferry_loop_iteration_seconds_bucket{worker=\"0\",le=\"+Inf\"} 6\n"),
      std::string::npos);
  EXPECT_NE(text.find("ferry_loop_iteration_seconds_count{worker=\"0\"} 6\n"),
            std::string::npos);
  EXPECT_NE(
      text.find("ferry_loop_iteration_seconds_sum{worker=\"0\"} 2.500000\n"),
      std::string::npos);
}

TEST(Counters, SummaryNamesEveryCounter) {
  CountersPage page(2);
  Set(page.worker(1).overflow_rescans, 4);
  std::string summary = page.Summary();
  EXPECT_NE(summary.find("overflow_rescans=4"), std::string::npos);
  EXPECT_NE(summary.find("requests=0"), std::string::npos);
}

}  // namespace
}  // namespace ferry
