// Untrusted input (issue 10): files this test writes — sizes that overflow, headers that declare gigabytes the
// file does not hold, degenerate label arrays, nodes without outputs, numbers out of range — must give a
// cw::Error naming the file and what is wrong: no crash, no hang, no allocation of what a header claims. The
// same files through `cwb` must end with exit code 1 and that one line. Kernel-level size checks (Pad, Resize,
// Tile, Range, ...) are rows of test_ops' errors().
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/base/process.h"
#include "core/base/progress.h"
#include "core/base/rehearse.h"
#include "core/cluster/sweep.h"
#include "core/compress/recipe.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "testutil.h"

using namespace cw;

namespace {

// Writes every file the rows read, each in its own folder. numpy for arrays, h5py for HDF5, onnx's helper for
// graphs (never checked: the point is graphs the checker would refuse); the rest byte by byte.
const char *kMakeFiles = R"PY(
import gzip, json, os, struct
import h5py, numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper

def put(name, data):
    os.makedirs(os.path.dirname(name), exist_ok=True)
    open(name, 'wb').write(data)

def npy_header(descr, shape):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    d += ' ' * ((64 - (10 + len(d) + 1) % 64) % 64) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(d)) + d.encode()

# .npy: element count overflowing int64; byte count overflowing; 2.9 GB declared in 128 bytes; labels [3, 0].
put('npy_numel/x.npy', npy_header('<f4', '(1099511627776, 1099511627776, 16)'))
put('npy_bytes/x.npy', npy_header('<f8', '(2147483648, 1073741824)'))
put('npy_no_data/x.npy', npy_header('<f4', '(1000, 1000, 727)'))
put('npy_descr/x.npy', npy_header('<f8888888888888888884', '(2,)'))
os.makedirs('npy_labels', exist_ok=True)
np.save('npy_labels/x.npy', np.ones((3, 4), 'f4'))
np.save('npy_labels/y.npy', np.zeros((3, 0), 'i8'))
os.makedirs('dir/x.npy', exist_ok=True)
os.makedirs('budget', exist_ok=True)
np.save('budget/x.npy', np.zeros((512, 1024), 'f4'))  # 2 MiB

# .npz: labels [3, 0]; a deflated entry claiming 4 GiB.
os.makedirs('npz', exist_ok=True)
np.savez('npz/labels.npz', x=np.ones((3, 4), 'f4'), y=np.zeros((3, 0), 'i8'))
np.savez_compressed('npz/base_deflated.npz', x=np.zeros((4, 4), 'f4'))
b = bytearray(open('npz/base_deflated.npz', 'rb').read())
c = b.rfind(b'PK\x01\x02')
b[c + 24:c + 28] = struct.pack('<I', 0xFFFFFF00)
put('npz/deflate_claim.npz', bytes(b))
# A zip64 end record whose central directory size is 2^64 - 8: offset + size wraps to just below the offset.
np.savez('npz/base.npz', x=np.ones((2, 2), 'f4'))
b = open('npz/base.npz', 'rb').read()
e = b.rfind(b'PK\x05\x06')
entries, cdoff = struct.unpack('<H', b[e + 10:e + 12])[0], struct.unpack('<I', b[e + 16:e + 20])[0]
record = b'PK\x06\x06' + struct.pack('<QHHIIQQQQ', 44, 45, 45, 0, 0, entries, entries, 2**64 - 8, cdoff)
locator = b'PK\x06\x07' + struct.pack('<IQI', 0, e, 1)
eocd = bytearray(b[e:])
eocd[16:20] = b'\xff\xff\xff\xff'
put('npz/zip64_wrap.npz', b[:e] + record + locator + bytes(eocd))

# IDX: four dimensions of 2^31 - 1; 40 GB of float32 declared by a 16-byte header, raw and gzip.
put('idx_numel/d-images-idx3-ubyte', bytes([0, 0, 8, 4]) + struct.pack('>IIII', *[0x7FFFFFFF] * 4))
put('idx_no_data/d-images-idx3-ubyte', bytes([0, 0, 0x0D, 3]) + struct.pack('>III', 10000, 1000, 1000))
put('idx_empty/d-images-idx3-ubyte', bytes([0, 0, 8, 3]) + struct.pack('>III', 620757039, 0, 3))
put('idx_gz_no_data/d-images-idx3-ubyte.gz', gzip.compress(bytes([0, 0, 8, 3]) + struct.pack('>III', 100000, 1000, 1000)))

# HDF5 datasets: 4 GB declared, nothing stored (plain and deflated); labels [3, 0].
os.makedirs('h5', exist_ok=True)
with h5py.File('h5/no_data.h5', 'w') as f:
    f.create_dataset('x', shape=(100000, 10000), dtype='f4')
with h5py.File('h5/no_data_deflated.h5', 'w') as f:
    f.create_dataset('x', shape=(100000, 10000), dtype='f4', chunks=(100, 10000), compression='gzip')
