#include "mkmaster/push/relay_push.h"

#include <sodium.h>

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "base/parallel.h"
#include "mkmaster/push/repair.h"
#include "protocol/auth.h"

namespace push {

using Clock = std::chrono::steady_clock;
using mkproto::HopState;

size_t RelayResult::failed() const {
  return static_cast<size_t>(std::count_if(nodes.begin(), nodes.end(), [](const RelayNodeResult& n) { return !n.ok; }));
}

namespace {

constexpr auto kMonitorEvery = std::chrono::milliseconds(100);

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

mkproto::HopKey fresh_key() {
  mkproto::HopKey k;
  randombytes_buf(k.data(), k.size());
  return k;
}

// The chain: one control connection per node, the head's push, the
// forwarders' statuses, cutting out failed nodes (docs/protocol.md, "Relay").
class Chain {
 public:
  explicit Chain(const RelayOptions& o) : o_(o), session_(mkproto::random_session_id()) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    for (const RelayNode& n : o.nodes) {
      Node x;
      x.spec = &n;
      x.r.name = n.name.empty() ? n.agent.agent : n.name;
      x.r.agent = n.agent.agent;
      nodes_.push_back(std::move(x));
    }
  }

  RelayResult run() {
    connect_all();
    wire();
    std::thread monitor([this] { monitor_loop(); });
    try {
      stream();
      wait_finished();
    } catch (...) {
      stop_monitor(monitor);
      throw;
    }
    stop_monitor(monitor);
    verify_all();
    // BYE waits for the agent to close: only the nodes that answered to the
    // end. A failed one (maybe stopped) is just hung up on.
    for (Node& n : nodes_)
      if (n.control && n.r.ok) n.control->bye(o_.push.revoke_at_end);
      else n.control.reset();
    RelayResult out;
    out.fanout = Fanout::kChain;
    out.image_size = size_;
    out.seconds = since(t0_);
    out.host_bytes_sent = host_bytes_;
    for (Node& n : nodes_) out.nodes.push_back(n.r);
    return out;
  }

 private:
  struct Node {
    const RelayNode* spec = nullptr;
    std::unique_ptr<AgentClient> control;
    std::string address;  // numeric, as the previous node dials it
    bool in_chain = false;
    RelayNodeResult r;
    mkproto::RelayStatus status;
    // Falling behind: since when its lag exceeds the bound without shrinking.
    std::optional<Clock::time_point> behind_since;
    uint64_t behind_head = 0, behind_applied = 0;  // the head's and its position then
  };

  void connect_all() {
    for (Node& n : nodes_) {
      try {
        n.address = n.spec->relay_address.empty() ? resolve(n.spec->agent.agent) : n.spec->relay_address;
        AgentAddress a = n.spec->agent;
        a.io_timeout = std::min<std::chrono::milliseconds>(a.io_timeout, o_.push.stall_timeout);
        n.control = std::make_unique<AgentClient>(a);
        n.in_chain = true;
      } catch (const std::exception& e) {
        fail(n, "connect", e.what());
      }
    }
  }

  void fail(Node& n, const std::string& step, const std::string& why) {
    if (!n.r.error.empty()) return;  // the first reason is the one to report
    n.in_chain = false;
    n.r.ok = false;
    n.r.step = step;
    n.r.error = why;
    n.r.seconds = since(t0_);
  }

  // A control request, then a TARGET_QUERY: its TARGET_INFO comes once the
  // request was handled (RELAY_STATUS frames also come on their own), an
  // ERROR if it was refused.
  void control(Node& n, const mkproto::Frame& f) {
    n.control->send(f);
    n.control->send(mkproto::encode(mkproto::TargetQuery{o_.push.target}));
    mkproto::Frame r = n.control->recv();
    if (r.type != mkproto::FrameType::kTargetInfo)
      throw mkproto::ProtocolError(mkproto::ErrorCode::kUnexpected,
                                   fmt::format("agent {} answered {} with {}", n.r.agent, type_name(f.type),
                                               type_name(r.type)));
  }

  std::optional<size_t> next_in_chain(size_t i) const {
    for (size_t j = i + 1; j < nodes_.size(); ++j)
      if (nodes_[j].in_chain) return j;
    return std::nullopt;
  }
  std::optional<size_t> prev_in_chain(size_t i) const {
    for (size_t j = i; j-- > 0;)
      if (nodes_[j].in_chain) return j;
    return std::nullopt;
  }

