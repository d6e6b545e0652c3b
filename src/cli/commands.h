#pragma once
// Sub-commands of the `hsd` program; each registers its options on the CLI11 app.
#include <CLI/CLI.hpp>

namespace hsd::cli {

void register_info(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_generate(CLI::App& app);
void register_profile(CLI::App& app);
void register_plan(CLI::App& app);

}  // namespace hsd::cli