with h5py.File('h5/labels.h5', 'w') as f:
    f['x'] = np.ones((3, 4), 'f4')
    f['y'] = np.zeros((3, 0), 'i8')

# ONNX graphs.
def save(name, nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, 'g', inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)])
    m.ir_version = 7
    os.makedirs(os.path.dirname(name), exist_ok=True)
    onnx.save(m, name)

def f32(name, shape=None):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

def i64(name, shape=None):
    return helper.make_tensor_value_info(name, TensorProto.INT64, shape)

def init(name, array):
    return numpy_helper.from_array(np.array(array), name)

save('onnx/relu_no_outputs.onnx', [helper.make_node('Relu', ['x'], [])], [f32('x', [1])], [f32('x', [1])])
save('onnx/constant_no_outputs.onnx', [helper.make_node('Constant', [], [], value=init('', np.ones(1, 'f4')))],
     [f32('x', [1])], [f32('x', [1])])
for name, limit, delta in [('range_inf', np.inf, 1), ('range_nan', 1, np.nan), ('range_neg_inf', -np.inf, 1)]:
    save('onnx/%s.onnx' % name, [helper.make_node('Range', ['s', 'l', 'd'], ['y'])], [], [f32('y')],
         [init('s', np.float32(0)), init('l', np.float32(limit)), init('d', np.float32(delta))])
save('onnx/range_empty_start.onnx', [helper.make_node('Range', ['s', 'l', 'd'], ['y'])], [], [f32('y')],
     [init('s', np.zeros(0, 'f4')), init('l', np.float32(1)), init('d', np.float32(1))])
save('onnx/range_int64_span.onnx', [helper.make_node('Range', ['s', 'l', 'd'], ['y'])], [], [i64('y')],
     [init('s', np.int64(-2**62)), init('l', np.int64(2**62)), init('d', np.int64(1))])
save('onnx/constant_of_shape_negative.onnx', [helper.make_node('ConstantOfShape', ['s'], ['y'])], [], [f32('y')],
     [init('s', np.array([-5], 'i8'))])
save('onnx/constant_of_shape_huge.onnx', [helper.make_node('ConstantOfShape', ['s'], ['y'])], [], [f32('y')],
     [init('s', np.array([2**40, 2**40, 2**40], 'i8'))])
save('onnx/tile_overflow.onnx', [helper.make_node('Tile', ['x', 'r'], ['y'])], [f32('x', [2])], [f32('y')],
     [init('r', np.array([2**62], 'i8'))])
save('onnx/pad_overflow.onnx', [helper.make_node('Pad', ['x', 'p'], ['y'])], [f32('x', [2])], [f32('y')],
     [init('p', np.array([2**62, 2**62], 'i8'))])
save('onnx/resize_inf.onnx', [helper.make_node('Resize', ['x', '', 's'], ['y'])], [f32('x', [1, 1, 2, 2])], [f32('y')],
     [init('s', np.array([1, 1, np.inf, 1], 'f4'))])
# A shape input declared with 2^40 entries: its length must not become one symbolic dimension per entry.
save('onnx/reshape_long_shape.onnx', [helper.make_node('Reshape', ['x', 's'], ['y'])],
     [f32('x', [4]), i64('s', [2**40])], [f32('y')])
save('onnx/expand_long_shape.onnx', [helper.make_node('Expand', ['x', 's'], ['y'])],
     [f32('x', [4]), i64('s', [2**40])], [f32('y')])
# Attributes at the ends of int64, where rounding a size up as (a + b - 1) / b overflowed.
big = 2**63 - 1
save('onnx/conv_negative_pads.onnx', [helper.make_node('Conv', ['x', 'w'], ['y'], pads=[-1, 0, 0, 0])],
     [f32('x', [1, 1, 4, 4])], [f32('y')], [init('w', np.ones((1, 1, 2, 2), 'f4'))])
save('onnx/conv_huge_dilation.onnx', [helper.make_node('Conv', ['x', 'w'], ['y'], dilations=[1, big])],
     [f32('x', [1, 1, 4, 4])], [f32('y')], [init('w', np.ones((1, 1, 2, 2), 'f4'))])
for name, step in [('slice_step_max', big), ('slice_step_min', -2**63)]:
    save('onnx/%s.onnx' % name, [helper.make_node('Slice', ['x', 's', 'e', 'a', 't'], ['y'])], [f32('x', [5])],
         [f32('y')], [init('s', np.array([2 if step > 0 else -1], 'i8')), init('e', np.array([5 if step > 0 else -6], 'i8')),
                      init('a', np.array([0], 'i8')), init('t', np.array([step], 'i8'))])
save('onnx/dequantize_one_huge_block.onnx', [helper.make_node('DequantizeLinear', ['q', 's'], ['w'], axis=1, block_size=big),
                                             helper.make_node('MatMul', ['x', 'w'], ['y'])],
     [f32('x', [2, 4])], [f32('y')], [init('q', np.ones((4, 6), 'i1')), init('s', np.full((4, 1), 0.5, 'f4'))], opset=21)
