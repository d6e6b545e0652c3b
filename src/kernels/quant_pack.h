#pragma once
// Quantized matrices repacked at load into the layout the AVX-512 VNNI integer kernel reads
// without unpacking (docs/ARCHITECTURE.md, "Repacked quantized weights").
//
// The file's layout costs a per-unit unpack before every dot product: nibbles spread to bytes,
// bytes transposed into the lane order dpbusd sums, scales converted one by one; profiled at
// n = 1 that was ~70% of a Q4_K kernel's time, which made decoding compute-bound at about half
// of memory speed. Packed, the same information is stored already transposed, with the
// scales of kRowBlock rows next to each other:
//
//   matrix  = row blocks of kRowBlock rows (the last padded with zero rows), one after another
//   block   = its units (256 columns; a row's last, partial unit padded with zero blocks)
//   group   = one unit of the block's rows: [codes of row 0 .. row 7][scales of row 0 .. row 7]
//
// so a thread's rows are one sequential stream, read once per call whatever the batch, and a
// unit's codes become dpbusd operands with 2-6 register operations (4-bit codes: and / shift;
// 5th and 6th bits: a byte mask / a shifted or; IQ4: a table shuffle). The codes keep the
// file's bits per weight (Q4_K 4.625, Q6_K 6.56, Q8_0 8.5, ...), the scales keep theirs
// (F16 and the 6-bit integers as bytes), so the stream is within 3% of the file's bytes.
// Every value the kernel derives (codes, block and group scales, offsets) is the one the
// unpacker derives, bit for bit, and the float operations are the same in the same order:
// a packed matrix gives exactly the unpacked kernel's results (tested), so nothing about
// batch invariance changes.
#include <cstddef>
#include <cstdint>

#include "kernels/quant_dot.h"

namespace hsd::qk {

// Whether this build packs matrices of type t (AVX-512 VNNI builds: every type with an
// integer kernel but Q2_K and Q3_K; elsewhere none, and the unpacking kernels serve).
bool packing_supported(gguf::TensorType t);
// Row blocks of w's packed copy, and its size in bytes.
int64_t packed_row_blocks(const WeightView& w);
size_t packed_size(const WeightView& w);
// Writes row blocks [b0, b1) of w's packed copy into dst (the whole copy's start).
void pack_matrix(const WeightView& w, uint8_t* dst, int64_t b0, int64_t b1);

// As int8_rows (kernels/quant_dot.h) on w.packed; r0 is a multiple of kRowBlock.
void packed_rows(const WeightView& w, const TypeInfo& ti, const QuantActs& a, float* y, int64_t ldy, int64_t r0,
                 int64_t r1);

}  // namespace hsd::qk
