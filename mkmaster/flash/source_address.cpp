#include "mkmaster/flash/source_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "base/unique_fd.h"

namespace flash {

bool is_numeric_address(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, text.c_str(), buf) == 1 || ::inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::string source_address_toward(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_s = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res); rc != 0)
    throw std::runtime_error(fmt::format("agent host {}: {}", host, gai_strerror(rc)));
  struct Free {
    addrinfo* p;
    ~Free() { ::freeaddrinfo(p); }
  } free_res{res};
  base::UniqueFd s(::socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s || ::connect(s.get(), res->ai_addr, res->ai_addrlen) != 0)
    throw std::runtime_error(fmt::format("agent host {}: no route: {}", host, std::strerror(errno)));
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0)
    throw std::runtime_error(fmt::format("agent host {}: getsockname: {}", host, std::strerror(errno)));
  char buf[INET6_ADDRSTRLEN] = "";
  const void* a = local.ss_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                                               : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
  if (!inet_ntop(local.ss_family, a, buf, sizeof buf))
    throw std::runtime_error(fmt::format("agent host {}: inet_ntop: {}", host, std::strerror(errno)));
  return buf;
}

}  // namespace flash