for name, dims in [('initializer_overflow', [2**40, 2**40]), ('initializer_no_data', [1000, 1000, 1000])]:
    t = TensorProto(name='w', data_type=TensorProto.FLOAT, dims=dims)  # shape only: no data
    save('onnx/%s.onnx' % name, [helper.make_node('Relu', ['w'], ['y'])], [], [f32('y')], [t])
json.dump({'prune': {'ratio': 0.5}}, open('recipe.json', 'w'))

# The native .h5 model written by the test (base.h5) with its first node's outputs removed.
with h5py.File('h5model/base.h5', 'r') as f, h5py.File('h5model/no_outputs.h5', 'w') as g:
    for k in f.attrs:
        g.attrs[k] = f.attrs[k]
    for k in f:
        f.copy(k, g)
    nodes = json.loads(g['graph/nodes'][()])
    nodes[0]['outputs'] = []
    del g['graph/nodes']
    g['graph/nodes'] = np.bytes_(json.dumps(nodes))
)PY";

} // namespace

class TestReliability : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase() { setMemoryBudget(0); }
    void sizeArithmetic();
    void jsonIntegers();
    void datasets_data();
    void datasets();
    void memoryBudget();
    void memoryBudgetCountsEveryTensor();
    void reusedBuffersAreClean();
    void models_data();
    void models();
    void recipes_data();
    void recipes();
    void recipeLrRoundTrips();
    void crashIsolation();
    void childProcesses();
    void cli_data();
    void cli();

private:
    QString path(const QString &relative) const { return m_dir.filePath(relative); }
    QTemporaryDir m_dir;
};

void TestReliability::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(QDir(m_dir.path()).mkpath("h5model"));
    saveModel(loadModel("demo"), path("h5model/base.h5").toStdString());
    QString error;
    QVERIFY2(testutil::runPython(kMakeFiles, m_dir.path(), &error), qPrintable(error));
    // A fuzzer's find that crashes libhdf5 1.10.8 itself (an out-of-bounds read in a group's local heap).
    QVERIFY(QFile::copy(CW_SOURCE_DIR "/tests/fuzz/findings/h5_dataset-libhdf5-segv.h5", path("libhdf5_segv.h5")));
    // Models that declare more than they hold (tests/fuzz/findings/h5_model-*): a string type of 1 GiB, and a
    // packed and a sparse tensor whose byte datasets have extents of 128 MiB and 8 MiB in a 9 KB file.
    for (const char *name : {"huge-fixed-string", "packed-huge-extent", "sparse-huge-extent"})
        QVERIFY(QFile::copy(CW_SOURCE_DIR "/tests/fuzz/findings/h5_model-" + QString(name) + ".h5",
                            path("h5model/" + QString(name) + ".h5")));
}

void TestReliability::sizeArithmetic()
{
    const int64_t big = int64_t(1) << 40;
    QCOMPARE(shapeNumel({}), int64_t(1));
    QCOMPARE(shapeNumel({3, 0, big}), int64_t(0));
    // An empty shape whose other sizes overflow: its strides would (a fuzzer's find, in the broadcast plan).
    QVERIFY(testutil::errorOf([&] { shapeNumel({0, big, big}); }).contains("64 bits"));
    QVERIFY(testutil::errorOf([&] { shapeNumel({big, big, 0}); }).contains("64 bits"));
    QCOMPARE(shapeNumel({big, 1 << 20}), big << 20);
    QVERIFY(testutil::errorOf([&] { shapeNumel({big, big}); }).contains("64 bits"));
    QVERIFY(testutil::errorOf([&] { shapeNumel({2, -1}); }).contains("negative"));
    QCOMPARE(shapeByteSize({3, 5}, DType::Int64), size_t(120));
    QVERIFY(testutil::errorOf([&] { shapeByteSize({int64_t(1) << 61}, DType::Float32); }).contains("64 bits"));
    QCOMPARE(checkedMul(-4, 5), int64_t(-20));
    QVERIFY(testutil::errorOf([&] { checkedMul(INT64_MAX, 2); }).contains("overflow"));
    QVERIFY(testutil::errorOf([&] { checkedAdd(INT64_MAX, 1); }).contains("overflow"));
    // The wrapped byte size that once allocated a tiny buffer for 2^62 elements.
    QVERIFY(testutil::errorOf([&] { Tensor(DType::Float32, {int64_t(1) << 62}); }).contains("64 bits"));
    QVERIFY(testutil::errorOf([&] { Tensor(DType::Float32, {int64_t(1) << 50}); }).contains("memory budget"));
    // Empty vectors: no memcpy from a null pointer.
    QCOMPARE(Tensor::fromInt64s({0}, {}).numel(), int64_t(0));
    QCOMPARE(Tensor::fromFloats({2, 0}, {}).numel(), int64_t(0));
}

