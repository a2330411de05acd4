// Compression of one linear layer y = W x from statistics of its inputs: the weight-compression methods of
// language models, which look at the data a layer sees rather than at its weights alone.
//
// W is float32 [out, in], row-major (a row is an output channel, a column an input channel). The inputs the
// layer saw on calibration data are summarised by the caller: a Hessian (H = Σ x xᵀ over the tokens, double,
// [in, in], with the token count) for GPTQ, SparseGPT and Wanda, an AwqSample (mean |x_j| per input channel and
// up to 512 sampled input rows) for AWQ. H takes 8·in² bytes; GPTQ and SparseGPT need about 2.5 times that again
// while they factor it.
//
// Quantization (every result is the dequantized W', a drop-in replacement for W, plus each group's grid):
//   rtnQuantize   round to nearest, group by group: quantize.h's fakeQuantize (GroupGrid::MinMax) or the
//                 float16-scale grid below.
//   gptqQuantize  GPTQ (Frantar et al. 2022): columns quantized one at a time, each one's error spread over the
//                 columns not yet quantized through the upper Cholesky factor U of (H + λI)⁻¹, in lazy blocks of
//                 128 columns; λ = percdamp · mean(diag H). Input channels never active on the calibration data
//                 (diag H = 0) get H_jj = 1 and a zero weight before quantization, as the reference does. A
//                 group's grid comes from the group's current, error-updated weights when its first column
//                 comes up (the reference reads a group that starts inside a block as it stood at the block's
//                 start, without the updates of the block's earlier columns). With actOrder the columns go in decreasing diag H, but a group still is `groupSize`
//                 consecutive columns of the original order (as the reference's static_groups, so the result
//                 is stored without a permutation index); its grid is taken, from all its columns' current
//                 weights, when the first of them comes up in that order. With a diagonal H nothing is spread
//                 (U is diagonal) and GPTQ is exactly RTN.
//   awqQuantize   AWQ (Lin et al. 2023): per input channel s = mean|x|^α, normalised by sqrt(max s · min s),
//                 α from a grid of 20 in [0, 1) chosen by the layer's output error on the input sample,
//                 ‖X (W' − W)ᵀ‖ with W' = Q(W diag(s)) diag(s)⁻¹; then, optionally, each (row, group)'s range
//                 shrunk to ±(1 − k/20) of its largest |w| (k < 10) where that lowers the group's share of the
//                 output error. Deployed, s⁻¹ is folded into the op before the layer; W' here is the
//                 equivalent dequantized weight. α = 0 gives s = 1, RTN exactly. The error is the layer's own
//                 output (the reference measures a whole block's).
//
// Grids (GroupGrid), with bits b, symmetric levels q ∈ [−(2^(b−1) − 1), 2^(b−1) − 1], asymmetric q ∈ [0, 2^b − 1]:
//   MinMax   quantize.h's grid of the group's min / max: (q − zeroPoint) · scale, zero on the grid.
//   Float16  llama.cpp's block formats: the scale d (and the asymmetric minimum m) rounded to float16, levels
//            symmetric d·q (scale = max|w| / (2^(b−1) − 1) rounded), asymmetric d·q + m with m = the group's
//            minimum and d = (max − min) / (2^b − 1), both rounded (zero is not forced onto the grid, as in
//            ggml). With groups of 32 such a result is exactly a ggml block: asymmetric 4 / 5 bits Q4_1 / Q5_1
//            (value = d·q + m), symmetric 4 / 5 bits Q4_0 / Q5_0 (value = d·(q' − 8) / d·(q' − 16), q' = q + 8 /
//            q + 16; our q never reaches −8 / −16), symmetric 8 bits Q8_0 (value = d·q). Fewer bits fit the
//            next format up. A group beyond float16's range is a cw::Error.
//   SuperBlock  llama.cpp's k-quants (GPTQ only, GptqOptions::superBlockType Q2_K ... Q6_K): when the first column
//            of a super-block of 256 inputs comes up, llama.cpp's quantizer (ggml::quantizeRows) chooses the
//            super-block's scales from its weights as they stand, and each sub-block's grid is the one those
//            scales define (ggml::superBlockGrids); the codes are then GPTQ's. The result's superBlocks keep the
//            quantizer's blocks, so that ggml::setSuperBlockCodes packs the result into them exactly. The group
//            size must be the type's sub-block (16, or 32 for Q4_K / Q5_K) and the inputs whole super-blocks.
//
// Pruning (masks per output row: the comparison group is the row; N:M along the input dimension):
//   magnitudePruneRows  smallest |w| in each row (prune.h has only the per-tensor threshold; the N:M case
//                       picks what prune.h's pruneNM picks, same tie rule, and returns the mask too);
//   wandaPrune          Wanda (Sun et al. 2023): smallest |W_ij| · ‖X_j‖ in each row;
//   sparseGptPrune      SparseGPT (Frantar & Alistarh 2023): the GPTQ machinery with zero as the target; the
//                       pruned set is chosen per block of 128 columns by w² / U_jj² (U as above, so U_jj² is the
//                       OBS [H⁻¹]_jj of the columns still free), the kept weights updated to compensate. The
//                       reference compares a block's scores across all rows; here each row prunes its own share
//                       of the block (cumulative floor(ratio · column) counts, so each row's total is exact).
//   Unstructured: exactly floor(ratio · in) zeros per row (ratio in [0, 1)). N:M (2:4, 4:8): in every m
//   consecutive inputs the m − n lowest scores are pruned, so at most n stay nonzero; in must be a multiple of
//   m. Ties go to the lower index (pruned first), NaN weights rank highest. SparseGPT's N:M choice is made
//   when the m columns come up, from their updated weights, as in the reference.
//
// Refitting (channel pruning's reconstruction, prune.h's reconstructPruned):
//   LeastSquares  the weight W' [out, in] and bias b' [out] that best map the inputs x to targets y over the
//                 rows added: argmin Σ ‖W' x + b' − y‖² + λ ‖W'‖², λ = damp · mean(diag Σ x xᵀ) (the bias is
//                 not damped), from the moments of [x, 1] and y (H is a Hessian of in + 1 inputs); or, for a
//                 layer without a bias, of x alone (b' = 0).
//
// Options a user can get wrong (bits outside 2..8, a group size that does not divide in, ratio outside
// [0, 1), n > m, in not a multiple of m, statistics of another width, a Hessian that stays singular after
// damping, non-finite weights) are cw::Error. GPTQ, SparseGPT and AWQ check the stop token after every block
// of columns (every α and clipping step for AWQ) and throw cw::Cancelled; nothing is returned then.
#pragma once

