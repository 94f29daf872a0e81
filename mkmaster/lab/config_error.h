#pragma once
// The one error type for bad configuration input: inventories, device
// configs, templates. The message always says where (file:line:field).
#include <stdexcept>
#include <string>

namespace lab {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace lab