  // Node `from` forwards to the next node in the chain (none: it is the
  // tail), over a new hop key. A downstream that does not take its key is
  // failed and the next one tried; a failure of `from` itself is thrown.
  // Under m_.
  void point(size_t from) {
    mkproto::RelayConnect c;
    c.session = session_;
    while (auto to = next_in_chain(from)) {
      mkproto::RelayAccept a{session_, fresh_key()};
      try {
        control(nodes_[*to], mkproto::encode(a));
      } catch (const std::exception& e) {
        fail(nodes_[*to], "relay", e.what());
        continue;
      }
      c.address = nodes_[*to].address;
      c.key = a.key;
      // A stopped node holds back every hop before it at once: the hop next
      // to it must give up first, or the upstream ones would give up too
      // and the whole chain run uncoupled. So a hop waits hop_stall times
      // the number of nodes it feeds.
      size_t fed = 0;
      for (size_t j = *to; j < nodes_.size(); ++j) fed += nodes_[j].in_chain;
      c.stall_ms = static_cast<uint32_t>(o_.hop_stall.count() * static_cast<int64_t>(fed));
      nodes_[*to].behind_since.reset();  // a new upstream: a new window
      break;
    }
    control(nodes_[from], mkproto::encode(c));
  }

  void wire() {
    std::lock_guard lock(m_);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].in_chain) continue;
      try {
        point(i);
      } catch (const std::exception& e) {
        cut(i, "relay", e.what());
      }
    }
  }

  // Cuts node i out: its upstream now forwards to its downstream, which
  // resumes from its own watermark. Under m_.
  void cut(size_t i, const std::string& step, const std::string& why) {
    fail(nodes_[i], step, why);
    try {  // i itself stops accepting and forwarding, if it still listens
      if (!nodes_[i].control->ended()) {
        nodes_[i].control->send(mkproto::encode(mkproto::RelayAccept{session_, {}}));
        nodes_[i].control->send(mkproto::encode(mkproto::RelayConnect{session_, "", {}, 0}));
      }
    } catch (const std::exception&) {
    }
    auto up = prev_in_chain(i);
    if (!up || *up < head_) return;  // i was the head (or before it): the host feeds the next one directly
    try {
      point(*up);
    } catch (const std::exception& e) {
      cut(*up, "relay", e.what());
    }
  }

  void stream() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].in_chain) continue;
      {
        std::lock_guard lock(m_);
        head_ = i;
      }
      PushOptions p = o_.push;
      p.agent = nodes_[i].spec->agent;
      p.session_id = session_;
      p.revoke_at_end = false;  // the control connection's BYE does it, for every node alike
      p.on_progress = [this, i](const Progress& pr) {
        head_position_ = pr.position;
        if (o_.on_progress) o_.on_progress(i, pr);
      };
      try {
        PushResult r = push_image(p);
        host_bytes_ += r.bytes_sent;
        std::lock_guard lock(m_);
        size_ = r.image_size;
        announced_ = r.announced_size;
        digests_ = r.block_digests;
        Node& n = nodes_[i];
        n.r.head = true;
        n.r.bytes = r.image_size;
        n.r.verified = r.verified;
        n.r.verify_message = r.verify_message;
        n.r.ok = r.verified || !o_.push.verify;
        n.r.seconds = since(t0_);
        streamed_ = true;
        return;
      } catch (const std::exception& e) {
        std::lock_guard lock(m_);
        cut(i, "stream", e.what());
      }
    }
  }

  void monitor_loop() {
    std::unique_lock lock(m_);
    while (!monitor_stop_) {
      lock.unlock();
      std::this_thread::sleep_for(kMonitorEvery);
      lock.lock();
      check_nodes();
    }
  }

  void stop_monitor(std::thread& t) {
    {
      std::lock_guard lock(m_);
      monitor_stop_ = true;
    }
    t.join();
  }

  // Under m_.
  void check_nodes() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      if (!n.in_chain) continue;
      if (auto st = n.control->relay_status()) n.status = *st;
      if (i == head_) continue;  // its own push watches it
      if (n.control->ended()) {
        cut(i, "stream", "lost the agent's control connection (the agent died?)");
        continue;
      }
      if (o_.on_progress) {
        Progress pr;
        pr.position = n.status.applied;
        pr.acked = n.status.durable;
        pr.image_size = size_;
        pr.seconds = since(t0_);
        o_.on_progress(i, pr);
      }
      if (auto up = prev_in_chain(i); up && *up >= head_) {
        Node& u = nodes_[*up];
        if (auto st = u.control->relay_status()) u.status = *st;
        if (u.status.hop == HopState::kFailed) {
          cut(i, "relay", fmt::format("the hop from {} failed: {}", u.r.name, u.status.message));
          continue;
        }
        n.r.hop_reconnects = static_cast<int>(u.status.hop_reconnects);
      }
      check_lag(i);
    }
  }

  // A node fell behind when its lag behind the head exceeds the bound and,
  // over the grace time, it did not move at all: a stopped node — not one
  // being caught up from its upstream's disk, which moves in steps as its
  // upstream's writer acknowledges, nor one seen through a status a few
  // frames old. Under m_.
  void check_lag(size_t i) {
    Node& n = nodes_[i];
    uint64_t head = streamed_ ? size_ : head_position_.load();
    if (auto st = nodes_[head_].control->relay_status()) head = std::max(head, st->applied);
    const uint64_t lag = head > n.status.applied ? head - n.status.applied : 0;
    // Behind a node that is behind itself, it cannot do better: judge the
    // first of them; the one after gets a new upstream and a new window.
    auto up = prev_in_chain(i);
    const bool up_behind = up && *up != head_ && nodes_[*up].behind_since;
    if (n.status.finished || lag <= o_.max_lag || up_behind) {
      n.behind_since.reset();
      return;
    }
    const auto now = Clock::now();
    if (!n.behind_since) {
      n.behind_since = now;
      n.behind_head = head;
      n.behind_applied = n.status.applied;
      return;
    }
    const auto grace = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(1000), 2 * o_.hop_stall);
    if (now - *n.behind_since < grace) return;
    const uint64_t head_moved = head - n.behind_head, moved = n.status.applied - n.behind_applied;
    // Only a node that did not move at all: under back-pressure a slow node
    // sets the chain's pace, and a node whose upstream stopped waiting for it
    // moves in steps while it is caught up (measured: "half the head's pace"
    // cut healthy nodes of a chain held back by a stopped one).
    if (moved == 0 && (head_moved > 0 || streamed_)) {
      cut(i, "stream", fmt::format("fell behind: {} bytes behind the head (bound {}), moved {} bytes while the head "
                                   "moved {} in {} ms (applied {}, durable {})",
                                   lag, o_.max_lag, moved, head_moved, grace.count(), n.status.applied,
                                   n.status.durable));
      return;
    }
    n.behind_since = now;  // keeping up: watch the next window
    n.behind_head = head;
    n.behind_applied = n.status.applied;
  }

  // Every node still in the chain reports its session finished, each within
  // the stall timeout of the chain's last progress.
  void wait_finished() {
    if (!streamed_) return;
    uint64_t last_sum = 0;
    auto last_progress = Clock::now();
    for (;;) {
      {
        std::lock_guard lock(m_);
        bool all = true;
        uint64_t sum = 0;
        for (size_t i = head_ + 1; i < nodes_.size(); ++i) {
          Node& n = nodes_[i];
          if (!n.in_chain) continue;
          if (auto st = n.control->relay_status()) n.status = *st;
          sum += n.status.applied;
          if (!n.status.finished) all = false;
        }
        if (all) return;
        if (sum != last_sum) last_sum = sum, last_progress = Clock::now();
        if (Clock::now() - last_progress > o_.push.stall_timeout) {
          for (size_t i = head_ + 1; i < nodes_.size(); ++i)
            if (nodes_[i].in_chain && !nodes_[i].status.finished)
              cut(i, "stream", fmt::format("no progress for {} ms after the head finished (applied {} of {})",
                                           o_.push.stall_timeout.count(), nodes_[i].status.applied, size_));
          return;
        }
      }
      std::this_thread::sleep_for(kMonitorEvery);
    }
  }

  void verify_all() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      if (!n.in_chain || n.r.head || !streamed_) continue;
      try {
        verify_node(n);
      } catch (const std::exception& e) {
        fail(n, "verify", e.what());
      }
    }
  }

  // The node's own read-back, over its own control connection, against the
  // host's digest of the image.
  void verify_node(Node& n) {
    mkproto::Open open;
    open.session = session_;
    open.path = o_.push.target;
    open.image_size = announced_;
    open.holes = o_.push.holes;
    mkproto::Opened opened = n.control->open(open);
    n.r.bytes = opened.watermark;
    uint64_t w = n.control->finish(size_, {});
    n.r.bytes = w;
    if (!o_.push.verify) {
      n.r.ok = true;
      n.r.verify_message = "skipped";
      n.r.seconds = since(t0_);
      return;
    }
    const auto reply = n.control->verify(mkproto::Verify{o_.push.verify_block, mkproto::VerifyScope::kAll});
    if (reply.digests.size() != digests_.size())
      throw std::runtime_error(fmt::format("verify failed: {} digests, {} expected", reply.digests.size(), digests_.size()));
    auto bad = mismatched_blocks(digests_, reply, o_.push.verify_block, size_);
    if (!bad.empty())
      throw std::runtime_error(fmt::format("verify failed: {} of {} reads back wrong", describe_ranges(bad),
                                           opened.target.path));
    n.r.ok = n.r.verified = true;
    n.r.verify_message = fmt::format("ok, {} bytes read back {}", reply.end.bytes_read,
                                     reply.end.direct_io ? "with O_DIRECT" : "after dropping the page cache");
    n.r.seconds = since(t0_);
  }

  const RelayOptions& o_;
  const mkproto::SessionId session_;
  const Clock::time_point t0_ = Clock::now();
  std::mutex m_;
  std::vector<Node> nodes_;
  size_t head_ = 0;
  std::atomic<uint64_t> head_position_{0};
  bool monitor_stop_ = false;
  bool streamed_ = false;
  uint64_t size_ = 0, announced_ = 0, host_bytes_ = 0;
  std::vector<mkproto::Digest128> digests_;
};

