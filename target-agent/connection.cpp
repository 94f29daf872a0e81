#include "target-agent/connection.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <fmt/core.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <optional>

#include "protocol/handshake.h"
#include "protocol/session_keys.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::FrameType;
using mkproto::ProtocolError;

namespace {
std::unique_ptr<mkproto::Channel> socket_channel(const AgentConfig& cfg, int fd) {
  auto ch = std::make_unique<mkproto::SocketChannel>(fd, std::min(cfg.io_timeout, cfg.handshake_timeout));
  ch->set_send_timeout(cfg.io_timeout);
  return ch;
}
}  // namespace

Connection::Connection(const AgentConfig& cfg, Sessions& sessions, int fd, ConnectionContext ctx)
    : Connection(cfg, sessions, socket_channel(cfg, fd), std::move(ctx)) {
  socket_ = static_cast<mkproto::SocketChannel*>(channel_.get());
}

Connection::Connection(const AgentConfig& cfg, Sessions& sessions, std::unique_ptr<mkproto::Channel> ch,
                       ConnectionContext ctx)
    : cfg_(cfg), sessions_(sessions), ctx_(std::move(ctx)), channel_(std::move(ch)), ch_(*channel_) {}

Connection::~Connection() {
  stop_status();
  close_session();
  if (relay_connection_ && ctx_.relay) ctx_.relay->leave(&ch_);
}

namespace {
constexpr std::chrono::milliseconds kStatusEvery{100};
}  // namespace

std::function<void(uint64_t, uint64_t)> Connection::ack_to_host() {
  return [this, s = session_](uint64_t d, uint64_t a) {
    s->note_applied(a);  // a relay catch-up may read it back from now on
    on_writer_ack(d, a);
  };
}

void Connection::serve() noexcept {
  auto refuse_log = [&](const std::string& line) {
    // A wrong secret is worth seeing on the node's console, a flood of
    // them is not: the server limits the rate.
    const std::string l = fmt::format("connection from {} refused before authentication: {}", ctx_.peer, line);
    if (ctx_.log_refusal) ctx_.log_refusal(l);
    else fmt::print(stderr, "target-agent: {}\n", l);
  };
  auto refuse = [&](const mkproto::ErrorMsg& m) {
    refuse_log(m.message);
    try {
      ch_.send(mkproto::encode(m));
      if (socket_) socket_->close_after_last_frame(std::chrono::seconds(1));
    } catch (const std::exception&) {
    }
  };
  const auto revoked = [&] { return ctx_.revoked && *ctx_.revoked; };
  const mkproto::ErrorMsg revoked_refusal{mkproto::ErrorCode::kAuthFailed, 0,
                                          "the secret was revoked by the host; this agent is stopping"};
  // A revoked secret must prove nothing any more: a connection that comes
  // in while the agent stops gets no handshake, not one that succeeds and
  // is refused after it.
  if (revoked()) {
    refuse(revoked_refusal);
    return;
  }
  try {
    // A relay connection proves the hop key the host issued (RELAY_ACCEPT)
    // instead of the node's secret.
    std::vector<mkproto::Key> keys{cfg_.key};
    uint64_t generation = 0;
    if (ctx_.relay)
      if (auto hop = ctx_.relay->hop_key(generation)) keys.push_back(*hop);
    size_t which = 0;
    mkproto::server_handshake(ch_, keys, cfg_.name, which);
    if (which == 1) {
      relay_connection_ = true;
      if (!ctx_.relay->enter(&ch_, generation)) {
        refuse_log("relay connection of a hop key the host has replaced");
        return;
      }
    }
  } catch (const std::exception& e) {
    refuse_log(e.what());  // refused (ERROR already sent) or the peer went away
    return;
  }
  // Revoked while this handshake ran, or no room for another host.
  std::string why;
  if (revoked()) {
    refuse(revoked_refusal);
    return;
  }
  if (ctx_.admission && !ctx_.admission->authenticate(ctx_.ticket, why)) {
    refuse(mkproto::ErrorMsg{mkproto::ErrorCode::kBusy, 0, why});
    return;
  }
  serve_requests();
}

