// mkmaster man --out DIR and mkmaster completion bash: the manual pages and
// the bash completion, generated from the command table main.cpp builds,
// the one --help prints. Hidden (group ""): the build runs them to make the
// files the package installs (docs/packaging.md).
#include <fmt/core.h>

#include <filesystem>
#include <fstream>

#include "mkmaster/cli/bash_completion.h"
#include "mkmaster/cli/commands.h"
#include "mkmaster/cli/man_page.h"
#include "protocol/version.h"

void cli::add_man(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("man", "write the manual pages (mkmaster.1, mkmaster-COMMAND.1) into a directory");
  sub->group("");
  sub->add_option("--out,-o", *out, "directory to write")->required();
  sub->callback([&app, out] {
    std::filesystem::create_directories(*out);
    for (const auto& p : man_pages(app, mkproto::kProjectVersion)) {
      const auto path = std::filesystem::path(*out) / p.file;
      std::ofstream f(path, std::ios::binary);
      f << p.text;
      f.close();
      if (!f) throw std::runtime_error(fmt::format("{}: cannot write", path.string()));
    }
  });
}

void cli::add_completion(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("completion", "print the shell completion script");
  sub->group("");
  sub->add_option("shell", *shell, "bash (the only one)")->required()->check(CLI::IsMember({"bash"}));
  sub->callback([&app, shell] { fmt::print("{}", bash_completion(app)); });
}
