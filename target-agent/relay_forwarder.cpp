#include "target-agent/relay_forwarder.h"

#include <fmt/core.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <vector>

#include "protocol/handshake.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::FrameType;
using mkproto::HopState;
using mkproto::ProtocolError;
using Clock = std::chrono::steady_clock;

// One connection to the downstream. A reader thread takes its ACKs (the
// downstream must never block sending them) and its FINISHED or ERROR.
struct Forwarder::Hop {
  std::unique_ptr<mkproto::SocketChannel> ch;
  std::mutex m;
  std::condition_variable cv;
  uint64_t durable = 0;
  bool finished = false;
  std::exception_ptr failure;
  std::thread reader;
  std::function<void(uint64_t)> on_durable;

  void read_loop() {
    try {
      for (;;) {
        Frame f = ch->recv();
        if (f.type == FrameType::kAck) {
          uint64_t d = mkproto::decode<mkproto::Ack>(f).durable;
          std::lock_guard lock(m);
          durable = std::max(durable, d);
          if (on_durable) on_durable(durable);
        } else if (f.type == FrameType::kFinished) {
          uint64_t w = mkproto::decode<mkproto::Finished>(f).watermark;
          std::lock_guard lock(m);
          durable = std::max(durable, w);
          finished = true;
          if (on_durable) on_durable(durable);
          cv.notify_all();
        } else if (f.type == FrameType::kError) {
          auto e = mkproto::decode<mkproto::ErrorMsg>(f);
          throw ProtocolError(e.code, e.message);
        } else {
          throw ProtocolError(ErrorCode::kUnexpected,
                              fmt::format("downstream sent {} during a relay", type_name(f.type)));
        }
      }
    } catch (...) {
      std::lock_guard lock(m);
      failure = std::current_exception();
      cv.notify_all();
    }
  }
  void check() {
    std::lock_guard lock(m);
    if (failure) std::rethrow_exception(failure);
  }
  ~Hop() {
    if (ch) ch->shutdown();
    if (reader.joinable()) reader.join();
  }
};

Forwarder::Forwarder(mkproto::Open open, std::shared_ptr<ReplaySource> source, std::string agent_name,
                     std::chrono::milliseconds io_timeout)
    : open_([&] {
        open.path.clear();
        return open;
      }()),
      source_(std::move(source)),
      name_(std::move(agent_name)),
      io_timeout_(io_timeout) {
  thread_ = std::thread([this] { run(); });
}

Forwarder::~Forwarder() {
  {
    std::lock_guard lock(m_);
    stop_ = true;
    if (hop_channel_) hop_channel_->shutdown();
    cv_.notify_all();
  }
  thread_.join();
}

void Forwarder::set_downstream(std::optional<Downstream> d) {
  std::lock_guard lock(m_);
  down_ = std::move(d);
  ++generation_;
  if (hop_channel_) hop_channel_->shutdown();
  status_ = Status{down_ ? HopState::kConnecting : HopState::kNone, 0, status_.reconnects, ""};
  holding_back_ = true;
  cv_.notify_all();
}

void Forwarder::offer(std::shared_ptr<const Frame> frame, uint64_t length) {
  const Frame& f = *frame;
  std::unique_lock lock(m_);
  if (f.offset < offered_end_) dont_care_.truncate(f.offset);  // the upstream restarted below: the same bytes again
  if (f.type == FrameType::kSkip && mkproto::decode<mkproto::Skip>(f).reason == mkproto::SkipReason::kDontCare)
    dont_care_.add(f.offset, f.offset + length);
  offered_end_ = f.offset + length;
  if (!down_) return;
  const size_t n = f.payload.size();
  evict_sent(n);
  if (holding_back_ && queued_bytes_ + n > kQueueBytes && queue_.size() > sent_) {
    // Back-pressure: the chain moves at the pace of its slowest node (and
    // waits out its first connect)…
    const auto stall = down_->stall;
    if (!cv_.wait_for(lock, stall, [&] {
          evict_sent(n);
          return stop_ || !holding_back_ || queued_bytes_ + n <= kQueueBytes || queue_.size() == sent_;
        })) {
      // …unless it takes nothing for the stall time: then it is caught up
      // from the disk once it moves again (or the host cuts it out).
      holding_back_ = false;
      status_.state = HopState::kCatchingUp;
      status_.message = fmt::format("downstream took no frame for {} ms: catching it up from this node's disk",
                                    stall.count());
    }
  }
  while (!queue_.empty() && queued_bytes_ + n > kQueueBytes) pop_front();  // not holding back: the newest only
  queue_.push_back(Item{std::move(frame), length});
  queued_bytes_ += n;
  cv_.notify_all();
}

void Forwarder::pop_front() {
  queued_bytes_ -= queue_.front().frame->payload.size();
  queue_.pop_front();
  if (sent_ > 0) --sent_;
  cv_.notify_all();
}

