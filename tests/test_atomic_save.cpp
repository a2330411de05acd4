// Atomic saves (core/base/atomic_file.h): the helper itself, saves killed with SIGKILL at random moments,
// and saves onto a full disk (a small tmpfs, when the test may mount one).
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/base/atomic_file.h"
#include "core/io/model_io.h"
#include "testutil.h"

using testutil::errorOf;

namespace {

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void writeAll(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QCOMPARE(f.write(bytes), bytes.size());
}

// Hidden temporaries of AtomicFile (".NAME.cwtmp-PID-RANDOM") in `dir`.
QStringList temporaries(const QString &dir)
{
    return QDir(dir).entryList({QStringLiteral(".*.cwtmp-*")}, QDir::Files | QDir::Hidden | QDir::System);
}

using testutil::ProcessResult;
using testutil::runCwb;

// The model formats cwb writes, as data rows.
void addFormatRows()
{
    QTest::addColumn<QString>("extension");
    QTest::newRow("native h5") << "h5";
    QTest::newRow("onnx") << "onnx";
}

size_t nodeCount(const QString &path)
{
    return cw::loadModel(path.toStdString()).graph.nodes.size();
}

} // namespace

class TestAtomicSave : public QObject {
    Q_OBJECT
private slots:
    void replacesWholeFile();
    void failureKeepsOldFile();
    void keepsPermissionsAndFollowsLinks();
    void errors();
    void staleTemporaries();
    void killedSaves_data();
    void killedSaves();
    void fullDisk_data();
    void fullDisk();
};

void TestAtomicSave::replacesWholeFile()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("out.bin");
    writeAll(path, "old contents, longer than the new ones");
    cw::writeFileAtomically(path.toStdString(), "new");
    QCOMPARE(readAll(path), QByteArray("new"));
    QVERIFY(temporaries(dir.path()).isEmpty());

    // Until commit() the target is untouched and the bytes sit in a temporary of the recognisable name.
    cw::AtomicFile file(path.toStdString());
    file.write("newer");
    QCOMPARE(readAll(path), QByteArray("new"));
    QCOMPARE(temporaries(dir.path()).size(), 1);
    QVERIFY(QFileInfo(QString::fromStdString(file.tempPath())).fileName().startsWith(".out.bin.cwtmp-"));
    file.commit();
    QCOMPARE(readAll(path), QByteArray("newer"));
    QVERIFY(temporaries(dir.path()).isEmpty());
}

void TestAtomicSave::failureKeepsOldFile()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("model.h5");
    writeAll(path, "old");
    // An exception between creating the temporary and commit(): the old file stays, the temporary goes.
    QVERIFY_THROWS_EXCEPTION(std::runtime_error, [&] {
        cw::AtomicFile file(path.toStdString());
        file.write("partial");
        throw std::runtime_error("writer failed");
    }());
    QCOMPARE(readAll(path), QByteArray("old"));
    QVERIFY(temporaries(dir.path()).isEmpty());
}

void TestAtomicSave::keepsPermissionsAndFollowsLinks()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("recipe.json");
    writeAll(path, "{}");
    QVERIFY(::chmod(QFile::encodeName(path).constData(), 0640) == 0);
    cw::writeFileAtomically(path.toStdString(), "{\"name\": \"x\"}");
    struct stat st;
    QVERIFY(::stat(QFile::encodeName(path).constData(), &st) == 0);
    QCOMPARE(int(st.st_mode & 07777), 0640);

    // A link as target: the file it points to is replaced, the link stays a link.
    const QString link = dir.filePath("link.json");
    QVERIFY(QFile::link(path, link));
    cw::writeFileAtomically(link.toStdString(), "linked");
    QVERIFY(QFileInfo(link).isSymLink());
    QCOMPARE(readAll(path), QByteArray("linked"));
    QVERIFY(temporaries(dir.path()).isEmpty());
}

