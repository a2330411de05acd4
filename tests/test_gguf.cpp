// GGUF: the reader against llama.cpp itself. tests/tools/make_gguf_reference.py writes, with llama.cpp's own
// Python writer, a tensor of every block format and beside it the values llama.cpp's libggml-base.so makes of
// it; every value must match bit for bit. Also: metadata of every type, the writer read back by llama.cpp's
// Python reader, corrupt and truncated files refused with the tensor and offset named, and a sparse
// 7B-llama-shaped checkpoint (13 GB declared, a few KB on disk) opened in well under a second without reading
// its tensors.
#include <QtTest>

#include <cstring>
#include <fstream>
#include <sys/resource.h>
#include <unistd.h>

#include "core/base/error.h"
#include "core/io/gguf.h"
#include "tests/lmtestutil.h"
#include "tests/testutil.h"

namespace {

using lmtestutil::handHeader;
using lmtestutil::handString;

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

long rssKb()
{
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

} // namespace

class TestGguf : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void dequantizesLikeLlamaCpp_data();
    void dequantizesLikeLlamaCpp();
    void readsMetadataOfEveryType();
    void writerReadBackByLlamaCpp();
    void refusesCorruptFiles_data();
    void refusesCorruptFiles();
    void truncatedAtEveryByteOfTheHeader();
    void opensA7BCheckpointWithoutReadingIt();

private:
    QTemporaryDir m_dir;
    QString m_reference; // the reference file, or empty (then the tests that need it skip)
    QString m_source;    // llama.cpp's source (gguf-py)
    QString m_skip;
};

void TestGguf::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    const QMap<QString, QString> paths = lmtestutil::referencePaths(&error);
    if (!error.isEmpty() || !paths.contains("llama.cpp-source") || !paths.contains("llama.cpp-lib")) {
        m_skip = "llama.cpp's reference cannot be fetched (tests/tools/fetch_models.py): " + error;
        return;
    }
    m_source = paths["llama.cpp-source"];
    m_reference = m_dir.filePath("reference.gguf");
    testutil::runProcess(testutil::python(),
                         {testutil::sourcePath("tests/tools/make_gguf_reference.py"), m_source,
                          paths["llama.cpp-lib"], m_reference},
                         &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
}

void TestGguf::dequantizesLikeLlamaCpp_data()
{
    QTest::addColumn<QString>("type");
    for (const char *t : {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                          "Q6_K", "Q8_K"})
        QTest::newRow(t) << QString(t);
}

void TestGguf::dequantizesLikeLlamaCpp()
{
    if (m_reference.isEmpty())
        QSKIP(qPrintable(m_skip));
    QFETCH(QString, type);
    const cw::gguf::File f = cw::gguf::File::open(m_reference.toStdString());
    const cw::gguf::TensorInfo *t = f.tensor(type.toStdString());
    const cw::gguf::TensorInfo *e = f.tensor(type.toStdString() + ".expected");
    QVERIFY(t && e);
    QCOMPARE(QString::fromStdString(cw::ggml::typeName(t->type)), type);
    QCOMPARE(t->shape(), (cw::Shape{3, 512}));
    const cw::Tensor got = f.toFloat(*t);
    const cw::Tensor want = f.toFloat(*e);
    QCOMPARE(got.shape(), want.shape());
    const float *g = got.data<float>(), *w = want.data<float>();
    for (int64_t i = 0; i < got.numel(); ++i) {
        uint32_t gb, wb;
        std::memcpy(&gb, g + i, 4);
        std::memcpy(&wb, w + i, 4);
        if (gb != wb)
            QFAIL(qPrintable(QStringLiteral("value %1: %2, llama.cpp %3").arg(i).arg(g[i], 0, 'g', 9).arg(w[i], 0, 'g', 9)));
    }
    // Rows read one at a time equal the whole tensor (streaming statistics read rows).
    std::vector<float> row(512);
    f.readRows(*t, 2, 1, row.data());
    QVERIFY(std::memcmp(row.data(), g + 1024, 512 * 4) == 0);
}