// Integers in untrusted JSON documents: nlohmann's get<int>() of a float such as 1e99 is a cast whose result is
// undefined (UBSan's find in a sweep part); integerFromJson refuses it, and anything T cannot hold.
void TestReliability::jsonIntegers()
{
    using nlohmann::json;
    QCOMPARE(integerFromJson(json(-7)), int64_t(-7));
    QCOMPARE(integerFromJson<uint64_t>(json(UINT64_MAX)), UINT64_MAX);
    QCOMPARE(integerFromJson<int>(json{{"n", 3}}, "n"), 3);
    QCOMPARE(integerFromJson(json::object(), "n", int64_t(5)), int64_t(5));
    QCOMPARE(integerFromJson(json{{"n", nullptr}}, "n", int64_t(5)), int64_t(5));
    QCOMPARE(integersFromJson<int>(json{1, 2, 3}), (std::vector<int>{1, 2, 3}));
    QVERIFY(testutil::errorOf([&] { integerFromJson<int>(json(1e99)); }).contains("expected an integer, got 1e+99"));
    QVERIFY(testutil::errorOf([&] { integerFromJson(json(2.5)); }).contains("got 2.5"));
    QVERIFY(testutil::errorOf([&] { integerFromJson(json("3")); }).contains("got string"));
    QVERIFY(testutil::errorOf([&] { integerFromJson(json(UINT64_MAX)); }).contains("in range"));
    QVERIFY(testutil::errorOf([&] { integerFromJson<uint32_t>(json(-1)); }).contains("in range"));
    QVERIFY(testutil::errorOf([&] { integerFromJson<int>(json{{"n", 1e10}}, "n"); }).contains("\"n\": expected"));
    QVERIFY(testutil::errorOf([&] { integerFromJson(json{{"n", 0.5}}, "n", int64_t(0)); }).contains("\"n\""));
    QVERIFY(testutil::errorOf([&] { integersFromJson(json{1, 2.5}); }).contains("got 2.5"));
    QVERIFY(testutil::errorOf([&] { integersFromJson(json(1)); }).contains("an array"));
    // The fuzzer's input: a sweep part of the seed corpus whose shard number is 1e99.
    QFile seed(testutil::sourcePath("tests/fuzz/corpus/sweep/evaluate-part.json"));
    QVERIFY(seed.open(QIODevice::ReadOnly));
    const QByteArray part = seed.readAll();
    QVERIFY(part.contains("\"shard\":0,"));
    cw::cluster::partFromJson(part.toStdString(), "part.json"); // the seed itself reads
    const std::string huge = QByteArray(part).replace("\"shard\":0,", "\"shard\":1e99,").toStdString();
    QVERIFY(testutil::errorOf([&] { cw::cluster::partFromJson(huge, "part.json"); })
                .contains("'part.json': \"shard\": expected an integer, got 1e+99"));
}

void TestReliability::datasets_data()
{
    QTest::addColumn<QString>("reader"); // dataset (loadDataset), npy (readNpy), npz (readNpz)
    QTest::addColumn<QString>("file");
    QTest::addColumn<QStringList>("message"); // fragments the error must contain, besides the file's name

    auto row = [](const char *name, const char *reader, const char *file, QStringList message) {
        QTest::newRow(name) << QString(reader) << QString(file) << message;
    };
    row("npy element count overflows", "dataset", "npy_numel/x.npy", {"impossible .npy shape"});
    row("npy item size overflows", "dataset", "npy_descr/x.npy", {"unsupported dtype '<f8888888888888888884'"});
    row("npy byte count overflows", "dataset", "npy_bytes/x.npy", {"impossible .npy shape"});
    row("npy declares 2.9 GB in 128 bytes", "dataset", "npy_no_data/x.npy", {"truncated .npy data", "2908000000"});
    row("npy labels [3, 0]", "dataset", "npy_labels/x.npy", {"y.npy", "[3, 0]", "no class"});
    row("npy a directory", "npy", "dir/x.npy", {"is a directory"});
    row("npz labels [3, 0]", "dataset", "npz/labels.npz", {"[3, 0]", "no class"});
    row("npz deflated entry claims 4 GiB", "dataset", "npz/deflate_claim.npz", {"claims 4294967040 bytes"});
    row("npz zip64 directory size wraps", "npz", "npz/zip64_wrap.npz", {"central directory out of bounds"});
    row("npz a directory", "npz", "dir/x.npy", {"is a directory"});
    row("IDX element count overflows", "dataset", "idx_numel/d-images-idx3-ubyte", {"impossible IDX shape"});
    row("IDX declares 40 GB", "dataset", "idx_no_data/d-images-idx3-ubyte", {"truncated file", "only 0"});
    row("IDX 620 million empty samples", "dataset", "idx_empty/d-images-idx3-ubyte", {"[0, 3]", "no elements"});
    row("IDX gzip declares 100 GB", "dataset", "idx_gz_no_data/d-images-idx3-ubyte.gz", {"truncated file", "at most"});
    row("HDF5 declares 4 GB, stores nothing", "dataset", "h5/no_data.h5", {"dataset 'x'", "stores only 0"});
    row("HDF5 deflated, stores nothing", "dataset", "h5/no_data_deflated.h5", {"dataset 'x'", "stores only 0"});
    row("HDF5 labels [3, 0]", "dataset", "h5/labels.h5", {"[3, 0]", "no class"});
}