RelayResult star(const RelayOptions& o) {
  RelayResult out;
  out.fanout = Fanout::kStar;
  out.nodes.resize(o.nodes.size());
  const auto t0 = Clock::now();
  std::mutex m;
  auto errors = base::for_each_bounded(o.nodes.size(), o.parallel, [&](size_t i) {
    RelayNodeResult& n = out.nodes[i];
    n.name = o.nodes[i].name.empty() ? o.nodes[i].agent.agent : o.nodes[i].name;
    n.agent = o.nodes[i].agent.agent;
    n.head = true;
    PushOptions p = o.push;
    p.agent = o.nodes[i].agent;
    p.on_progress = [&, i](const Progress& pr) {
      if (o.on_progress) o.on_progress(i, pr);
    };
    PushResult r = push_image(p);
    std::lock_guard lock(m);
    n.ok = r.verified || !o.push.verify;
    n.verified = r.verified;
    n.verify_message = r.verify_message;
    n.bytes = r.image_size;
    n.seconds = since(t0);
    out.image_size = r.image_size;
    out.host_bytes_sent += r.bytes_sent;
  });
  for (size_t i = 0; i < errors.size(); ++i)
    if (!errors[i].empty()) {
      out.nodes[i].ok = false;
      out.nodes[i].step = "stream";
      out.nodes[i].error = errors[i];
      out.nodes[i].seconds = since(t0);
    }
  out.seconds = since(t0);
  return out;
}

}  // namespace

RelayResult push_relay(const RelayOptions& o) {
  if (o.nodes.empty()) throw std::runtime_error("push: no agent to push to");
  if (o.fanout == Fanout::kChain && o.push.delta && o.nodes.size() > 1)
    throw std::runtime_error("push: --delta cannot be combined with a relay (every node's disk differs); use "
                             "--fanout star for a delta reflash of several nodes");
  check_image(o.push);  // a bad image leaves every node as it was
  if (o.fanout == Fanout::kStar || o.nodes.size() == 1) return star(o);
  return Chain(o).run();
}

}  // namespace push
