#pragma once
// HiSpec (Kumar, Sanghavi, Das 2025) on an early-exit model, as a hierarchy of the executor:
// the shallow exit L_d drafts N_d tokens per call, the middle exit L_i verifies them and
// accumulates tentatively accepted tokens until it holds at least N_i, then the full model
// validates them in one pass. Levels are views of one StagedContext, so they share the KV
// cache and resume each other's hidden states (see docs/HISPEC.md). The single-exit
// LayerSkip-style baseline ("self-speculation") is the same with the middle level removed.
#include <vector>

#include "model/model.h"
#include "speculative/level.h"

namespace hsd {

struct HiSpecOptions {
    int exit_draft = 0;   // L_d; 0: the exit nearest 1/8 of the depth
    int exit_verify = 0;  // L_i; 0: the exit nearest 1/4 of the depth, deeper than L_d
    int draft_n = 0;      // N_d; 0: 2 (the paper's default) for HiSpec, 4 for self-speculation
    int window = 4;       // N_i (the paper's default)
};

// "@L_d:N_d,@L_i:N_i", with defaults filled in from the model's hsd.early_exit.layers.
// Throws hsd::Error naming the model and its exits when the choice is impossible.
std::vector<LevelSpec> hispec_levels(const Model& model, const HiSpecOptions& o);
// "@L_d:N_d": single-exit self-speculation.
std::vector<LevelSpec> self_spec_levels(const Model& model, const HiSpecOptions& o);

}  // namespace hsd
