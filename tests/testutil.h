// Shared helpers for the Qt Test executables: paths, the onnxruntime reference runner, tensor comparison.
#pragma once

#include <QCryptographicHash>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>
#include <QString>
#include <QTemporaryDir>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/error.h"
#include "core/base/tensor.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"

namespace testutil {

// A sanitizer build (installers/setup.sh sanitize or tsan): slower, and with more memory per process.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
constexpr bool kSanitized = __has_feature(address_sanitizer) || __has_feature(thread_sanitizer);
#else
constexpr bool kSanitized = false;
#endif

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

// A program's run: its exit code (-1 when it was killed by a signal or did not finish), its standard output and
// error, and why it could not be run or did not finish ("" when it ran to its end).
struct ProcessResult {
    int exitCode = -1;
    QByteArray out, err;
    QString failure;
};

// Runs `program args` (looked up on PATH, in `workingDir` when given) and waits up to timeoutMs, then kills it.
// posix_spawn and pipes, not QProcess: after Qt 6.4's QProcess has started a child, gcc's ThreadSanitizer no
// longer sees what the calling thread does (docs/reliability.md), and the job and GUI tests run under it.
inline ProcessResult spawnProcess(const QString &program, const QStringList &args, int timeoutMs,
                                  const QString &workingDir = {})
{
    ProcessResult r;
    std::vector<std::string> strings{program.toStdString()};
    for (const QString &a : args)
        strings.push_back(a.toStdString());
    std::vector<char *> argv;
    for (std::string &s : strings)
        argv.push_back(s.data());
    argv.push_back(nullptr);
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return {-1, {}, {}, program + ": no pipe: " + QString::fromLocal8Bit(std::strerror(errno))};
    if (pipe2(err, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        return {-1, {}, {}, program + ": no pipe: " + QString::fromLocal8Bit(std::strerror(errno))};
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    const std::string dir = workingDir.toStdString();
    if (!dir.empty())
        posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
    pid_t pid = 0;
    const int spawned = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    if (spawned != 0) {
        close(out[0]);
        close(err[0]);
        return {-1, {}, {}, program + ": " + QString::fromLocal8Bit(std::strerror(spawned))};
    }
    QElapsedTimer clock;
    clock.start();
    for (int open = 2; open > 0;) {
        const qint64 left = timeoutMs - clock.elapsed();
        if (left <= 0) {
            kill(pid, SIGKILL);
            r.failure = QStringLiteral("%1 did not finish in %2 s").arg(program).arg(timeoutMs / 1000.0);
            break;
        }
        if (poll(fds, 2, int(std::min<qint64>(left, 1000))) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buffer[65536];
            const ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
            if (got > 0) {
                (i == 0 ? r.out : r.err).append(buffer, qsizetype(got));
            } else if (got == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1; // poll skips it
                --open;
            }
        }
    }
    for (const pollfd &f : fds)
        if (f.fd >= 0)
            close(f.fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (r.failure.isEmpty() && WIFEXITED(status))
        r.exitCode = WEXITSTATUS(status);
    return r;
}

// `cwb ARGS` (the binary this build made): its exit code (-1 when it crashed or did not finish), stdout and
// stderr.
inline ProcessResult runCwb(const QStringList &args, int timeoutMs = 120000)
{
    return spawnProcess(QStringLiteral(CW_CWB_PATH), args, timeoutMs);
}

// Why a run of `program` failed (it did not run or finish, or its exit code and stderr); "" when it succeeded.
inline QString failureOf(const QString &program, const ProcessResult &r)
{
    if (!r.failure.isEmpty())
        return r.failure;
    if (r.exitCode != 0)
        return QStringLiteral("%1 exited with %2: %3")
            .arg(program)
            .arg(r.exitCode)
            .arg(QString::fromLocal8Bit(r.err).trimmed());
    return {};
}

// Runs `program args`, returns stdout; on failure sets *error to why (stderr and the exit code), else clears it.
inline QByteArray runProcess(const QString &program, const QStringList &args, QString *error, int timeoutMs = 120000,
                             const QString &workingDir = {})
{
    const ProcessResult r = spawnProcess(program, args, timeoutMs, workingDir);
    if (error)
        *error = failureOf(program, r);
    return r.failure.isEmpty() ? r.out : QByteArray();
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

// Where reference outputs are kept (cachedReference): $CW_REFERENCE_CACHE, else compression-workbench/reference in
// the user's cache folder, beside the downloaded models; "" when CW_REFERENCE_CACHE=off.
inline QString referenceCacheRoot()
{
    const QByteArray env = qgetenv("CW_REFERENCE_CACHE");
    if (env == "off")
        return {};
    if (!env.isEmpty())
        return QString::fromLocal8Bit(env);
    return QStandardPaths::writableLocation(QStandardPaths::GenericCacheLocation) +
           QStringLiteral("/compression-workbench/reference");
}

// Adds a file's bytes to a key; false when it cannot be read.
inline bool addFileToKey(QCryptographicHash &key, const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return false;
    key.addData(path.section('/', -1).toUtf8()); // the name too: a script may look at it
    return key.addData(&f);
}

// The outputs of a reference program (onnxruntime, llama.cpp, Hugging Face's tokenizers) for one input, kept
// under the SHA-256 of everything they depend on (`key`: the reference's version, its script, every input's
// bytes), so each distinct run happens once per machine and not once per test run and build (CI runs the suite
// twice, and keeps this folder with the models). The first time, compute(dir) writes the outputs into a fresh
// folder, which then takes the key's name in one rename; the folder holding the outputs is returned. With the cache
// off (or `cacheable` false), compute writes into `scratch`. "" with *error set when compute failed.
inline QString cachedReference(const QByteArray &key, bool cacheable, const QTemporaryDir &scratch,
                               const std::function<void(const QString &dir, QString *error)> &compute, QString *error)
{
    const QString root = cacheable ? referenceCacheRoot() : QString();
    if (root.isEmpty() || !QDir().mkpath(root)) {
        compute(scratch.path(), error);
        return error->isEmpty() ? scratch.path() : QString();
    }
    const QString done = root + QLatin1Char('/') + QString::fromLatin1(key.toHex());
    if (QFileInfo::exists(done)) {
        error->clear();
        return done;
    }
    QTemporaryDir fresh(root + QStringLiteral("/partial-XXXXXX"));
    compute(fresh.path(), error);
    if (!error->isEmpty())
        return {};
    if (QDir().rename(fresh.path(), done))
        fresh.setAutoRemove(false);
    else if (!QFileInfo::exists(done)) // else another test made it meanwhile, from the same inputs
        *error = QStringLiteral("cannot keep a reference's outputs in ") + done;
    return error->isEmpty() ? done : QString();
}

// runProcess for a reference program (llama_ref, node with a reference script), its outputs kept by
// cachedReference under the program's and every argument's bytes (a file's contents, else the text): its standard
// output is returned, its standard error put into *err when given, and the file it writes to args[outputArg]
// (when >= 0; not part of the key) is written there.
inline QByteArray runReference(const QString &program, const QStringList &args, QString *error, int timeoutMs = 600000,
                               int outputArg = -1, QByteArray *err = nullptr)
{
    QCryptographicHash key(QCryptographicHash::Sha256);
    key.addData("runReference 1"); // what the folder holds: stdout, stderr, output
    for (int i = -1; i < args.size(); ++i) {
        const QString arg = i < 0 ? program : args[i];
        if (i != outputArg && !(QFileInfo(arg).isFile() && addFileToKey(key, arg)))
            key.addData(arg.toUtf8());
    }
    QTemporaryDir scratch;
    const QString dir = cachedReference(
        key.result(), true, scratch,
        [&](const QString &into, QString *failure) {
            QStringList withOut = args;
            if (outputArg >= 0)
                withOut[outputArg] = into + QStringLiteral("/output");
            const ProcessResult r = spawnProcess(program, withOut, timeoutMs);
            *failure = failureOf(program, r);
            if (failure->isEmpty() &&
                !(writeFile(into + QStringLiteral("/stdout"), r.out) && writeFile(into + QStringLiteral("/stderr"), r.err)))
                *failure = QStringLiteral("cannot write into ") + into;
        },
        error);
    if (!error->isEmpty())
        return {};
    QFile out(dir + QStringLiteral("/stdout")), said(dir + QStringLiteral("/stderr"));
    if (!out.open(QIODevice::ReadOnly) || !said.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read a reference's outputs in ") + dir;
        return {};
    }
    if (err)
        *err = said.readAll();
    if (outputArg >= 0) {
        QFile::remove(args[outputArg]);
        if (!QFile::copy(dir + QStringLiteral("/output"), args[outputArg]))
            *error = QStringLiteral("cannot copy a reference's output to ") + args[outputArg];
    }
    return out.readAll();
}

// Executes an ONNX file with onnxruntime-node on the given feeds; returns the graph outputs in order (kept by
// cachedReference). A model with integer products (QLinearConv, QGemm, MatMulInteger, ...) runs with its int8
// weights made uint8 (tests/tools/u8_weights.py: the same products): onnxruntime's u8 x s8 kernels add pairs of
// products in saturating int16 on CPUs without VNNI, its u8 x u8 kernels never saturate.
inline std::vector<cw::Tensor> runOrt(const QString &onnxPath, const std::vector<std::pair<std::string, cw::Tensor>> &feeds,
                                      QString *error)
{
    QTemporaryDir dir;
    const QString script = sourcePath("tests/tools/ort_run.js");
    QCryptographicHash key(QCryptographicHash::Sha256);
    key.addData("runOrt 2"); // what the folder holds: N.npy (2: int8 weights run as uint8)
    QFile package(ortModuleDir() + QStringLiteral("/package.json")); // its version
    bool cacheable = package.open(QIODevice::ReadOnly) && key.addData(&package) && addFileToKey(key, script);
    QFile model(onnxPath);
    bool integerProducts = false;
    if (model.open(QIODevice::ReadOnly)) {
        const QByteArray bytes = model.readAll();
        key.addData(bytes);
        for (const char *op : {"QLinearConv", "QLinearMatMul", "QGemm", "MatMulInteger", "ConvInteger"})
            integerProducts = integerProducts || bytes.contains(op);
        // Weights in files beside the model (external data, named by a "location" entry) are not in the key.
        cacheable = cacheable && !bytes.contains("location");
    }
    QStringList args{script, onnxPath};
    for (size_t i = 0; i < feeds.size(); ++i) {
        const QString file = dir.filePath(QStringLiteral("in%1.npy").arg(i));
        cw::writeNpy(feeds[i].second, file.toStdString());
        args << QString::fromStdString(feeds[i].first) + "=" + file;
        key.addData(QByteArray::fromStdString(feeds[i].first));
        cacheable = addFileToKey(key, file) && cacheable;
    }
    qputenv("NODE_PATH", QFileInfo(ortModuleDir()).absolutePath().toLocal8Bit());
    const QString out = cachedReference(
        key.result(), cacheable, dir,
        [&](const QString &into, QString *failure) {
            QStringList withOut = args;
            withOut.insert(2, into);
            if (integerProducts) {
                withOut[1] = dir.filePath(QStringLiteral("u8_weights.onnx"));
                runProcess(python(), {sourcePath("tests/tools/u8_weights.py"), onnxPath, withOut[1]}, failure);
                if (!failure->isEmpty())
                    return;
            }
            runProcess("node", withOut, failure);
        },
        error);
    std::vector<cw::Tensor> outputs;
    if (out.isEmpty())
        return outputs;
    for (int i = 0;; ++i) {
        const QString file = QDir(out).filePath(QStringLiteral("%1.npy").arg(i));
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

// x [N, 2, 3, 3] -> 3x3 conv (8 channels, padded) -> relu -> 1x1 conv -> y [N, 4, 3, 3]: an output that is not logits,
// with a hidden layer that slimming can narrow.
inline cw::Model twoConvs(unsigned seed)
{
    cw::Model m;
    m.sourcePath = "two-convs";
    cw::Graph &g = m.graph;
    g.inputs = {cw::ValueInfo{"x", cw::DType::Float32, {-1, 2, 3, 3}, true}};
    g.outputs = {cw::ValueInfo{"y", cw::DType::Float32, {-1, 4, 3, 3}, true}};
    g.initializers["W1"] = randomTensor({8, 2, 3, 3}, seed, -0.5f, 0.5f);
    g.initializers["b1"] = randomTensor({8}, seed + 1, -0.1f, 0.1f);
    g.initializers["W2"] = randomTensor({4, 8, 1, 1}, seed + 2, -0.5f, 0.5f);
    g.nodes = {cw::Node{"conv1", "Conv", "", {"x", "W1", "b1"}, {"h"}, {{"pads", cw::Attribute::makeInts({1, 1, 1, 1})}}},
               cw::Node{"relu", "Relu", "", {"h"}, {"r"}, {}}, cw::Node{"conv2", "Conv", "", {"r", "W2"}, {"y"}, {}}};
    return m;
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
