#include "kernels/quant_unpack.h"

namespace hsd::qk {

const TypeInfo* type_info(gguf::TensorType t) {
    using T = gguf::TensorType;
    static const TypeInfo q4_0{Kind::Legacy, -8};
    static const TypeInfo q4_1{Kind::Legacy, 0};
    static const TypeInfo q5_0{Kind::Legacy, -16};
    static const TypeInfo q5_1{Kind::Legacy, 0};
    static const TypeInfo q8_0{Kind::Legacy, -128};
    static const TypeInfo iq4_nl{Kind::Legacy, -128};
    static const TypeInfo q2_k{Kind::K, 0};
    static const TypeInfo q3_k{Kind::K, -4};
    static const TypeInfo q4_k{Kind::Legacy, 0};
    static const TypeInfo q5_k{Kind::Legacy, 0};
    static const TypeInfo q6_k{Kind::K, -32};
    static const TypeInfo iq4_xs{Kind::Legacy, -128};
    switch (t) {
        case T::Q4_0: return &q4_0;
        case T::Q4_1: return &q4_1;
        case T::Q5_0: return &q5_0;
        case T::Q5_1: return &q5_1;
        case T::Q8_0: return &q8_0;
        case T::IQ4_NL: return &iq4_nl;
        case T::Q2_K: return &q2_k;
        case T::Q3_K: return &q3_k;
        case T::Q4_K: return &q4_k;
        case T::Q5_K: return &q5_k;
        case T::Q6_K: return &q6_k;
        case T::IQ4_XS: return &iq4_xs;
        default: return nullptr;
    }
}

}  // namespace hsd::qk
