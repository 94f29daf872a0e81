#include "mkmaster/flash/flash.h"

#include <fmt/core.h>
#include <sodium.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "base/interrupt.h"
#include "base/parallel.h"
#include "mkmaster/flash/node_run.h"
#include "mkmaster/flash/relay_round.h"

namespace flash {

namespace {

// At most `max` callers inside run() at once. A caller waiting for a slot
// when a signal arrives goes ahead: its next step stops at once as
// interrupted, leaving the node untouched.
class Slots {
 public:
  explicit Slots(int max) : free_(std::max(1, max)) {}
  void run(const std::function<void()>& fn) {
    bool held = false;
    {
      std::unique_lock lock(mu_);
      while (!(held = free_ > 0) && base::interrupt_signal() == 0)
        freed_.wait_for(lock, std::chrono::milliseconds(100));
      if (held) --free_;
    }
    struct Release {
      Slots* s;
      bool held;
      ~Release() {
        if (!held) return;
        std::lock_guard lock(s->mu_);
        ++s->free_;
        s->freed_.notify_one();
      }
    } release{this, held};
    fn();
  }

 private:
  std::mutex mu_;
  std::condition_variable freed_;
  int free_;
};

}  // namespace

std::string generate_secret() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot initialise");
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[sizeof raw * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  return hex;
}

std::vector<NodeResult> flash_nodes(const lab::Inventory& inv, const FlashOptions& opt) {
  if (opt.nodes.empty()) throw std::runtime_error("no nodes given");
  if (opt.leave_off && opt.wait_login)
    throw std::runtime_error("--leave-off powers the flashed node off: there is no login prompt to wait for");
  std::vector<const lab::Node*> nodes;
  for (const auto& name : opt.nodes) {
    const lab::Node* n = &inv.node(name);
    for (const lab::Node* m : nodes)
      if (m == n) throw std::runtime_error(fmt::format("node {} given twice", n->name));
    nodes.push_back(n);
  }
  const bool chain = opt.fanout == push::Fanout::kChain && nodes.size() > 1;
  if (chain && opt.push.delta)
    throw std::runtime_error("push: --delta cannot be combined with a relay (every node's disk differs): use "
                             "--fanout star for a delta reflash");
  if (chain && !opt.push_relay) throw std::invalid_argument("flash_nodes: --fanout chain without a relay push");
  std::vector<NodeResult> results(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) results[i].node = nodes[i]->name;
  std::mutex event_mu;
  std::vector<std::unique_ptr<NodeRun>> runs(nodes.size());
  auto open = [&](std::size_t i) -> NodeRun& {
    runs[i] = std::make_unique<NodeRun>(*nodes[i], opt, event_mu, results[i]);
    if (chain)
      for (const lab::Node* peer : nodes)
        if (peer != nodes[i]) runs[i]->relay_peers.push_back(peer->agent_host);
    return *runs[i];
  };
  std::vector<std::string> errors;
  if (!chain) {
    // Each node streams as soon as its agent listens.
    errors = base::for_each_bounded(nodes.size(), opt.parallel, [&](std::size_t i) {
      NodeRun& n = open(i);
      guarded(n, [&] {
        boot_to_agent(n);
        stream_alone(n);
        finish(n);
      });
    });
  } else {
    // One thread per node for its whole run (relay_round.h says why); -j
    // bounds the boot and finish rounds through the slots.
    RelayGate gate(nodes.size(), opt.push_relay);
    Slots slots(opt.parallel);
    errors = base::for_each_bounded(nodes.size(), static_cast<int>(nodes.size()), [&](std::size_t i) {
      NodeRun* n = nullptr;
      try {
        slots.run([&] {
          n = &open(i);
          guarded(*n, [&] { boot_to_agent(*n); });
        });
      } catch (...) {
        gate.arrive(i, nullptr);
        throw;
      }
      const std::size_t ready = gate.arrive(i, n);
      guarded(*n, [&] {
        if (ready == 1)
          stream_alone(*n);
        else
          gate.stream(*n);
      });
      slots.run([&] { guarded(*n, [&] { finish(*n); }); });
    });
  }
  for (std::size_t i = 0; i < errors.size(); ++i) results[i].ok = errors[i].empty();
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (errors[i].empty()) continue;
    results[i].error = errors[i];
    if (results[i].failed_step.empty()) results[i].failed_step = "setup";
    // A failure before the first step (password, config) still names the node.
    if (results[i].error.rfind(results[i].node + ":", 0) != 0)
      results[i].error = fmt::format("{}: setup failed: {}", results[i].node, errors[i]);
  }
  return results;
}

}  // namespace flash
