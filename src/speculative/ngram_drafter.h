#pragma once
// Prompt-lookup (n-gram) drafter: finds the longest suffix of the sequence, of length N down
// to 1, that also occurs earlier in the sequence (the most recent such occurrence) and
// proposes the tokens that followed it. No model pass; its distribution q is one-hot on
// each proposed token (a deterministic function of the context), so the level above accepts
// token x with probability p(x). It proposes nothing when no suffix recurs; the level above
// then still emits its own next token (a verification of zero drafts = one bonus token).
#include <vector>

#include "speculative/drafter.h"

namespace hsd {

class NgramDrafter : public Drafter {
public:
    // n_max >= 1: longest suffix tried.
    NgramDrafter(int n_max, int n_vocab);

    void prefill(const std::vector<TokenId>&) override {}
    void draft(const std::vector<TokenId>& seq, int n, Sampler& sampler, DraftBatch& out) override;
    void rollback(int64_t) override {}
    int64_t n_processed() const override { return 0; }

    // The lookup itself: up to n tokens following the most recent earlier occurrence of the
    // longest recurring suffix of seq (length n_max..1); empty if none.
    static std::vector<TokenId> lookup(const std::vector<TokenId>& seq, int n_max, int n);

private:
    int n_max_;
    int n_vocab_;
};

}  // namespace hsd
