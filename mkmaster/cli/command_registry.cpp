#include "mkmaster/cli/command_registry.h"

#include <map>

namespace mkcli {
namespace {
// Function-local static: registrations run during static initialisation, in
// an order the language leaves open.
std::map<std::string, Setup>& registry() {
  static std::map<std::string, Setup> r;
  return r;
}
}  // namespace

Registration::Registration(std::string name, Setup setup) { registry().emplace(std::move(name), std::move(setup)); }

void setup_all(CLI::App& app) {
  for (auto& [name, setup] : registry()) setup(app);
}

}  // namespace mkcli
