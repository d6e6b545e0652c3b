#include "speculative/ngram_drafter.h"

#include <algorithm>
#include <fmt/format.h>

#include "common/error.h"
#include "common/timer.h"

namespace hsd {

NgramDrafter::NgramDrafter(int n_max, int n_vocab) : n_max_(n_max), n_vocab_(n_vocab) {
    if (n_max < 1) fail(fmt::format("the n-gram drafter needs N >= 1, got {}", n_max));
    stats_.name = fmt::format("ngram({})", n_max);
}

std::vector<TokenId> NgramDrafter::lookup(const std::vector<TokenId>& seq, int n_max, int n) {
    const int64_t S = (int64_t)seq.size();
    for (int64_t L = std::min<int64_t>(n_max, S - 1); L >= 1; --L) {
        const TokenId* suffix = seq.data() + (S - L);
        // Occurrences starting at i with i + L < S (at least one token follows), latest first.
        for (int64_t i = S - L - 1; i >= 0; --i) {
            if (!std::equal(suffix, suffix + L, seq.data() + i)) continue;
            const int64_t from = i + L;
            const int64_t to = std::min<int64_t>(from + n, S);
            return std::vector<TokenId>(seq.begin() + from, seq.begin() + to);
        }
    }
    return {};
}

void NgramDrafter::draft(const std::vector<TokenId>& seq, int n, Sampler& sampler, DraftBatch& out) {
    const double t0 = now_seconds();
    out.n_vocab = n_vocab_;
    out.clear();
    if (n > 0)
        for (TokenId t : lookup(seq, n_max_, n)) {
            if (sampler.params().greedy())
                out.push_token(t);
            else
                out.push_one_hot(t);
        }
    stats_.add_seconds(now_seconds() - t0);
}

}  // namespace hsd
