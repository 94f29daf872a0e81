#include "mkmaster/source/prefetch_reader.h"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace source {

namespace {

class PrefetchReader final : public ImageReader {
 public:
  PrefetchReader(std::unique_ptr<ImageReader> inner, size_t limit) : inner_(std::move(inner)), limit_(limit) {
    start();
  }
  ~PrefetchReader() override { halt(); }

  bool next(Extent& out) override {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return !q_.empty() || end_; });
    if (q_.empty()) {
      if (err_) std::rethrow_exception(err_);
      return false;
    }
    // Hand the consumer's previous buffer back to the producer.
    if (out.data.capacity() && pool_.size() < 4) pool_.push_back(std::move(out.data));
    out = std::move(q_.front());
    q_.pop_front();
    q_bytes_ -= out.data.size();
    cv_.notify_all();
    return true;
  }

  std::optional<uint64_t> size() const override { return inner_->size(); }
  std::string describe() const override { return inner_->describe(); }

  // The producer stops first: the inner reader is not for two threads.
  void check_so_far() override {
    halt();
    inner_->check_so_far();
  }

  void seek(uint64_t offset) override {
    halt();
    inner_->seek(offset);
    start();
  }

 private:
  void start() {
    stop_ = end_ = false;
    err_ = nullptr;
    th_ = std::thread([this] { run(); });
  }

  void halt() {
    if (!th_.joinable()) return;
    {
      std::lock_guard lk(m_);
      stop_ = true;
      cv_.notify_all();
    }
    th_.join();
    q_.clear();
    q_bytes_ = 0;
  }

  void run() {
    try {
      for (;;) {
        Extent e;
        {
          std::lock_guard lk(m_);
          if (!pool_.empty()) {
            e.data = std::move(pool_.back());
            pool_.pop_back();
          }
        }
        if (!inner_->next(e)) break;
        std::unique_lock lk(m_);
        size_t bytes = e.data.size();
        cv_.wait(lk, [&] { return stop_ || q_.empty() || q_bytes_ + bytes <= limit_; });
        if (stop_) return;
        q_bytes_ += bytes;
        q_.push_back(std::move(e));
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard lk(m_);
      err_ = std::current_exception();
    }
    std::lock_guard lk(m_);
    end_ = true;
    cv_.notify_all();
  }

  std::unique_ptr<ImageReader> inner_;
  size_t limit_;
  std::thread th_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Extent> q_;
  std::vector<std::vector<uint8_t>> pool_;
  size_t q_bytes_ = 0;
  bool stop_ = false, end_ = false;
  std::exception_ptr err_;
};

}  // namespace

std::unique_ptr<ImageReader> prefetch(std::unique_ptr<ImageReader> inner, size_t max_bytes_ahead) {
  return std::make_unique<PrefetchReader>(std::move(inner), max_bytes_ahead);
}

}  // namespace source