void Connection::serve_requests() noexcept {
  if (socket_) socket_->set_timeout(cfg_.idle_timeout);
  try {
    for (;;) {
      Frame f = ch_.recv();
      if (!dispatch(f)) break;
    }
    close_session();
  } catch (const ProtocolError& e) {
    // Everything received before the bad frame is written and synced first,
    // so the ERROR's watermark is exact.
    uint64_t w = close_session();
    fmt::print(stderr, "target-agent: error: {} (durable watermark {})\n", e.what(), w);
    try {
      ch_.send(mkproto::encode(mkproto::ErrorMsg{e.code, w, e.detail}));
      if (socket_) socket_->close_after_last_frame(std::chrono::seconds(2));
    } catch (const std::exception&) {
    }
  } catch (const std::exception&) {
    close_session();  // connection dropped: keep the session for a resume
  }
}

void Connection::on_writer_ack(uint64_t durable, uint64_t applied) {
  synced_ = durable;
  ch_.send(mkproto::encode(mkproto::Ack{durable, applied}));
}

uint64_t Connection::close_session() noexcept {
  uint64_t w = 0;
  if (verifier_) {
    verifier_->stop([this] { ch_.shutdown(); });
    verifier_.reset();
  }
  if (hasher_) {
    hasher_->stop([this] { ch_.shutdown(); });
    hasher_.reset();
  }
  const bool had_writer = writer_ != nullptr;
  if (writer_) {
    w = writer_->stop();
    writer_.reset();
  }
  if (target_fd_ >= 0) {
    ::close(target_fd_);
    target_fd_ = -1;
  }
  if (session_) {
    // A repair's writer does not describe the image's prefix (repair_ops.cpp).
    if (had_writer && !in_repair_) sessions_.set_durable(*session_, w);
    w = sessions_.durable(*session_);
    sessions_.release(session_);
    session_.reset();
  }
  forwarder_.reset();  // it lives on in the relay, for the upstream's next connection
  return w;
}

bool Connection::dispatch(Frame& f) {
  if (relay_connection_) check_relay_request(f);
  switch (f.type) {
    case FrameType::kTargetQuery: {
      auto q = mkproto::decode<mkproto::TargetQuery>(f);
      ch_.send(mkproto::encode(inspect_target(cfg_, resolve_target(cfg_, q.path))));
      return true;
    }
    case FrameType::kOpen: on_open(f); return true;
    case FrameType::kData:
    case FrameType::kZero:
    case FrameType::kSkip: on_place(f); return true;
    case FrameType::kSync: on_sync(); return true;
    case FrameType::kFinish: on_finish(f); return true;
    case FrameType::kHashRequest: on_hash_request(f); return true;
    case FrameType::kVerify: on_verify(f); return true;
    case FrameType::kRepair: on_repair(f); return true;
    case FrameType::kGetFile: on_get_file(f); return true;
    case FrameType::kPutFile: on_put_file(f); return true;
    case FrameType::kExec: on_exec(f); return true;
    case FrameType::kRelayAccept:
    case FrameType::kRelayConnect: on_relay(f); return true;
    case FrameType::kBye:
      // The host is done with the target: give the device back (a resume
      // after BYE opens it again).
      if (session_) session_->claim.reset();
      if (mkproto::decode<mkproto::Bye>(f).revoke) {
        fmt::print(stderr, "target-agent: the host revoked the secret: no further connection is accepted; exiting\n");
        if (ctx_.revoke) ctx_.revoke();
      }
      return false;
    default:
      throw ProtocolError(ErrorCode::kUnexpected,
                          fmt::format("frame {}: {} is not a request the agent accepts", f.seq, type_name(f.type)));
  }
}

