// VERIFY (read-back) on the agent.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <span>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/block_digest.h"
#include "target-agent/connection.h"
#include "target-agent/early_verify.h"
#include "target-agent/read_back.h"
#include "target-agent/rotational.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::ProtocolError;

void Connection::on_verify(const Frame& f) {
  require_session(f);
  auto req = mkproto::decode<mkproto::Verify>(f);
  if (req.overlap != mkproto::VerifyOverlap::kAfterFinish) return start_early_verify(req);
  require_no_early_verify("VERIFY");
  if (!sessions_.finished(*session_))
    throw ProtocolError(ErrorCode::kUnexpected, "VERIFY before the session is FINISHED");
  if (in_repair_) throw ProtocolError(ErrorCode::kUnexpected, "VERIFY during a repair (FINISH ends it)");
  writer_->drain_and_sync();
  const std::string& path = session_->path;
  const uint64_t size = session_->known_size;
  ReadBack rb(open_read_back(path, sector_), target_fd_, path, ch_, req.block, cfg_.verify_read_hook);
  const std::vector<ByteRange> excluded = req.scope == mkproto::VerifyScope::kWritten
                                              ? merge_ranges(session_->dont_care.ranges(), session_->kept.ranges())
                                              : session_->dont_care.ranges();
  // Right after a repair round only its ranges are read back (DIGESTS then
  // carry only their blocks); otherwise the whole image.
  std::vector<ByteRange> ranges = std::move(repaired_);
  repaired_.clear();
  for (const ByteRange& r : ranges)
    if (r.start % req.block != 0 || (r.end % req.block != 0 && r.end != size))
      throw ProtocolError(ErrorCode::kBadRequest,
                          fmt::format("VERIFY in blocks of {} after a repair of [{}, {}): not whole blocks", req.block,
                                      r.start, r.end));
  if (ranges.empty()) ranges.push_back({0, size});
  for (const ByteRange& range : ranges) rb.range(range.start, range.end, excluded);
  // Without its `overlapped` byte: the VERIFY_END of before, which a host
  // that predates overlapped verify decodes (it refuses trailing bytes).
  mkproto::Frame end = mkproto::encode(rb.end());
  end.payload.pop_back();
  ch_.send(end);
}

void Connection::require_no_early_verify(const char* what) {
  if (!verifier_) return;
  if (!verifier_->done(std::chrono::seconds(1)))
    throw ProtocolError(ErrorCode::kUnexpected,
                        fmt::format("{} while the overlapped VERIFY still reads back (wait for its VERIFY_END)", what));
  verifier_.reset();
}

void Connection::start_early_verify(const mkproto::Verify& req) {
  if (in_repair_) throw ProtocolError(ErrorCode::kUnexpected, "VERIFY during a repair (FINISH ends it)");
  require_no_early_verify("an overlapped VERIFY");
  // Reading behind the writer on a spinning disk seeks twice per chunk: the
  // read-back then waits for FINISH unless the host insists (kAlways). A
  // disk that cannot be told (tmpfs, overlay) is taken as not rotational.
  const bool rotational = target_is_rotational(target_fd_).value_or(false);
  EarlyVerifier::Setup setup;
  setup.block = req.block;
  setup.scope = req.scope;
  setup.defer = req.overlap == mkproto::VerifyOverlap::kAuto && rotational;
  setup.boot = session_->boot.layout();
  setup.dont_care = session_->dont_care.ranges();
  setup.kept = session_->kept.ranges();
  setup.finished = sessions_.finished(*session_);
  setup.image_size = session_->known_size;
  // What is left to read after FINISH is at most one sync interval.
  if (!setup.defer) writer_->sync_every(sync_every_ = kEarlyVerifySyncEvery);
  const std::string& path = session_->path;
  auto rb = std::make_unique<ReadBack>(open_read_back(path, sector_), target_fd_, path, ch_, req.block,
                                       cfg_.verify_read_hook);
  fmt::print(stderr, "target-agent: verify {}\n",
             setup.defer ? "deferred to FINISH (the target's disk is rotational)" : "overlapped with the stream");
  verifier_ = std::make_unique<EarlyVerifier>(std::move(rb), std::move(setup), [this] { return synced_.load(); }, ch_);
}

}  // namespace agent