void Forwarder::evict_sent(size_t room) {
  while (sent_ > 0 && queued_bytes_ + room > kQueueBytes) pop_front();
}

void Forwarder::finish(uint64_t image_size) {
  std::lock_guard lock(m_);
  finish_size_ = image_size;
  cv_.notify_all();
}

Forwarder::Status Forwarder::status() const {
  std::lock_guard lock(m_);
  return status_;
}

bool Forwarder::replaced(uint64_t generation) const { return stop_ || generation != generation_; }

void Forwarder::set_state(HopState s, const std::string& message) {
  std::lock_guard lock(m_);
  status_.state = s;
  if (s == HopState::kFailed || s == HopState::kDone) holding_back_ = false;
  if (!message.empty()) status_.message = message;
  cv_.notify_all();
}

namespace {
// Worth a reconnect: the link, not the downstream's refusal.
bool transient(const ProtocolError& e) {
  switch (e.code) {
    case ErrorCode::kBadChecksum: case ErrorCode::kBadSequence: case ErrorCode::kBadMagic:
    case ErrorCode::kMalformed: case ErrorCode::kBadMac: case ErrorCode::kConnection: return true;
    default: return false;
  }
}
}  // namespace

void Forwarder::run() {
  uint64_t generation = 0;
  int attempts = 0;          // without progress
  uint64_t progress = 0;     // downstream position reached, all attempts
  auto backoff = std::chrono::milliseconds(100);
  for (;;) {
    std::optional<Downstream> d;
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] {
        return stop_ || (down_ && (generation != generation_ || (status_.state != HopState::kFailed &&
                                                                 status_.state != HopState::kDone)));
      });
      if (stop_) return;
      if (generation != generation_) {
        generation = generation_;
        attempts = 0;
        progress = 0;
        backoff = std::chrono::milliseconds(100);
      }
      d = down_;
    }
    const uint64_t before = progress;
    try {
      if (serve(*d, generation, progress)) {
        set_state(HopState::kDone, "downstream finished");
        continue;
      }
      continue;  // replaced or stopped
    } catch (const ProtocolError& e) {
      if (!transient(e)) {
        set_state(HopState::kFailed, fmt::format("downstream {}: {}", d->address, e.what()));
        continue;
      }
      fmt::print(stderr, "target-agent: relay hop to {} dropped: {}\n", d->address, e.what());
    } catch (const std::exception& e) {
      fmt::print(stderr, "target-agent: relay hop to {} dropped: {}\n", d->address, e.what());
    }
    if (progress > before) {
      attempts = 0;
      backoff = std::chrono::milliseconds(100);
    }
    std::unique_lock lock(m_);
    if (replaced(generation)) continue;
    holding_back_ = false;  // a broken hop does not hold the chain: the gap is read back later
    cv_.notify_all();
    ++status_.reconnects;
    if (++attempts > kMaxAttempts) {
      status_.state = HopState::kFailed;
      holding_back_ = false;
      status_.message = fmt::format("downstream {}: {} reconnects without progress", d->address, kMaxAttempts);
      continue;
    }
    status_.state = HopState::kConnecting;
    cv_.wait_for(lock, backoff, [&] { return replaced(generation); });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

