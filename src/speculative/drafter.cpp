#include "speculative/drafter.h"

namespace hsd {

void DraftBatch::push(TokenId tok, const float* dist) {
    tokens.push_back(tok);
    probs.insert(probs.end(), dist, dist + n_vocab);
}

void DraftBatch::push_one_hot(TokenId tok) {
    tokens.push_back(tok);
    probs.resize(probs.size() + (size_t)n_vocab, 0.0f);
    probs[(tokens.size() - 1) * (size_t)n_vocab + (size_t)tok] = 1.0f;
}

}  // namespace hsd
