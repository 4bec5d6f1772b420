#include "block_queue.h"

#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

namespace ferry {
namespace {

/// The number in `path`, or 0.
std::uint64_t ReadNumber(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t value = 0;
  if (!(in >> value)) return 0;
  return value;
}

}  // namespace

BlockQueue ReadBlockQueue(dev_t device) {
  std::string base = "/sys/dev/block/" + std::to_string(major(device)) + ":" +
                     std::to_string(minor(device));
  // A partition has no queue of its own: its disk's is one level up.
  for (const char* queue : {"/queue/", "/../queue/"}) {
    BlockQueue found;
    found.requests =
        static_cast<unsigned>(ReadNumber(base + queue + "nr_requests"));
    found.max_request_bytes =
        ReadNumber(base + queue + "max_sectors_kb") * 1024;
    if (found.requests != 0) return found;
  }
  return {};
}

unsigned ReadsInFlightShare(const BlockQueue& queue, unsigned workers,
                            unsigned queue_depth) {
  if (queue.requests == 0 || workers == 0) return queue_depth;
  unsigned share = queue.requests * 3 / 4 / workers;
  return std::clamp(share, 1u, queue_depth);
}

}  // namespace ferry
