#include "mkmaster/bmc/command_template.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <utility>

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

namespace {
// ipmitool's getopt string: the options that take an argument.
bool ipmitool_option_has_argument(char c) {
  return std::string_view("IoHdPfUpCLAtTmzSlbBekyORNZ").find(c) != std::string_view::npos;
}
bool is_session_option(char c) { return std::string_view("UPfECpa").find(c) != std::string_view::npos; }
}  // namespace

std::vector<std::string> with_inventory_session(const std::vector<std::string>& argv, const IpmiSession& session,
                                                std::string* replaced) {
  if (replaced) replaced->clear();
  if (argv.empty()) return argv;
  const std::string& prog = argv[0];
  if (prog.substr(prog.find_last_of('/') + 1) != "ipmitool") return argv;
  std::vector<std::string> out = {prog,           "-U", session.user, "-E", "-C", session.cipher,
                                  "-p", std::to_string(session.port)};
  std::vector<std::string> removed;
  std::size_t i = 1;
  // Read the options as ipmitool's getopt does, bundles ("-vPadmin")
  // included, so no spelling of -P slips through.
  for (; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    if (w == "--" || w.size() < 2 || w[0] != '-') break;  // the command (chassis, sol, …): options end here
    std::string flags = "-";                               // the option letters kept from this word
    for (std::size_t j = 1; j < w.size(); ++j) {
      const char c = w[j];
      if (!ipmitool_option_has_argument(c)) {
        if (is_session_option(c))
          removed.push_back(std::string("-") + c);
        else
          flags += c;
        continue;
      }
      const bool joined = j + 1 < w.size();
      std::string arg = joined ? w.substr(j + 1) : (i + 1 < argv.size() ? argv[++i] : "");
      if (flags.size() > 1) out.push_back(std::exchange(flags, "-"));
      if (is_session_option(c)) {
        removed.push_back(std::string("-") + c + (joined ? "" : " ") + (c == 'P' ? "****" : arg));
      } else {
        out.push_back(std::string("-") + c);
        out.push_back(std::move(arg));
      }
      break;
    }
    if (flags.size() > 1) out.push_back(flags);
  }
  out.insert(out.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
  // Worth reporting only when the template said something else than the
  // inventory (the built-in templates say the same).
  const std::vector<std::string> same = {"-U " + session.user, "-U" + session.user, "-E", "-C " + session.cipher,
                                         "-C" + session.cipher, "-p " + std::to_string(session.port),
                                         "-p" + std::to_string(session.port)};
  bool differs = false;
  for (const auto& r : removed) differs |= std::find(same.begin(), same.end(), r) == same.end();
  if (replaced && differs)
    for (const auto& r : removed) *replaced += (replaced->empty() ? "" : " ") + r;
  return out;
}

std::string mask_secrets(std::string text, const std::vector<std::string>& secrets) {
  // One pass over the text: the "****" put in is never scanned again, so a
  // secret that is part of the mask itself ("*", "**") cannot make it grow
  // without end. A secret made only of '*' masks the whole run of '*' it is
  // found in, so text that was masked already comes back unchanged (the
  // console masks a line, then the node log masks it again).
  //
  // A secret shorter than kMaskAnywhereLength is masked only where it
  // stands whole: not glued to a letter or digit on a side where it begins
  // or ends with one (a word boundary), except right after ipmitool's "-P".
  // A one-letter password would otherwise garble every word it is in
  // ("cal****eda02-01"). Longer ones are masked wherever they occur: an
  // accidental match is then unlikely, and a password glued to other text
  // ("user:password") stays hidden.
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  auto whole = [&](std::size_t at, std::size_t n, const std::string& s) {
    if (s.size() >= kMaskAnywhereLength) return true;
    const bool left = at == 0 || !word(s.front()) || !word(text[at - 1]) ||
                      (at >= 2 && text.compare(at - 2, 2, "-P") == 0);
    const bool right = at + n == text.size() || !word(s.back()) || !word(text[at + n]);
    return left && right;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t take = 0;
    for (const auto& s : secrets) {
      if (s.empty() || text.compare(i, s.size(), s) != 0 || !whole(i, s.size(), s)) continue;
      std::size_t n = s.size();
      if (s.find_first_not_of('*') == std::string::npos)
        while (i + n < text.size() && text[i + n] == '*') ++n;
      take = std::max(take, n);
    }
    if (take == 0) {
      out.push_back(text[i++]);
      continue;
    }
    out += "****";
    i += take;
  }
  return out;
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
