#include "mkmaster/push/push_session.h"

#include <fmt/core.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "mkmaster/push/digest_tee.h"
#include "mkmaster/push/planner.h"
#include "mkmaster/push/repair.h"
#include "mkmaster/source/http_stream.h"
#include "protocol/session_keys.h"

namespace push {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

namespace {

// Errors worth a reconnect: the stream broke, not the request.
bool resumable(ErrorCode c) {
  switch (c) {
    case ErrorCode::kBadChecksum:
    case ErrorCode::kBadMac:  // a forged or corrupted frame: the next connection has fresh keys
    case ErrorCode::kBadSequence:
    case ErrorCode::kBadMagic:
    case ErrorCode::kBadType:
    case ErrorCode::kTooLarge:
    case ErrorCode::kMalformed:
    case ErrorCode::kConnection:
      return true;
    default:
      return false;
  }
}

IndexPlan index_plan(const PushOptions& o) {
  const bool can = o.delta && !o.open_source && source::is_url(o.image);
  if (!can) {
    if (!o.index.empty() && o.index != "none")
      throw std::invalid_argument("--index: an image index is used by --delta with an http(s) image only");
    return {};
  }
  IndexPlan plan = plan_index(o.image, o.index);
  if (!plan.index) return plan;
  if (o.verify_kept)
    throw std::invalid_argument(fmt::format(
        "--verify-all reads back the unchanged blocks too, but with the index {} the host never reads them and has "
        "nothing to compare them with: drop --verify-all, or read the whole image with --index none",
        plan.where));
  if (plan.index->block != o.delta_block)
    throw std::invalid_argument(fmt::format("{}: an index of {}-byte blocks, the push compares {}-byte delta blocks",
                                            plan.where, plan.index->block, o.delta_block));
  return plan;
}

}  // namespace

PushSession::PushSession(const PushOptions& o)
    : o_(o),
      session_(o.session_id ? *o.session_id : mkproto::random_session_id()),
      index_(index_plan(o)),
      first_reader_(index_.index ? nullptr : open_image_source(o)),
      announced_(initial_size()),
      size_(announced_),
      dig_(announced_, o.verify_block) {
  r_.image_reads += 1;
  if (size_known()) r_.image_size = size_;
  r_.index_note = index_.note;
  r_.index_bytes = index_.index_bytes;
  r_.http_range_bytes = index_.probe_bytes;
  r_.http_range_requests = index_.index || index_.probe_bytes ? 1 : 0;
  if (o.delta)
    hashes_ = std::make_shared<HashInbox>(o.delta_block, o.stall_timeout,
                                          mkproto::derive_delta_key(o.agent.key, session_),
                                          index_.index ? mkproto::HashKind::kStrong : mkproto::HashKind::kKeyed);
  if (index_.index) first_reader_ = open_reader();
}

std::unique_ptr<source::ImageReader> PushSession::open_reader() {
  if (!index_.index) return open_image_source(o_);
  return std::make_unique<IndexedReader>(index_.index, o_.image, index_.where, *hashes_, index_stats_);
}

uint64_t PushSession::initial_size() {
  if (index_.index) return index_.index->image_size;
  if (auto s = first_reader_->size()) return *s;
  return mkproto::kImageSizeUnknown;  // told at FINISH
}

uint64_t PushSession::hash_window() const {
  const uint64_t b = o_.delta_block;
  return std::max<uint64_t>(b, (o_.delta_window + b - 1) / b * b);
}

void PushSession::want_hashes(AgentClient& client, uint64_t end) {
  end = std::min(end, size_known() ? size_ : target_size_);
  const uint64_t from = hashes_->requested();
  if (end <= from) return;
  hashes_->expect(end);
  client.request_hashes(from, end - from, o_.delta_block, hashes_);
}

std::unique_ptr<source::ImageReader> PushSession::take_reader() {
  if (first_reader_) return std::move(first_reader_);
  // A resume: files and plain http seek; a compressed stream decompresses
  // from its start up to the resume point.
  ++r_.image_reads;
  return open_reader();
}

PushResult PushSession::run() {
  try {
    return run_attempts();
  } catch (const ProtocolError& e) {
    if (!may_have_wiped_ || finished_) throw;
    throw ProtocolError(e.code, fmt::format("{}; {}", e.detail, durable_note()));
  } catch (const std::exception& e) {
    if (!may_have_wiped_) throw;
    // Lost after FINISHED (in the read-back, or its BYE): the agent had
    // written the boot sectors last and synced, so the disk holds the whole
    // image and boots it; only the check is missing.
    if (finished_)
      throw std::runtime_error(fmt::format("{}; the image is complete on {} (FINISH was acknowledged) but not verified",
                                           e.what(), target_name()));
    throw std::runtime_error(fmt::format("{}; {}", e.what(), durable_note()));
  }
}

std::string PushSession::target_name() const {
  return r_.target.empty() ? (o_.target.empty() ? "the agent's target" : o_.target) : r_.target;
}

std::string PushSession::durable_note() const {
  // The agent holds the boot sectors until FINISH: they are never durable
  // before it, so the durable part of the image starts after them.
  const std::string target = target_name();
  if (!boot_)  // no OPENED yet: nothing was acknowledged
    return fmt::format("nothing of the image is durable on {}; the disk will not boot (the agent wipes its boot "
                       "sectors when a push opens)",
                       target);
  const uint64_t end = size_known() ? std::min(acked_, size_) : acked_;
  const auto [a, b] = boot_->outside(0, end);
  const std::string boot = fmt::format("its boot sectors [0, {}) are written last", boot_->head_end);
  if (a >= b) return fmt::format("nothing of the image is durable on {}; the disk will not boot ({})", target, boot);
  return fmt::format("durable [{}, {}) of {}; the rest is undefined; the disk will not boot ({})", a, b, target, boot);
}

PushResult PushSession::run_attempts() {
  report(Progress::Kind::kStart, o_.image, 0);
  progress_at_ = Clock::now();  // opening the image is not the agent's time
  for (;;) {
    const uint64_t progress_mark = acked_;
    std::unique_ptr<AgentClient> client;
    try {
      client = std::make_unique<AgentClient>(attempt_address());
      attempt(*client);
      r_.wire_bytes += client->bytes_sent();
      client->bye(o_.revoke_at_end);
      break;
    } catch (const mkproto::ConnectionClosed& e) {
      if (client) r_.wire_bytes += client->bytes_sent(), progress_at_ = std::max(progress_at_, client->progress_at());
      retry_or_throw(e, progress_mark, true);
    } catch (const ProtocolError& e) {
      if (client) r_.wire_bytes += client->bytes_sent(), progress_at_ = std::max(progress_at_, client->progress_at());
      if (!resumable(e.code)) throw;
      retry_or_throw(e, progress_mark, false);
    }
  }
  r_.bytes_sent = counts_.bytes_sent;
  r_.data_bytes = counts_.data_bytes;
  r_.hole_bytes = counts_.hole_bytes;
  r_.kept_bytes = counts_.kept_bytes;
  if (size_known() && dig_.position() == size_) r_.block_digests = dig_.digests();
  r_.announced_size = announced_;
  if (index_.index) {
    std::lock_guard lk(index_stats_->m);
    r_.http_range_bytes += index_stats_->body_bytes;
    r_.http_range_requests += index_stats_->requests;
    r_.index_note = fmt::format(
        "index {} ({} bytes): {} changed bytes fetched in {} ranges, {} requests ({} bytes from the server with the "
        "probe); the rest was compared by hash",
        index_.where, index_.index_bytes, index_stats_->block_bytes, index_stats_->ranges, r_.http_range_requests,
        r_.http_range_bytes);
  }
  r_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  report(Progress::Kind::kDone, r_.verify_message, dig_.position());
  return r_;
}

// Each stream wait is bounded by the stall timeout on its own; a reconnect
// (connect, handshake) gets only what is left of it since the agent's last
// progress, so a dead agent costs one stall timeout, not one per attempt.
AgentAddress PushSession::attempt_address() const {
  AgentAddress a = o_.agent;
  a.io_timeout = o_.stall_timeout;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(progress_at_ + o_.stall_timeout - Clock::now());
  left = std::clamp(left, std::chrono::milliseconds(100), o_.stall_timeout);
  a.connect_timeout = std::min(a.connect_timeout, left);
  a.handshake_timeout = left;
  return a;
}

void PushSession::retry_or_throw(const std::exception& e, uint64_t progress_mark, bool dropped) {
  if (acked_ > progress_mark) failures_ = 0;
  const auto stalled = Clock::now() - progress_at_;
  if (stalled >= o_.stall_timeout) {
    const auto secs = std::chrono::duration<double>(stalled).count();
    throw std::runtime_error(fmt::format(
        "agent {}: no progress for {:.1f} s (stall timeout {:.1f} s): {}; durable [0, {}) of {} bytes", o_.agent.agent,
        secs, std::chrono::duration<double>(o_.stall_timeout).count(), e.what(), acked_,
        size_known() ? fmt::format("{}", size_) : std::string("?")));
  }
  if (++failures_ > o_.retries) {
    if (!dropped)
      throw std::runtime_error(
          fmt::format("agent {}: {} (gave up after {} attempts)", o_.agent.agent, e.what(), failures_));
    throw std::runtime_error(fmt::format("agent {}: {} (gave up after {} attempts; {} of {} bytes acknowledged)",
                                         o_.agent.agent, e.what(), failures_, acked_,
                                         size_known() ? fmt::format("{}", size_) : std::string("?")));
  }
  ++r_.reconnects;
  report(Progress::Kind::kReconnect, e.what(), dig_.position());
  auto wait = std::min<std::chrono::milliseconds>(o_.backoff * (1 << std::min(failures_ - 1, 5)),
                                                  std::chrono::seconds(5));
  // Never sleep past the stall budget: the next attempt needs some of it.
  wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(o_.stall_timeout - stalled) / 2);
  std::this_thread::sleep_for(wait);
}

