#include "access_log.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace ferry {
namespace {

class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
  std::string Format(const AccessRecord& record, AccessLogFormat format,
                     std::size_t capacity = 1024) {
    std::string out(capacity, '\0');
    out.resize(FormatAccessRecord(record, format, out.data(), capacity));
    return out;
  }
  AccessRecord Record() {
    AccessRecord record;
    record.client = "127.0.0.1";
    record.time = 1700000000;  // 2023-11-14 22:13:20 UTC
    record.request_line = "GET /a HTTP/1.1";
    record.status = 200;
    record.body_bytes = 42;
    record.referer = "http://r/";
    record.user_agent = "curl";
    return record;
  }
};

TEST_F(AccessLogTest, CommonAndCombined) {
  EXPECT_EQ(
      Format(Record(), AccessLogFormat::kCommon),
      "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /a HTTP/1.1\" 200 "
      "42\n");
  EXPECT_EQ(
      Format(Record(), AccessLogFormat::kCombined),
      "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /a HTTP/1.1\" 200 "
      "42 \"http://r/\" \"curl\"\n");
}

TEST_F(AccessLogTest, RequestBytesAreEscapedAndEmptyBodiesAreADash) {
  AccessRecord record = Record();
  static constexpr char kLine[] = "GET /\"\\\x01\xff HTTP/1.1";
  record.request_line = std::string_view(kLine, sizeof kLine - 1);
  record.body_bytes = 0;
  record.user_agent = "";
  EXPECT_EQ(
      Format(record, AccessLogFormat::kCombined),
      "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] "
      "\"GET /\\x22\\x5c\\x01\\xff HTTP/1.1\" 200 - \"http://r/\" \"-\"\n");
}

TEST_F(AccessLogTest, JsonIsOneObjectPerLine) {
  AccessRecord record = Record();
  record.user_agent = "a\"b";
  EXPECT_EQ(Format(record, AccessLogFormat::kJson),
            "{\"time\":\"14/Nov/2023:22:13:20 +0000\",\"client\":\"127.0.0.1\","
            "\"request\":\"GET /a HTTP/1.1\",\"status\":200,\"bytes\":42,"
            "\"referer\":\"http://r/\",\"user_agent\":\"a\\u0022b\"}\n");
}

TEST_F(AccessLogTest, AnOverlongLineIsCutButStillALine) {
  AccessRecord record = Record();
  std::string huge(5000, 'x');
  record.request_line = huge;
  std::string line = Format(record, AccessLogFormat::kCombined, 256);
  EXPECT_EQ(line.size(), 256u);
  EXPECT_EQ(line.back(), '\n');
}

TEST_F(AccessLogTest, FormatNames) {
  EXPECT_EQ(ParseAccessLogFormat("common"), AccessLogFormat::kCommon);
  EXPECT_EQ(ParseAccessLogFormat("json"), AccessLogFormat::kJson);
  EXPECT_EQ(ParseAccessLogFormat("combined"), AccessLogFormat::kCombined);
}

}  // namespace
}  // namespace ferry
