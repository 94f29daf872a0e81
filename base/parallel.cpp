#include "base/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

namespace base {

std::vector<std::string> for_each_bounded(std::size_t count, int max_parallel,
                                          const std::function<void(std::size_t)>& fn) {
  std::vector<std::string> errors(count);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < count;) {
      try {
        fn(i);
      } catch (const std::exception& e) {
        errors[i] = e.what();
        if (errors[i].empty()) errors[i] = "failed";
      } catch (...) {
        errors[i] = "failed (unknown exception)";
      }
    }
  };
  const std::size_t threads = std::min<std::size_t>(count, static_cast<std::size_t>(std::max(1, max_parallel)));
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return errors;
}

}  // namespace base
