#include "mkmaster/push/agent_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include "protocol/messages.h"
#include "protocol/version.h"

namespace push {

mkproto::Key load_secret(const std::string& secret_file) {
  if (secret_file.empty()) throw std::runtime_error("no --secret-file given: the agent's session secret is required");
  return mkproto::load_key(secret_file);
}

std::string resolve(const std::string& hp) {
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error(fmt::format("agent address '{}': expected HOST:PORT", hp));
  std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') return hp;  // numeric IPv6
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error(fmt::format("agent address '{}': {}", hp, gai_strerror(rc)));
  char buf[NI_MAXHOST];
  std::string out;
  if (::getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0)
    out = res->ai_family == AF_INET6 ? fmt::format("[{}]:{}", buf, port) : fmt::format("{}:{}", buf, port);
  ::freeaddrinfo(res);
  if (out.empty()) throw std::runtime_error(fmt::format("agent address '{}': cannot resolve", hp));
  return out;
}

namespace {
// The reader waits while this much payload is queued (a pull of a large
// file must not be buffered whole in memory).
constexpr size_t kMaxQueued = 16u << 20;
}  // namespace

AgentClient::AgentClient(const AgentAddress& addr) : io_timeout_(addr.io_timeout) {
  int fd = mkproto::tcp_connect(resolve(addr.agent), addr.connect_timeout);
  ch_ = std::make_unique<mkproto::SocketChannel>(
      fd, addr.handshake_timeout.count() > 0 ? addr.handshake_timeout : addr.io_timeout);
  // A stopped, black-holed or powered-off agent stops taking our bytes: the
  // send gives up after io_timeout instead of sitting in a zero window.
  ch_->set_send_timeout(addr.io_timeout);
  progress_at_ = std::chrono::steady_clock::now().time_since_epoch().count();
  agent_name_ = mkproto::client_handshake(*ch_, addr.key, fmt::format("mkmaster {}", mkproto::kProjectVersion)).peer;
  // From here the reader blocks in recv() for as long as the agent is quiet
  // (a long stream has no ACK for a while); silence is timed where someone
  // waits for a frame (next_frame, HashInbox::at).
  ch_->set_timeout(std::chrono::milliseconds{0});
  reader_ = std::thread([this] { read_loop(); });
}

AgentClient::~AgentClient() {
  {
    std::lock_guard lk(m_);
    closing_ = true;
  }
  cv_.notify_all();
  ch_->shutdown();
  reader_.join();
}

void AgentClient::read_loop() noexcept {
  std::exception_ptr failure;
  try {
    for (;;) {
      mkproto::Frame f = ch_->recv();
      switch (f.type) {
        case mkproto::FrameType::kAck:
        case mkproto::FrameType::kFinished:
        case mkproto::FrameType::kHashes:
        case mkproto::FrameType::kHashesEnd:
        case mkproto::FrameType::kDigests:
        case mkproto::FrameType::kVerifyEnd:
          progress_at_ = std::chrono::steady_clock::now().time_since_epoch().count();
          break;
        default:
          break;
      }
      if (f.type == mkproto::FrameType::kHashes || f.type == mkproto::FrameType::kHashesEnd) {
        std::shared_ptr<HashInbox> inbox;
        {
          std::lock_guard lk(m_);
          inbox = inbox_;
        }
        if (!inbox)
          throw mkproto::ProtocolError(mkproto::ErrorCode::kUnexpected,
                                       fmt::format("agent sent {} without a HASH_REQUEST", type_name(f.type)));
        if (f.type == mkproto::FrameType::kHashesEnd) {
          inbox->end();
        } else {
          auto h = mkproto::decode<mkproto::Hashes>(f);
          inbox->add(f.offset, h.hashes);
        }
        continue;
      }
      if (f.type == mkproto::FrameType::kRelayStatus) {
        auto st = mkproto::decode<mkproto::RelayStatus>(f);
        std::lock_guard lk(m_);
        relay_status_ = std::move(st);
        ++relay_statuses_;
        continue;
      }
      if (f.type == mkproto::FrameType::kError) {
        // Whoever waits for hashes learns of it too.
        std::shared_ptr<HashInbox> inbox;
        {
          std::lock_guard lk(m_);
          inbox = inbox_;
        }
        if (inbox) {
          try {
            mkproto::throw_remote_error(f);
          } catch (...) {
            inbox->fail(std::current_exception());
          }
        }
      }
      std::unique_lock lk(m_);
      cv_.wait(lk, [&] { return closing_ || queued_bytes_ < kMaxQueued; });
      if (closing_) return;
      queued_bytes_ += f.payload.size();
      queue_.push_back(std::move(f));
      cv_.notify_all();
    }
  } catch (...) {
    failure = std::current_exception();
  }
  std::shared_ptr<HashInbox> inbox;
  {
    std::lock_guard lk(m_);
    failure_ = failure;
    ended_ = true;
    inbox = inbox_;
    cv_.notify_all();
  }
  if (inbox) inbox->fail(failure);
}

std::optional<mkproto::RelayStatus> AgentClient::relay_status(uint64_t* count) {
  std::lock_guard lk(m_);
  if (count) *count = relay_statuses_;
  return relay_status_;
}

bool AgentClient::ended() {
  std::lock_guard lk(m_);
  return ended_;
}

mkproto::Frame AgentClient::next_frame() {
  std::unique_lock lk(m_);
  auto ready = [&] { return !queue_.empty() || failure_; };
  if (io_timeout_.count() == 0)
    cv_.wait(lk, ready);  // asked for (exec without a timeout); TCP keepalive still notices a dead node
  else if (!cv_.wait_for(lk, io_timeout_, ready))
    throw mkproto::ConnectionClosed(fmt::format("no data from the agent for {} ms", io_timeout_.count()));
  if (queue_.empty()) std::rethrow_exception(failure_);
  mkproto::Frame f = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= f.payload.size();
  cv_.notify_all();
  return f;
}

mkproto::Frame AgentClient::recv(const std::function<void(uint64_t)>& on_ack) {
  for (;;) {
    mkproto::Frame f = next_frame();
    if (f.type == mkproto::FrameType::kAck) {
      uint64_t d = mkproto::decode<mkproto::Ack>(f).durable;
      if (on_ack) on_ack(d);
      continue;
    }
    if (f.type == mkproto::FrameType::kError) mkproto::throw_remote_error(f);
    if (take_early_verify(f)) continue;
    return f;
  }
}

void AgentClient::poll(const std::function<void(uint64_t)>& on_ack) {
  for (;;) {
    {
      std::lock_guard lk(m_);
      if (queue_.empty()) {
        // A failed connection is noticed here too, not only at the next recv().
        if (failure_) std::rethrow_exception(failure_);
        return;
      }
    }
    // Something arrived (an ACK or an ERROR; HASHES go to the inbox).
    mkproto::Frame f = next_frame();
    if (f.type == mkproto::FrameType::kAck) {
      if (on_ack) on_ack(mkproto::decode<mkproto::Ack>(f).durable);
    } else if (f.type == mkproto::FrameType::kError) {
      mkproto::throw_remote_error(f);
    } else if (!take_early_verify(f)) {
      throw mkproto::ProtocolError(mkproto::ErrorCode::kUnexpected,
                                   fmt::format("agent sent {} while the image was streaming", type_name(f.type)));
    }
  }
}

void AgentClient::request_hashes(uint64_t offset, uint64_t length, uint32_t block, std::shared_ptr<HashInbox> inbox) {
  const mkproto::HashKind kind = inbox->kind();
  {
    std::lock_guard lk(m_);
    inbox_ = std::move(inbox);
  }
  ch_->send(mkproto::encode(mkproto::HashRequest{offset, length, block, kind}));
}

uint64_t AgentClient::bytes_sent() const { return ch_->bytes_sent(); }

std::chrono::steady_clock::time_point AgentClient::progress_at() const {
  return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(progress_at_.load()));
}