void TestReliability::datasets()
{
    QFETCH(QString, reader);
    QFETCH(QString, file);
    QFETCH(QStringList, message);
    const std::string p = path(file).toStdString();
    const QString error = testutil::errorOf([&] {
        if (reader == "npy")
            readNpy(p);
        else if (reader == "npz")
            readNpz(p);
        else
            loadDataset(p);
    });
    QVERIFY2(!error.isEmpty(), "no cw::Error");
    QVERIFY2(error.contains(QFileInfo(file).path()), qPrintable(error)); // the features' or the labels' file
    for (const QString &m : message)
        QVERIFY2(error.contains(m), qPrintable("'" + error + "' lacks '" + m + "'"));
}

// The budget holds for all tensors alive together: one within it is refused when the others already hold the
// rest, and allowed again once they are freed.
void TestReliability::memoryBudgetCountsEveryTensor()
{
    setMemoryBudget(liveTensorBytes() + (3 << 20)); // 3 MiB more than what this process holds now
    QString error;
    {
        const Tensor a(DType::Float32, {512, 1024}); // 2 MiB
        QCOMPARE(a.numel(), int64_t(512 * 1024));
        error = testutil::errorOf([] { Tensor b(DType::Float32, {512, 1024}); });
    }
    const QString after = testutil::errorOf([] { Tensor c(DType::Float32, {512, 1024}); });
    setMemoryBudget(0);
    QVERIFY2(error.contains("would bring the tensors in memory to") && error.contains("memory budget"),
             qPrintable(error));
    QVERIFY2(after.isEmpty(), qPrintable(after));
}

// Freed buffers up to 64 KiB are kept for the next tensor of their size (per thread): kept ones are not counted as
// live, and a zero-filled tensor made from one is zeros whatever the freed tensor held.
void TestReliability::reusedBuffersAreClean()
{
    const uint64_t before = liveTensorBytes();
    for (int64_t n : {1, 15, 16, 1000, 16384}) {
        {
            Tensor dirty = Tensor::uninitialized(DType::Float32, {n});
            std::fill_n(dirty.f32(), n, 7.f);
            QCOMPARE(liveTensorBytes(), before + uint64_t(n) * 4);
        }
        QCOMPARE(liveTensorBytes(), before);
        const std::vector<float> v = Tensor(DType::Float32, {n}).toFloatVector();
        QVERIFY2(std::all_of(v.begin(), v.end(), [](float x) { return x == 0.f; }), qPrintable(QString::number(n)));
    }
}

void TestReliability::memoryBudget()
{
    // A valid 2 MiB array and the demo model under a 1 MiB budget: refused before allocating, naming the file and
    // the array or tensor; the default budget takes both.
    setMemoryBudget(1 << 20);
    const QString error = testutil::errorOf([&] { loadDataset(path("budget/x.npy").toStdString()); });
    const QString model = testutil::errorOf([&] { loadModel(path("h5model/base.h5").toStdString()); });
    setMemoryBudget(0);
    QVERIFY2(error.contains("budget/x.npy") && error.contains("[512, 1024]") && error.contains("memory budget of 1048576"),
             qPrintable(error));
    QVERIFY2(model.contains("base.h5") && model.contains("[128, 3136]") && model.contains("memory budget"),
             qPrintable(model)); // the demo's largest weight is 1.5 MiB
    QCOMPARE(loadDataset(path("budget/x.npy").toStdString()).size(), int64_t(512));
    QVERIFY(cw::memoryBudget() >= (uint64_t(64) << 20));
}

