#pragma once
// The boundary of a multipart/byteranges body (RFC 9110 section 14.6):
// unpredictable, so that a client cannot place it in a file it later asks
// ranges of and make the parts of a response ambiguous.

#include <cstddef>
#include <string_view>

namespace ferry {

/// The number of hex digits MakeBoundary writes.
inline constexpr std::size_t kBoundaryLength = 20;

/// Writes a fresh boundary of kBoundaryLength lower-case hex digits and a
/// NUL into `out` (kBoundaryLength + 1 bytes) and returns a view of the
/// digits. Each is SipHash-2-4 of a per-thread counter under a per-thread
/// 128-bit key drawn from getrandom(GRND_NONBLOCK) at the thread's first
/// call (the kernel's AT_RANDOM bytes and the clock if the pool is not
/// ready yet): 80 bits no reader of earlier boundaries can predict. Never
/// blocks, never allocates, never fails.
std::string_view MakeBoundary(char* out);

}  // namespace ferry
