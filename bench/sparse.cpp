// Dense vs sparse kernels on pruned random weights: the Gemm and Conv forward kernels run once with the dense
// weight and once with its CSR form, single-threaded, at several sparsities and batch 1 / 64, at the demos' shapes
// and the real models'. Median of N runs; see bench/sparse.sh. A column gives the op as a Session runs it, with the
// sparse forms its rules give (runtime/sparse.h). A Gemm is also pruned in blocks of 16 outputs at the same ratio
// (prune.h, pruneBlocks) and run on its block form; the last column runs the block kernel on the magnitude-pruned
// weight (its share of zero blocks in brackets). The sparse paths must give the dense result (checked here, max
// |difference| printed).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/compress/prune.h"
#include "core/quant/quantize.h"
#include "core/runtime/ops.h"
#include "core/runtime/sparse.h"

using namespace cw;

namespace {

template <typename Fn> double medianMs(int runs, Fn &&fn)
{
    fn(); // warm-up
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + runs / 2, ms.end());
    return ms[size_t(runs / 2)];
}

Tensor randomTensor(Shape shape, unsigned seed)
{
    Tensor t(DType::Float32, std::move(shape));
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = dist(rng);
    return t;
}

struct Case {
    std::string name;
    Node node;
    Shape x, w;
    int64_t rows, cols; // CSR [output features, reduction]
};

Case gemmCase(int64_t batch, int64_t out, int64_t in)
{
    Case c;
    c.name = "Gemm " + std::to_string(in) + "->" + std::to_string(out);
    c.node.name = "gemm";
    c.node.opType = "Gemm";
    c.node.inputs = {"x", "w"};
    c.node.attrs["transB"] = Attribute::makeInt(1);
    c.x = {batch, in};
    c.w = {out, in};
    c.rows = out;
    c.cols = in;
    return c;
}

// A kh x kw convolution of an h x w image, padded by ph rows and pw columns on each side.
Case convCase(int64_t batch, int64_t in, int64_t out, int64_t kh, int64_t kw, int64_t h, int64_t w, int64_t ph,
              int64_t pw)
{
    Case c;
    c.name = "Conv " + std::to_string(in) + "->" + std::to_string(out) + " " + std::to_string(kh) + "x" +
             std::to_string(kw) + " @" + std::to_string(h) + "x" + std::to_string(w);
    c.node.name = "conv";
    c.node.opType = "Conv";
    c.node.inputs = {"x", "w"};
    c.node.attrs["kernel_shape"] = Attribute::makeInts({kh, kw});
    c.node.attrs["pads"] = Attribute::makeInts({ph, pw, ph, pw});
    c.x = {batch, in, h, w};
    c.w = {out, in, kh, kw};
    c.rows = out;
    c.cols = in * kh * kw;
    return c;
}

// The op with the CSR form given (what a Session does; the Gemm op still picks dense below its threshold).
Tensor runKernel(const Case &c, const Tensor &x, const Tensor &w, const SparseWeight *sparse)
{
    OpContext ctx{c.node, {&x, &w}, {}, 1};
    ctx.sparse = sparse;
    ctx.outputs.resize(1);
    findKernel(c.node.opType)(ctx);
    return ctx.outputs[0];
}

// The CSR kernel itself, whatever the sparsity.
Tensor runSparse(const Case &c, const Tensor &x, const Tensor &w, const SparseWeight &csr)
{
    if (c.node.opType != "Gemm")
        return runKernel(c, x, w, &csr);
    Tensor y = Tensor::uninitialized(DType::Float32, {c.x[0], c.rows});
    sparse::gemm(csr, c.x[0], x.f32(), 1.f, false, y.f32(), 1);
    return y;
}

} // namespace