void TestReliability::models_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QStringList>("message"); // empty: the model loads

    auto row = [](const char *name, const char *file, QStringList message) {
        QTest::newRow(name) << QString(file) << message;
    };
    row("node without outputs", "onnx/relu_no_outputs.onnx", {"Relu", "has no outputs"});
    row("Constant without outputs", "onnx/constant_no_outputs.onnx", {"Constant", "has no outputs"});
    row("Range to infinity", "onnx/range_inf.onnx", {"Range", "no element count that fits"});
    row("Range with NaN delta", "onnx/range_nan.onnx", {"Range", "no element count that fits"});
    row("Range to minus infinity (empty)", "onnx/range_neg_inf.onnx", {});
    row("Range of an empty start", "onnx/range_empty_start.onnx", {"Range", "must be scalars"});
    row("Range over 2^63 int64s", "onnx/range_int64_span.onnx", {"Range", "no element count that fits"});
    row("ConstantOfShape negative", "onnx/constant_of_shape_negative.onnx", {"ConstantOfShape", "negative dimension -5"});
    row("ConstantOfShape huge (not run at load)", "onnx/constant_of_shape_huge.onnx", {});
    row("Tile overflows", "onnx/tile_overflow.onnx", {"Tile", "overflow"});
    row("Pad overflows", "onnx/pad_overflow.onnx", {"Pad", "overflow"});
    row("Resize to infinity", "onnx/resize_inf.onnx", {"Resize", "finite"});
    row("Reshape by a 2^40-long shape", "onnx/reshape_long_shape.onnx", {});
    row("Expand by a 2^40-long shape", "onnx/expand_long_shape.onnx", {});
    row("Conv with negative pads", "onnx/conv_negative_pads.onnx", {"Conv", "pads must not be negative"});
    row("Conv dilated by 2^63 - 1", "onnx/conv_huge_dilation.onnx", {"Conv", "overflow"});
    row("Slice by a step of 2^63 - 1", "onnx/slice_step_max.onnx", {});
    row("Slice by a step of -2^63", "onnx/slice_step_min.onnx", {});
    row("DequantizeLinear in one block of 2^63 - 1", "onnx/dequantize_one_huge_block.onnx", {});
    row("initializer overflows", "onnx/initializer_overflow.onnx", {"'w'", "impossible shape"});
    row("initializer without data", "onnx/initializer_no_data.onnx", {"'w'", "expected 1000000000"});
    row("h5 node without outputs", "h5model/no_outputs.h5", {"has no outputs"});
    row("h5 string of 1 GiB", "h5model/huge-fixed-string.h5", {"/graph/nodes", "more than the whole file"});
    row("h5 packed tensor of 128 MiB", "h5model/packed-huge-extent.h5", {"'big'", "more than the whole file"});
    row("h5 sparse tensor of 8 MiB", "h5model/sparse-huge-extent.h5", {"'big'", "more than the whole file"});
    row("a directory", "dir", {"is a directory"});
}

void TestReliability::models()
{
    QFETCH(QString, file);
    QFETCH(QStringList, message);
    const QString error = testutil::errorOf([&] { loadModel(path(file).toStdString()); });
    if (message.isEmpty()) {
        QCOMPARE(error, QString());
        return;
    }
    QVERIFY2(error.contains(QFileInfo(file).fileName()), qPrintable(error));
    for (const QString &m : message)
        QVERIFY2(error.contains(m), qPrintable("'" + error + "' lacks '" + m + "'"));
}

void TestReliability::recipes_data()
{
    QTest::addColumn<QString>("text"); // a recipe, or "@DIR": load the folder "dir" as a recipe file
    QTest::addColumn<QStringList>("message");

    QTest::newRow("number beyond double") << R"({"finetune": {"lr": 1e400}})"
                                          << QStringList{"finetune.lr", "out of range"};
    QTest::newRow("nested number beyond double") << R"({"layers": {"conv1": {"prune": {"ratio": -1e999}}}})"
                                                 << QStringList{"layers.conv1.prune.ratio", "out of range"};
    QTest::newRow("lr that rounds to float 0") << R"({"finetune": {"lr": 1e-300}})"
                                               << QStringList{"finetune.lr", "rounds to 0"};
    QTest::newRow("a directory") << "@DIR" << QStringList{"is a directory"};
}

void TestReliability::recipes()
{
    QFETCH(QString, text);
    QFETCH(QStringList, message);
    const QString error = testutil::errorOf([&] {
        if (text == "@DIR")
            loadRecipe(path("dir").toStdString());
        else
            recipeFromJson(text.toStdString());
    });
    for (const QString &m : message)
        QVERIFY2(error.contains(m), qPrintable("'" + error + "' lacks '" + m + "'"));
}

void TestReliability::recipeLrRoundTrips()
{
    // A tiny lr that stays positive as a (subnormal) float is kept, and loads again once saved.
    const Recipe small = recipeFromJson(R"({"finetune": {"lr": 1e-40}})");
    QVERIFY(small.finetune.lr > 0.f);
    QCOMPARE(recipeFromJson(recipeToJson(small)).finetune.lr, small.finetune.lr);
}

