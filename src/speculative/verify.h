#pragma once
// Speculative sampling (Leviathan et al. 2023), the verification rule of every level:
// draft x at position t (proposed from q_t) is accepted with probability min(1, p_t(x) / q_t(x));
// at the first rejection a replacement is drawn from normalize(max(0, p_t - q_t)) and the
// batch ends; if every draft is accepted a bonus token is drawn from p_{n}. Greedy decoding
// (temperature 0, every p one-hot) is the exact limit: accept iff x == argmax p_t, replace by
// / bonus = argmax p, with no random draws at all.
//
// For HSD the verifier records, for every token it emits (accepted, replaced or bonus), its
// FULL distribution p_t, never the residual: that list is the q of the level above, and a
// replaced token is marginally distributed as p_t (see docs/SPECULATIVE.md).
#include <vector>

#include "sampling/sampler.h"
#include "speculative/drafter.h"

namespace hsd {

// How a level replaces a rejected draft (sampled decoding): it draws the replacement, appends it
// to `out` with the distribution recorded for it and returns it. Exact: drawn from the residual
// (p_t itself where p_t <= q_t everywhere), p_t recorded. Tests substitute deliberately wrong
// rules (src/testing/broken_verify.h) to prove that the distribution checks can fail.
struct VerifyRule {
    using Replace = TokenId (*)(const float* p, const float* q, int n_vocab, Sampler& sampler, DraftBatch& out);
    Replace replace;
    static const VerifyRule Exact;
};

// The residual a rejected draft is replaced from: max(0, p - q), unnormalized (the sampler
// normalizes), or p itself where p <= q everywhere. `mass`, when given, receives the sum of
// max(0, p - q) (0 in the second case).
std::vector<float> residual_distribution(const float* p, const float* q, int n_vocab, double* mass = nullptr);

struct VerifyOutcome {
    int n_accepted = 0;  // drafts accepted (a prefix of the batch)
    TokenId next = 0;    // the replacement (n_accepted < n) or the bonus token (n_accepted == n)
};

// drafts: n tokens with their q rows; p: n + 1 rows of the verifier's distributions
// (p[t] for draft t, p[n] for the bonus), best: their argmaxes. Appends the accepted drafts
// and `next` with their recorded distributions to out. Greedy uses only best (and records no
// distributions).
VerifyOutcome verify_drafts(const DraftBatch& drafts, const std::vector<float>& p, const std::vector<TokenId>& best,
                            Sampler& sampler, VerifyRule rule, DraftBatch& out);

}  // namespace hsd
