#include "ui/inputshapes.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDateTime>
#include <QFileInfo>
#include <QSettings>
#include <QStringList>
#include <QVariantMap>

#include "core/runtime/ops.h"

namespace cw::ui {

namespace {

const char kGroup[] = "inputShapes";

QString tr(const char *text, const char *disambiguation = nullptr, int n = -1)
{
    return QCoreApplication::translate("cw::ui::InputShapes", text, disambiguation, n);
}

// The settings entry of a model: its canonical path (hashed: a path is not a valid key), and the stamp that
// tells whether the file is still the one the shapes were given for.
struct ModelKey {
    QString key, stamp;
};

ModelKey modelKey(const QString &spec)
{
    const QFileInfo file(spec);
    if (!file.exists())
        return {spec, {}}; // a built-in demo
    const QString path = file.canonicalFilePath();
    return {QString::fromLatin1(QCryptographicHash::hash(path.toUtf8(), QCryptographicHash::Sha1).toHex()),
            QStringLiteral("%1 %2").arg(file.size()).arg(file.lastModified().toMSecsSinceEpoch())};
}

} // namespace

QString RunInputs::missingSizes(const cw::Graph &graph, bool firstFromData) const
{
    const std::vector<std::string> symbols = cw::unsizedSymbols(graph, feeds, firstFromData);
    if (symbols.empty())
        return {};
    QStringList names;
    for (const std::string &s : symbols)
        names << QString::fromStdString(s);
    return tr("Running the model needs a size for %1 (Model → Input Shapes…, Ctrl+I).")
        .arg(names.join(QStringLiteral(", ")));
}

QString describeBlocking(const cw::UnsupportedNode &node)
{
    QString text = QString::fromStdString(node.opType);
    if (!node.domain.empty())
        text += tr(", domain %1 version %2").arg(QString::fromStdString(node.domain)).arg(node.opset);
    else
        text += tr(", opset %1").arg(node.opset);
    if (node.kernel) // a kernel exists, for other opsets
        text += tr(", supported at %1–%2").arg(node.kernel->minOpset).arg(node.kernel->maxOpset);
    if (!node.subgraph.empty())
        text += tr(", inside '%1'").arg(QString::fromStdString(node.subgraph));
    return text;
}

QString blockedReason(const std::vector<cw::UnsupportedNode> &nodes, int listed)
{
    if (nodes.empty())
        return {};
    QStringList names;
    for (size_t k = 0; k < nodes.size() && int(k) < listed; ++k)
        names << QStringLiteral("%1 (%2)").arg(QString::fromStdString(nodes[k].name), describeBlocking(nodes[k]));
    if (int(nodes.size()) > listed)
        names << tr("%n more", nullptr, int(nodes.size()) - listed);
    return (nodes.size() == 1 ? tr("1 node cannot run: %1") : tr("%1 nodes cannot run: %2").arg(nodes.size()))
        .arg(names.join(QStringLiteral(", ")));
}

QString formatDims(const cw::Shape &shape)
{
    QStringList dims;
    for (int64_t d : shape)
        dims << QString::number(d);
    return dims.join(QLatin1Char(','));
}

bool parseDims(const QString &text, cw::Shape &shape)
{
    shape.clear();
    for (const QString &part : text.split(QLatin1Char(','))) {
        bool ok = false;
        const qlonglong v = part.trimmed().toLongLong(&ok);
        if (!ok || v < 1)
            return false;
        shape.push_back(v);
    }
    return true;
}

InputShapes loadInputShapes(const QString &spec)
{
    const ModelKey key = modelKey(spec);
    QSettings settings;
    settings.beginGroup(QLatin1String(kGroup));
    const QVariantMap entry = settings.value(key.key).toMap();
    InputShapes shapes;
    if (entry.value(QStringLiteral("file")).toString() != key.stamp)
        return shapes;
    const QVariantMap stored = entry.value(QStringLiteral("shapes")).toMap();
    for (auto it = stored.begin(); it != stored.end(); ++it) {
        cw::Shape shape;
        if (parseDims(it.value().toString(), shape))
            shapes[it.key().toStdString()] = shape;
    }
    return shapes;
}

void saveInputShapes(const QString &spec, const InputShapes &shapes)
{
    const ModelKey key = modelKey(spec);
    QSettings settings;
    settings.beginGroup(QLatin1String(kGroup));
    if (shapes.empty()) {
        settings.remove(key.key);
        return;
    }
    QVariantMap stored;
    for (const auto &[name, shape] : shapes)
        stored[QString::fromStdString(name)] = formatDims(shape);
    settings.setValue(key.key, QVariantMap{{QStringLiteral("file"), key.stamp}, {QStringLiteral("shapes"), stored}});
}

} // namespace cw::ui