void TestReliability::crashIsolation()
{
    // The helper's outcome decides: a helper that dies is an error naming the file, one that exits 0 is not, and
    // bytes reach it as a readable file. Stand-in helpers are shell scripts (CW_H5CHECK), then the real one.
    auto script = [&](const char *name, const QByteArray &body) {
        QFile f(path(name));
        f.open(QIODevice::WriteOnly);
        f.write("#!/bin/sh\n" + body + "\n");
        f.close();
        f.setPermissions(f.permissions() | QFileDevice::ExeOwner);
        return path(name).toUtf8();
    };
    const QByteArray dies = script("dies.sh", "kill -SEGV $$");
    const QByteArray checks = script(
        "checks.sh", "[ \"$1\" = model-image ] && [ \"$(cat \"$2\")\" = HDF5BYTES ] && [ \"$3\" = mem ] || kill -SEGV $$");
    const QByteArray fails = script("fails.sh", "printf \"'%s': no dataset 'x'\" \"$3\"; exit 3");
    const QByteArray exits = script("exits.sh", "exit 3");
    const QByteArray unavailable = script("unavailable.sh", "exit 4");
    qputenv("CW_H5CHECK", dies);
    const QString crashed = testutil::errorOf([] { rehearseRead(RehearsalKind::Dataset, "f.h5", "'f.h5': it crashed"); });
    qputenv("CW_H5CHECK", checks);
    const QString bytesError = testutil::errorOf(
        [] { rehearseReadBytes(RehearsalKind::ModelImage, "HDF5BYTES", "mem", "'mem': it crashed"); });
    const QString otherBytes = testutil::errorOf(
        [] { rehearseReadBytes(RehearsalKind::ModelImage, "OTHER", "mem", "'mem': it crashed"); });
    qputenv("CW_H5CHECK", fails);
    const QString failed = testutil::errorOf([] { rehearseRead(RehearsalKind::Dataset, "f.h5", "'f.h5': it crashed"); });
    qputenv("CW_H5CHECK", exits);
    const QString silent = testutil::errorOf([] { rehearseRead(RehearsalKind::Dataset, "f.h5", "'f.h5': it crashed"); });
    qputenv("CW_H5CHECK", unavailable);
    const QString unrehearsed =
        testutil::errorOf([] { rehearseRead(RehearsalKind::Dataset, "f.h5", "'f.h5': it crashed"); });
    qunsetenv("CW_H5CHECK");
    QCOMPARE(crashed, QString("'f.h5': it crashed (signal 11, Segmentation fault); the file is corrupt"));
    QCOMPARE(bytesError, QString());
    QVERIFY2(otherBytes.startsWith("'mem': it crashed (signal 11"), qPrintable(otherBytes));
    QCOMPARE(failed, QString("'f.h5': no dataset 'x'")); // the helper's error is the read's error
    QCOMPARE(silent, QString("'f.h5': it crashed (exit status 3); the file is corrupt"));
    QCOMPARE(unrehearsed, QString()); // a helper that could not read: the program reads unrehearsed

    // Corrupt files the helper reads to an error are never read by the program's own libhdf5, which would keep
    // state from them that crashes a later read of another file (libhdf5 1.10.8): read twice each, in turn.
    const QString findings = QFINDTESTDATA("fuzz/findings");
    for (int round = 0; round < 2; ++round)
        for (const char *name : {"h5_model-libhdf5-carryover-1.h5", "h5_model-libhdf5-carryover-2.h5",
                                 "h5_model-libhdf5-carryover-3.h5"}) {
            const QString file = findings + "/" + name;
            const QString e = testutil::errorOf([&] { loadModel(file.toStdString()); });
            QVERIFY2(e.startsWith("'" + file + "': "), qPrintable(e));
        }

    // The file that crashes libhdf5, as a dataset: an error naming it, and the process goes on.
    const QString error = testutil::errorOf([&] { loadDataset(path("libhdf5_segv.h5").toStdString()); });
    QVERIFY2(error.contains("libhdf5_segv.h5") && error.contains("the HDF5 library crashed reading this file"),
             qPrintable(error));
    QCOMPARE(loadModel(path("h5model/base.h5").toStdString()).graph.nodes.size(),
             loadModel("demo").graph.nodes.size()); // a sound file still loads, after its rehearsal
}

void TestReliability::cli_data()
{
    QTest::addColumn<QStringList>("args"); // "@" + a relative path stands for the file the test wrote
    QTest::addColumn<QByteArray>("budget"); // CW_MEMORY_BUDGET, or empty
    QTest::addColumn<QString>("message");

    QTest::newRow("eval: labels [3, 0]") << QStringList{"eval", "demo", "--data", "@npy_labels/x.npy"} << QByteArray()
                                         << "no class";
    QTest::newRow("compress: labels [3, 0]")
        << QStringList{"compress", "demo", "--data", "@npz/labels.npz", "--recipe", "@recipe.json", "-o", "@out.h5"}
        << QByteArray() << "no class";
    QTest::newRow("eval: .npy declaring 2.9 GB") << QStringList{"eval", "demo", "--data", "@npy_no_data/x.npy"}
                                                 << QByteArray() << "truncated .npy data";
    QTest::newRow("eval: a file that crashes libhdf5")
        << QStringList{"eval", "demo", "--data", "@libhdf5_segv.h5"} << QByteArray()
        << "the HDF5 library crashed reading this file";
    QTest::newRow("info: Range to infinity") << QStringList{"info", "@onnx/range_inf.onnx"} << QByteArray()
                                             << "no element count that fits";
    QTest::newRow("info: ConstantOfShape of 2^120") << QStringList{"info", "@onnx/constant_of_shape_huge.onnx"}
                                                    << QByteArray() << "";
    QTest::newRow("CW_MEMORY_BUDGET=1M") << QStringList{"eval", "demo", "--data", "@budget/x.npy"} << QByteArray("1M")
                                         << "memory budget of 1048576 bytes";
    QTest::newRow("--batch 0") << QStringList{"eval", "demo", "--batch", "0"} << QByteArray() << "positive integer";
    QTest::newRow("--threads -3") << QStringList{"eval", "demo", "--threads", "-3"} << QByteArray()
                                  << "positive integer";
    QTest::newRow("--limit -1") << QStringList{"eval", "demo", "--limit", "-1"} << QByteArray()
                                << "non-negative integer";
    QTest::newRow("recipe is a directory") << QStringList{"compress", "demo", "--recipe", "@dir", "-o", "@out.h5"}
                                           << QByteArray() << "directory";
}

