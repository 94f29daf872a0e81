#pragma once
// Runs fn(0..count-1) on at most max_parallel threads at once. Each call's
// exception is caught and returned as its message ("" = success), so one
// failing node never stops the others.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace base {

std::vector<std::string> for_each_bounded(std::size_t count, int max_parallel,
                                          const std::function<void(std::size_t)>& fn);

}  // namespace base
