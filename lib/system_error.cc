#include "system_error.h"

#include <string>

namespace ferry {

void ThrowSystemError(int errno_value, std::string_view call,
                      std::string_view argument) {
  std::string what(call);
  if (!argument.empty()) {
    what += '(';
    what += argument;
    what += ')';
  }
  throw std::system_error(errno_value, std::generic_category(), what);
}

}  // namespace ferry
