#pragma once
// Reads ranges of one file descriptor with several reads in flight and hands
// them back in the order they were asked for. VERIFY after a delta push reads
// thousands of scattered 4 KiB blocks: one after another each waits for the
// disk (35 µs on a virtio disk, milliseconds on a SATA one), while a disk
// queue serves several at once.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "target-agent/target_io.h"

namespace agent {

class ReadPool {
 public:
  // `align`: offsets and lengths given to submit() are multiples of it
  // (O_DIRECT). At most `max_bytes` are queued, being read or read but not
  // yet popped (plus the buffer pop() last returned).
  ReadPool(int fd, std::string path, int threads, size_t max_bytes, size_t align);
  ~ReadPool();
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // Whether a read of `length` bytes fits in the budget now (a read larger
  // than the whole budget fits when nothing else is in flight).
  bool has_room(size_t length) const;
  void submit(uint64_t offset, size_t length);
  // Waits for the oldest submitted read and returns its bytes (short only at
  // the end of the file); valid until the next pop(). Rethrows its error
  // (ProtocolError kIo naming the path and offset).
  std::span<uint8_t> pop();
  size_t pending() const { return jobs_.size(); }

 private:
  struct Job {
    uint64_t offset = 0;
    size_t length = 0;
    std::unique_ptr<AlignedBuffer> buf;
    size_t got = 0;
    bool done = false;
    std::exception_ptr error;
  };
  void work();

  const int fd_;
  const std::string path_;
  const size_t max_bytes_, align_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> jobs_;    // submission order (consumer side)
  std::deque<std::shared_ptr<Job>> unclaimed_;    // not yet taken by a worker
  std::shared_ptr<Job> popped_;              // keeps the bytes pop() returned alive
  size_t in_flight_ = 0;                     // bytes of jobs_
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace agent