void Connection::on_open(const Frame& f) {
  auto open = mkproto::decode<mkproto::Open>(f);
  if (session_) throw ProtocolError(ErrorCode::kUnexpected, "OPEN on a connection that already has a session");
  if (relay_connection_ && !ctx_.relay->relay_session(open.session))
    throw ProtocolError(ErrorCode::kNotAllowed, "a relay connection may open only the session the host relays here");
  std::string path = resolve_target(cfg_, open.path);
  mkproto::TargetInfo info = inspect_target(cfg_, path);
  refuse_if_in_use(cfg_, info);
  if (open.image_size != mkproto::kImageSizeUnknown && open.image_size > info.size)
    throw ProtocolError(ErrorCode::kImageTooLarge,
                        fmt::format("refusing to write {}: image is {} bytes, target is only {} bytes", path,
                                    open.image_size, info.size));
  bool resumed = false;
  session_ = sessions_.acquire(open, path, &ch_, resumed);
  if (session_->claim) {
    // Resumed: the device is still ours, exclusively, since the first OPEN.
    target_fd_ = ::fcntl(session_->claim.get(), F_DUPFD_CLOEXEC, 0);
    if (target_fd_ < 0)
      throw ProtocolError(ErrorCode::kIo, fmt::format("dup of {}: {}", path, std::strerror(errno)));
  } else {
    target_fd_ = open_target_for_write(info);
    if (info.kind == mkproto::TargetKind::kBlockDevice) {
      session_->claim = base::UniqueFd(::fcntl(target_fd_, F_DUPFD_CLOEXEC, 0));
      if (!session_->claim)
        throw ProtocolError(ErrorCode::kIo, fmt::format("dup of {}: {}", path, std::strerror(errno)));
    }
  }
  block_device_ = info.kind == mkproto::TargetKind::kBlockDevice;
  sector_ = info.sector_size;
  device_size_ = info.size;
  if (!session_->boot.wiped()) {
    // Before OPENED (a new session, or one whose wipe failed): from now on
    // an interruption leaves a disk firmware will not boot.
    session_->boot = BootRegion(mkproto::boot_layout(info.size, info.sector_size));
    session_->boot.wipe(target_fd_, path);
  }
  if (ctx_.relay) forwarder_ = ctx_.relay->on_open(session_, sessions_);
  uint64_t w = sessions_.durable(*session_);
  synced_ = w;
  writer_ = std::make_unique<TargetWriter>(target_fd_, block_device_, sector_, w, ack_to_host(), &session_->boot);
  next_offset_.reset();
  mkproto::Opened opened;
  opened.watermark = w;
  opened.resumed = resumed;
  opened.target = info;
  ch_.send(mkproto::encode(opened));
  fmt::print(stderr, "target-agent: {} session for {} ({}){}\n", resumed ? "resumed" : "new", path,
             open.image_size == mkproto::kImageSizeUnknown ? std::string("size told at FINISH")
                                                           : fmt::format("{} bytes", open.image_size),
             resumed ? fmt::format(" at {}", w) : "");
}

void Connection::require_session(const Frame& f) {
  if (!session_)
    throw ProtocolError(ErrorCode::kNoSession, fmt::format("frame {}: {} before OPEN", f.seq, type_name(f.type)));
}

