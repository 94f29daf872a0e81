#include "mkmaster/push/push_session.h"

#include <fmt/core.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "mkmaster/push/digest_tee.h"
#include "mkmaster/push/planner.h"
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

std::unique_ptr<source::ImageReader> open_reader(const PushOptions& o) {
  if (o.open_source) return o.open_source();
  source::OpenOptions so;
  so.bmap_path = o.bmap;
  so.max_extent = static_cast<uint32_t>(kFrameData);
  return source::open_image(o.image, so);
}

}  // namespace

PushSession::PushSession(const PushOptions& o)
    : o_(o),
      session_(mkproto::random_session_id()),
      first_reader_(open_reader(o)),
      announced_(initial_size()),
      size_(announced_),
      dig_(announced_, o.verify_block) {
  r_.image_reads += 1;
  if (size_known()) r_.image_size = size_;
  if (o.delta)
    hashes_ = std::make_shared<HashInbox>(size_, o.delta_block, o.agent.io_timeout,
                                          mkproto::derive_delta_key(o.agent.key, session_));
}

uint64_t PushSession::initial_size() {
  if (auto s = first_reader_->size()) return *s;
  if (!o_.delta) return mkproto::kImageSizeUnknown;  // told at FINISH
  // Delta asks for the target's hashes of exactly the image before it
  // streams, so it needs the size first: the one case that reads twice.
  source::Extent e;
  uint64_t end = 0;
  while (first_reader_->next(e)) end = e.offset + e.length;
  first_reader_.reset();
  return end;
}

std::unique_ptr<source::ImageReader> PushSession::take_reader() {
  if (first_reader_) return std::move(first_reader_);
  // A resume: files and plain http seek; a compressed stream decompresses
  // from its start up to the resume point.
  ++r_.image_reads;
  return open_reader(o_);
}

PushResult PushSession::run() {
  report(Progress::Kind::kStart, o_.image, 0);
  for (;;) {
    const uint64_t progress_mark = acked_;
    std::unique_ptr<AgentClient> client;
    try {
      client = std::make_unique<AgentClient>(o_.agent);
      attempt(*client);
      r_.wire_bytes += client->bytes_sent();
      client->bye();
      break;
    } catch (const mkproto::ConnectionClosed& e) {
      if (client) r_.wire_bytes += client->bytes_sent();
      retry_or_throw(e, progress_mark, true);
    } catch (const ProtocolError& e) {
      if (client) r_.wire_bytes += client->bytes_sent();
      if (!resumable(e.code)) throw;
      retry_or_throw(e, progress_mark, false);
    }
  }
  r_.bytes_sent = counts_.bytes_sent;
  r_.data_bytes = counts_.data_bytes;
  r_.hole_bytes = counts_.hole_bytes;
  r_.kept_bytes = counts_.kept_bytes;
  r_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  report(Progress::Kind::kDone, r_.verify_message, dig_.position());
  return r_;
}

void PushSession::retry_or_throw(const std::exception& e, uint64_t progress_mark, bool dropped) {
  if (acked_ > progress_mark) failures_ = 0;
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
  std::this_thread::sleep_for(wait);
}

void PushSession::attempt(AgentClient& client) {
  mkproto::Open open;
  open.session = session_;
  open.path = o_.target;
  open.image_size = announced_;
  open.holes = o_.holes;
  const mkproto::Opened opened = client.open(open);
  r_.target = opened.target.path;
  acked_ = opened.watermark;
  auto lap = Clock::now();
  auto phase = [&lap](double& acc) {
    auto t = Clock::now();
    acc += std::chrono::duration<double>(t - lap).count();
    lap = t;
  };
  if (hashes_ && !hashes_->complete() && size_ > 0) {
    // The agent hashes while we stream: the planner waits only for a block
    // whose hash has not arrived yet. After a drop, only the hashes still
    // missing are asked for.
    uint64_t from = hashes_->restart();
    client.request_hashes(from, size_ - from, o_.delta_block, hashes_);
  }
  // Continue at the watermark: exactly (or from its delta block), the
  // digester from its verify block.
  uint64_t w = std::min({opened.watermark, dig_.position(), size_});
  if (opened.resumed && size_known() && opened.watermark >= size_) w = size_;  // finished before the drop
  const uint64_t read_from = w / o_.verify_block * o_.verify_block;
  const uint64_t send_from = o_.delta ? w / o_.delta_block * o_.delta_block : w;
  if (!size_known() || w < size_) {
    dig_.rewind(read_from);
    stream(client, read_from, send_from);
  }
  phase(r_.stream_seconds);
  if (hashes_) r_.hash_wait_seconds = hashes_->waited_seconds();
  acked_ = client.finish(size_, [this](uint64_t d) { acked_ = d; });
  phase(r_.finish_seconds);
  if (o_.verify) {
    report(Progress::Kind::kVerify, "reading back", dig_.position());
    verify(client);
    phase(r_.verify_seconds);
  } else {
    r_.verify_message = "skipped (--no-verify)";
  }
}