void TestReliability::cli()
{
    QFETCH(QStringList, args);
    QFETCH(QByteArray, budget);
    QFETCH(QString, message);
    for (QString &a : args)
        if (a.startsWith('@'))
            a = path(a.mid(1));
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    if (!budget.isEmpty())
        env.insert("CW_MEMORY_BUDGET", QString::fromLatin1(budget));
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(CW_CWB_PATH), args);
    QVERIFY(p.waitForFinished(120000));
    const QString err = QString::fromLocal8Bit(p.readAllStandardError());
    QCOMPARE(p.exitStatus(), QProcess::NormalExit); // no crash
    if (message.isEmpty()) {
        QVERIFY2(p.exitCode() == 0, qPrintable(err));
        return;
    }
    QCOMPARE(p.exitCode(), 1);
    QVERIFY2(err.contains(message), qPrintable(err));
}

// runProcess, which the rehearsal, `cwb report` and the peak-memory runs share: what a child wrote and how it
// ended, and a cancelled child killed and reaped rather than waited for.
void TestReliability::childProcesses()
{
    ProcessOptions capture;
    capture.stderrTo = ProcessOptions::Stderr::Capture;
    const ProcessResult r = runProcess({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, capture);
    QVERIFY(r.started && r.statusKnown && r.exited);
    QCOMPARE(r.exitCode, 3);
    QCOMPARE(r.output, std::string("out\n"));
    QCOMPARE(r.errors, std::string("err\n"));
    QCOMPARE(describeEnd(r), std::string("exit status 3"));

    ProcessOptions quiet; // standard error dropped, output cut at maxOutput, the executable found on $PATH
    quiet.stderrTo = ProcessOptions::Stderr::Discard;
    quiet.searchPath = true;
    quiet.maxOutput = 1000;
    const ProcessResult big = runProcess({"sh", "-c", "head -c 100000 /dev/zero; echo lost >&2"}, quiet);
    QVERIFY(big.exited && big.exitCode == 0);
    QCOMPARE(big.output.size(), size_t(1000));
    QVERIFY(big.errors.empty());

    const ProcessResult killed = runProcess({"/bin/sh", "-c", "kill -KILL $$"});
    QVERIFY(!killed.exited);
    QCOMPARE(killed.signal, 9);
    QCOMPARE(describeEnd(killed), std::string("signal 9, Killed"));

    const ProcessResult missing = runProcess({"/nonexistent/cw-helper"});
    QVERIFY(!missing.started);
    QCOMPARE(describeEnd(missing), std::string("did not start: No such file or directory"));

    ProcessOptions env; // an environment of its own
    env.env = {"CW_PROCESS_TEST=42"};
    QCOMPARE(runProcess({"/bin/sh", "-c", "printf %s \"$CW_PROCESS_TEST\""}, env).output, std::string("42"));

    // Cancel: a child that would sleep for a minute (its output still open) is killed within moments of the
    // stop, and no zombie stays behind.
    StopToken stop;
    ProcessOptions cancellable;
    cancellable.stop = &stop;
    QElapsedTimer timer;
    timer.start();
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        stop.requestStop();
    });
    bool cancelled = false;
    try {
        runProcess({"/bin/sleep", "60"}, cancellable);
    } catch (const Cancelled &) {
        cancelled = true;
    }
    stopper.join();
    QVERIFY(cancelled);
    QVERIFY2(timer.elapsed() < 10000, qPrintable(QString::number(timer.elapsed())));
    const pid_t left = waitpid(-1, nullptr, WNOHANG);
    const int why = errno;
    QCOMPARE(left, pid_t(-1)); // no child left, not even a zombie
    QCOMPARE(why, ECHILD);

    // Stopped while the child has closed its output but not ended (it waits with nothing left to read).
    StopToken stop2;
    cancellable.stop = &stop2;
    std::thread stopper2([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        stop2.requestStop();
    });
    cancelled = false;
    try {
        runProcess({"/bin/sh", "-c", "exec >/dev/null 2>&1; exec sleep 60"}, cancellable);
    } catch (const Cancelled &) {
        cancelled = true;
    }
    stopper2.join();
    QVERIFY(cancelled);
    QCOMPARE(waitpid(-1, nullptr, WNOHANG), pid_t(-1));
}

QTEST_GUILESS_MAIN(TestReliability)
#include "test_reliability.moc"
