#include "testing/broken_verify.h"

#include <vector>

namespace hsd {

namespace {

TokenId replace_recording_residual(const float* p, const float* q, int n_vocab, Sampler& sampler, DraftBatch& out) {
    double sum = 0;
    std::vector<float> residual = residual_distribution(p, q, n_vocab, &sum);
    const TokenId next = sampler.sample_from(residual);
    if (sum > 0) {
        for (float& v : residual) v = (float)(v / sum);
        out.push(next, residual.data());  // wrong: the level above needs p_t
    } else {
        out.push(next, p);
    }
    return next;
}

TokenId replace_from_p(const float* p, const float*, int n_vocab, Sampler& sampler, DraftBatch& out) {
    const TokenId next = sampler.sample_from(std::vector<float>(p, p + n_vocab));  // wrong: not the residual
    out.push(next, p);
    return next;
}

}  // namespace

const VerifyRule kBrokenResidualAsQ{replace_recording_residual};
const VerifyRule kBrokenResampleFromP{replace_from_p};

}  // namespace hsd
