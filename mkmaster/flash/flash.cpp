#include "mkmaster/flash/flash.h"

#include <fmt/core.h>
#include <sodium.h>

#include <exception>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "base/parallel.h"
#include "mkmaster/flash/node_run.h"
#include "mkmaster/flash/relay_round.h"

namespace flash {

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
    errors = base::for_each_bounded(nodes.size(), opt.parallel, [&](std::size_t i) {
      NodeRun& n = open(i);
      guarded(n, [&] { boot_to_agent(n); });
    });
    // The nodes whose agents listen, in the order given.
    std::vector<std::size_t> ready;
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (errors[i].empty()) ready.push_back(i);
    std::vector<std::string> streamed(ready.size());
    if (ready.size() == 1) {
      streamed = base::for_each_bounded(1, 1, [&](std::size_t) {
        NodeRun& n = *runs[ready[0]];
        guarded(n, [&] { stream_alone(n); });
      });
    } else if (!ready.empty()) {
      std::vector<NodeRun*> chain;
      for (std::size_t i : ready) chain.push_back(runs[i].get());
      streamed = relay_round(chain, opt.push_relay);
    }
    std::vector<std::size_t> verified;
    for (std::size_t k = 0; k < ready.size(); ++k) {
      if (streamed[k].empty())
        verified.push_back(ready[k]);
      else
        errors[ready[k]] = streamed[k];
    }
    const auto finished = base::for_each_bounded(verified.size(), opt.parallel, [&](std::size_t k) {
      NodeRun& n = *runs[verified[k]];
      guarded(n, [&] { finish(n); });
    });
    for (std::size_t k = 0; k < verified.size(); ++k) errors[verified[k]] = finished[k];
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