void PushSession::attempt(AgentClient& client) {
  mkproto::Open open;
  open.session = session_;
  open.path = o_.target;
  open.image_size = announced_;
  open.holes = o_.holes;
  // The agent wipes the boot sectors before it answers OPEN: from sending
  // it on, a failure may have left the target unbootable. An ERROR answer
  // is a refusal, given before anything is written.
  may_have_wiped_ = true;
  mkproto::Opened opened;
  try {
    opened = client.open(open);
  } catch (const ProtocolError& e) {
    if (e.code != ErrorCode::kConnection && !boot_) may_have_wiped_ = false;
    throw;
  }
  r_.target = opened.target.path;
  target_size_ = opened.target.size;
  acked_ = opened.watermark;
  boot_ = mkproto::boot_layout(opened.target.size, opened.target.sector_size);
  auto lap = Clock::now();
  auto phase = [&lap](double& acc) {
    auto t = Clock::now();
    acc += std::chrono::duration<double>(t - lap).count();
    lap = t;
  };
  if (hashes_ && !hashes_->complete()) {
    // The agent hashes while we stream: the planner waits only for a block
    // whose hash has not arrived yet. After a drop, only the hashes still
    // missing are asked for. An image of unknown size is hashed window by
    // window ahead of the stream (stream() asks for more).
    const uint64_t before = hashes_->requested();
    hashes_->restart();
    want_hashes(client, size_known() ? size_ : std::max(before, 2 * hash_window()));
  }
  // The read-back runs beside the stream (the agent reads what is durable,
  // and, on a rotational disk under kAuto, waits for FINISH); a new
  // connection reads back the whole image again, so nothing of a dropped
  // one's digests is kept.
  const bool early = o_.verify && o_.verify_overlap != mkproto::VerifyOverlap::kAfterFinish;
  if (early) client.start_verify({o_.verify_block, verify_scope(), o_.verify_overlap});
  // Continue at the watermark: exactly (or from its delta block), the
  // digester from its verify block.
  uint64_t w = std::min({opened.watermark, dig_.position(), size_});
  if (opened.resumed && size_known() && opened.watermark >= size_) w = size_;  // finished before the drop
  const uint64_t read_from = w / o_.verify_block * o_.verify_block;
  const uint64_t send_from = o_.delta ? w / o_.delta_block * o_.delta_block : w;
  // A connection that dropped after the last byte was durable but before
  // the source's end was checked still owes that check: read again, send
  // nothing.
  if (!size_known() || w < size_ || !source_checked_) {
    dig_.rewind(read_from);
    stream(client, read_from, size_known() && w >= size_ ? size_ : send_from);
  }
  phase(r_.stream_seconds);
  if (hashes_) r_.hash_wait_seconds = hashes_->waited_seconds();
  acked_ = client.finish(size_, [this](uint64_t d) { acked_ = d; });
  finished_ = true;
  phase(r_.finish_seconds);
  if (o_.verify) {
    report(Progress::Kind::kVerify, early ? "finishing the read-back" : "reading back", dig_.position());
    verify(client, early);
    phase(r_.verify_seconds);
  } else {
    r_.verify_message = "skipped (--no-verify)";
  }
}

