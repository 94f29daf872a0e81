#pragma once
// Reading the target back for VERIFY (docs/protocol.md, "Verify"): the
// device opened past the page cache, ranges cut into data, holes and
// left-out pieces, read with several reads in flight, digested per verify
// block and sent as DIGESTS. Used after FINISH (verify_ops.cpp) and while
// the image still streams (early_verify.h), so both read exactly alike.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/channel.h"
#include "protocol/checksum.h"
#include "protocol/messages.h"
#include "target-agent/range_list.h"
#include "target-agent/read_pool.h"

namespace agent {

// The target opened for read-back: O_DIRECT when the device takes it
// (probed with one aligned read), else a plain descriptor whose cached
// pages were dropped (after the writer's fdatasync).
struct ReadBackFd {
  base::UniqueFd fd;
  bool direct = false;
  size_t align = 4096;
};
// Throws ProtocolError(kIo) naming the path.
ReadBackFd open_read_back(const std::string& path, uint32_t sector);

class ReadBack {
 public:
  using ReadHook = std::function<void(uint64_t offset, std::span<uint8_t> bytes)>;
  // data_fd: the writer's descriptor of the target, asked where a sparse
  // file keeps data (SEEK_DATA; holes read as zeros without a read).
  // hook: a test's view of every read (AgentConfig::verify_read_hook).
  ReadBack(ReadBackFd fd, int data_fd, std::string path, mkproto::Channel& ch, uint32_t block, ReadHook hook = {});
  ReadBack(const ReadBack&) = delete;
  ReadBack& operator=(const ReadBack&) = delete;

  // Reads back [start, end) (start a multiple of the block; end one too, or
  // the image's end) with `excluded` (sorted) left out of the digests, and
  // sends its DIGESTS (each frame's offset its first block's) at least every
  // 64 blocks. Throws ProtocolError(kIo) on a read error; a failed send as
  // the channel throws it.
  void range(uint64_t start, uint64_t end, const std::vector<ByteRange>& excluded);
  // VERIFY_END for everything range() sent so far.
  mkproto::VerifyEnd end() const;

 private:
  ReadBackFd fd_;
  const int data_fd_;
  const std::string path_;
  mkproto::Channel& ch_;
  const uint32_t block_;
  ReadHook hook_;
  std::unique_ptr<ReadPool> pool_;
  mkproto::Hash128 overall_;
  uint64_t bytes_read_ = 0;
};

}  // namespace agent
