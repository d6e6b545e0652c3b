#include "speculative/drafter.h"

namespace hsd {

LevelStats& LevelStats::operator+=(const LevelStats& o) {
    if (name.empty()) {
        name = o.name;
        depth = o.depth;
        threshold = o.threshold;
    }
    n_forward += o.n_forward;
    draft_n += o.draft_n;
    draft_n_accepted += o.draft_n_accepted;
    n_drafts += o.n_drafts;
    n_empty += o.n_empty;
    seconds += o.seconds;
    layer_evals += o.layer_evals;
    for (int k = 0; k < 2; ++k) {
        origin_n[k] += o.origin_n[k];
        origin_accepted[k] += o.origin_accepted[k];
    }
    for (int k = 0; k < kPositions; ++k) {
        position_n[k] += o.position_n[k];
        position_accepted[k] += o.position_accepted[k];
    }
    return *this;
}

double LevelStats::origin_rate(int origin) const {
    const int64_t n = origin_n[origin];
    return n > 0 ? (double)origin_accepted[origin] / (double)n : -1.0;
}

void DraftBatch::push(TokenId tok, const float* dist, bool produced_here) {
    tokens.push_back(tok);
    own.push_back(produced_here ? 1 : 0);
    probs.insert(probs.end(), dist, dist + n_vocab);
}

void DraftBatch::push_one_hot(TokenId tok) {
    tokens.push_back(tok);
    own.push_back(1);
    probs.resize(probs.size() + (size_t)n_vocab, 0.0f);
    probs[(tokens.size() - 1) * (size_t)n_vocab + (size_t)tok] = 1.0f;
}

void DraftBatch::push_token(TokenId tok, bool produced_here) {
    tokens.push_back(tok);
    own.push_back(produced_here ? 1 : 0);
}

}  // namespace hsd