#include <cstdint>
#include <vector>

#include "core/base/progress.h"
#include "core/base/tensor.h"
#include "core/quant/quantize.h"

namespace cw {

// H = Σ x xᵀ of a layer's inputs, accumulated over calls of add(): what GPTQ and SparseGPT reconstruct with,
// and, from its diagonal, Wanda's column norms and llama.cpp's importance matrix.
class Hessian {
public:
    explicit Hessian(int64_t inputs); // cw::Error beyond the memory budget (8 · inputs² bytes)
    // A given H ([in, in] row-major, symmetric): for callers that have it from elsewhere, and for tests.
    // cw::Error when the size is not in · in or a value is not finite.
    static Hessian fromMatrix(int64_t inputs, std::vector<double> matrix, int64_t tokens = 1);

    // x: tokens × in, row-major. H += xᵀ x (a symmetric rank-k update in double). cw::Error for non-finite x.
    void add(const float *x, int64_t tokens);

    int64_t inputs() const { return m_inputs; }
    int64_t tokens() const { return m_tokens; }
    const std::vector<double> &matrix() const { return m_matrix; } // [in, in], row-major
    std::vector<double> columnNorms() const; // ‖X_j‖ = sqrt(H_jj)
    std::vector<float> meanSquares() const;  // H_jj / tokens, float as ggml's importance (zeros before any token)

private:
    int64_t m_inputs = 0;
    int64_t m_tokens = 0;
    std::vector<double> m_matrix;
};

// What AWQ needs of a layer's inputs: the mean |x_j| per input channel and a sample of input rows (a reservoir
// sample: every token added so far is kept with the same probability; seeded, so the same calls keep the same
// rows).
class AwqSample {
public:
    explicit AwqSample(int64_t maxRows = 512, uint64_t seed = 0x5eed);
    // x: tokens × inputs, row-major; the first call sets the width, another width later is a cw::Error, and so is
    // a non-finite value.
    void add(const float *x, int64_t tokens, int64_t inputs);