void PushSession::stream(AgentClient& client, uint64_t read_from, uint64_t send_from) {
  auto reader = take_reader();
  if (read_from > 0) reader->seek(read_from);
  FrameSender sender(client, o_.compress, counts_, [&](uint64_t p) { after_send(client, p); });
  DigestTee tee(sender, dig_, o_.verify_kept, send_from);
  Planner plan(tee, o_.holes, hashes_.get(), o_.delta_block, size_, read_from);
  source::Extent e;
  while (plan.position() < size_ && reader->next(e)) {
    if (e.offset + e.length <= read_from) continue;
    if (e.offset < read_from) {  // a reader may restart at an extent boundary
      uint64_t cut = read_from - e.offset;
      if (!e.hole) e.data.erase(e.data.begin(), e.data.begin() + static_cast<std::ptrdiff_t>(cut));
      e.offset = read_from;
      e.length -= cut;
    }
    if (e.offset != plan.position())
      throw source::SourceError(fmt::format("{}: extent at {} where {} was expected", reader->describe(), e.offset,
                                            plan.position()));
    if (size_known() && e.offset + e.length > size_)
      throw source::SourceError(
          fmt::format("{}: image continues past its announced size {}", reader->describe(), size_));
    if (e.hole)
      plan.hole(e.offset, e.length);
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
    throw source::SourceError(fmt::format("{}: image ended at {} bytes, {} were announced", reader->describe(),
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

void PushSession::verify(AgentClient& client) {
  auto scope = o_.delta && !o_.verify_kept ? mkproto::VerifyScope::kWritten : mkproto::VerifyScope::kAll;
  const auto reply = client.verify(mkproto::Verify{o_.verify_block, scope});
  const auto& want = dig_.digests();
  if (reply.digests.size() != want.size())
    throw ProtocolError(ErrorCode::kMalformed,
                        fmt::format("agent sent {} verify digests, {} expected", reply.digests.size(), want.size()));
  std::optional<size_t> first_bad;
  auto bad = std::mismatch(want.begin(), want.end(), reply.digests.begin());
  if (bad.first != want.end()) first_bad = static_cast<size_t>(bad.first - want.begin());
  if (!first_bad && reply.end.overall != dig_.overall()) first_bad = 0;
  if (first_bad) {
    uint64_t a = uint64_t{o_.verify_block} * *first_bad, b = std::min(size_, a + o_.verify_block);
    r_.verified = false;
    r_.verify_message = fmt::format("verify failed: first bad range [{}, {}) of {}", a, b, r_.target);
    throw ProtocolError(ErrorCode::kVerifyMismatch, r_.verify_message);
  }
  r_.verified = true;
  r_.verify_bytes_read = reply.end.bytes_read;
  r_.verify_message = fmt::format("ok, {} bytes read back {}", reply.end.bytes_read,
                                  reply.end.direct_io ? "with O_DIRECT" : "after dropping the page cache");
  if (scope == mkproto::VerifyScope::kWritten && counts_.kept_bytes > 0)
    r_.verify_message += fmt::format(", {} unchanged bytes checked by their delta hash", counts_.kept_bytes);
}

}  // namespace push