void TestAtomicSave::errors()
{
    QTemporaryDir dir;
    const QString missing = dir.filePath("no/such/folder/model.onnx");
    const QString message = errorOf([&] { cw::writeFileAtomically(missing.toStdString(), "x"); });
    QVERIFY2(message.contains("'" + missing + "'") && message.contains("No such file or directory"), qPrintable(message));

    // Renaming onto a directory fails at commit(): the error names the target, the temporary is removed.
    const QString folder = dir.filePath("taken");
    QVERIFY(QDir(dir.path()).mkdir("taken"));
    QDir(folder).mkdir("inside"); // non-empty, so rename() cannot replace it
    const QString renameError = errorOf([&] { cw::writeFileAtomically(folder.toStdString(), "x"); });
    QVERIFY2(renameError.startsWith("cannot write '" + folder + "': cannot replace the file"), qPrintable(renameError));
    QVERIFY(temporaries(dir.path()).isEmpty());
}

void TestAtomicSave::staleTemporaries()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("out.npy");
    // A writer that was killed: its pid is free (until reused, which is checked below).
    QProcess gone;
    gone.start("sleep", {"30"});
    QVERIFY(gone.waitForStarted());
    const qint64 deadPid = gone.processId();
    gone.kill();
    QVERIFY(gone.waitForFinished());
    QProcess alive;
    alive.start("sleep", {"30"});
    QVERIFY(alive.waitForStarted());
    const QString stale = dir.filePath(QStringLiteral(".out.npy.cwtmp-%1-abcdefgh").arg(deadPid));
    const QString live = dir.filePath(QStringLiteral(".out.npy.cwtmp-%1-abcdefgh").arg(alive.processId()));
    const QString other = dir.filePath(QStringLiteral(".other.npy.cwtmp-%1-abcdefgh").arg(deadPid));
    writeAll(stale, "stale");
    writeAll(live, "in progress");
    writeAll(other, "another target");
    if (::kill(pid_t(deadPid), 0) == 0)
        QSKIP("the pid of the exited process was reused already");
    cw::writeFileAtomically(path.toStdString(), "data");
    QVERIFY(!QFileInfo::exists(stale));
    QVERIFY(QFileInfo::exists(live));  // its writer still runs
    QVERIFY(QFileInfo::exists(other)); // temporaries of other files are left to their own saves
    alive.kill();
    alive.waitForFinished();
}

void TestAtomicSave::killedSaves_data()
{
    addFormatRows();
}

// `cwb export demo -o existing` killed with SIGKILL after a random delay, 40 times: the file always loads
// and is either the old model or the whole new one; killed saves leave only recognisable temporaries, which
// the next completed save removes.
void TestAtomicSave::killedSaves()
{
    QFETCH(QString, extension);
    QTemporaryDir dir;
    const QString path = dir.filePath("existing." + extension);
    ProcessResult r = runCwb({"export", "demo-resnet", "-o", path});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const size_t oldNodes = nodeCount(path);
    const size_t newNodes = cw::loadModel("demo").graph.nodes.size();
    QVERIFY(oldNodes != newNodes);

    // How long a whole export takes here; the kills land anywhere in that span.
    QElapsedTimer timer;
    timer.start();
    r = runCwb({"export", "demo", "-o", dir.filePath("timing." + extension)});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const int spanMs = std::max<int>(int(timer.elapsed() * 12 / 10), 20);

    r = runCwb({"export", "demo-resnet", "-o", path});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    int killed = 0, replaced = 0;
    QRandomGenerator rng(20261129);
    for (int i = 0; i < 40; ++i) {
        QProcess p;
        p.start(QStringLiteral(CW_CWB_PATH), {"export", "demo", "-o", path});
        QVERIFY(p.waitForStarted());
        QThread::msleep(rng.bounded(spanMs));
        p.kill(); // SIGKILL
        QVERIFY(p.waitForFinished());
        killed += p.exitStatus() == QProcess::CrashExit;
        size_t nodes = 0;
        const QString error = errorOf([&] { nodes = nodeCount(path); });
        QVERIFY2(error.isEmpty(), qPrintable(QStringLiteral("iteration %1: %2").arg(i).arg(error)));
        QVERIFY2(nodes == oldNodes || nodes == newNodes, qPrintable(QStringLiteral("iteration %1").arg(i)));
        replaced += nodes == newNodes;
        for (const QString &t : temporaries(dir.path()))
            QVERIFY2(t.startsWith(".existing." + extension + ".cwtmp-"), qPrintable(t));
        if (nodes == newNodes) { // back to the old model for the next round
            r = runCwb({"export", "demo-resnet", "-o", path});
            QVERIFY2(r.exitCode == 0, r.err.constData());
        }
    }
    const int stale = int(temporaries(dir.path()).size());
    qInfo("40 exports killed: %d before exiting; the file was replaced %d times; %d temporaries left behind", killed,
          replaced, stale);
    QVERIFY2(killed > 0, "no export was killed: the delays are longer than an export");

    // A save that completes cleans up after the killed ones.
    r = runCwb({"export", "demo", "-o", path});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(nodeCount(path), newNodes);
    QVERIFY2(temporaries(dir.path()).isEmpty(), qPrintable(temporaries(dir.path()).join(", ")));
}

