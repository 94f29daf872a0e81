#pragma once
// Where the target's delta hashes land on the host. The agent sends HASHES
// while the image streams (docs/protocol.md, "Delta"); AgentClient's reader
// thread adds them here as they arrive, and the planner waits in at() only
// for a block whose hash has not arrived yet.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <span>
#include <vector>

#include "mkmaster/push/planner.h"

namespace push {

class HashInbox : public DiskHashes {
 public:
  // Expects the hashes of [0, image_size) in `block` blocks. `timeout`: the
  // longest wait for the next hash (a silent agent). key: the push session's
  // delta key (the agent hashes with the same).
  HashInbox(uint64_t image_size, uint32_t block, std::chrono::milliseconds timeout, const mkproto::DeltaKey& key);

  // Planner side: waits for block b's hash; throws the connection's failure.
  uint64_t at(size_t b) override;
  bool complete() const;
  // Time at() spent waiting for hashes (the part of hashing not hidden
  // behind the stream).
  double waited_seconds() const;
  // Before asking again on a new connection: where the missing hashes
  // start. Those already here are kept — they describe the target as it was
  // before this push wrote there (the host places a block only after its
  // hash arrived); asking for them again would hash what the push wrote.
  uint64_t restart();

  // Reader side. add() checks HASHES arrive contiguously from 0 (else throws
  // ProtocolError kMalformed); end() checks they are all there.
  void add(uint64_t offset, std::span<const uint64_t> hashes);
  void end();
  void fail(std::exception_ptr e);

 private:
  const uint64_t size_;
  const uint32_t block_;
  const size_t count_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::vector<uint64_t> hashes_;
  bool complete_ = false;
  std::exception_ptr error_;
  double waited_ = 0;
};

}  // namespace push
