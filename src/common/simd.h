#pragma once
// x86 SIMD intrinsics. GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* helpers (a known false positive), so those two warnings are silenced
// for code that comes from the headers (clang, which builds the sanitizer tests, has neither
// the warning nor the false positive).
#if defined(__AVX2__) || defined(__AVX512F__) || defined(__F16C__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#endif