void TestGguf::readsMetadataOfEveryType()
{
    if (m_reference.isEmpty())
        QSKIP(qPrintable(m_skip));
    const cw::gguf::File f = cw::gguf::File::open(m_reference.toStdString());
    QCOMPARE(f.version(), 3u);
    QCOMPARE(f.text("general.architecture"), std::string("test"));
    QCOMPARE(f.integer("test.uint8", 0), 200);
    QCOMPARE(f.integer("test.int8", 0), -100);
    QCOMPARE(f.integer("test.uint16", 0), 60000);
    QCOMPARE(f.integer("test.int16", 0), -30000);
    QCOMPARE(f.integer("test.uint32", 0), 4000000000LL);
    QCOMPARE(f.integer("test.int32", 0), -2000000000LL);
    QCOMPARE(f.integer("test.uint64", 0), int64_t(1) << 62);
    QCOMPARE(f.integer("test.int64", 0), -(int64_t(1) << 62));
    QCOMPARE(f.number("test.float32", 0), 0.25);
    QCOMPARE(f.number("test.float64", 0), -1.5e300);
    QCOMPARE(f.integer("test.bool", 0), 1);
    QCOMPARE(f.text("test.string"), std::string("Grüße, 🦙"));
    QCOMPARE(f.require("test.strings").strings, (std::vector<std::string>{"a", "", "ünï"}));
    QCOMPARE(f.require("test.ints").integers, (std::vector<int64_t>{1, -2, 3}));
    QCOMPARE(f.require("test.floats").numbers, (std::vector<double>{0.5, -0.25}));
    QCOMPARE(f.integer("test.absent", 7), 7);
    QVERIFY(testutil::errorOf([&] { f.integer("test.string", 0); }).contains("not an integer"));
    QVERIFY(testutil::errorOf([&] { f.require("test.absent"); }).contains("no metadata 'test.absent'"));
}

void TestGguf::writerReadBackByLlamaCpp()
{
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    const QString path = m_dir.filePath("written.gguf");
    const cw::Tensor a = testutil::randomTensor({3, 64}, 1);
    const cw::Tensor b = testutil::randomTensor({5}, 2, -60000.f, 60000.f);
    cw::gguf::write(path.toStdString(),
                    {{"general.architecture", cw::gguf::makeString("llama")},
                     {"llama.block_count", cw::gguf::makeUInt32(2)},
                     {"t.floats", cw::gguf::makeFloat32Array({1.5, -2})},
                     {"t.tokens", cw::gguf::makeStringArray({"<s>", "▁a"})}},
                    {{"a", a, cw::ggml::F32}, {"b", b, cw::ggml::F16}});
    // llama.cpp's reader sees the same names, types, shapes and values.
    QString error;
    const QByteArray out = testutil::runProcess(
        testutil::python(),
        {"-c", "import sys; sys.path.insert(0, sys.argv[1] + '/gguf-py'); import gguf, numpy as np\n"
               "r = gguf.GGUFReader(sys.argv[2])\n"
               "for t in r.tensors: print(t.name, t.tensor_type.name, list(t.shape), "
               "' '.join('%.9g' % v for v in np.asarray(t.data, dtype=np.float64).ravel()))\n"
               "print(r.fields['llama.block_count'].parts[-1][0], r.fields['t.tokens'].contents())",
         m_source, path},
        &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QStringList lines = QString::fromUtf8(out).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 3);
    QVERIFY2(lines[0].startsWith("a F32 [64, 3] "), qPrintable(lines[0]));
    const QStringList av = lines[0].section(' ', 4).split(' ');
    QCOMPARE(av.size(), 192);
    for (int i = 0; i < 192; ++i)
        QCOMPARE(av[i].toFloat(), a.data<float>()[i]);
    QVERIFY2(lines[1].startsWith("b F16 [5] "), qPrintable(lines[1]));
    const QStringList bv = lines[1].section(' ', 3).split(' ');
    QCOMPARE(bv.size(), 5);
    for (int i = 0; i < 5; ++i)
        QCOMPARE(bv[i].toFloat(), cw::float16ToFloat(cw::floatToFloat16(b.data<float>()[i])));
    QCOMPARE(lines[2], QStringLiteral("2 ['<s>', '▁a']"));
    // And our reader, too.
    const cw::gguf::File f = cw::gguf::File::open(path.toStdString());
    QCOMPARE(f.integer("llama.block_count", 0), 2);
    QCOMPARE(f.toFloat(*f.tensor("a")).shape(), (cw::Shape{3, 64}));
}

