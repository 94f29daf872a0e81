#pragma once
// Turns the image's extent stream into placement frames (docs/protocol.md,
// "Placing bytes" and "Delta"): data → DATA, holes → ZERO (exact), or SKIP
// dont-care for ranges a .bmap leaves unmapped under --holes=skip; with
// delta, whole blocks whose bytes equal the target's (by the session-keyed
// delta hash) become SKIP keep.
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/delta_hash.h"
#include "protocol/messages.h"

namespace push {

enum class RangeKind { kZero, kKeep, kDontCare };

// Receives the planned frames in offset order.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void data(uint64_t offset, std::span<const uint8_t> bytes) = 0;
  virtual void range(RangeKind kind, uint64_t offset, uint64_t length) = 0;
  // Image data the target already holds (delta): nothing is sent, but the
  // bytes are there for whoever needs them (the verify digest).
  virtual void kept(uint64_t offset, std::span<const uint8_t> bytes) { range(RangeKind::kKeep, offset, bytes.size()); }
};

// The target's delta hash of each block, by block index from offset 0
// (HASH_REQUEST over the whole image), keyed with the push session's delta
// key (mkproto::derive_delta_key). at() may wait for a hash that is still on
// its way from the agent.
// kind: what the agent hashes (kStrong with an image index: the keyed hash
// of each block's BLAKE2b-128, which the index holds).
class DiskHashes {
 public:
  explicit DiskHashes(const mkproto::DeltaKey& key, mkproto::HashKind kind = mkproto::HashKind::kKeyed)
      : key_(key), kind_(kind) {}
  virtual ~DiskHashes() = default;
  virtual uint64_t at(size_t block) = 0;
  // The same keyed hash of the image's bytes, to compare with at().
  uint64_t hash(std::span<const uint8_t> bytes) const {
    return mkproto::delta_hash(key_, kind_, bytes.data(), bytes.size());
  }
  // kStrong: the keyed hash of a block the index describes by its strong hash.
  uint64_t hash(const mkproto::StrongHash& strong) const { return mkproto::delta_hash(key_, strong); }
  mkproto::HashKind kind() const { return kind_; }

 private:
  mkproto::DeltaKey key_;
  mkproto::HashKind kind_;
};

// Hashes already at hand (tests).
class VectorHashes : public DiskHashes {
 public:
  VectorHashes(std::vector<uint64_t> h, const mkproto::DeltaKey& key,
               mkproto::HashKind kind = mkproto::HashKind::kKeyed)
      : DiskHashes(key, kind), h_(std::move(h)) {}
  uint64_t at(size_t block) override { return h_.at(block); }

 private:
  std::vector<uint64_t> h_;
};

class Planner {
 public:
  // disk_hashes: nullptr for no delta. start: where planning begins (a
  // multiple of delta_block).
  Planner(FrameSink& sink, mkproto::HolesMode holes, DiskHashes* disk_hashes, uint32_t delta_block,
          uint64_t image_size, uint64_t start);
  void data(uint64_t offset, std::span<const uint8_t> bytes);
  // A hole of the image. `mapped`: zeros the image holds (zero detection,
  // also inside a .bmap range), which must land as zeros whatever the holes
  // mode, as bmaptool writes every mapped block; !mapped: unmapped in the
  // .bmap, don't-care under --holes=skip.
  void hole(uint64_t offset, uint64_t length, bool mapped);
  // Whole delta blocks (the last may end at the image size) that an image
  // index and the target's hashes showed equal: SKIP keep, no bytes.
  void keep(uint64_t offset, uint64_t length);
  void finish();
  uint64_t position() const { return pos_; }

 private:
  struct Segment {
    uint64_t offset, length;
    bool is_data;
    bool dont_care;  // a hole that need not land as zeros
    std::vector<uint8_t> bytes;
  };
  void append(uint64_t offset, uint64_t length, const uint8_t* bytes, bool dont_care);
  void resolve_block();
  RangeKind hole_kind(bool mapped) const;
  uint64_t zero_hash(uint64_t length);

  FrameSink& sink_;
  mkproto::HolesMode holes_;
  DiskHashes* disk_;
  uint32_t block_;
  uint64_t size_;
  uint64_t pos_;
  std::vector<Segment> cur_;  // segments of the current delta block
  uint64_t zero_hash_len_ = 0, zero_hash_ = 0;
};

}  // namespace push