void PushSession::stream(AgentClient& client, uint64_t read_from, uint64_t send_from) {
  auto reader = take_reader();
  if (read_from > 0) reader->seek(read_from);
  try {
    stream_extents(client, *reader, read_from, send_from);
  } catch (const source::RangeMismatch& e) {
    throw unverified(e);
  } catch (...) {
    // A dropped connection must not hide a bad range the checker has not
    // reported yet (it runs behind the reader): the mismatch wins.
    try {
      reader->check_so_far();
    } catch (const source::RangeMismatch& e) {
      throw unverified(e);
    } catch (const std::exception&) {
      // other errors of the source: the one in flight is reported
    }
    throw;
  }
  source_checked_ = true;
}

source::RangeMismatch PushSession::unverified(const source::RangeMismatch& e) const {
  const uint64_t sent_to = std::max(sent_to_, acked_);
  if (sent_to <= e.begin)
    return source::RangeMismatch(fmt::format("{}; nothing of that range was sent to agent {}, the push stops before FINISH",
                                             e.what(), o_.agent.agent),
                                 e.begin, e.end);
  return source::RangeMismatch(
      fmt::format("{}; bytes [{}, {}) of that range were already sent to agent {}: the target holds unverified "
                  "data, the push stops before FINISH",
                  e.what(), e.begin, std::min(sent_to, e.end), o_.agent.agent),
      e.begin, e.end);
}

