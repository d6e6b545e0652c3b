#include "speculative/verify.h"

#include <algorithm>

namespace hsd {

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
        // Rejected: replacement from the residual max(0, p - q).
        std::vector<float> residual((size_t)V);
        double sum = 0;
        for (int i = 0; i < V; ++i) sum += (residual[(size_t)i] = std::max(0.0f, pt[i] - qt[i]));
        if (rule == VerifyRule::BrokenResampleFromP || !(sum > 0)) residual.assign(pt, pt + V);
        r.next = sampler.sample_from(residual);
        if (rule == VerifyRule::BrokenResidualAsQ && sum > 0) {
            for (float& v : residual) v = (float)(v / sum);
            out.push(r.next, residual.data());
        } else {
            out.push(r.next, pt);
        }
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
