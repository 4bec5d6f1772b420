#pragma once
// The syscall boundary: -1/errno (or a negative errno) becomes a
// std::system_error naming the call and its argument.

#include <string_view>
#include <system_error>

namespace ferry {

/// Throws std::system_error(errno_value) with "call(argument)" as context.
[[noreturn]] void ThrowSystemError(int errno_value, std::string_view call,
                                   std::string_view argument = {});

/// Returns `result` unless it is -1, in which case throws with errno.
inline long CheckCall(long result, std::string_view call,
                      std::string_view argument = {}) {
  if (result == -1) ThrowSystemError(errno, call, argument);
  return result;
}

}  // namespace ferry
