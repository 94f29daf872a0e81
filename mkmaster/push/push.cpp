#include "mkmaster/push/push.h"

#include <zstd.h>

#include <fmt/core.h>

#include <thread>

#include "mkmaster/push/hash_inbox.h"
#include "mkmaster/push/planner.h"
#include "protocol/block_digest.h"

namespace push {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::FrameType;
using mkproto::ProtocolError;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kFrameData = 1u << 20;

// Errors worth a reconnect: the stream broke, not the request.
bool resumable(ErrorCode c) {
  switch (c) {
    case ErrorCode::kBadChecksum:
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

// Sends planned frames: coalesces DATA up to 1 MiB and adjacent ranges of
// one kind, compresses when asked, drains ACKs, reports progress.
class Sender : public FrameSink {
 public:
  Sender(AgentClient& c, const PushOptions& o, PushResult& r, Clock::time_point t0, uint64_t& acked,
         uint64_t& counted_to)
      : c_(c), o_(o), r_(r), t0_(t0), acked_(acked), counted_to_(counted_to) {
    if (o.compress) cctx_ = ZSTD_createCCtx();
  }
  ~Sender() override { ZSTD_freeCCtx(cctx_); }

  void data(uint64_t offset, std::span<const uint8_t> bytes) override {
    flush_range();
    while (!bytes.empty()) {
      if (!buf_.empty() && (buf_off_ + buf_.size() != offset || buf_.size() == kFrameData)) flush_data();
      if (buf_.empty()) buf_off_ = offset;
      size_t n = std::min(bytes.size(), kFrameData - buf_.size());
      buf_.insert(buf_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      offset += n;
      bytes = bytes.subspan(n);
    }
  }

  void range(RangeKind kind, uint64_t offset, uint64_t length) override {
    flush_data();
    if (pending_ && pending_kind_ == kind && pending_off_ + pending_len_ == offset) {
      pending_len_ += length;
      return;
    }
    flush_range();
    pending_ = true;
    pending_kind_ = kind;
    pending_off_ = offset;
    pending_len_ = length;
  }

  void flush() {
    flush_data();
    flush_range();
  }
  uint64_t position() const { return position_; }

 private:
  void flush_data() {
    if (buf_.empty()) return;
    uint16_t flags = 0;
    std::span<const uint8_t> payload = buf_;
    if (cctx_) {
      z_.resize(ZSTD_compressBound(buf_.size()));
      size_t n = ZSTD_compressCCtx(cctx_, z_.data(), z_.size(), buf_.data(), buf_.size(), 1);
      // Only where it pays: the agent's CPU is the scarcer one.
      if (!ZSTD_isError(n) && n < buf_.size() * 9 / 10) {
        flags = mkproto::kFlagZstd;
        payload = {z_.data(), n};
      }
    }
    c_.channel().send_raw(FrameType::kData, flags, buf_off_, payload);
    r_.bytes_sent += buf_.size();
    r_.data_bytes += fresh(buf_off_, buf_.size());
    position_ = buf_off_ + buf_.size();
    buf_.clear();
    after_send();
  }

  void flush_range() {
    if (!pending_) return;
    pending_ = false;
    switch (pending_kind_) {
      case RangeKind::kZero:
        c_.channel().send(mkproto::encode(mkproto::Zero{pending_off_, pending_len_}));
        r_.hole_bytes += fresh(pending_off_, pending_len_);
        break;
      case RangeKind::kDontCare:
        c_.channel().send(mkproto::encode(mkproto::Skip{pending_off_, pending_len_, mkproto::SkipReason::kDontCare}));
        r_.hole_bytes += fresh(pending_off_, pending_len_);
        break;
      case RangeKind::kKeep:
        c_.channel().send(mkproto::encode(mkproto::Skip{pending_off_, pending_len_, mkproto::SkipReason::kKeep}));
        r_.kept_bytes += fresh(pending_off_, pending_len_);
        break;
    }
    position_ = pending_off_ + pending_len_;
    after_send();
  }

  // Bytes of [off, off+len) not counted by an earlier (interrupted) pass:
  // the summary describes the image once, however often parts were resent.
  uint64_t fresh(uint64_t off, uint64_t len) {
    uint64_t end = off + len;
    if (end <= counted_to_) return 0;
    uint64_t n = end - std::max(off, counted_to_);
    counted_to_ = end;
    return n;
  }

  void after_send() {
    c_.poll([&](uint64_t d) { acked_ = d; });
    if (o_.on_progress) {
      auto now = Clock::now();
      if (now - last_report_ >= std::chrono::milliseconds(200)) {
        last_report_ = now;
        Progress p;
        p.position = position_;
        p.image_size = r_.image_size;
        p.bytes_sent = r_.bytes_sent;
        p.acked = acked_;
        p.seconds = std::chrono::duration<double>(now - t0_).count();
        o_.on_progress(p);
      }
    }
  }

  AgentClient& c_;
  const PushOptions& o_;
  PushResult& r_;
  Clock::time_point t0_, last_report_{};
  uint64_t& acked_;
  uint64_t& counted_to_;
  ZSTD_CCtx* cctx_ = nullptr;
  std::vector<uint8_t> buf_, z_;
  uint64_t buf_off_ = 0;
  bool pending_ = false;
  RangeKind pending_kind_ = RangeKind::kZero;
  uint64_t pending_off_ = 0, pending_len_ = 0;
  uint64_t position_ = 0;
};

std::unique_ptr<source::ImageReader> open_reader(const PushOptions& o) {
  if (o.open_source) return o.open_source();
  source::OpenOptions so;
  so.bmap_path = o.bmap;
  so.max_extent = static_cast<uint32_t>(kFrameData);
  return source::open_image(o.image, so);
}

// Image size: from the source, else by reading it through once (a
// compressed stream that does not record its size).
uint64_t image_size(const PushOptions& o) {
  auto r = open_reader(o);
  if (auto s = r->size()) return *s;
  source::Extent e;
  uint64_t end = 0;
  while (r->next(e)) end = e.offset + e.length;
  return end;
}

// Between the planner and the sender: feeds the verify digester with every
// planned range — the image as it should land, less what VERIFY leaves out —
// and passes on to the sender what lies at or after `send_from` (after a
// resume, the bytes before it were sent by an earlier connection).
class DigestTee : public FrameSink {
 public:
  DigestTee(FrameSink& out, mkproto::BlockDigester& dig, bool digest_kept, uint64_t send_from)
      : out_(out), dig_(dig), digest_kept_(digest_kept), send_from_(send_from) {}

  void data(uint64_t offset, std::span<const uint8_t> bytes) override {
    dig_.data(offset, bytes);
    if (uint64_t cut = unsent(offset, bytes.size()); cut < bytes.size()) out_.data(offset + cut, bytes.subspan(cut));
  }
  void kept(uint64_t offset, std::span<const uint8_t> bytes) override {
    digest_kept_ ? dig_.data(offset, bytes) : dig_.dont_care(offset, bytes.size());
    if (uint64_t cut = unsent(offset, bytes.size()); cut < bytes.size()) out_.kept(offset + cut, bytes.subspan(cut));
  }
  void range(RangeKind kind, uint64_t offset, uint64_t length) override {
    switch (kind) {
      case RangeKind::kZero: dig_.zeros(offset, length); break;
      case RangeKind::kDontCare: dig_.dont_care(offset, length); break;
      case RangeKind::kKeep:  // a hole of the image the target already holds as zeros
        digest_kept_ ? dig_.zeros(offset, length) : dig_.dont_care(offset, length);
        break;
    }
    if (uint64_t cut = unsent(offset, length); cut < length) out_.range(kind, offset + cut, length - cut);
  }

 private:
  // How many leading bytes of [offset, offset+length) lie before send_from.
  uint64_t unsent(uint64_t offset, uint64_t length) const {
    return send_from_ <= offset ? 0 : std::min(length, send_from_ - offset);
  }
  FrameSink& out_;
  mkproto::BlockDigester& dig_;
  bool digest_kept_;
  uint64_t send_from_;
};

// Plans the image from `read_from` (a verify-block boundary) and sends from
// `send_from` >= read_from on: after a resume the bytes between are read and
// digested again but not sent.
void stream(AgentClient& c, const PushOptions& o, PushResult& r, uint64_t read_from, uint64_t send_from,
            mkproto::BlockDigester& dig, DiskHashes* hashes, Clock::time_point t0, uint64_t& acked,
            uint64_t& counted_to) {
  auto reader = open_reader(o);
  if (read_from > 0) reader->seek(read_from);
  Sender sender(c, o, r, t0, acked, counted_to);
  DigestTee tee(sender, dig, o.verify_kept, send_from);
  Planner plan(tee, o.holes, hashes, o.delta_block, r.image_size, read_from);
  source::Extent e;
  while (plan.position() < r.image_size && reader->next(e)) {
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
    if (e.offset + e.length > r.image_size)
      throw source::SourceError(fmt::format("{}: image continues past its announced size {}", reader->describe(),
                                            r.image_size));
    if (e.hole)
      plan.hole(e.offset, e.length);
    else
      plan.data(e.offset, e.data);
  }
  plan.finish();
  sender.flush();
  if (dig.position() != r.image_size || plan.position() != r.image_size)
    throw source::SourceError(fmt::format("{}: image ended at {} bytes, {} were announced", reader->describe(),
                                          plan.position(), r.image_size));
}

void verify(AgentClient& c, const PushOptions& o, PushResult& r, const mkproto::BlockDigester& dig) {
  auto scope = o.delta && !o.verify_kept ? mkproto::VerifyScope::kWritten : mkproto::VerifyScope::kAll;
  c.channel().send(mkproto::encode(mkproto::Verify{o.verify_block, scope}));
  const auto& want = dig.digests();
  size_t n = 0;
  std::optional<size_t> first_bad;
  for (;;) {
    Frame f = c.recv();
    if (f.type == FrameType::kVerifyEnd) {
      auto end = mkproto::decode<mkproto::VerifyEnd>(f);
      if (n != want.size())
        throw ProtocolError(ErrorCode::kMalformed, fmt::format("agent sent {} verify digests, {} expected", n, want.size()));
      if (!first_bad && end.overall != dig.overall()) first_bad = 0;
      if (first_bad) {
        uint64_t a = uint64_t{o.verify_block} * *first_bad, b = std::min(r.image_size, a + o.verify_block);
        r.verified = false;
        r.verify_message = fmt::format("verify failed: first bad range [{}, {}) of {}", a, b, r.target);
        throw ProtocolError(ErrorCode::kVerifyMismatch, r.verify_message);
      }
      r.verified = true;
      r.verify_bytes_read = end.bytes_read;
      r.verify_message = fmt::format("ok, {} bytes read back {}", end.bytes_read,
                                     end.direct_io ? "with O_DIRECT" : "after dropping the page cache");
      if (scope == mkproto::VerifyScope::kWritten && r.kept_bytes > 0)
        r.verify_message += fmt::format(", {} unchanged bytes checked by their delta hash", r.kept_bytes);
      return;
    }
    auto d = mkproto::decode<mkproto::Digests>(f);
    for (auto& x : d.digests) {
      if (n < want.size() && x != want[n] && !first_bad) first_bad = n;
      ++n;
    }
  }
}

}  // namespace

PushResult push_image(const PushOptions& o) {
  if (o.delta_block > o.verify_block || o.verify_block % o.delta_block != 0)
    throw std::invalid_argument("delta block must divide the verify block");
  const auto t0 = Clock::now();
  PushResult r;
  r.image_size = image_size(o);
  const mkproto::SessionId session = mkproto::random_session_id();
  mkproto::BlockDigester dig(r.image_size, o.verify_block);
  // Delta: the target's block hashes, kept across reconnects once complete.
  std::shared_ptr<HashInbox> hashes;
  if (o.delta) hashes = std::make_shared<HashInbox>(r.image_size, o.delta_block, o.agent.io_timeout);
  uint64_t acked = 0, counted_to = 0;
  int failures = 0;
  auto report = [&](Progress::Kind k, const std::string& msg) {
    if (!o.on_progress) return;
    Progress p;
    p.kind = k;
    p.position = dig.position();
    p.image_size = r.image_size;
    p.bytes_sent = r.bytes_sent;
    p.acked = acked;
    p.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    p.message = msg;
    o.on_progress(p);
  };
  report(Progress::Kind::kStart, o.image);
  for (;;) {
    uint64_t progress_mark = acked;
    std::unique_ptr<AgentClient> client;
    try {
      client = std::make_unique<AgentClient>(o.agent);
      mkproto::Open open;
      open.session = session;
      open.path = o.target;
      open.image_size = r.image_size;
      open.holes = o.holes;
      client->channel().send(mkproto::encode(open));
      auto opened = mkproto::decode<mkproto::Opened>(client->recv());
      r.target = opened.target.path;
      acked = opened.watermark;
      auto lap = Clock::now();
      auto phase = [&lap](double& acc) {
        auto t = Clock::now();
        acc += std::chrono::duration<double>(t - lap).count();
        lap = t;
      };
      if (hashes && !hashes->complete() && r.image_size > 0) {
        // The agent hashes while we stream: the planner waits only for a
        // block whose hash has not arrived yet. After a drop, only the
        // hashes still missing are asked for.
        uint64_t from = hashes->restart();
        client->request_hashes(from, r.image_size - from, o.delta_block, hashes);
      }
      // Continue at the watermark: exactly (or from its delta block), the
      // digester from its verify block.
      uint64_t w = std::min({opened.watermark, dig.position(), r.image_size});
      if (opened.resumed && opened.watermark >= r.image_size) w = r.image_size;  // finished before the drop
      uint64_t read_from = w / o.verify_block * o.verify_block;
      uint64_t send_from = o.delta ? w / o.delta_block * o.delta_block : w;
      if (w < r.image_size) {
        dig.rewind(read_from);
        stream(*client, o, r, read_from, send_from, dig, hashes.get(), t0, acked, counted_to);
      }
      phase(r.stream_seconds);
      if (hashes) r.hash_wait_seconds = hashes->waited_seconds();
      client->channel().send(mkproto::encode(mkproto::Finish{r.image_size}));
      acked = mkproto::decode<mkproto::Finished>(client->recv([&](uint64_t d) { acked = d; })).watermark;
      phase(r.finish_seconds);
      if (o.verify) {
        report(Progress::Kind::kVerify, "reading back");
        verify(*client, o, r, dig);
        phase(r.verify_seconds);
      } else {
        r.verify_message = "skipped (--no-verify)";
      }
      r.wire_bytes += client->channel().bytes_sent();
      client->bye();
      break;
    } catch (const mkproto::ConnectionClosed& e) {
      if (client) r.wire_bytes += client->channel().bytes_sent();
      if (acked > progress_mark) failures = 0;
      if (++failures > o.retries)
        throw std::runtime_error(fmt::format("agent {}: {} (gave up after {} attempts; {} of {} bytes acknowledged)",
                                             o.agent.agent, e.what(), failures, acked, r.image_size));
      ++r.reconnects;
      report(Progress::Kind::kReconnect, e.what());
    } catch (const ProtocolError& e) {
      if (client) r.wire_bytes += client->channel().bytes_sent();
      if (!resumable(e.code)) throw;
      if (acked > progress_mark) failures = 0;
      if (++failures > o.retries)
        throw std::runtime_error(fmt::format("agent {}: {} (gave up after {} attempts)", o.agent.agent, e.what(), failures));
      ++r.reconnects;
      report(Progress::Kind::kReconnect, e.what());
    }
    auto wait = std::min<std::chrono::milliseconds>(o.backoff * (1 << std::min(failures - 1, 5)), std::chrono::seconds(5));
    std::this_thread::sleep_for(wait);
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  report(Progress::Kind::kDone, r.verify_message);
  return r;
}

}  // namespace push