    int64_t inputs() const { return m_inputs; }
    int64_t tokens() const { return m_tokens; }
    std::vector<double> meanAbs() const;                 // mean |x_j| over all tokens added
    const std::vector<float> &rows() const { return m_rows; } // rowCount() × inputs, row-major
    int64_t rowCount() const { return m_inputs ? int64_t(m_rows.size()) / m_inputs : 0; }

private:
    int64_t m_inputs = 0;
    int64_t m_tokens = 0;
    int64_t m_maxRows = 0;
    uint64_t m_rng = 0;
    std::vector<double> m_absSum;
    std::vector<float> m_rows;
};

enum class GroupGrid { MinMax, Float16, SuperBlock };

// A grid per group of `groupSize` consecutive inputs (0: one per row).
inline QuantSpec groupQuantSpec(int bits, int64_t groupSize, bool symmetric)
{
    QuantSpec s;
    s.bits = bits;
    s.granularity = groupSize > 0 ? Granularity::Group : Granularity::Channel;
    s.groupSize = groupSize > 0 ? groupSize : s.groupSize;
    s.symmetric = symmetric;
    return s;
}

// One group's levels: (q − zeroPoint) · scale + offset for integer q in [qmin, qmax]. offset is 0 except for the
// asymmetric Float16 grid (ggml's m, with zeroPoint 0).
struct GroupLevels {
    QuantGrid grid;
    float offset = 0.f;
    float level(int32_t q) const { return float(q - grid.zeroPoint) * grid.scale + offset; }
    int32_t code(float value) const; // the nearest level's q
};

struct LayerQuantResult {
    Tensor dequantized;              // W' [out, in], float32
    std::vector<GroupLevels> grids;  // out × groups, row-major: row r's group g at r * groups + g
    int64_t groups = 1;              // per row (1 for a per-row grid)
    std::vector<uint8_t> superBlocks; // GroupGrid::SuperBlock: out × in / 256 blocks (scales chosen, codes not)
};

// spec: bits 2..8, granularity Channel (one grid per row) or Group (groupSize dividing in); spec.method and
// spec.format are not read (the function is the method).
LayerQuantResult rtnQuantize(const Tensor &w, const QuantSpec &spec, GroupGrid grid = GroupGrid::MinMax);

struct GptqOptions {
    QuantSpec spec = groupQuantSpec(4, 128, true);
    GroupGrid grid = GroupGrid::MinMax;
    uint32_t superBlockType = 0; // GroupGrid::SuperBlock: the k-quant (ggml's type number)
    double percdamp = 0.01;  // λ = percdamp · mean(diag H), >= 0
    bool actOrder = false;   // columns in decreasing diag H
    int64_t blockSize = 128; // columns per lazy update
};
LayerQuantResult gptqQuantize(const Tensor &w, const Hessian &h, const GptqOptions &options,
                              const ProgressFn &progress = {}, const StopToken *stop = nullptr);

struct AwqOptions {
    QuantSpec spec = groupQuantSpec(4, 128, false);
    GroupGrid grid = GroupGrid::MinMax;
    std::vector<double> alphas; // the α tried, each in [0, 1]; empty: 0, 0.05, ..., 0.95
    bool clip = true;           // the clipping search after the scales
    int clipGrid = 20;          // shrink factors 1 − k / clipGrid for k < maxShrink · clipGrid
    double maxShrink = 0.5;
};
struct AwqResult : LayerQuantResult {
    // dequantized: Q(W diag(s)) diag(s)⁻¹; grids: those of W diag(s), so W'_ij = level_ij / s_j.
    double alpha = 0;
    std::vector<float> scales;       // s, per input channel
    std::vector<double> alphaErrors; // ‖X (W' − W)ᵀ‖² on the sample for each α tried (before clipping)
};
AwqResult awqQuantize(const Tensor &w, const AwqSample &inputs, const AwqOptions &options,
                      const ProgressFn &progress = {}, const StopToken *stop = nullptr);

struct SparsityPattern {
    double ratio = 0.5; // unstructured: floor(ratio · in) zeros per row, ratio in [0, 1)
    int n = 0, m = 0;   // N:M when m > 0: at most n nonzeros in every m consecutive inputs (ratio unused)
};

struct LayerPruneResult {
    Tensor pruned; // [out, in]: the kept weights (SparseGPT: updated), zeros elsewhere
    Tensor mask;   // [out, in], float32: 1 = kept, 0 = pruned
};

LayerPruneResult magnitudePruneRows(const Tensor &w, const SparsityPattern &pattern);
// columnNorms: ‖X_j‖ per input (Hessian::columnNorms()).
LayerPruneResult wandaPrune(const Tensor &w, const std::vector<double> &columnNorms, const SparsityPattern &pattern);

struct SparseGptOptions {
    SparsityPattern pattern;
    double percdamp = 0.01;
    int64_t blockSize = 128; // rounded up to a multiple of m for N:M
};
LayerPruneResult sparseGptPrune(const Tensor &w, const Hessian &h, const SparseGptOptions &options,
                                const ProgressFn &progress = {}, const StopToken *stop = nullptr);

class LeastSquares {
public:
    LeastSquares(int64_t inputs, int64_t outputs, bool bias = true); // cw::Error beyond the memory budget
    // x: rows × inputs, y: rows × outputs, row-major. cw::Error for a non-finite value.
    void add(const float *x, const float *y, int64_t rows);
    int64_t rows() const { return m_h.tokens(); }

    struct Fit {
        Tensor weight;            // [out, in]
        std::vector<float> bias;  // [out]; empty without a bias
    };
    Fit solve(double damp = 0.01) const;
    // Σ ‖W x + b − y‖² / Σ ‖y‖² over the rows added (0 when y is all zeros): W [out, in], b [out] or null for none
    // (ignored by a fit without a bias).
    double relativeError(const float *weight, const float *bias) const;

private:
    int64_t m_inputs, m_outputs;
    bool m_bias;
    Hessian m_h;                   // of [x, 1] (of x without a bias)
    std::vector<double> m_cross;   // Σ [x, 1] yᵀ, [in + 1, out] row-major (Σ x yᵀ, [in, out])
    double m_targetSquares = 0;    // Σ ‖y‖²
};

} // namespace cw
