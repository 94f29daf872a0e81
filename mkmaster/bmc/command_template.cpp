#include "mkmaster/bmc/command_template.h"

#include <fmt/core.h>

#include "mkmaster/lab/config_error.h"

namespace bmc {

std::vector<std::string> split_command(const std::string& command, const std::string& origin) {
  std::vector<std::string> argv;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) argv.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const std::size_t end = command.find('\'', i + 1);
      if (end == std::string::npos) throw lab::ConfigError(fmt::format("{}: unterminated ' in command: {}", origin, command));
      word += command.substr(i + 1, end - i - 1);
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= command.size()) throw lab::ConfigError(fmt::format("{}: unterminated \" in command: {}", origin, command));
        if (command[i] == '"') break;
        if (command[i] == '\\' && i + 1 < command.size() && (command[i + 1] == '"' || command[i + 1] == '\\')) ++i;
        word.push_back(command[i]);
      }
    } else if (c == '\\') {
      if (i + 1 >= command.size()) throw lab::ConfigError(fmt::format("{}: trailing backslash in command: {}", origin, command));
      word.push_back(command[++i]);
      in_word = true;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) argv.push_back(std::move(word));
  if (argv.empty()) throw lab::ConfigError(fmt::format("{}: empty command", origin));
  return argv;
}

std::string mask_secrets(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    for (std::size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 4))
      text.replace(pos, s.size(), "****");
  }
  return text;
}

std::string masked_command(const std::vector<std::string>& argv, const std::vector<std::string>& secrets) {
  std::string out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string arg = argv[i];
    if (i > 0 && argv[i - 1] == "-P")
      arg = "****";
    else if (arg.size() > 2 && arg.rfind("-P", 0) == 0)
      arg = "-P****";
    arg = mask_secrets(arg, secrets);
    if (!out.empty()) out += ' ';
    out += arg.find_first_of(" \t'\"") == std::string::npos && !arg.empty() ? arg : "'" + arg + "'";
  }
  return out;
}

}  // namespace bmc
