#include "target-agent/read_pool.h"

#include <algorithm>

namespace agent {

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
  job->buf = std::make_unique<AlignedBuffer>(std::max(length, align_), align_);
  {
    std::lock_guard lk(m_);
    jobs_.push_back(job);
    unclaimed_.push_back(job);
    in_flight_ += length;
  }
  cv_.notify_all();
}

std::span<uint8_t> ReadPool::pop() {
  std::unique_lock lk(m_);
  popped_.reset();
  if (jobs_.empty()) throw std::logic_error("ReadPool::pop with nothing submitted");
  auto job = jobs_.front();
  cv_.wait(lk, [&] { return job->done; });
  jobs_.pop_front();
  in_flight_ -= job->length;
  popped_ = job;
  if (job->error) std::rethrow_exception(job->error);
  return {job->buf->data(), job->got};
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
      job->got = read_at(fd_, job->buf->data(), job->length, job->offset, path_);
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