void TestAtomicSave::fullDisk_data()
{
    addFormatRows();
}

// Exporting a model larger than the free space over an existing one, on a 4 MB tmpfs: the export fails
// naming the file and the full disk, the old file still loads, nothing else is left behind; the same for a
// new file, and for `cwb run -o OUT.npy` on a disk with no block left.
void TestAtomicSave::fullDisk()
{
    QFETCH(QString, extension);
    if (::geteuid() != 0)
        QSKIP("mounting a small tmpfs needs root");
    QTemporaryDir dir;
    const QByteArray mountPoint = QFile::encodeName(dir.path());
    if (::mount("tmpfs", mountPoint.constData(), "tmpfs", 0, "size=4m") != 0)
        QSKIP(qPrintable(QStringLiteral("cannot mount a tmpfs: %1").arg(QString::fromLocal8Bit(std::strerror(errno)))));
    const auto unmount = qScopeGuard([&] { ::umount2(mountPoint.constData(), MNT_DETACH); });

    const QString path = dir.filePath("model." + extension);
    ProcessResult r = runCwb({"export", "demo-resnet", "-o", path});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const size_t oldNodes = nodeCount(path);
    // Fill the disk up to 256 KB, less than the 1.7 MB model about to be written.
    struct statvfs st;
    QVERIFY(::statvfs(mountPoint.constData(), &st) == 0);
    const qint64 free = qint64(st.f_bavail) * qint64(st.f_frsize);
    QVERIFY(free > 256 * 1024);
    writeAll(dir.filePath("filler"), QByteArray(free - 256 * 1024, 'x'));

    r = runCwb({"export", "demo", "-o", path});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(QString::fromLocal8Bit(r.err).contains("'" + path + "'") && QString::fromLocal8Bit(r.err).contains("no space left on device"),
             r.err.constData());
    QCOMPARE(nodeCount(path), oldNodes);
    QVERIFY2(temporaries(dir.path()).isEmpty(), qPrintable(temporaries(dir.path()).join(", ")));

    // A new file on the full disk: no empty or partial file stays behind.
    const QString fresh = dir.filePath("fresh." + extension);
    r = runCwb({"export", "demo", "-o", fresh});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(QString::fromLocal8Bit(r.err).contains("no space left on device"), r.err.constData());
    QVERIFY(!QFileInfo::exists(fresh));

    // The last free blocks too: `cwb run`'s .npy output fails the same way and leaves no file.
    QFile rest(dir.filePath("filler2"));
    QVERIFY(rest.open(QIODevice::WriteOnly));
    rest.write(QByteArray(512 * 1024, 'x'));
    rest.close();
    const QString npy = dir.filePath("out.npy");
    r = runCwb({"run", "demo", "-o", npy});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(QString::fromLocal8Bit(r.err).contains("'" + npy + "': no space left on device"), r.err.constData());
    QVERIFY(!QFileInfo::exists(npy));
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden).size(), 3); // model + fillers
}

QTEST_GUILESS_MAIN(TestAtomicSave)
#include "test_atomic_save.moc"