mkproto::Opened AgentClient::open(const mkproto::Open& request) {
  ch_->send(mkproto::encode(request));
  return mkproto::decode<mkproto::Opened>(recv());
}

void AgentClient::send_data(uint64_t offset, uint16_t flags, std::span<const uint8_t> payload) {
  ch_->send_raw(mkproto::FrameType::kData, flags, offset, payload);
}
void AgentClient::send_zero(uint64_t offset, uint64_t length) { ch_->send(mkproto::encode(mkproto::Zero{offset, length})); }
void AgentClient::send_skip(uint64_t offset, uint64_t length, mkproto::SkipReason reason) {
  ch_->send(mkproto::encode(mkproto::Skip{offset, length, reason}));
}

uint64_t AgentClient::finish(uint64_t image_size, const std::function<void(uint64_t)>& on_ack) {
  ch_->send(mkproto::encode(mkproto::Finish{image_size}));
  return mkproto::decode<mkproto::Finished>(recv(on_ack)).watermark;
}

AgentClient::VerifyReply AgentClient::verify(const mkproto::Verify& request) {
  ch_->send(mkproto::encode(request));
  VerifyReply reply;
  for (;;) {
    mkproto::Frame f = recv();
    if (f.type == mkproto::FrameType::kVerifyEnd) {
      reply.end = mkproto::decode<mkproto::VerifyEnd>(f);
      return reply;
    }
    auto d = mkproto::decode<mkproto::Digests>(f);
    for (size_t i = 0; i < d.digests.size(); ++i) reply.offsets.push_back(f.offset + i * uint64_t{request.block});
    reply.digests.insert(reply.digests.end(), d.digests.begin(), d.digests.end());
  }
}

