#include "speculative/verify.h"

#include <algorithm>

namespace hsd {

std::vector<float> residual_distribution(const float* p, const float* q, int n_vocab, double* mass) {
    std::vector<float> residual((size_t)n_vocab);
    double sum = 0;
    for (int i = 0; i < n_vocab; ++i) sum += (residual[(size_t)i] = std::max(0.0f, p[i] - q[i]));
    if (!(sum > 0)) {
        residual.assign(p, p + n_vocab);
        sum = 0;
    }
    if (mass) *mass = sum;
    return residual;
}

namespace {

// The exact rule's replacement: drawn from normalize(max(0, p - q)), recorded with p.
TokenId replace_from_residual(const float* p, const float* q, int n_vocab, Sampler& sampler, DraftBatch& out) {
    const TokenId next = sampler.sample_from(residual_distribution(p, q, n_vocab));
    out.push(next, p);
    return next;
}

}  // namespace

const VerifyRule VerifyRule::Exact{replace_from_residual};

VerifyOutcome verify_drafts(const DraftBatch& drafts, const std::vector<float>& p, const std::vector<TokenId>& best,
                            Sampler& sampler, VerifyRule rule, DraftBatch& out) {
    const int V = out.n_vocab;
    const bool greedy = sampler.params().greedy();
    const size_t n = drafts.size();
    auto p_row = [&](size_t t) { return p.data() + t * (size_t)V; };
    VerifyOutcome r;
    for (size_t t = 0; t < n; ++t) {
        const TokenId x = drafts.tokens[t];
        if (greedy) {
            if (x == best[t]) {
                out.push_token(x, false);
                ++r.n_accepted;
                continue;
            }
            r.next = best[t];
            out.push_token(r.next);
            return r;
        }
        const float* pt = p_row(t);
        const float* qt = drafts.dist(t);
        const double px = pt[x], qx = qt[x];
        if (qx > 0 && sampler.uniform() * qx < px) {  // u < p(x) / q(x)
            out.push(x, pt, false);
            ++r.n_accepted;
            continue;
        }
        r.next = rule.replace(pt, qt, V, sampler, out);  // rejected
        return r;
    }
    if (greedy) {
        r.next = best[n];
        out.push_token(r.next);
        return r;
    }
    const float* pb = p_row(n);
    const std::vector<float> bonus(pb, pb + V);
    r.next = sampler.sample_from(bonus);
    out.push(r.next, pb);
    return r;
}

}  // namespace hsd
