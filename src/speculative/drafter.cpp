#include "speculative/drafter.h"

namespace hsd {

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
