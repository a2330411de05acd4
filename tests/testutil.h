// Shared helpers for the Qt Test executables: paths, the onnxruntime reference runner, tensor comparison.
#pragma once

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QStandardPaths>
#include <QString>
#include <QTemporaryDir>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.h"
#include "core/base/tensor.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"

namespace testutil {

// Runs `body` and returns the cw::Error message it throws ("" when it does not throw).
inline QString errorOf(const std::function<void()> &body)
{
    try {
        body();
    } catch (const cw::Error &e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

// Writes `bytes` to `path` (a test's input file); false when it cannot.
inline bool writeFile(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

inline QString sourcePath(const QString &relative)
{
    return QDir(QStringLiteral(CW_SOURCE_DIR)).filePath(relative);
}

// Debian's interpreter: it has python3-onnx and python3-numpy (a pyenv python on PATH may not).
inline QString python()
{
    return QFileInfo::exists("/usr/bin/python3") ? QStringLiteral("/usr/bin/python3") : QStringLiteral("python3");
}

inline QString ortModuleDir()
{
    const QByteArray env = qgetenv("CW_ORT_DIR");
    return env.isEmpty() ? sourcePath("node_modules/onnxruntime-node") : QString::fromLocal8Bit(env);
}

inline bool ortAvailable()
{
    return QFileInfo::exists(ortModuleDir()) && !QStandardPaths::findExecutable("node").isEmpty();
}

// Runs `program args`, returns stdout; on failure sets *error to stderr and the exit code.
// `cwb ARGS` (the binary this build made): its exit code (-1 when it crashed or did not finish), stdout and
// stderr.
struct CwbResult {
    int exitCode = -1;
    QByteArray out, err;
};

inline CwbResult runCwb(const QStringList &args, int timeoutMs = 120000)
{
    QProcess p;
    p.start(QStringLiteral(CW_CWB_PATH), args);
    p.waitForFinished(timeoutMs);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

inline QByteArray runProcess(const QString &program, const QStringList &args, QString *error, int timeoutMs = 120000,
                             const QString &workingDir = {})
{
    QProcess p;
    if (!workingDir.isEmpty())
        p.setWorkingDirectory(workingDir);
    p.start(program, args);
    if (!p.waitForFinished(timeoutMs)) {
        if (error)
            *error = program + " did not finish: " + p.errorString();
        p.kill();
        return {};
    }
    if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        if (error)
            *error = QStringLiteral("%1 exited with %2: %3")
                         .arg(program)
                         .arg(p.exitCode())
                         .arg(QString::fromLocal8Bit(p.readAllStandardError()).trimmed());
        return p.readAllStandardOutput();
    }
    if (error)
        error->clear();
    return p.readAllStandardOutput();
}

// Every shard of the sweep plan FOLDER/plan.json computed by `cwb` (`cwb sweep … --shard I/N -o FOLDER/part-I.h5`, as
// the tasks of a Slurm job array would): the parts' paths, in shard order; *error empty, or the first failure.
inline QStringList runShards(const QString &cwb, const QString &folder, int shards, QString *error)
{
    QStringList parts;
    for (int s = 0; s < shards; ++s) {
        parts << folder + QStringLiteral("/part-%1.h5").arg(s);
        runProcess(cwb,
                   {QStringLiteral("sweep"), folder + QStringLiteral("/plan.json"), QStringLiteral("--shard"),
                    QStringLiteral("%1/%2").arg(s).arg(shards), QStringLiteral("-o"), parts.back()},
                   error, 300000);
        if (!error->isEmpty())
            break;
    }
    return parts;
}

// Runs a Python snippet with Debian's python3 (onnx, numpy) in `workingDir`.
inline bool runPython(const QString &code, const QString &workingDir, QString *error)
{
    runProcess(python(), {"-c", code}, error, 120000, workingDir);
    return error->isEmpty();
}

// Executes an ONNX file with onnxruntime-node on the given feeds; returns the graph outputs in order.
inline std::vector<cw::Tensor> runOrt(const QString &onnxPath, const std::vector<std::pair<std::string, cw::Tensor>> &feeds,
                                      QString *error)
{
    QTemporaryDir dir;
    QStringList args{sourcePath("tests/tools/ort_run.js"), onnxPath, dir.path()};
    for (size_t i = 0; i < feeds.size(); ++i) {
        const QString file = dir.filePath(QStringLiteral("in%1.npy").arg(i));
        cw::writeNpy(feeds[i].second, file.toStdString());
        args << QString::fromStdString(feeds[i].first) + "=" + file;
    }
    qputenv("NODE_PATH", QFileInfo(ortModuleDir()).absolutePath().toLocal8Bit());
    runProcess("node", args, error);
    std::vector<cw::Tensor> outputs;
    if (!error->isEmpty())
        return outputs;
    for (int i = 0;; ++i) {
        const QString file = dir.filePath(QStringLiteral("%1.npy").arg(i));
        if (!QFileInfo::exists(file))
            break;
        outputs.push_back(cw::readNpy(file.toStdString()));
    }
    return outputs;
}

// Empty when |a - b| <= atol + rtol * |b| everywhere (and shapes match); otherwise a description of the
// worst element.
inline QString mismatch(const cw::Tensor &actual, const cw::Tensor &expected, double rtol, double atol = 1e-6)
{
    if (actual.shape() != expected.shape())
        return QStringLiteral("shape %1 != expected %2")
            .arg(QString::fromStdString(cw::shapeToString(actual.shape())),
                 QString::fromStdString(cw::shapeToString(expected.shape())));
    const std::vector<float> a = actual.toFloatVector();
    const std::vector<float> b = expected.toFloatVector();
    double worst = 0;
    size_t worstAt = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double excess = std::abs(double(a[i]) - b[i]) - (atol + rtol * std::abs(double(b[i])));
        if (std::isnan(a[i]) != std::isnan(b[i]) || excess > worst) {
            worst = std::isnan(excess) ? INFINITY : excess;
            worstAt = i;
        }
    }
    if (worst <= 0)
        return {};
    return QStringLiteral("element %1: %2 vs expected %3").arg(worstAt).arg(a[worstAt]).arg(b[worstAt]);
}

inline cw::Tensor randomTensor(const cw::Shape &shape, unsigned seed, float lo = -1.f, float hi = 1.f)
{
    cw::Tensor t(cw::DType::Float32, shape);
    uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int64_t i = 0; i < t.numel(); ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        t.f32()[i] = lo + (hi - lo) * float((state >> 40) & 0xFFFFFF) / float(0xFFFFFF);
    }
    return t;
}

// Three Gaussian blobs in 2-D (centres on a triangle, spread 0.35): linearly separable with margin.
inline cw::Dataset blobs(int64_t perClass, uint64_t seed)
{
    cw::Dataset d;
    d.name = "blobs";
    const int64_t n = perClass * 3;
    d.x = cw::Tensor(cw::DType::Float32, {n, 2});
    const float cx[3] = {0.f, 2.f, 1.f}, cy[3] = {0.f, 0.f, 1.8f};
    uint64_t s = seed;
    auto uniform = [&] {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        return (double(s >> 11) + 0.5) / 9007199254740992.0;
    };
    for (int64_t i = 0; i < n; ++i) {
        const int64_t c = i % 3;
        const double r = 0.35 * std::sqrt(-2 * std::log(uniform())), a = 2 * M_PI * uniform();
        d.x.f32()[2 * i] = cx[c] + float(r * std::cos(a));
        d.x.f32()[2 * i + 1] = cy[c] + float(r * std::sin(a));
        d.labels.push_back(c);
    }
    return d;
}

// Bit for bit the same initializers (names, shapes, bytes).
inline bool sameWeights(const cw::Model &a, const cw::Model &b)
{
    if (a.graph.initializers.size() != b.graph.initializers.size())
        return false;
    for (const auto &[name, t] : a.graph.initializers) {
        auto it = b.graph.initializers.find(name);
        if (it == b.graph.initializers.end() || it->second.shape() != t.shape() ||
            std::memcmp(it->second.rawData(), t.rawData(), t.byteSize()) != 0)
            return false;
    }
    return true;
}

} // namespace testutil