void Connection::on_place(Frame& f) {
  require_session(f);
  if (sessions_.finished(*session_) && !in_repair_)
    throw ProtocolError(ErrorCode::kUnexpected,
                        fmt::format("frame {}: {} after FINISH (without REPAIR)", f.seq, type_name(f.type)));
  WriteItem item;
  item.offset = f.offset;
  std::optional<mkproto::SkipReason> skip;
  if (f.type == FrameType::kData) {
    item.kind = WriteItem::Kind::kData;
    if (f.payload.empty()) throw ProtocolError(ErrorCode::kMalformed, fmt::format("frame {}: empty DATA", f.seq));
    if (f.flags & mkproto::kFlagZstd) {
      unsigned long long n = ZSTD_getFrameContentSize(f.payload.data(), f.payload.size());
      if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n == 0 || n > mkproto::kMaxData)
        throw ProtocolError(ErrorCode::kMalformed,
                            fmt::format("frame {}: zstd DATA must record a content size of 1..{} bytes", f.seq,
                                        mkproto::kMaxData));
      item.zstd = true;
      item.length = n;
    } else {
      if (f.payload.size() > mkproto::kMaxData)
        throw ProtocolError(ErrorCode::kTooLarge, fmt::format("frame {}: DATA of {} bytes (limit {})", f.seq,
                                                              f.payload.size(), mkproto::kMaxData));
      item.length = f.payload.size();
    }
  } else if (f.type == FrameType::kZero) {
    item.kind = WriteItem::Kind::kZero;
    item.length = mkproto::decode<mkproto::Zero>(f).length;
  } else {
    auto s = mkproto::decode<mkproto::Skip>(f);
    item.kind = WriteItem::Kind::kSkip;
    item.length = s.length;
    skip = s.reason;
  }
  if (in_repair_) {  // rewrites what verify found wrong; the VERIFY scope lists stay as they are
    check_in_repair(f, item.length);
    if (item.kind == WriteItem::Kind::kData) item.payload = std::move(f.payload);
    writer_->push(std::move(item));
    return;
  }
  check_in_image(f, item.length);
  if (!next_offset_) {
    uint64_t w = writer_->durable();
    if (f.offset > w)
      throw ProtocolError(ErrorCode::kOutOfOrder,
                          fmt::format("frame {}: first {} at {} is past the durable watermark {} (that would leave a gap)",
                                      f.seq, type_name(f.type), f.offset, w));
    // Restarting below the watermark: what follows is rewritten.
    session_->restart_at(f.offset);
    if (f.offset < w) {
      // The writer's notion of progress restarts here too.
      writer_->stop();
      writer_ = std::make_unique<TargetWriter>(target_fd_, block_device_, sector_, f.offset, ack_to_host(),
                                               &session_->boot);
      writer_->sync_every(sync_every_);
      synced_ = f.offset;
      sessions_.set_durable(*session_, f.offset);
    }
  } else if (f.offset != *next_offset_) {
    throw ProtocolError(ErrorCode::kOutOfOrder,
                        fmt::format("frame {}: {} starts at {} but the previous frame ended at {} ({})", f.seq,
                                    type_name(f.type), f.offset, *next_offset_,
                                    f.offset > *next_offset_ ? "a gap" : "an overlap"));
  }
  next_offset_ = f.offset + item.length;
  session_->received.store(*next_offset_, std::memory_order_relaxed);
  if (skip == mkproto::SkipReason::kDontCare) session_->dont_care.add(f.offset, f.offset + item.length);
  if (skip == mkproto::SkipReason::kKeep) session_->kept.add(f.offset, f.offset + item.length);
  const uint64_t offset = f.offset, length = item.length;
  if (forwarder_) {
    // Validated: on to the next node too, from the buffer the writer uses.
    auto shared = std::make_shared<const Frame>(std::move(f));
    forwarder_->offer(shared, length);
    if (item.kind == WriteItem::Kind::kData) item.frame = std::move(shared);
  } else if (item.kind == WriteItem::Kind::kData) {
    item.payload = std::move(f.payload);
  }
  writer_->push(std::move(item));
  if (verifier_) verifier_->placed(offset, length, skip);
}

// Before anything of the frame is written: a frame past the image (or,
// while its size is unknown, past the target) is refused whole.
void Connection::check_in_image(const Frame& f, uint64_t length) const {
  const uint64_t size = session_->known_size;
  if (size == mkproto::kImageSizeUnknown) {
    if (f.offset > device_size_ || length > device_size_ - f.offset)
      throw ProtocolError(ErrorCode::kImageTooLarge,
                          fmt::format("refusing frame {}: {} [{}, {}) reaches past the end of {} ({} bytes): the image "
                                      "(size not announced) is larger than the target; nothing past its end was written",
                                      f.seq, type_name(f.type), f.offset, f.offset + length, session_->path,
                                      device_size_));
    return;
  }
  if (f.offset > size || length > size - f.offset)
    throw ProtocolError(ErrorCode::kOutOfRange, fmt::format("frame {}: {} [{}, {}) reaches past the image size {}",
                                                            f.seq, type_name(f.type), f.offset, f.offset + length, size));
}

void Connection::on_hash_request(const Frame& f) {
  require_session(f);
  auto req = mkproto::decode<mkproto::HashRequest>(f);
  if (f.offset > device_size_ || req.length > device_size_ - f.offset)
    throw ProtocolError(ErrorCode::kOutOfRange, fmt::format("HASH_REQUEST [{}, {}) reaches past the target size {}",
                                                            f.offset, f.offset + req.length, device_size_));
  hasher_.reset();  // one request at a time: the previous one finishes first
  // Hashes must reflect what this session already wrote.
  writer_->drain_and_sync();
  hasher_ = std::make_unique<BlockHasher>(target_fd_, session_->path, ch_, f.offset, req.length, req.block,
                                          mkproto::derive_delta_key(cfg_.key, session_->id), req.kind,
                                          [this, s = session_] { return sessions_.durable(*s); });
}

