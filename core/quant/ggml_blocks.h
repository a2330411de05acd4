// ggml's tensor types and block formats (llama.cpp's ggml-common.h layouts), both ways, bit for bit.
//
// dequantizeRow turns blocks into float32 exactly as llama.cpp's dequantize_row_* does: F32, F16, BF16, Q8_0,
// Q4_0, Q4_1, Q5_0, Q5_1 and the k-quants Q2_K ... Q6_K (and Q8_K). quantizeRows writes the bytes llama.cpp's
// quantize_<type> (ggml_quantize_chunk) writes for the same input: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K ... Q6_K,
// and F32 / F16 / BF16 (round to nearest even, NaN made quiet, as ggml converts). Other ggml types are named
// and sized, neither read nor written.
//
// Both follow ggml's rounding step by step: float (not double) arithmetic in its order, products and sums
// rounded one at a time (the file is compiled without FMA contraction), nearest_int's magic-number rounding
// (ties to even) where ggml uses it, roundf / truncation where it does. tests/test_ggml_quants.cpp compares
// the bytes with llama.cpp's own library.
//
// Importance (llama.cpp's imatrix: one non-negative weight per column of the row) selects llama.cpp's weighted
// search, which minimises the importance-weighted squared error; without it every format takes the path
// llama.cpp takes for a NULL imatrix, which for all of these types is the _ref quantizer. Q8_0 and the float
// types ignore importance, as llama.cpp does.
#pragma once

#include <cstdint>
#include <string>

namespace cw::ggml {

// ggml's tensor types (ggml.h's enum ggml_type values). An unscoped enum over uint32_t: a file stores the raw
// number, which may name a type this enum lacks, so the API takes uint32_t and these are its named values.
enum Type : uint32_t {
    F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
    Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
    I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
};

struct TypeTraits {
    const char *name = nullptr; // "Q4_K"
    int64_t blockSize = 0;      // values per block
    int64_t blockBytes = 0;     // bytes per block
    bool dequantizable = false; // dequantizeRow supports it
    bool quantizable = false;   // quantizeRows supports it
};
// nullptr for a type ggml does not have.
const TypeTraits *typeTraits(uint32_t type);
std::string typeName(uint32_t type); // "Q4_K", or "type 99"

// The type of a name, in any case ("q4_k", "Q4_K"). cw::Error naming the types quantizeRows writes otherwise.
uint32_t typeFromName(const std::string &name);
// The type llama-quantize stores a matrix with rows of rowLength values in when `type`'s blocks do not divide
// them (llama-quant.cpp's tensor_type_fallback): Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, Q2_K / Q3_K → Q4_0;
// F16 when that does not fit either. `type` itself when its blocks fit.
uint32_t fallbackType(uint32_t type, int64_t rowLength);

// Bytes of one row of rowLength values. cw::Error for a type ggml does not have, or a row that is not whole
// blocks.
int64_t rowBytes(uint32_t type, int64_t rowLength);

// Dequantizes n values (whole blocks) of a dequantizable type from src into dst. cw::Error otherwise.
void dequantizeRow(uint32_t type, const uint8_t *src, float *dst, int64_t n);

// Quantizes `rows` rows of rowLength float32 values (row-major, contiguous) into dst, rowBytes(type,
// rowLength) bytes per row; returns the bytes written. importance: nullptr, or rowLength weights shared by
// every row. Rows are quantized in parallel (core/base/parallel.h); each row's bytes do not depend on the
// others. cw::Error for a type quantizeRows does not write, or a row length that is not whole blocks.
int64_t quantizeRows(uint32_t type, const float *src, uint8_t *dst, int64_t rows, int64_t rowLength,
                     const float *importance = nullptr);

// Packs values already quantized on a legacy format's grid into its blocks, exactly (no new rounding): a
// quantizer of its own (GPTQ on core/compress/reconstruct.h's float16 grid) chose per block of 32 the scale d
// (and for Q4_1 / Q5_1 the minimum m; both float16 values) and per value the stored code q:
//   Q4_0: q in 0..15, value d·(q − 8)     Q5_0: q in 0..31, value d·(q − 16)     Q8_0: q in −127..127, value d·q
//   Q4_1: q in 0..15, value d·q + m        Q5_1: q in 0..31, value d·q + m
// codes: rows × rowLength; d, m: rows × rowLength / 32 (m unused for the symmetric formats, may be null).
// cw::Error for another type, a code out of range, or a scale that float16 does not hold exactly.
void packBlocks(uint32_t type, const int32_t *codes, const float *d, const float *m, int64_t rows, int64_t rowLength,
                uint8_t *dst);

// The k-quants' counterpart, for a quantizer that keeps a super-block's scales as llama.cpp's quantizer chose
// them and chooses the codes itself (GPTQ on those grids, core/compress/reconstruct.h). Sub-block s of a
// super-block (16 values in Q2_K, Q3_K and Q6_K; 32 in Q4_K and Q5_K) holds the values
//     (code − zeroPoint) · scale + offset        for its stored codes 0 .. maxCode
// (Q2_K 3, Q3_K 7, Q4_K 15, Q5_K 31, Q6_K 63; offset −dmin·m for Q2_K / Q4_K / Q5_K, zeroPoint 4 for Q3_K and 32
// for Q6_K), each product and sum rounded as dequantizeRow rounds it, so code · scale + offset is the decoded
// value exactly when zeroPoint is 0 and (code − zeroPoint) · scale when offset is. superBlockGrids writes one grid
// per sub-block and returns their count (16 or 8); setSuperBlockCodes writes 256 codes into the block, its scales
// kept. cw::Error for another type or a code out of range.
struct SubBlockGrid {
    float scale = 0.f, offset = 0.f;
    int32_t zeroPoint = 0, maxCode = 0;
};
int superBlockGrids(uint32_t type, const uint8_t *block, SubBlockGrid *grids);
void setSuperBlockCodes(uint32_t type, uint8_t *block, const int32_t *codes);

} // namespace cw::ggml