int main(int argc, char **argv)
{
    const int runs = argc > 1 ? std::atoi(argv[1]) : 30;
    std::vector<Case> cases;
    for (int64_t batch : {1, 64}) {
        // The demo's fc1 and a square matrix; the demo's convolutions.
        cases.push_back(gemmCase(batch, 128, 3136));
        cases.push_back(gemmCase(batch, 512, 512));
        cases.push_back(convCase(batch, 32, 64, 3, 3, 14, 14, 1, 1));
        cases.push_back(convCase(batch, 64, 64, 3, 3, 7, 7, 1, 1));
        // The real models' shapes (docs/models.md): the first layers of the wake-word heads (alexa, hey_jarvis,
        // hey_mycroft and weather; timer; hey_rhasspy) and two of oww-embedding's 1-D-like convolutions.
        cases.push_back(gemmCase(batch, 128, 1536));
        cases.push_back(gemmCase(batch, 128, 3264));
        cases.push_back(gemmCase(batch, 32, 1536));
        cases.push_back(convCase(batch, 48, 48, 3, 1, 36, 16, 0, 0));
        cases.push_back(convCase(batch, 96, 96, 1, 3, 12, 4, 0, 1));
    }
    std::printf("| layer | batch | sparsity | dense ms | CSR kernel ms | CSR / dense | op as a Session runs it / dense "
                "| max abs diff | pruned in blocks: dense ms | block kernel / dense | op as a Session runs it / dense "
                "| max abs diff | magnitude-pruned: block kernel / dense (zero blocks) |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (const Case &c : cases) {
        const Tensor x = randomTensor(c.x, 1);
        const Tensor w0 = randomTensor(c.w, 2);
        for (double s : {0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95}) {
            const Tensor w = pruneMagnitude(w0, s);
            const SparseWeight csr = sparse::toCsr(w.f32(), c.rows, c.cols, false);
            const Tensor yd = runKernel(c, x, w, nullptr);
            const Tensor ys = runSparse(c, x, w, csr);
            double diff = 0;
            for (int64_t i = 0; i < yd.numel(); ++i)
                diff = std::max(diff, double(std::abs(yd.f32()[i] - ys.f32()[i])));
            const int r = c.x[0] == 1 ? runs * 4 : runs;
            const double dense = medianMs(r, [&] { runKernel(c, x, w, nullptr); });
            const double sp = medianMs(r, [&] { runSparse(c, x, w, csr); });
            // What a Session hands the op (sparse::prepare): the CSR form by the measured rules, or none.
            Graph graph;
            graph.initializers["w"] = w;
            const auto form = sparse::prepare(c.node, graph);
            const double op = form ? medianMs(r, [&] { runKernel(c, x, w, form.get()); }) : dense;
            std::printf("| %s | %lld | %.2f | %.4f | %.4f | %.2f | %.2f | %.1e |", c.name.c_str(),
                        (long long)c.x[0], s, dense, sp, sp / dense, op / dense, diff);
            if (c.node.opType == "Gemm") {
                // The same ratio pruned in blocks of 16 outputs (prune "block"), dense against the block kernel.
                const Tensor wb = pruneBlocks(w0, s, 0);
                SparseWeight blocks = sparse::toCsr(wb.f32(), c.rows, c.cols, false);
                sparse::addBlocks(blocks, wb.f32(), false);
                Tensor yb = runKernel(c, x, wb, nullptr);
                Tensor yk = Tensor::uninitialized(DType::Float32, {c.x[0], c.rows});
                const auto block = [&] { sparse::gemmBlocks(blocks, c.x[0], x.f32(), 1.f, false, yk.f32(), 1); };
                block();
                double bdiff = 0;
                for (int64_t i = 0; i < yb.numel(); ++i)
                    bdiff = std::max(bdiff, double(std::abs(yb.f32()[i] - yk.f32()[i])));
                const double bdense = medianMs(r, [&] { runKernel(c, x, wb, nullptr); });
                const double bk = medianMs(r, block);
                Graph bgraph;
                bgraph.initializers["w"] = wb;
                const auto bform = sparse::prepare(c.node, bgraph);
                const double bop = bform ? medianMs(r, [&] { runKernel(c, x, wb, bform.get()); }) : bdense;
                SparseWeight ublocks = csr;
                sparse::addBlocks(ublocks, w.f32(), false);
                const double uk =
                    medianMs(r, [&] { sparse::gemmBlocks(ublocks, c.x[0], x.f32(), 1.f, false, yk.f32(), 1); });
                std::printf(" %.4f | %.2f | %.2f | %.1e | %.2f (%.2f) |", bdense, bk / bdense, bop / bdense, bdiff,
                            uk / dense, ublocks.blockSparsity);
            } else {
                std::printf(" | | | |");
            }
            std::printf("\n");
            std::fflush(stdout);
        }
    }
    return 0;
}
