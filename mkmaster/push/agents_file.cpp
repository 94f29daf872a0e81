#include "mkmaster/push/agents_file.h"

#include <fmt/core.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace push {

std::string check_agent_address(const std::string& hp) {
  const size_t colon = hp.rfind(':');
  if (colon == std::string::npos || colon == 0) return "expected HOST:PORT";
  const std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return fmt::format("port '{}' is not a number", port);
  const long p = std::stol(port);
  if (p < 1 || p > 65535) return fmt::format("port {} is outside 1..65535", p);
  // Host names and addresses only: no spaces, no shell or config syntax.
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
      return fmt::format("host '{}' has a character that is not in a host name or address", host);
  return "";
}

std::vector<RelayNode> load_agents_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read the agents file", path));
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::vector<RelayNode> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string agent, secret, extra;
    if (!(fields >> agent)) continue;  // blank or comment
    if (!(fields >> secret))
      throw std::runtime_error(fmt::format("{}:{}: secret-file: missing (expected 'HOST:PORT SECRET-FILE')", path, n));
    if (fields >> extra)
      throw std::runtime_error(fmt::format("{}:{}: '{}': one agent per line, 'HOST:PORT SECRET-FILE'", path, n, extra));
    if (std::string why = check_agent_address(agent); !why.empty())
      throw std::runtime_error(fmt::format("{}:{}: agent '{}': {}", path, n, agent, why));
    if (secret[0] != '/') secret = dir + secret;
    RelayNode node;
    node.agent.agent = agent;
    try {
      node.agent.key = load_secret(secret);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}:{}: secret-file '{}': {}", path, n, secret, e.what()));
    }
    out.push_back(std::move(node));
  }
  if (out.empty()) throw std::runtime_error(fmt::format("{}: no agent in the agents file", path));
  return out;
}

}  // namespace push