void PushSession::stream_extents(AgentClient& client, source::ImageReader& reader, uint64_t read_from,
                                 uint64_t send_from) {
  FrameSender sender(client, o_.compress, counts_, [&](uint64_t p) {
    sent_to_ = std::max(sent_to_, p);
    after_send(client, p);
  });
  DigestTee tee(sender, dig_, o_.verify_kept, send_from);
  Planner plan(tee, o_.holes, hashes_.get(), o_.delta_block, size_, read_from);
  source::Extent e;
  // To the reader's end, never just to the size: only the final next()
  // knows that the last ranges matched and that the stream ends there.
  while (reader.next(e)) {
    if (e.offset + e.length <= read_from) continue;
    if (e.offset < read_from) {  // a reader may restart at an extent boundary
      uint64_t cut = read_from - e.offset;
      if (!e.hole) e.data.erase(e.data.begin(), e.data.begin() + static_cast<std::ptrdiff_t>(cut));
      e.offset = read_from;
      e.length -= cut;
    }
    if (e.offset != plan.position())
      throw source::SourceError(fmt::format("{}: extent at {} where {} was expected", reader.describe(), e.offset,
                                            plan.position()));
    if (size_known() && e.offset + e.length > size_)
      throw source::SourceError(
          fmt::format("{}: image continues past its announced size {}", reader.describe(), size_));
    if (hashes_ && !size_known()) {
      // The hashes stop at the target's end, so the planner could not place
      // what lies past it; the agent would refuse it anyway.
      if (e.offset + e.length > target_size_)
        throw ProtocolError(ErrorCode::kImageTooLarge,
                            fmt::format("{}: the image reaches past the end of {} ({} bytes): it is larger than the target",
                                        reader.describe(), r_.target, target_size_));
      if (e.offset + e.length + hash_window() > hashes_->requested())
        want_hashes(client, e.offset + e.length + 2 * hash_window());
    }
    if (e.kept)
      plan.keep(e.offset, e.length);
    else if (e.hole)
      plan.hole(e.offset, e.length, e.mapped);
    else
      plan.data(e.offset, e.data);
  }
  plan.finish();
  sender.flush();
  if (!size_known()) {  // the end of the stream is the end of the image
    size_ = plan.position();
    r_.image_size = size_;
    dig_.end_at(size_);
    return;
  }
  if (dig_.position() != size_ || plan.position() != size_)
    throw source::SourceError(fmt::format("{}: image ended at {} bytes, {} were announced", reader.describe(),
                                          plan.position(), size_));
}

void PushSession::after_send(AgentClient& client, uint64_t position) {
  client.poll([this](uint64_t d) { acked_ = d; });
  if (!o_.on_progress) return;
  auto now = Clock::now();
  if (now - last_report_ < std::chrono::milliseconds(200)) return;
  last_report_ = now;
  report(Progress::Kind::kProgress, "", position);
}

void PushSession::report(Progress::Kind kind, const std::string& message, uint64_t position) {
  if (!o_.on_progress) return;
  Progress p;
  p.kind = kind;
  p.position = position;
  p.image_size = size_known() ? size_ : 0;
  p.bytes_sent = counts_.bytes_sent;
  p.acked = acked_;
  p.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  p.message = message;
  o_.on_progress(p);
}

mkproto::VerifyScope PushSession::verify_scope() const {
  return o_.delta && !o_.verify_kept ? mkproto::VerifyScope::kWritten : mkproto::VerifyScope::kAll;
}