void TestGguf::refusesCorruptFiles_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("error");
    uint64_t data = 0;
    const std::string okHeader = handHeader({handString("general.architecture", "llama")}, {{"w", {64, 2}, cw::ggml::Q8_0}}, &data);
    QTest::newRow("empty") << QByteArray() << "not a GGUF file";
    QTest::newRow("not gguf") << QByteArray("GGML\3\0\0\0") << "not a GGUF file";
    QByteArray v1("GGUF\1\0\0\0", 8);
    QTest::newRow("version 1") << v1 << "version 1 is not supported";
    QByteArray v9("GGUF\x09\0\0\0", 8);
    QTest::newRow("unknown version") << v9 << "unknown GGUF version 9";
    // The data of tensor w (2 Q8_0 rows = 136 bytes) is missing: the error names the tensor and the offset.
    QTest::newRow("tensor beyond the end") << QByteArray::fromStdString(okHeader + std::string(100, '\0'))
                                           << "tensor 'w' (136 bytes at offset 0 of the data section";
    std::string huge = okHeader;
    // The tensor count claims 2^40 tensors.
    const uint64_t many = uint64_t(1) << 40;
    std::memcpy(huge.data() + 8, &many, 8);
    QTest::newRow("count beyond the file") << QByteArray::fromStdString(huge) << "more than its";
    // A row of 63 values is not whole Q8_0 blocks.
    const std::string odd = handHeader({}, {{"w", {63, 2}, cw::ggml::Q8_0}}, &data);
    QTest::newRow("partial block") << QByteArray::fromStdString(odd + std::string(4096, '\0'))
                                   << "are not whole Q8_0 blocks";
    const std::string unknownType = handHeader({}, {{"w", {32}, 77}}, &data);
    QTest::newRow("unknown type") << QByteArray::fromStdString(unknownType) << "unknown ggml type 77";
    const std::string fiveD = handHeader({}, {{"w", {1, 1, 1, 1, 1}, cw::ggml::F32}}, &data);
    QTest::newRow("five dimensions") << QByteArray::fromStdString(fiveD) << "has 5 dimensions";
    const std::string overflow = handHeader({}, {{"w", {uint64_t(1) << 40, uint64_t(1) << 40}, cw::ggml::F32}}, &data);
    QTest::newRow("element count overflow") << QByteArray::fromStdString(overflow) << "element count overflows";
    const std::string twice = handHeader({}, {{"w", {32}, cw::ggml::F32}, {"w", {32}, cw::ggml::F32}}, &data);
    QTest::newRow("duplicate tensor") << QByteArray::fromStdString(twice) << "tensor 'w' appears twice";
    std::string longString = handHeader({handString("k", "v")}, {}, &data);
    const uint64_t longLength = uint64_t(1) << 50; // the key's length
    std::memcpy(longString.data() + 24, &longLength, 8);
    QTest::newRow("string beyond the end") << QByteArray::fromStdString(longString) << "truncated at byte 32";
}

void TestGguf::refusesCorruptFiles()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, error);
    const QString path = m_dir.filePath("corrupt.gguf");
    QVERIFY(testutil::writeFile(path, bytes));
    const QString got = testutil::errorOf([&] { cw::gguf::File::open(path.toStdString()); });
    QVERIFY2(got.contains(error), qPrintable(got));
    QVERIFY2(got.contains(path), qPrintable(got)); // the error names the file
}

void TestGguf::truncatedAtEveryByteOfTheHeader()
{
    if (m_reference.isEmpty())
        QSKIP(qPrintable(m_skip));
    const QByteArray whole = readAll(m_reference);
    const cw::gguf::File f = cw::gguf::File::open(m_reference.toStdString());
    const qsizetype dataStart = qsizetype(f.tensors().front().offset);
    const QString path = m_dir.filePath("truncated.gguf");
    // Every prefix of the header and tensor infos, and a few of the data, is refused with a message.
    for (qsizetype n = 0; n < whole.size(); n += (n < dataStart ? 1 : 4093)) {
        QVERIFY(testutil::writeFile(path, whole.left(n)));
        const QString got = testutil::errorOf([&] { cw::gguf::File::open(path.toStdString()); });
        QVERIFY2(!got.isEmpty(), qPrintable(QString("a prefix of %1 bytes was accepted").arg(n)));
    }
}

void TestGguf::opensA7BCheckpointWithoutReadingIt()
{
    // The tensors of a llama-2-7B checkpoint in F16 (6.7 G parameters, 13.5 GB), written as a sparse file.
    const uint64_t dim = 4096, vocab = 32000;
    uint64_t data = 0;
    const std::string header = handHeader({handString("general.architecture", "llama")}, lmtestutil::llama7bTensors(), &data);
    const QString path = m_dir.filePath("llama-7b-shaped.gguf");
    QVERIFY(lmtestutil::writeSparse(path, header, data));
    QVERIFY(data > 13'000'000'000ULL);
    const long before = rssKb();
    QElapsedTimer timer;
    timer.start();
    const cw::gguf::File f = cw::gguf::File::open(path.toStdString());
    const qint64 ms = timer.elapsed();
    QCOMPARE(f.tensors().size(), size_t(32 * 9 + 3));
    QCOMPARE(f.fileSize(), header.size() + data);
    // Opening maps the file and reads only its header (a few KB): not seconds, not gigabytes.
    QVERIFY2(ms < 2000, qPrintable(QString("open took %1 ms").arg(ms)));
    QVERIFY2(rssKb() - before < 64 * 1024, qPrintable(QString("RSS grew by %1 KB").arg(rssKb() - before)));
    // A row of the output matrix streams in on its own.
    std::vector<float> row(dim);
    f.readRows(*f.tensor("output.weight"), vocab - 1, 1, row.data());
    QCOMPARE(row[0], 0.f);
    QVERIFY2(rssKb() - before < 64 * 1024, qPrintable(QString("RSS grew by %1 KB").arg(rssKb() - before)));
}

QTEST_GUILESS_MAIN(TestGguf)
#include "test_gguf.moc"