bool Forwarder::serve(const Downstream& d, uint64_t generation, uint64_t& progress) {
  Hop hop;
  hop.ch = std::make_unique<mkproto::SocketChannel>(mkproto::tcp_connect(d.address, io_timeout_), io_timeout_);
  {
    std::lock_guard lock(m_);
    if (replaced(generation)) return false;
    hop_channel_ = hop.ch.get();
  }
  struct Unregister {
    Forwarder* f;
    ~Unregister() {
      std::lock_guard lock(f->m_);
      f->hop_channel_ = nullptr;
    }
  } unregister{this};
  hop.ch->set_send_timeout(io_timeout_);
  mkproto::Key key;
  std::copy(d.key.begin(), d.key.end(), key.begin());
  mkproto::client_handshake(*hop.ch, key, name_ + " (relay)");
  hop.ch->send(mkproto::encode(open_));
  Frame r = hop.ch->recv();
  if (r.type == FrameType::kError) {
    auto e = mkproto::decode<mkproto::ErrorMsg>(r);
    throw ProtocolError(e.code, e.message);
  }
  const mkproto::Opened opened = mkproto::decode<mkproto::Opened>(r);
  uint64_t next = opened.watermark;
  // Progress is what the downstream says it holds, not what we sent (the
  // socket buffers hold megabytes that a drop loses).
  progress = std::max(progress, next);
  hop.durable = next;
  hop.on_durable = [this](uint64_t w) {
    std::lock_guard lock(m_);
    status_.hop_durable = w;
  };
  hop.reader = std::thread([&hop] { hop.read_loop(); });
  {
    std::lock_guard lock(m_);
    status_.hop_durable = next;
    status_.state = HopState::kCatchingUp;
    sent_ = 0;  // what the downstream lost in flight is resent from the queue, or read back
  }
  for (;;) {
    hop.check();
    std::unique_lock lock(m_);
    cv_.wait_for(lock, std::chrono::milliseconds(100),
                 [&] { return replaced(generation) || queue_.size() > sent_ || finish_size_; });
    if (replaced(generation)) return false;
    if (queue_.size() > sent_) {
      const Item& it = queue_[sent_];
      if (it.end() <= next) {  // the downstream has it already
        ++sent_;
        cv_.notify_all();
        continue;
      }
      if (it.frame->offset == next) {
        std::shared_ptr<const Frame> f = it.frame;
        next = it.end();
        ++sent_;
        status_.state = HopState::kLive;
        holding_back_ = true;
        cv_.notify_all();  // room for the receiver
        lock.unlock();
        hop.ch->send_raw(f->type, f->flags, f->offset, f->payload);
        continue;
      }
      // A gap before the next queued frame (or a frame across the
      // downstream's watermark): the missing bytes come from this disk,
      // without holding the chain back meanwhile.
      const uint64_t to = it.frame->offset > next ? it.frame->offset : it.end();
      status_.state = HopState::kCatchingUp;
      holding_back_ = false;
      cv_.notify_all();
      lock.unlock();
      replay(hop, next, to, generation);
      continue;
    }
    if (finish_size_) {
      const uint64_t size = *finish_size_;
      lock.unlock();
      if (next < size) {
        replay(hop, next, size, generation);
        continue;
      }
      hop.ch->send(mkproto::encode(mkproto::Finish{size}));
      std::unique_lock hl(hop.m);
      if (!hop.cv.wait_for(hl, io_timeout_, [&] { return hop.finished || hop.failure; }))
        throw mkproto::ConnectionClosed(fmt::format("downstream {}: no FINISHED within {} ms", d.address,
                                                    io_timeout_.count()));
      if (hop.failure) std::rethrow_exception(hop.failure);
      hl.unlock();
      try {
        hop.ch->send(mkproto::encode(mkproto::Bye{}));
      } catch (const std::exception&) {
        // FINISHED is what counts; the downstream closes anyway.
      }
      progress = size;
      return true;
    }
  }
}

void Forwarder::replay(Hop& hop, uint64_t& next, uint64_t end, uint64_t generation) {
  std::vector<uint8_t> buf;
  while (next < end) {
    const uint64_t chunk_end = std::min(end, next + kReplayChunk);
    // Only what this node's writer has applied; its ACKs move that on.
    const auto deadline = Clock::now() + std::max(io_timeout_ * 10, std::chrono::milliseconds(60000));
    while (source_->readable() < chunk_end) {
      hop.check();
      std::unique_lock lock(m_);
      if (replaced(generation)) return;
      if (Clock::now() > deadline)
        throw mkproto::ConnectionClosed(fmt::format("this node applied nothing up to {} in time to catch up the "
                                                    "downstream", chunk_end));
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
    std::vector<ByteRange> skip;
    {
      std::lock_guard lock(m_);
      if (replaced(generation)) return;
      for (const ByteRange& r : dont_care_.ranges())
        if (r.end > next && r.start < chunk_end) skip.push_back({std::max(r.start, next), std::min(r.end, chunk_end)});
    }
    uint64_t at = next;
    // Zero runs go as ZERO (4 KiB granularity, as the host's zero
    // detection): the downstream punches or zeroes them instead of writing.
    auto send_bytes = [&](uint64_t a, uint64_t b) {
      if (a >= b) return;
      buf.resize(static_cast<size_t>(b - a));
      source_->read(a, buf);
      constexpr size_t kBlock = 4096;
      size_t run = 0;
      bool run_zero = false;
      auto flush = [&](size_t to) {
        if (to == run) return;
        if (run_zero)
          hop.ch->send(mkproto::encode(mkproto::Zero{a + run, to - run}));
        else
          hop.ch->send_raw(FrameType::kData, 0, a + run, std::span<const uint8_t>(buf).subspan(run, to - run));
        run = to;
      };
      for (size_t at = 0; at < buf.size(); at += kBlock) {
        if (!run_zero && at - run >= kReplayFrame) flush(at);  // frames of a size a short-lived link still passes
        const size_t e = std::min(buf.size(), at + kBlock);
        const bool zero = std::all_of(buf.begin() + static_cast<std::ptrdiff_t>(at),
                                      buf.begin() + static_cast<std::ptrdiff_t>(e), [](uint8_t c) { return c == 0; });
        if (at == 0) run_zero = zero;
        if (zero != run_zero) {
          flush(at);
          run_zero = zero;
        }
      }
      flush(buf.size());
    };
    for (const ByteRange& s : skip) {
      send_bytes(at, s.start);
      hop.ch->send(mkproto::encode(mkproto::Skip{s.start, s.end - s.start, mkproto::SkipReason::kDontCare}));
      at = s.end;
    }
    send_bytes(at, chunk_end);
    next = chunk_end;
  }
}

}  // namespace agent
