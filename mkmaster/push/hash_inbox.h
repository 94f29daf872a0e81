#pragma once
// Where the target's delta hashes land on the host. The agent sends HASHES
// while the image streams (docs/protocol.md, "Delta"); AgentClient's reader
// thread adds them here as they arrive, and the planner waits in at() only
// for a block whose hash has not arrived yet. The hashes are asked for in
// one or more HASH_REQUESTs, contiguous from 0: all at once when the image
// size is known, window by window ahead of the stream when it is not.
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
  // Hashes in `block` blocks; none expected yet. `timeout`: the longest wait
  // for the next hash (a silent agent). key: the push session's delta key
  // (the agent hashes with the same).
  HashInbox(uint32_t block, std::chrono::milliseconds timeout, const mkproto::DeltaKey& key,
            mkproto::HashKind kind = mkproto::HashKind::kKeyed);

  // The session asked for the hashes of [requested(), end) (end: a block
  // boundary, or the end of the target).
  void expect(uint64_t end);
  // End of what has been asked for so far.
  uint64_t requested() const;

  // Planner side: waits for block b's hash; throws the connection's failure.
  uint64_t at(size_t b) override;
  // Every hash asked for has arrived.
  bool complete() const;
  // Time at() spent waiting for hashes (the part of hashing not hidden
  // behind the stream).
  double waited_seconds() const;
  // Before asking again on a new connection: where the missing hashes
  // start. Those already here are kept — they describe the target as it was
  // before this push wrote there (the host places a block only after its
  // hash arrived); asking for them again would hash what the push wrote.
  uint64_t restart();

  // Reader side. add() checks HASHES arrive contiguously from 0 and within
  // what was asked for (else throws ProtocolError kMalformed); end() (one
  // per HASH_REQUEST) checks they are all there once the last request ends.
  void add(uint64_t offset, std::span<const uint64_t> hashes);
  void end();
  void fail(std::exception_ptr e);

 private:
  const uint32_t block_;
  uint64_t requested_ = 0;  // guarded by m_
  size_t count_ = 0;        // blocks in [0, requested_)
  size_t ends_due_ = 0;     // HASHES_END still to come
  const std::chrono::milliseconds timeout_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::vector<uint64_t> hashes_;
  bool complete_ = false;
  std::exception_ptr error_;
  double waited_ = 0;
};

}  // namespace push