void AgentClient::start_verify(const mkproto::Verify& request) {
  ch_->send(mkproto::encode(request));
  early_.emplace();
  early_block_ = request.block;
  early_done_ = false;
}

bool AgentClient::take_early_verify(const mkproto::Frame& f) {
  if (!early_ || early_done_) return false;
  if (f.type == mkproto::FrameType::kVerifyEnd) {
    early_->end = mkproto::decode<mkproto::VerifyEnd>(f);
    early_done_ = true;
    return true;
  }
  if (f.type != mkproto::FrameType::kDigests) return false;
  auto d = mkproto::decode<mkproto::Digests>(f);
  for (size_t i = 0; i < d.digests.size(); ++i) early_->offsets.push_back(f.offset + i * uint64_t{early_block_});
  early_->digests.insert(early_->digests.end(), d.digests.begin(), d.digests.end());
  return true;
}

AgentClient::VerifyReply AgentClient::end_verify() {
  if (!early_) throw std::logic_error("AgentClient::end_verify without start_verify");
  while (!early_done_) {
    mkproto::Frame f = next_frame();
    if (f.type == mkproto::FrameType::kAck) continue;
    if (f.type == mkproto::FrameType::kError) mkproto::throw_remote_error(f);
    if (!take_early_verify(f))
      throw mkproto::ProtocolError(mkproto::ErrorCode::kUnexpected,
                                   fmt::format("agent sent {} while VERIFY was reading back", type_name(f.type)));
  }
  VerifyReply r = std::move(*early_);
  early_.reset();
  return r;
}

void AgentClient::repair(uint64_t offset, uint64_t length) {
  ch_->send(mkproto::encode(mkproto::Repair{offset, length}));
}

void AgentClient::send(const mkproto::Frame& request) { ch_->send(request); }
void AgentClient::send_file_data(uint64_t offset, std::span<const uint8_t> bytes) {
  ch_->send_raw(mkproto::FrameType::kFileData, 0, offset, bytes);
}

void AgentClient::bye(bool revoke) noexcept {
  try {
    ch_->send(mkproto::encode(mkproto::Bye{revoke}));
    // Wait for the agent to close: it has then released the session, so a
    // following push to the same target is not refused as busy.
    for (int i = 0; i < 100; ++i) next_frame();
  } catch (const std::exception&) {
  }
}

}  // namespace push
