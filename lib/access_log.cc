#include "access_log.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace ferry {
namespace {

/// Appends to a fixed buffer, keeping one byte for the final '\n'.
class LineWriter {
 public:
  LineWriter(char* out, std::size_t capacity)
      : out_(out), end_(capacity > 0 ? capacity - 1 : 0) {}

  void Raw(std::string_view text) {
    std::size_t n = std::min(text.size(), end_ - length_);
    std::memcpy(out_ + length_, text.data(), n);
    length_ += n;
  }
  void Escaped(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned char c : text) {
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        if (length_ < end_) out_[length_++] = static_cast<char>(c);
      } else if (end_ - length_ >= 4) {
        out_[length_++] = '\\';
        out_[length_++] = 'x';
        out_[length_++] = kHex[c >> 4];
        out_[length_++] = kHex[c & 15];
      }
    }
  }
  void Number(std::uint64_t value) {
    char digits[24];
    int n = std::snprintf(digits, sizeof digits, "%" PRIu64, value);
    Raw(std::string_view(digits, static_cast<std::size_t>(n)));
  }
  std::size_t Finish() {
    out_[length_++] = '\n';
    return length_;
  }

 private:
  char* out_;
  std::size_t end_;
  std::size_t length_ = 0;
};

/// "10/Oct/2000:13:55:36 -0700", formatted once per second.
std::string_view LocalTime(std::time_t time) {
  thread_local std::time_t cached_time = -1;
  thread_local char cached[40];
  thread_local std::size_t cached_length = 0;
  if (time != cached_time) {
    std::tm local{};
    localtime_r(&time, &local);
    cached_length =
        std::strftime(cached, sizeof cached, "%d/%b/%Y:%H:%M:%S %z", &local);
    cached_time = time;
  }
  return {cached, cached_length};
}

}  // namespace

AccessLogFormat ParseAccessLogFormat(std::string_view name) {
  if (name == "common") return AccessLogFormat::kCommon;
  if (name == "json") return AccessLogFormat::kJson;
  return AccessLogFormat::kCombined;
}

std::size_t FormatAccessRecord(const AccessRecord& record,
                               AccessLogFormat format, char* out,
                               std::size_t capacity) {
  LineWriter line(out, capacity);
  if (format == AccessLogFormat::kJson) {
    // \xHH is not JSON: escape as \u00HH there.
    auto json_string = [&](std::string_view text) {
      static constexpr char kHex[] = "0123456789abcdef";
      line.Raw("\"");
      for (unsigned char c : text) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
          line.Raw(std::string_view(reinterpret_cast<const char*>(&c), 1));
        } else {
          char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          line.Raw(std::string_view(escaped, 6));
        }
      }
      line.Raw("\"");
    };
    line.Raw("{\"time\":\"");
    line.Raw(LocalTime(record.time));
    line.Raw("\",\"client\":");
    json_string(record.client);
    line.Raw(",\"request\":");
    json_string(record.request_line);
    line.Raw(",\"status\":");
    line.Number(static_cast<std::uint64_t>(record.status));
    line.Raw(",\"bytes\":");
    line.Number(record.body_bytes);
    line.Raw(",\"referer\":");
    json_string(record.referer);
    line.Raw(",\"user_agent\":");
    json_string(record.user_agent);
    line.Raw("}");
    return line.Finish();
  }
  line.Escaped(record.client);
  line.Raw(" - - [");
  line.Raw(LocalTime(record.time));
  line.Raw("] \"");
  line.Escaped(record.request_line);
  line.Raw("\" ");
  line.Number(static_cast<std::uint64_t>(record.status));
  line.Raw(" ");
  if (record.body_bytes == 0) {
    line.Raw("-");
  } else {
    line.Number(record.body_bytes);
  }
  if (format == AccessLogFormat::kCombined) {
    line.Raw(" \"");
    line.Escaped(record.referer.empty() ? "-" : record.referer);
    line.Raw("\" \"");
    line.Escaped(record.user_agent.empty() ? "-" : record.user_agent);
    line.Raw("\"");
  }
  return line.Finish();
}

}  // namespace ferry
