#include "target-agent/read_pool.h"

#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "protocol/errors.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

ReadPool::ReadPool(int fd, std::string path, int threads, size_t max_bytes, size_t align)
    : fd_(fd), path_(std::move(path)), max_bytes_(max_bytes), align_(align) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

ReadPool::~ReadPool() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool ReadPool::has_room(size_t length) const {
  return in_flight_ == 0 || in_flight_ + length <= max_bytes_;
}

void ReadPool::submit(uint64_t offset, size_t length) {
  auto job = std::make_shared<Job>();
  job->offset = offset;
  job->length = length;
  void* p = nullptr;
  if (posix_memalign(&p, align_, std::max(length, align_)) != 0) throw std::bad_alloc();
  job->buf = {static_cast<uint8_t*>(p), std::free};
  {
    std::lock_guard lk(m_);
    jobs_.push_back(job);
    unclaimed_.push_back(job);
    in_flight_ += length;
  }
  cv_.notify_all();
}

std::span<const uint8_t> ReadPool::pop() {
  std::unique_lock lk(m_);
  popped_.reset();
  if (jobs_.empty()) throw std::logic_error("ReadPool::pop with nothing submitted");
  auto job = jobs_.front();
  cv_.wait(lk, [&] { return job->done; });
  jobs_.pop_front();
  in_flight_ -= job->length;
  popped_ = job;
  if (job->error) std::rethrow_exception(job->error);
  return {job->buf.get(), job->got};
}

void ReadPool::work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lk(m_);
      cv_.wait(lk, [&] { return stop_ || !unclaimed_.empty(); });
      if (stop_) return;
      job = unclaimed_.front();
      unclaimed_.pop_front();
    }
    try {
      size_t done = 0;
      while (done < job->length) {
        ssize_t r = ::pread(fd_, job->buf.get() + done, job->length - done, static_cast<off_t>(job->offset + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
          throw ProtocolError(ErrorCode::kIo, fmt::format("read {} at {}: {}", path_, job->offset + done,
                                                          std::strerror(errno)));
        if (r == 0) break;  // end of the file
        done += static_cast<size_t>(r);
      }
      job->got = done;
    } catch (...) {
      job->error = std::current_exception();
    }
    {
      std::lock_guard lk(m_);
      job->done = true;
    }
    cv_.notify_all();
  }
}

}  // namespace agent
