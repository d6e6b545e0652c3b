#pragma once
// Counters of one speculative level for one generation, and the only code that changes them:
// the executor (hierarchy.cpp) records what each verification judged, the levels
// (model_drafter.cpp, ngram_drafter.cpp) record their own passes and time.
#include <cstddef>
#include <cstdint>
#include <string>

namespace hsd {

// "draft" counters describe this level as a proposer (verified by the level above);
// n_forward / seconds describe its own work.
struct LevelStats {
    std::string name;          // model file, "file@k" (early exit after k layers), "ngram(N)"
    int depth = 0;             // layers a model level runs (0 for the n-gram drafter)
    int threshold = 0;         // T_i: tokens returned per call (bottom: tokens drafted per call); 0 for the target
    int64_t n_forward = 0;     // forward passes (batches of new positions run) during generation, prefill excluded
    int64_t draft_n = 0;       // tokens proposed to the level above
    int64_t draft_n_accepted = 0;  // of those, accepted by the level above
    int64_t n_drafts = 0;      // non-empty batches the level above verified
    int64_t n_empty = 0;       // calls that asked for drafts and got none (the n-gram drafter found no match)
    double seconds = 0;        // time in this level's own work (forward passes, sampling, lookup, verification)
    int64_t layer_evals = 0;   // token x layer evaluations this level ran (early exits: only the layers it added)
    // Acceptance of this level's proposals that the level above judged (the accepted prefix
    // and the first rejection), split by how this level got the token (origin 1: produced here,
    // 0: accepted from the level below) and by position in the batch (capped): the planner's
    // i.i.d. model assumes neither matters.
    static constexpr int kPositions = 16;
    int64_t origin_n[2] = {0, 0}, origin_accepted[2] = {0, 0};
    int64_t position_n[kPositions] = {}, position_accepted[kPositions] = {};

    // ---- recording (one generation) ----
    // One forward pass of this level that ran `layers_run` token x layer evaluations.
    void record_pass(int64_t layers_run) {
        ++n_forward;
        layer_evals += layers_run;
    }
    void add_seconds(double s) { seconds += s; }
    // A batch of `proposed` tokens (0: nothing was proposed) of which the level above accepted
    // the first `accepted`.
    void record_batch(int64_t proposed, int64_t accepted);
    // The level was asked for drafts and proposed none.
    void record_empty() { ++n_empty; }
    // One proposal the level above judged: at `position` of its batch (positions past the
    // last are counted in the last), of `origin` (1: produced here, 0: accepted from below).
    void record_judged(size_t position, int origin, bool accepted);
    // Zeroes every counter; name, depth and threshold stay (a new generation of the same level).
    void reset_counters();

    // ---- reading ----
    // Proposals the level above judged (record_judged), and how many of them it accepted.
    int64_t judged() const;
    int64_t judged_accepted() const;
    // Adds the counters of another generation of the same level (e.g. summing over prompts);
    // name, depth and threshold come from `o` while this one has none yet.
    LevelStats& operator+=(const LevelStats& o);

    double acceptance_rate() const { return draft_n > 0 ? (double)draft_n_accepted / (double)draft_n : 0.0; }
    // Acceptance of the judged proposals of one origin (1: produced here, 0: accepted from
    // below); -1 when none was judged, which is not the same as none accepted.
    double origin_rate(int origin) const;
    // Tokens the level above emitted per verification of one of our batches: accepted drafts
    // plus its correction or bonus token (vLLM's "mean acceptance length"; 1 = nothing accepted).
    double mean_accepted_length() const {
        return n_drafts > 0 ? 1.0 + (double)draft_n_accepted / (double)n_drafts : 0.0;
    }
};

}  // namespace hsd
