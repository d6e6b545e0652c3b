// LevelStats: the recording methods the executor and the levels count with,
// operator+= (how benchmarks and front ends sum a level's counters over generations) and the
// per-origin acceptance derived from the sums.
#include <gtest/gtest.h>

#include "speculative/drafter.h"

namespace hsd {
namespace {

// Every counter distinct, scaled by `f`, so a counter added to the wrong field shows.
LevelStats sample(const std::string& name, int depth, int threshold, int64_t f) {
    LevelStats s;
    s.name = name;
    s.depth = depth;
    s.threshold = threshold;
    s.n_forward = 1 * f;
    s.draft_n = 2 * f;
    s.draft_n_accepted = 3 * f;
    s.n_drafts = 4 * f;
    s.seconds = 0.5 * (double)f;
    s.layer_evals = 5 * f;
    s.origin_n[0] = 6 * f;
    s.origin_n[1] = 7 * f;
    s.origin_accepted[0] = 8 * f;
    s.origin_accepted[1] = 9 * f;
    for (int k = 0; k < LevelStats::kPositions; ++k) {
        s.position_n[k] = (10 + k) * f;
        s.position_accepted[k] = (100 + k) * f;
    }
    return s;
}

TEST(LevelStats, SumsEveryCounter) {
    LevelStats sum = sample("m0.gguf", 4, 3, 1);
    sum += sample("m0.gguf", 4, 3, 10);
    const LevelStats want = sample("m0.gguf", 4, 3, 11);
    EXPECT_EQ(sum.n_forward, want.n_forward);
    EXPECT_EQ(sum.draft_n, want.draft_n);
    EXPECT_EQ(sum.draft_n_accepted, want.draft_n_accepted);
    EXPECT_EQ(sum.n_drafts, want.n_drafts);
    EXPECT_DOUBLE_EQ(sum.seconds, want.seconds);
    EXPECT_EQ(sum.layer_evals, want.layer_evals);
    for (int o = 0; o < 2; ++o) {
        EXPECT_EQ(sum.origin_n[o], want.origin_n[o]) << "origin " << o;
        EXPECT_EQ(sum.origin_accepted[o], want.origin_accepted[o]) << "origin " << o;
    }
    for (int k = 0; k < LevelStats::kPositions; ++k) {
        EXPECT_EQ(sum.position_n[k], want.position_n[k]) << "position " << k;
        EXPECT_EQ(sum.position_accepted[k], want.position_accepted[k]) << "position " << k;
    }
}

TEST(LevelStats, EmptyLeftTakesTheIdentity) {
    LevelStats sum;
    sum += sample("target.gguf@4", 4, 6, 2);
    EXPECT_EQ(sum.name, "target.gguf@4");
    EXPECT_EQ(sum.depth, 4);
    EXPECT_EQ(sum.threshold, 6);
    EXPECT_EQ(sum.draft_n, 4);
    EXPECT_EQ(sum.position_accepted[LevelStats::kPositions - 1], 2 * (100 + LevelStats::kPositions - 1));
}

TEST(LevelStats, NamedLeftKeepsItsIdentity) {
    LevelStats sum = sample("a.gguf", 2, 3, 1);
    sum += sample("b.gguf", 5, 8, 1);
    EXPECT_EQ(sum.name, "a.gguf");
    EXPECT_EQ(sum.depth, 2);
    EXPECT_EQ(sum.threshold, 3);
}

TEST(LevelStats, SumOverGenerationsGivesPooledRates) {
    LevelStats a, b;
    a.name = b.name = "ngram(3)";
    a.draft_n = 10, a.draft_n_accepted = 5, a.n_drafts = 5;
    b.draft_n = 30, b.draft_n_accepted = 25, b.n_drafts = 5;
    a.origin_n[1] = 4, a.origin_accepted[1] = 1;
    b.origin_n[1] = 6, b.origin_accepted[1] = 6;
    LevelStats sum;
    sum += a;
    sum += b;
    EXPECT_DOUBLE_EQ(sum.acceptance_rate(), 30.0 / 40.0);  // pooled, not the mean of 0.5 and 0.83
    EXPECT_DOUBLE_EQ(sum.mean_accepted_length(), 1.0 + 30.0 / 10.0);
    EXPECT_DOUBLE_EQ(sum.origin_rate(1), 7.0 / 10.0);
}

TEST(LevelStats, OriginRateIsMinusOneWhenNothingWasJudged) {
    LevelStats s;
    EXPECT_EQ(s.origin_rate(0), -1.0);
    EXPECT_EQ(s.origin_rate(1), -1.0);
    s.origin_n[0] = 3;  // judged, none accepted: a real 0
    EXPECT_EQ(s.origin_rate(0), 0.0);
    EXPECT_EQ(s.origin_rate(1), -1.0);
}

TEST(LevelStats, RecordsBatchesAndEmptyCalls) {
    LevelStats s;
    s.record_batch(5, 3);
    s.record_batch(4, 0);
    s.record_batch(0, 0);  // nothing proposed: not a batch the level above verified
    s.record_empty();
    EXPECT_EQ(s.draft_n, 9);
    EXPECT_EQ(s.draft_n_accepted, 3);
    EXPECT_EQ(s.n_drafts, 2);
    EXPECT_EQ(s.n_empty, 1);
}

TEST(LevelStats, RecordsJudgedProposalsByOriginAndCappedPosition) {
    LevelStats s;
    s.record_judged(0, 1, true);
    s.record_judged(1, 0, true);
    s.record_judged(2, 1, false);
    s.record_judged(LevelStats::kPositions + 3, 0, true);  // counted in the last position
    EXPECT_EQ(s.origin_n[1], 2);
    EXPECT_EQ(s.origin_accepted[1], 1);
    EXPECT_EQ(s.origin_n[0], 2);
    EXPECT_EQ(s.origin_accepted[0], 2);
    EXPECT_EQ(s.position_n[2], 1);
    EXPECT_EQ(s.position_accepted[2], 0);
    EXPECT_EQ(s.position_n[LevelStats::kPositions - 1], 1);
    EXPECT_EQ(s.position_accepted[LevelStats::kPositions - 1], 1);
    EXPECT_EQ(s.judged(), 4);
    EXPECT_EQ(s.judged_accepted(), 3);
}

TEST(LevelStats, RecordsPassesAndSeconds) {
    LevelStats s;
    s.record_pass(12);
    s.record_pass(4);
    s.add_seconds(0.25);
    s.add_seconds(0.5);
    EXPECT_EQ(s.n_forward, 2);
    EXPECT_EQ(s.layer_evals, 16);
    EXPECT_DOUBLE_EQ(s.seconds, 0.75);
}

TEST(LevelStats, ResetCountersKeepsTheIdentity) {
    LevelStats s = sample("m1.gguf", 6, 4, 3);
    s.n_empty = 2;
    s.reset_counters();
    EXPECT_EQ(s.name, "m1.gguf");
    EXPECT_EQ(s.depth, 6);
    EXPECT_EQ(s.threshold, 4);
    EXPECT_EQ(s.n_forward, 0);
    EXPECT_EQ(s.draft_n, 0);
    EXPECT_EQ(s.draft_n_accepted, 0);
    EXPECT_EQ(s.n_drafts, 0);
    EXPECT_EQ(s.n_empty, 0);
    EXPECT_EQ(s.seconds, 0.0);
    EXPECT_EQ(s.layer_evals, 0);
    EXPECT_EQ(s.judged(), 0);
    EXPECT_EQ(s.judged_accepted(), 0);
    EXPECT_EQ(s.origin_n[0] + s.origin_n[1] + s.origin_accepted[0] + s.origin_accepted[1], 0);
}

}  // namespace
}  // namespace hsd
