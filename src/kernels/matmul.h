#pragma once
// Matrix products against model weights of any supported type (F32, F16, BF16, quantized).
//
// y[t][m] = sum_k x[t][k] * W[m][k]   for t in [0, n), m in [0, rows)
//
// Weights are streamed from the memory map exactly once per call whatever n is: a small
// block of weight rows is decoded to F32 into a per-thread buffer that stays in L1/L2, then
// multiplied against all n activation rows. So verifying 8 draft tokens reads the same bytes
// as decoding one. Large batches (prefill) of F32/BF16/unpacked F16 weights go to OpenBLAS
// sgemm on decoded row panels when built with it, where it is measured faster (see
// docs/ARCHITECTURE.md); quantized weights never do (sgemm's blocking depends on n, which
// would make a token's result depend on its batch).
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_file.h"
#include "quant/blocks.h"

namespace hsd {

class ThreadPool;

struct WeightView {
    const uint8_t* data = nullptr;
    gguf::TensorType type = gguf::TensorType::F32;
    int64_t rows = 0;  // output features
    int64_t cols = 0;  // input features (contiguous)
    // F16 / BF16: the same values repacked into panels of kPanel rows, column-major inside a
    // panel (see pack_panels); when set, matmul streams this instead of `data`.
    const uint16_t* panels = nullptr;
    // Integer-kernel types: the same matrix repacked at load (kernels/quant_pack.h); when set,
    // the int8 kernel streams this instead of `data`.
    const uint8_t* packed = nullptr;

    size_t row_bytes() const { return gguf::tensor_row_bytes(type, (uint64_t)cols); }
    size_t bytes() const { return row_bytes() * (size_t)rows; }
};

// Rows per F16 panel: a panel is kPanel rows x cols stored column by column, so one
// column's kPanel weights are one 64-byte cache line and a panel is one sequential stream.
constexpr int64_t kPanel = 32;
// Whether this build has the panel kernel (AVX-512) for type t (F16, BF16); without it
// packing would only cost memory.
bool panels_supported(gguf::TensorType t);
// Size in uint16 elements of the packed copy of an F16 / BF16 matrix (rows padded to kPanel).
size_t panels_size(const WeightView& w);
// Writes the panel layout of an F16 / BF16 matrix into dst (panels_size(w) elements).
void pack_panels(const WeightView& w, uint16_t* dst);

// Decodes `count` consecutive elements of row `row`, starting at column `col0`
// (a multiple of the block size), into dst as F32.
void decode_row(const WeightView& w, int64_t row, int64_t col0, int64_t count, float* dst);

// y[n][w.rows] = x[n][w.cols] * W^T. y must not alias x.
void matmul(ThreadPool& pool, const WeightView& w, const float* x, int64_t n, float* y);

// Several products sharing one input (Q/K/V, gate/up) in one parallel region, so the
// threads synchronize once instead of once per matrix.
struct MatmulJob {
    const WeightView* w;
    float* y;
};
void matmul_multi(ThreadPool& pool, const MatmulJob* jobs, int n_jobs, const float* x, int64_t n);

// g = silu(gate * x) * (up * x), the SwiGLU input of the down projection, in one parallel
// region: each thread finishes the rows it computed (u receives up * x).
void matmul_swiglu(ThreadPool& pool, const WeightView& gate, const WeightView& up, const float* x, int64_t n,
                   float* g, float* u);

// Single-threaded reference used by tests: decodes each element and accumulates in double.
void matmul_reference(const WeightView& w, const float* x, int64_t n, float* y);

// How activations meet quantized weights (Q4_0 ... IQ4_XS): F32 = the weights are decoded to
// F32 and multiplied as F16 weights are; Int8 = each token's activations are quantized once
// per call to int8 blocks (kernels/quant_act.h) and multiplied with integer dot products
// (kernels/quant_dot.h), up to 16 tokens per pass over the weights. Either way a token's
// result is bit-identical whatever batch it is in. Process-wide; exposed for tests and
// benchmarks (docs/ARCHITECTURE.md says which is the default and why).
enum class QuantActivations { F32, Int8 };
QuantActivations quant_activations();
void set_quant_activations(QuantActivations a);

// Minimum batch size at which the BLAS path is used (0 = never). Exposed for benchmarks.
int64_t matmul_blas_threshold();
void set_matmul_blas_threshold(int64_t n);

}  // namespace hsd
