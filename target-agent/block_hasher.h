#pragma once
// HASH_REQUEST (delta) on the agent: hashes the target block by block in a
// thread of its own and sends HASHES as it goes, while the connection keeps
// receiving — so the host streams the blocks it already has hashes for
// instead of waiting for the whole disk to be read (docs/protocol.md,
// "Delta").
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "protocol/channel.h"
#include "protocol/delta_hash.h"

namespace agent {

class BlockHasher {
 public:
  // Hashes [offset, offset+length) of fd in `block` blocks (the last may be
  // short) with the session's delta key (of the bytes, or of their
  // BLAKE2b-128 for kStrong) and sends HASHES… HASHES_END on ch.
  // A read error is sent as an ERROR frame (code io, watermark from
  // `durable()`), ending the hashing.
  BlockHasher(int fd, std::string path, mkproto::Channel& ch, uint64_t offset, uint64_t length, uint32_t block,
              const mkproto::DeltaKey& key, mkproto::HashKind kind, std::function<uint64_t()> durable);
  // Waits for the hashing to end (stop() first to cut it short).
  ~BlockHasher();
  BlockHasher(const BlockHasher&) = delete;
  BlockHasher& operator=(const BlockHasher&) = delete;

  // Cuts it short: stops at the next chunk. If the thread is stuck sending
  // (the host stopped reading) for a second, `unblock` is called (it shuts
  // the connection down) and the thread is joined.
  void stop(const std::function<void()>& unblock);

 private:
  void run() noexcept;
  void hash() ;

  const int fd_;
  const std::string path_;
  mkproto::Channel& ch_;
  const uint64_t offset_, length_;
  const uint32_t block_;
  const mkproto::DeltaKey key_;
  const mkproto::HashKind kind_;
  std::function<uint64_t()> durable_;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread th_;
};

}  // namespace agent