void Connection::on_sync() {
  if (!session_) throw ProtocolError(ErrorCode::kNoSession, "SYNC before OPEN");
  uint64_t w = writer_->drain_and_sync();
  sessions_.set_durable(*session_, w);
  ch_.send(mkproto::encode(mkproto::Ack{w, w}));
}

void Connection::on_finish(const Frame& f) {
  require_session(f);
  auto fin = mkproto::decode<mkproto::Finish>(f);
  if (session_->known_size == mkproto::kImageSizeUnknown) {  // FINISH tells the size
    if (fin.image_size > device_size_)
      throw ProtocolError(ErrorCode::kImageTooLarge, fmt::format("FINISH for image size {}: the target {} is only {} bytes",
                                                                 fin.image_size, session_->path, device_size_));
  } else if (fin.image_size != session_->known_size) {
    throw ProtocolError(ErrorCode::kBadRequest, fmt::format("FINISH for image size {}, session was opened for {}",
                                                            fin.image_size, session_->known_size));
  }
  if (in_repair_) require_repair_covered("FINISH");
  uint64_t w = writer_->drain_and_sync();
  if (in_repair_) w = end_repair();
  sessions_.set_durable(*session_, w);
  if (w > fin.image_size)
    throw ProtocolError(ErrorCode::kBadRequest,
                        fmt::format("FINISH for image size {}, but frames covered [0, {})", fin.image_size, w));
  if (w < fin.image_size)
    throw ProtocolError(ErrorCode::kIncomplete,
                        fmt::format("FINISH with only [0, {}) of {} bytes covered", w, fin.image_size));
  // Everything else is durable: only now may the disk become bootable.
  {
    std::lock_guard lock(session_->replay_mutex);  // a forwarder may be copying held boot bytes
    session_->boot.commit(target_fd_, fin.image_size, session_->path);
    session_->readable = std::max(session_->readable, w);
  }
  // From here VERIFY and any resume of this session know the size.
  session_->known_size = fin.image_size;
  sessions_.set_finished(*session_, true);
  if (forwarder_ && !in_repair_) forwarder_->finish(w);
  ch_.send(mkproto::encode(mkproto::Finished{w}));
  if (verifier_) verifier_->finished(fin.image_size);
  fmt::print(stderr, "target-agent: {} written and synced ({} bytes)\n", session_->path, w);
}

}  // namespace agent

namespace agent {

// Placement of the relayed session, and nothing else: a neighbour never
// execs, reads files, hashes, verifies, repairs or revokes on this node.
void Connection::check_relay_request(const Frame& f) const {
  switch (f.type) {
    case FrameType::kOpen: case FrameType::kData: case FrameType::kZero: case FrameType::kSkip:
    case FrameType::kSync: case FrameType::kFinish: return;
    case FrameType::kBye:
      if (!mkproto::decode<mkproto::Bye>(f).revoke) return;
      break;
    default: break;
  }
  throw ProtocolError(ErrorCode::kUnexpected,
                      fmt::format("frame {}: {} is not allowed on a relay connection", f.seq, type_name(f.type)));
}

void Connection::on_relay(const Frame& f) {
  if (!ctx_.relay) throw ProtocolError(ErrorCode::kNotOffered, "this agent does not relay");
  if (f.type == FrameType::kRelayAccept)
    ctx_.relay->accept(mkproto::decode<mkproto::RelayAccept>(f));
  else
    ctx_.relay->connect(mkproto::decode<mkproto::RelayConnect>(f));
  ch_.send(mkproto::encode(ctx_.relay->status(sessions_)));
  if (status_thread_.joinable()) return;
  // From now on this is the host's window on the relayed session.
  status_thread_ = std::thread([this] {
    std::unique_lock lock(status_m_);
    while (!status_cv_.wait_for(lock, kStatusEvery, [this] { return status_stop_; })) {
      lock.unlock();
      try {
        ch_.send(mkproto::encode(ctx_.relay->status(sessions_)));
      } catch (const std::exception&) {
        return;  // the connection is going; serve() notices
      }
      lock.lock();
    }
  });
}

void Connection::stop_status() noexcept {
  {
    std::lock_guard lock(status_m_);
    status_stop_ = true;
  }
  status_cv_.notify_all();
  if (status_thread_.joinable()) status_thread_.join();
}

}  // namespace agent