void PushSession::verify(AgentClient& client, bool early) {
  const auto scope = verify_scope();
  // A repair round's VERIFY reads back after its FINISH.
  const mkproto::Verify request{o_.verify_block, scope, mkproto::VerifyOverlap::kAfterFinish};
  auto reply = early ? client.end_verify() : client.verify(request);
  const auto& want = dig_.digests();
  if (reply.digests.size() != want.size())
    throw ProtocolError(ErrorCode::kMalformed,
                        fmt::format("agent sent {} verify digests, {} expected", reply.digests.size(), want.size()));
  // `overall` is over the digests in the order they were sent; an
  // overlapped VERIFY sends the boot sectors' blocks last.
  mkproto::Hash128 expect;
  for (uint64_t off : reply.offsets) {
    const uint64_t i = off / o_.verify_block;
    if (i >= want.size())
      throw ProtocolError(ErrorCode::kMalformed, fmt::format("agent sent a verify digest for the block at {} (image of "
                                                             "{} bytes)", off, size_));
    expect.update(want[i].data(), want[i].size());
  }
  if (early) sort_by_offset(reply);
  std::vector<ByteRange> bad = mismatched_blocks(want, reply, o_.verify_block, size_);
  if (bad.empty() && reply.end.overall != expect.digest()) bad.push_back({0, std::min<uint64_t>(size_, o_.verify_block)});
  r_.verify_overlapped = reply.end.overlapped;
  r_.verified = false;
  if (!bad.empty() && o_.repair_attempts <= 0) {
    r_.verify_message = fmt::format("verify failed: first bad range [{}, {}) of {}", bad[0].begin, bad[0].end, r_.target);
    throw ProtocolError(ErrorCode::kVerifyMismatch, r_.verify_message);
  }
  uint64_t bytes_read = reply.end.bytes_read;
  const std::vector<ByteRange> first_bad = bad;
  if (!bad.empty()) repair(client, request, bad, bytes_read);
  r_.verified = true;
  r_.verify_bytes_read = bytes_read;
  r_.verify_message = fmt::format("ok, {} bytes read back {}{}", bytes_read,
                                  reply.end.direct_io ? "with O_DIRECT" : "after dropping the page cache",
                                  reply.end.overlapped ? " while the image streamed" : "");
  if (!first_bad.empty()) {
    for (const ByteRange& b : first_bad) r_.repaired.emplace_back(b.begin, b.end);
    r_.verify_message += fmt::format(", after repairing {} ({} bytes re-sent in {} round{})",
                                     describe_ranges(first_bad), r_.repair_bytes_sent, r_.repair_rounds,
                                     r_.repair_rounds == 1 ? "" : "s");
  }
  if (scope == mkproto::VerifyScope::kWritten && counts_.kept_bytes > 0)
    r_.verify_message += fmt::format(", {} unchanged bytes checked by their delta hash", counts_.kept_bytes);
}

// Up to repair_attempts rounds: REPAIR + the image's bytes of the bad
// blocks, FINISH (the agent syncs them), VERIFY (it reads back only those).
void PushSession::repair(AgentClient& client, const mkproto::Verify& request, std::vector<ByteRange> bad,
                         uint64_t& bytes_read) {
  RangeResender resender([this] { return open_image_source(o_); }, o_.holes, size_);
  const uint64_t sent_before = counts_.bytes_sent;
  int round = 0;
  while (!bad.empty()) {
    if (round == o_.repair_attempts) {
      r_.image_reads += resender.source_opens();
      r_.verify_message =
          fmt::format("verify failed: bad range {} of {} still reads back wrong after {} repair round{} (the "
                      "target does not keep what is written there)",
                      describe_ranges(bad), r_.target, round, round == 1 ? "" : "s");
      throw ProtocolError(ErrorCode::kVerifyMismatch, r_.verify_message);
    }
    ++round;
    report(Progress::Kind::kVerify, fmt::format("repair round {}: re-sending {}", round, describe_ranges(bad)),
           dig_.position());
    {
      FrameSender sender(client, o_.compress, counts_, [&](uint64_t) { client.poll({}); });
      resender.send(client, bad, sender);
    }
    client.finish(size_, {});
    const auto again = client.verify(request);
    uint64_t blocks = 0;
    for (const ByteRange& b : bad) blocks += (b.end - b.begin + o_.verify_block - 1) / o_.verify_block;
    if (again.digests.size() != blocks)
      throw ProtocolError(ErrorCode::kMalformed, fmt::format("agent sent {} verify digests after repairing {}, {} expected",
                                                             again.digests.size(), describe_ranges(bad), blocks));
    bytes_read += again.end.bytes_read;
    bad = mismatched_blocks(dig_.digests(), again, o_.verify_block, size_);
  }
  r_.repair_rounds += round;
  r_.repair_bytes_sent += counts_.bytes_sent - sent_before;
  r_.image_reads += resender.source_opens();
}

}  // namespace push
