#include "target-agent/relay.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

namespace {

// The relayed session's image as this node holds it: the target read
// through a descriptor of its own (O_RDONLY beside the writer's exclusive
// one), the boot bytes from the session's held copy.
class SessionReplay : public ReplaySource {
 public:
  explicit SessionReplay(std::shared_ptr<Session> s) : s_(std::move(s)) {}
  ~SessionReplay() override {
    if (fd_ >= 0) ::close(fd_);
  }
  uint64_t readable() const override {
    std::lock_guard lock(s_->replay_mutex);
    return s_->readable;
  }
  void read(uint64_t offset, std::span<uint8_t> out) override {
    if (fd_ < 0) {
      fd_ = ::open(s_->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0)
        throw ProtocolError(ErrorCode::kIo, fmt::format("relay: open {} to read back: {}", s_->path, std::strerror(errno)));
    }
    std::lock_guard lock(s_->replay_mutex);
    if (offset + out.size() > s_->readable)
      throw ProtocolError(ErrorCode::kIo, fmt::format("relay: [{}, {}) of {} is not written yet", offset,
                                                      offset + out.size(), s_->path));
    size_t done = 0;
    while (done < out.size()) {
      ssize_t r = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        throw ProtocolError(ErrorCode::kIo, fmt::format("relay: reading {} at {}: {}", s_->path, offset + done,
                                                        r < 0 ? std::strerror(errno) : "unexpected end"));
      done += static_cast<size_t>(r);
    }
    s_->boot.copy_held(offset, out);
  }

 private:
  std::shared_ptr<Session> s_;
  int fd_ = -1;
};

bool all_zero(const mkproto::HopKey& k) {
  return std::all_of(k.begin(), k.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

Relay::~Relay() {
  std::shared_ptr<Forwarder> f;
  {
    std::lock_guard lock(m_);
    f = std::move(forwarder_);
  }
  f.reset();  // joins its thread outside the lock
  sodium_memzero(accept_key_.data(), accept_key_.size());
}

void Relay::accept(const mkproto::RelayAccept& m) {
  std::lock_guard lock(m_);
  if (session_ && session_->id != m.session && !(down_session_ && *down_session_ == m.session))
    session_.reset();  // a new push
  accept_session_ = m.session;
  accept_key_ = m.key;
  accepting_ = !all_zero(m.key);
  ++key_generation_;
  for (const Upstream& u : upstreams_) u.ch->shutdown();  // the old key's connection goes now
}

void Relay::connect(const mkproto::RelayConnect& m) {
  std::shared_ptr<Forwarder> old;
  std::lock_guard lock(m_);
  std::optional<Downstream> d;
  if (!m.address.empty()) d = Downstream{m.address, m.key, std::chrono::milliseconds(m.stall_ms)};
  if (down_session_ && *down_session_ != m.session) {
    old = std::move(forwarder_);  // another push: its forwarder goes
    if (session_ && session_->id != m.session) session_.reset();
  }
  down_session_ = m.session;
  down_ = d;
  if (forwarder_) forwarder_->set_downstream(d);
  else if (d && session_ && session_->id == m.session) forwarder_ = make_forwarder();
}

std::optional<mkproto::Key> Relay::hop_key(uint64_t& generation) const {
  std::lock_guard lock(m_);
  generation = key_generation_;
  if (!accepting_) return std::nullopt;
  mkproto::Key k;
  std::copy(accept_key_.begin(), accept_key_.end(), k.begin());
  return k;
}

bool Relay::enter(mkproto::Channel* ch, uint64_t generation) {
  std::lock_guard lock(m_);
  if (generation != key_generation_) return false;
  upstreams_.push_back({ch, generation});
  return true;
}

void Relay::leave(mkproto::Channel* ch) {
  std::lock_guard lock(m_);
  std::erase_if(upstreams_, [&](const Upstream& u) { return u.ch == ch; });
}

bool Relay::relay_session(const mkproto::SessionId& id) const {
  std::lock_guard lock(m_);
  return accepting_ && accept_session_ && *accept_session_ == id;
}

std::shared_ptr<Forwarder> Relay::make_forwarder() {
  mkproto::Open open;
  open.session = session_->id;
  open.image_size = session_->image_size;
  open.holes = session_->holes;
  auto f = std::make_shared<Forwarder>(open, std::make_shared<SessionReplay>(session_), cfg_.name, cfg_.io_timeout);
  f->set_downstream(down_);
  return f;
}

std::shared_ptr<Forwarder> Relay::on_open(const std::shared_ptr<Session>& s, Sessions& sessions) {
  std::lock_guard lock(m_);
  const bool ours = (accept_session_ && *accept_session_ == s->id) || (down_session_ && *down_session_ == s->id);
  if (!ours) return nullptr;
  session_ = s;
  {
    // What this node already holds of a resumed session can be read back.
    const uint64_t w = sessions.durable(*s);
    s->note_applied(w);
  }
  if (!down_session_ || *down_session_ != s->id || !down_) return forwarder_;
  if (!forwarder_) forwarder_ = make_forwarder();
  return forwarder_;
}

mkproto::RelayStatus Relay::status(Sessions& sessions) const {
  std::lock_guard lock(m_);
  mkproto::RelayStatus st;
  if (session_) {
    st.durable = sessions.durable(*session_);
    st.finished = sessions.finished(*session_);
    std::lock_guard rl(session_->replay_mutex);
    st.applied = std::max({session_->readable, st.durable, session_->received.load(std::memory_order_relaxed)});
  }
  if (forwarder_) {
    Forwarder::Status f = forwarder_->status();
    st.hop = f.state;
    st.hop_durable = f.hop_durable;
    st.hop_reconnects = f.reconnects;
    st.message = f.message;
  }
  return st;
}

}  // namespace agent
