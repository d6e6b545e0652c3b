#pragma once
// The phases of run_profile (profiler.cpp), private to the planner: what the prompts and
// candidates are (profile_inputs.cpp), what each candidate costs (profile_costs.cpp), and how
// often each accepts the others' drafts (profile_acceptance.cpp).
#include <string>
#include <vector>

#include "common/token_id.h"
#include "planner/profile.h"

namespace hsd::planner::detail {

// What every measuring phase reads: the caller's inputs and what the first phases derived.
struct ProfileSetup {
    const Model& target;
    ModelCache& models;
    ThreadPool& pool;
    const ProfileOptions& o;
    std::vector<std::vector<TokenId>> prompts;  // tokenized and cut to fit (tokenize_prompts)
    std::vector<int> exits;                     // requested exits, sorted and distinct
};

// The progress bar counts work units: one for the costs, one per (verifier, prompt) of the
// acceptance phase, which dominates the run time.
class Progress {
public:
    Progress(const ProfileOptions& o, double units) : o_(o), units_(units) {}
    void report(const std::string& what) const {
        if (o_.progress) o_.progress(done_ / units_, what);
    }
    void advance() { done_ += 1; }
    void finish() const {
        if (o_.progress) o_.progress(1.0, "done");
    }

private:
    const ProfileOptions& o_;
    double units_;
    double done_ = 0;
};

// (a) Inputs. The prompts as the target tokenizes them, each cut from the left so that it
// plus the generated tokens fits every model; prompts of fewer than 2 tokens are dropped (no
// position to judge). Throws hsd::Error if none is left.
std::vector<std::vector<TokenId>> tokenize_prompts(const Model& target, const ProfileOptions& o);
// Tokens in the cache when costs are measured: a typical prompt plus half a generation, the
// middle of what the executor sees (attention cost grows with it).
int choose_context(const std::vector<std::vector<TokenId>>& prompts, const Model& target, const ProfileOptions& o);

// (b) The candidates: draft models (checked to share the target's vocabulary), the target's
// early exits (checked to exist), then the n-gram drafter; costs still empty.
std::vector<int> distinct_exits(std::vector<int> exits);
// check_vocabulary = false: the caller checked (without loading the drafts).
std::vector<ProfileCandidate> collect_candidates(const Model& target, ModelCache& models, const ProfileOptions& o,
                                                 const std::vector<int>& exits, bool check_vocabulary = true);

// (c) Fills the candidates' cost_ms / draft_ms, the target's costs and the exit pairs.
void measure_costs(Profile& p, const ProfileSetup& s);

// The (from, to) depths a chain of early exits can pay: every exit from scratch (from = 0), and
// every exit or the full target (n_layer) above a shallower exit.
std::vector<std::pair<int, int>> exit_pairs(const std::vector<int>& exits, int n_layer);
// The cost of the view at depth `to` resuming from `from` over 1..n_max rows, fitted from the
// views timed from layer 0 (the exits and the full target): a per-pass part plus a per-layer
// part (one exact entry when (from, to) was itself timed).
Profile::ExitPair derive_pair_cost(const std::vector<Profile::ExitPair>& from_zero, int from, int to);
// The n-gram drafter runs no model: its cost is a lookup over prompt-sized sequences, ms.
double ngram_lookup_ms(const std::vector<std::vector<TokenId>>& prompts, int ngram_n);

// (d) Cheapest first, as chains run; exits keep their depth order among themselves.
void order_candidates(std::vector<ProfileCandidate>& candidates);

// (e) Fills accept and accept_passed for the candidates in their final order (a candidate
// is judged only by the ones after it and the target); one progress unit per verifier and prompt.
void measure_acceptance(Profile& p, const ProfileSetup& s, Progress& progress);

}  // namespace hsd::planner::detail
